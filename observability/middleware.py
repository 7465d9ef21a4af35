"""Web request metrics: how many requests each view answered, and how long it took."""

import time

from core.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

# Label values stay bounded whatever a client sends as its method.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def view_label(request) -> str:
    """The resolved URL name ("namespace:name"), or "unmatched" when no URL matched (a 404)."""
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else "unmatched"


class RequestMetricsMiddleware:
    """Counts and times every request by view, method and status class; not the scrapes of /metrics."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        if _is_scrape(request):
            return response
        view = view_label(request)
        method = request.method if request.method in KNOWN_METHODS else "other"
        HTTP_REQUESTS.labels(view=view, method=method, status=f"{response.status_code // 100}xx").inc()
        HTTP_REQUEST_DURATION.labels(view=view, method=method).observe(elapsed)
        return response


def _is_scrape(request) -> bool:
    from observability.views import metrics  # the view imports the collectors, which import models

    match = getattr(request, "resolver_match", None)
    return match is not None and match.func is metrics
