"""Operators' endpoints: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz`` (load balancers)."""

urlpatterns = []
