"""One error format for the whole API.

Every error, whatever raised it, is answered as::

    {"error": {"code": "label_exists", "message": "…", "details": {"name": ["…"]}}}

``UserError``s from the services keep their code and status; DRF's own
errors (validation, authentication, throttling, parsing) are reshaped; any
other exception (a bug, a database that went away) is logged as Django logs a
500 and answered as a JSON 500, never as an HTML page.
"""

import logging

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from webmail.errors import UserError

request_logger = logging.getLogger("django.request")  # where Django logs its own 500s (and mails the admins)

_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "invalid",
}


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _details(detail) -> dict[str, list[str]]:
    """DRF's nested validation detail flattened to ``{"field": [...], "parent.child": [...]}``."""
    result: dict[str, list[str]] = {}

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            result.setdefault(path or "non_field_errors", []).extend(str(v) for v in value)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                if inner:
                    walk(inner, f"{path}.{index}" if path else str(index))
        else:
            result.setdefault(path or "non_field_errors", []).append(str(value))

    walk(detail, "")
    return result


def api_exception_handler(exc, context):
    if isinstance(exc, UserError):
        details = {exc.field: [exc.message]} if exc.field else {}
        response = Response(error_body(exc.code, exc.message, details), status=exc.status)
        if getattr(exc, "retry_after", None):  # a quota: when waiting frees room (reputation.services.limits)
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, SuspiciousOperation):  # too many form fields, a request too large…
        exc = exceptions.ParseError(str(exc) or "Malformed request.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return _server_error(exc, context["request"])
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        details = _details(exc.detail)
        first = next(iter(details.values()), ["Invalid input."])[0]
        message = f"Invalid input: {first}" if len(details) == 1 else "Invalid input; see details."
        response.data = error_body("invalid", message, details)
        return response
    message = str(exc.detail) if isinstance(exc.detail, str) else "Request failed."
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        message = f"Too many requests; try again in {int(exc.wait) + 1} seconds."
    response.data = error_body(code, message)
    return response


def _server_error(exc: Exception, request) -> Response:
    request_logger.error(
        "Internal Server Error: %s", request.path, exc_info=exc, extra={"status_code": 500, "request": request}
    )
    set_rollback()  # as DRF does for the errors it handles: no half-done request under ATOMIC_REQUESTS
    response = Response(
        error_body("server_error", "Internal error; it has been logged."), status=status.HTTP_500_INTERNAL_SERVER_ERROR
    )
    response._has_been_logged = True  # Django would log the 500 again, without the traceback
    return response


@csrf_exempt  # nothing is changed here; without it a POST would get Django's HTML 403 instead
def json_not_found(request, *args, **kwargs):
    """Any unknown address under /api/ is a JSON 404 too."""
    return JsonResponse(error_body("not_found", "Not found."), status=status.HTTP_404_NOT_FOUND)
