"""The template sending and segment APIs' input and output (validation in, shape out; the rules are in the service)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns import segments
from campaigns.services.sending import MAX_BATCH_RECIPIENTS
from webmail.api.serializers import pk_field

_ADDRESSES_HELP = 'Addresses, each "Name <addr@example.org>" or "addr@example.org".'


def _addresses(**kwargs):
    return serializers.ListField(
        child=serializers.CharField(max_length=1000),
        max_length=MAX_BATCH_RECIPIENTS,
        help_text=_ADDRESSES_HELP,
        **kwargs,
    )


def _variables():
    return serializers.DictField(
        required=False,
        default=dict,
        help_text="Values of the template's declared variables; declared defaults fill in the missing ones.",
    )


class _FromField(serializers.Serializer):
    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword: the field is added by name.
        fields["from"] = serializers.CharField(
            required=False, allow_null=True, default=None, max_length=320, help_text="One of your addresses."
        )
        return fields


class SendTemplateSerializer(_FromField):
    templateId = serializers.CharField(max_length=100, help_text="The template's key, e.g. order_receipt.")  # noqa: N815
    variables = _variables()
    to = _addresses()
    cc = _addresses(required=False, default=list)
    bcc = _addresses(required=False, default=list)
    locale = serializers.CharField(
        max_length=16, required=False, default="", allow_blank=True,
        help_text="The recipient's locale, e.g. zh-hans: that variant, else its language's (zh), else the default.",
    )  # fmt: skip
    attachments = serializers.ListField(
        child=pk_field(), required=False, default=list, max_length=100, help_text="Ids from POST /api/attachments."
    )


class PersonalizationSerializer(serializers.Serializer):
    to = _addresses()
    cc = _addresses(required=False, default=list)
    bcc = _addresses(required=False, default=list)
    variables = _variables()


class SendTemplateBatchSerializer(_FromField):
    templateId = serializers.CharField(max_length=100, help_text="The template's key, e.g. order_receipt.")  # noqa: N815
    locale = serializers.CharField(max_length=16, required=False, default="", allow_blank=True)
    personalizations = serializers.ListField(
        child=PersonalizationSerializer(),
        min_length=1,
        max_length=MAX_BATCH_RECIPIENTS,
        help_text=f"One message each; at most {MAX_BATCH_RECIPIENTS} recipients in all.",
    )


class SendTemplateResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The message's id.")
    status = serializers.CharField()
    templateVersion = serializers.IntegerField(help_text="The number of the version that was rendered.")  # noqa: N815


class BatchMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The message's id.")


class SendTemplateBatchResultSerializer(serializers.Serializer):
    messages = BatchMessageSerializer(many=True, help_text="One per personalization, in their order.")
    templateVersion = serializers.IntegerField()  # noqa: N815


# --- segments -------------------------------------------------------------------------------

_OPS = sorted(set(segments.ATTRIBUTE_OPS) | set(segments.ENGAGEMENT_OPS))


class SegmentRuleSerializer(serializers.Serializer):
    field = serializers.CharField(
        help_text="`address`, `name`, `locale`, `consent`, `created_at`, `engagement`, or `attributes.<key>`."
    )
    op = serializers.ChoiceField(choices=_OPS, help_text="Which ops a field takes: see the segment description.")
    value = serializers.JSONField(
        required=False,
        help_text="A string, number, boolean, ISO date, list of strings (`in`) or days (`…_within`); "
        "none for `is_set`, `not_set`, `never_engaged`.",
    )


class SegmentDefinitionSerializer(serializers.Serializer):
    lists = serializers.ListField(child=pk_field(), required=False, help_text="Subscribed members of any; empty: all.")
    match = serializers.ChoiceField(choices=["all", "any"], default="all", help_text="How the rules combine.")
    rules = SegmentRuleSerializer(many=True, required=False)
    exclude_lists = serializers.ListField(child=pk_field(), required=False, help_text="Nobody subscribed to these.")
    exclude_segments = serializers.ListField(child=pk_field(), required=False, help_text="Nobody in these segments.")


@extend_schema_field(SegmentDefinitionSerializer)
class SegmentDefinitionField(serializers.JSONField):
    """Taken as JSON and checked whole by ``campaigns.segments.validate_definition`` (every problem at once)."""


class SegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    definition = SegmentDefinitionField(default=dict)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class SegmentUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    definition = SegmentDefinitionField(required=False)


class SegmentCountRequestSerializer(serializers.Serializer):
    definition = SegmentDefinitionField()


class SegmentCountSerializer(serializers.Serializer):
    audience = serializers.IntegerField(help_text="Contacts the segment holds.")
    suppressed = serializers.IntegerField(help_text="Of them, suppressed or opted out: a campaign skips them.")
    sendable = serializers.IntegerField(help_text="What a campaign to the segment sends to now.")
