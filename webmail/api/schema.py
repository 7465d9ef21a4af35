"""OpenAPI additions: every operation documents the one error format and the errors it can answer."""

from drf_spectacular.plumbing import build_array_type, build_basic_type, build_object_type
from drf_spectacular.types import OpenApiTypes

_ERROR = "Error"
_ALWAYS = {
    "400": "Invalid input; `details` names the fields.",
    "401": "No credentials, or an invalid or revoked token.",
    "403": "Not allowed.",
    "404": "No such object (or it is not yours: both look the same).",
    "405": "Method not allowed.",
    "409": "Conflicts with what exists (e.g. a label of that name).",
    "406": "Not acceptable.",
    "413": "Too large.",
    "415": "Unsupported media type.",
    "422": "Well-formed but refused (e.g. an Idempotency-Key reused for a different request).",
    "429": "Too many requests; see the Retry-After header.",
}
_EXTRA = {
    "emails_search": {"503": "Search is not available."},
    "attachments_single_use": {"410": "The link has expired (`link_expired`) or was used (`link_used`)."},
    # The sender limits (docs/SENDER-LIMITS.md): over a quota, `rate_limited` names it and when to try again.
    **dict.fromkeys(
        ("emails_send", "drafts_send"),
        {"429": "Too many requests, or a sender limit reached (`rate_limited`); see the Retry-After header."},
    ),
}


def _error_schema() -> dict:
    string = build_basic_type(OpenApiTypes.STR)
    return build_object_type(
        properties={
            "error": build_object_type(
                properties={
                    "code": string,
                    "message": string,
                    "details": build_object_type(additionalProperties=build_array_type(string)),
                },
                required=["code", "message", "details"],
            )
        },
        required=["error"],
    )


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: an ``Error`` component, referenced by every operation's error responses."""
    result.setdefault("components", {}).setdefault("schemas", {})[_ERROR] = _error_schema()
    ref = {"$ref": f"#/components/schemas/{_ERROR}"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            codes = {**_ALWAYS, **_EXTRA.get(operation.get("operationId"), {})}
            for code, description in codes.items():
                response = {"description": description, "content": {"application/json": {"schema": ref}}}
                if code == "429":
                    response["headers"] = {
                        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
                    }
                responses.setdefault(code, response)
    return result
