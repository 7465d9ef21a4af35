"""``/healthz`` and ``/readyz`` for load balancers (docs/HEALTH.md): no sign-in, no session, no CSRF."""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from observability.health import readiness


@csrf_exempt
@never_cache
@require_safe
def healthz(request):
    """The process is up and answers: nothing else is asked (a database outage must not restart every web worker)."""
    return HttpResponse("ok", content_type="text/plain; charset=utf-8")


@csrf_exempt
@never_cache
@require_safe
def readyz(request):
    """200 when every part this process needs answers, else 503 naming the parts that do not, and why."""
    results = readiness()
    failing = [result.name for result in results if not result.ok]
    body = {
        "status": "fail" if failing else "ok",
        "failing": failing,
        "checks": [result.to_json() for result in results],
    }
    return JsonResponse(body, status=503 if failing else 200)
