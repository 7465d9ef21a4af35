"""The template sending API's input and output (validation in, shape out; the rules are in the service)."""

from rest_framework import serializers

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
