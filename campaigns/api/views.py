"""The transactional template API: parse the request, call the sending service, shape the answer."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.api import serializers as s
from campaigns.services.sending import TemplateSendInvalid, send_template, send_template_batch
from webmail.api.serializers import ErrorSerializer
from webmail.api.views import _idempotency_key, _valid

_IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, description="Any unique string, e.g. a UUID."
)
_ERRORS = {400: ErrorSerializer, 422: ErrorSerializer}


def _invalid(exc: TemplateSendInvalid) -> ValidationError:
    """Every problem at once, in the API's one error format (``details`` keyed by field)."""
    return ValidationError(exc.errors)


class SendTemplateView(APIView):
    @extend_schema(
        operation_id="emails_send_template",
        summary="Send a template",
        description=(
            "Renders the active version of your workspace's template `templateId` (the variant of `locale`) with "
            "`variables` and queues the message; 202 at once. A 400 lists every problem at once: an unknown "
            "template, each missing or mistyped variable, each bad or suppressed address. With an "
            "`Idempotency-Key` header a repeated request sends nothing again."
        ),
        request=s.SendTemplateSerializer,
        parameters=[_IDEMPOTENCY],
        responses={202: s.SendTemplateResultSerializer, **_ERRORS},
        examples=[
            OpenApiExample(
                "A receipt",
                request_only=True,
                value={
                    "templateId": "order_receipt",
                    "to": ["bob@example.com"],
                    "variables": {"orderId": "12345", "amount": "$99.00"},
                },
            )  # fmt: skip
        ],
        tags=["templates"],
    )
    def post(self, request):
        key = _idempotency_key(request)
        data = _valid(s.SendTemplateSerializer, request.data).validated_data
        try:
            message = send_template(
                user=request.user, template_key=data["templateId"], variables=data["variables"], to=data["to"],
                cc=data["cc"], bcc=data["bcc"], from_address=data["from"], locale=data["locale"],
                attachments=data["attachments"], idempotency_key=key,
            )  # fmt: skip
        except TemplateSendInvalid as exc:
            raise _invalid(exc) from exc
        body = {"id": message.pk, "status": message.status, "templateVersion": message.template_send.version.number}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class SendTemplateBatchView(APIView):
    @extend_schema(
        operation_id="emails_send_template_batch",
        summary="Send a template to many recipients",
        description=(
            "One message per personalization, each with its own recipients and variables, at most 1,000 "
            "recipients in all. Everything is checked before anything is sent: a 400 lists every problem, "
            "as `personalizations.<index>.<field>`."
        ),
        request=s.SendTemplateBatchSerializer,
        parameters=[_IDEMPOTENCY],
        responses={202: s.SendTemplateBatchResultSerializer, **_ERRORS},
        tags=["templates"],
    )
    def post(self, request):
        key = _idempotency_key(request)
        data = _valid(s.SendTemplateBatchSerializer, request.data).validated_data
        try:
            messages = send_template_batch(
                user=request.user, template_key=data["templateId"], from_address=data["from"],
                personalizations=data["personalizations"], locale=data["locale"], idempotency_key=key,
            )  # fmt: skip
        except TemplateSendInvalid as exc:
            raise _invalid(exc) from exc
        version = messages[0].template_send.version.number
        body = {"messages": [{"id": m.pk} for m in messages], "templateVersion": version}
        return Response(body, status=status.HTTP_202_ACCEPTED)
