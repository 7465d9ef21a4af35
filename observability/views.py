"""``/metrics``: Prometheus scrapes it; nobody else may read it."""

from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from observability.metrics import may_scrape, render_metrics
from webmail.clients import client_address


@require_GET
def metrics(request):
    if not may_scrape(remote_addr=client_address(request), authorization=request.headers.get("Authorization", "")):
        return HttpResponseForbidden("Metrics are for the monitoring system.\n", content_type="text/plain")
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
