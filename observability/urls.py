"""Operators' endpoints: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz`` (load balancers)."""

from django.urls import path

from observability import views

urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
]
