"""Operators' endpoints: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz`` (load balancers)."""

from django.urls import path

from observability import views, views_health

urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
    path("healthz", views_health.healthz, name="healthz"),
    path("readyz", views_health.readyz, name="readyz"),
]
