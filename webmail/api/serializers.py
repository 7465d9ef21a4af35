"""Serializers: validation of what comes in, and the shape of what goes out.

No business rules here: the services validate addresses, ownership, sizes
and folders, and their errors reach the client through the one exception handler.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.bounce_reasons import reason_label
from delivery.services.events import latest_failure_reason
from mailboxes.models import Folder

MAX_PK = 2**63 - 1
MAX_PAGE = 100


def pk_field(**kwargs):
    return serializers.IntegerField(min_value=1, max_value=MAX_PK, **kwargs)


# --- errors (for the schema) --------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: e.g. `invalid`, `not_found`, `label_exists`.")
    message = serializers.CharField(help_text="For people.")
    details = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per input field (`non_field_errors` for the request as a whole).",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


# --- labels -------------------------------------------------------------------


class LabelSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    color = serializers.CharField(max_length=7, required=False, help_text="#rrggbb")
    created_at = serializers.DateTimeField(read_only=True)


class LabelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    color = serializers.CharField(max_length=7, required=False, help_text="#rrggbb")


class LabelChangeSerializer(serializers.Serializer):
    add = serializers.ListField(child=pk_field(), required=False, default=list, max_length=100)
    remove = serializers.ListField(child=pk_field(), required=False, default=list, max_length=100)

    def validate(self, attrs):
        if not attrs["add"] and not attrs["remove"]:
            raise serializers.ValidationError({"add": ["Give label ids to add or to remove."]})
        return attrs


# --- emails out ---------------------------------------------------------------


class AddressSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True)
    address = serializers.CharField(allow_blank=True)


class SenderSerializer(serializers.Serializer):
    name = serializers.CharField(source="from_name", allow_blank=True)
    address = serializers.CharField(source="from_address", allow_blank=True)


class EmailSummarySerializer(serializers.Serializer):
    """A mailbox item (one message as this user sees it); its ``id`` is the ``emailId`` of the other endpoints."""

    id = serializers.IntegerField()
    thread_id = serializers.IntegerField()
    folder = serializers.ChoiceField(choices=Folder.choices)
    subject = serializers.CharField(source="message.subject", allow_blank=True)
    to = AddressSerializer(source="message.to", many=True)
    cc = AddressSerializer(source="message.cc", many=True)
    snippet = serializers.CharField(source="message.snippet", allow_blank=True)
    date = serializers.DateTimeField(source="message.date", allow_null=True, help_text="The Date header, if valid.")
    received_at = serializers.DateTimeField()
    is_read = serializers.BooleanField()
    is_starred = serializers.BooleanField()
    has_attachments = serializers.BooleanField(source="message.has_attachments")
    status = serializers.CharField(source="message.status", help_text="draft, queued, sent, received, …")
    labels = LabelSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = SenderSerializer(source="message")  # "from" is a Python keyword
        return fields


class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    is_inline = serializers.BooleanField()
    content_id = serializers.CharField(allow_blank=True)
    scan_status = serializers.CharField(
        help_text="not_scanned, clean, warning (delivered with a warning), blocked (held back: no download), infected"
    )
    scan_reason = serializers.CharField(
        allow_blank=True, help_text="Why it is blocked or comes with a warning: program, script, macro, active_content"
    )
    scan_notice = serializers.CharField(
        source="get_scan_reason_display", allow_blank=True, help_text="That reason, in words for the reader."
    )
    download_url = serializers.SerializerMethodField(
        help_text="Asks for the same credentials as this call (the bearer token or the session); null for an "
        "attachment held back by the scanner."
    )
    single_use_url = serializers.SerializerMethodField(
        help_text="Works once, without credentials, until `expires_at`: for handing the file to a program "
        "that has no token (a browser). Keep it secret until it is used. Null for an attachment held back."
    )
    expires_at = serializers.SerializerMethodField(help_text="When `single_use_url` stops working.")

    def _links(self, attachment):
        return self.context["attachment_links"].get(attachment.pk)

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, attachment) -> str | None:
        links = self._links(attachment)
        return links.download_url if links else None

    @extend_schema_field(OpenApiTypes.URI)
    def get_single_use_url(self, attachment) -> str | None:
        links = self._links(attachment)
        return links.single_use_url if links else None

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_expires_at(self, attachment):
        links = self._links(attachment)
        return links.expires_at.isoformat() if links else None


class EmailDetailSerializer(EmailSummarySerializer):
    message_id = serializers.CharField(source="message.message_id", allow_blank=True)
    in_reply_to = serializers.CharField(source="message.in_reply_to", allow_blank=True)
    references = serializers.ListField(source="message.references", child=serializers.CharField())
    bcc = serializers.SerializerMethodField(help_text="Only on your own drafts and sent mail.")
    headers = serializers.DictField(source="message.headers", child=serializers.CharField())
    text = serializers.SerializerMethodField()
    html = serializers.SerializerMethodField(
        help_text="Sanitised. Remote images are removed unless `remote_images=true` or you always show images "
        "from this (authenticated) sender; images the message carries (`cid:`) point at their `download_url`, "
        "which asks for the same credentials as this call. The message's own `<style>` rules are kept, sanitised, "
        "in one `<style>` element at the start: show `html` in a document of its own (a sandboxed frame)."
    )
    remote_images_blocked = serializers.SerializerMethodField(
        help_text="Remote images were removed from `html`: ask again with `remote_images=true` to keep them."
    )
    attachments = serializers.SerializerMethodField()
    raw_url = serializers.SerializerMethodField()
    delivery_url = serializers.SerializerMethodField()

    @extend_schema_field(AddressSerializer(many=True))
    def get_bcc(self, item):
        return self.context["parsed"].bcc if item.origin == "sent" else []

    def get_text(self, item) -> str:
        return self.context["parsed"].body_text

    def get_html(self, item) -> str:
        return self.context["html"].html

    def get_remote_images_blocked(self, item) -> bool:
        return self.context["html"].remote_images_blocked

    @extend_schema_field(AttachmentSerializer(many=True))
    def get_attachments(self, item):
        return AttachmentSerializer(self.context["attachments"], many=True, context=self.context).data

    @extend_schema_field(OpenApiTypes.URI)
    def get_raw_url(self, item) -> str:
        return self.context["request"].build_absolute_uri(f"/api/emails/{item.pk}/raw")

    @extend_schema_field(serializers.URLField(allow_null=True, help_text="Null for mail you received."))
    def get_delivery_url(self, item) -> str | None:
        if item.origin != "sent":
            return None
        return self.context["request"].build_absolute_uri(f"/api/emails/{item.pk}/delivery")


class EmailPageSerializer(serializers.Serializer):
    items = EmailSummarySerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Pass as `cursor` for the next page; null at the end."
    )


class SearchHitSerializer(EmailSummarySerializer):
    match = serializers.CharField(allow_blank=True, help_text="The matching text, highlighted.")
    score = serializers.FloatField(allow_null=True)


class SearchPageSerializer(serializers.Serializer):
    items = SearchHitSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class ThreadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField(allow_blank=True)
    latest_at = serializers.DateTimeField()
    message_count = serializers.IntegerField()
    unread_count = serializers.IntegerField()
    snippet = serializers.CharField(allow_blank=True)
    has_attachments = serializers.BooleanField()
    senders = AddressSerializer(many=True)
    emails = serializers.SerializerMethodField()

    @extend_schema_field(EmailSummarySerializer(many=True))
    def get_emails(self, thread):
        return EmailSummarySerializer(self.context["items"], many=True).data


class DeliveryEventSerializer(serializers.Serializer):
    event_type = serializers.CharField()
    timestamp = serializers.DateTimeField()
    reject_reason = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(
        allow_blank=True,
        help_text="Why it failed or was deferred (user_unknown, mailbox_full, blocked, expired…); empty for others.",
    )
    reason_label = serializers.SerializerMethodField(help_text="The reason in words, in the request's language.")
    description = serializers.CharField(allow_blank=True)
    mta_response = serializers.CharField(allow_blank=True)

    def get_reason_label(self, event) -> str:
        return reason_label(event.reason)


class RecipientStatusSerializer(serializers.Serializer):
    address = serializers.CharField()
    kind = serializers.CharField(help_text="to, cc or bcc")
    status = serializers.CharField(help_text="queued, sending, sent, delivered, deferred, bounced, suppressed, failed")
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    smtp_code = serializers.IntegerField(allow_null=True)
    response = serializers.CharField(allow_blank=True)
    reason = serializers.SerializerMethodField(help_text="Why the latest failure or deferral happened; empty if none.")
    reason_label = serializers.SerializerMethodField(help_text="The reason in words, in the request's language.")
    events = DeliveryEventSerializer(many=True)

    def get_reason(self, recipient) -> str:
        return latest_failure_reason(recipient.events.all())

    def get_reason_label(self, recipient) -> str:
        return reason_label(self.get_reason(recipient))


class DeliverySerializer(serializers.Serializer):
    email_id = serializers.IntegerField()
    status = serializers.CharField()
    recipients = RecipientStatusSerializer(many=True)


class SendResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The emailId of your Sent copy.")
    thread_id = serializers.IntegerField()
    message_id = serializers.CharField(help_text="The Message-ID header, without angle brackets.")
    status = serializers.CharField()
    delivery_url = serializers.URLField(help_text="Per-recipient status and events.")
    recipients = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    warnings = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="Recipients who bounced before (`address`, `bounced_at`, `reason`): the message is tried anyway.",
    )


class UploadResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Pass in `attachments` when sending or saving a draft.")
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class CountSerializer(serializers.Serializer):
    updated = serializers.IntegerField()


# --- emails in ----------------------------------------------------------------

_ADDRESSES_HELP = 'Addresses, each "Name <addr@example.org>" or "addr@example.org".'


def _address_list():
    return serializers.ListField(
        child=serializers.CharField(max_length=1000), required=False, default=list, help_text=_ADDRESSES_HELP
    )


class ComposeSerializer(serializers.Serializer):
    to = _address_list()
    cc = _address_list()
    bcc = _address_list()
    subject = serializers.CharField(required=False, default="", allow_blank=True, max_length=998, trim_whitespace=False)
    body = serializers.CharField(required=False, default="", allow_blank=True, trim_whitespace=False)
    html = serializers.CharField(required=False, default="", allow_blank=True, trim_whitespace=False)
    attachments = serializers.ListField(
        child=pk_field(), required=False, default=list, max_length=100, help_text="Ids from POST /api/attachments."
    )
    in_reply_to = pk_field(required=False, allow_null=True, default=None, help_text="The emailId you answer.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.CharField(
            required=False, allow_null=True, default=None, max_length=320, help_text="One of your addresses."
        )
        return fields

    def as_service_kwargs(self) -> dict:
        data = self.validated_data
        return {
            "from_address": data.get("from"),
            "to": data.get("to", []),
            "cc": data.get("cc", []),
            "bcc": data.get("bcc", []),
            "subject": data.get("subject", ""),
            "text": data.get("body", ""),
            "html": data.get("html", ""),
            "in_reply_to_item_id": data.get("in_reply_to"),
        }


class SendSerializer(ComposeSerializer):
    to = serializers.ListField(
        child=serializers.CharField(max_length=1000), allow_empty=True, help_text=_ADDRESSES_HELP
    )


class ActionSerializer(serializers.Serializer):
    ACTIONS = (
        "read", "unread", "star", "unstar", "archive", "trash", "restore", "spam", "not_spam", "move",
        "add_labels", "remove_labels",
    )  # fmt: skip

    action = serializers.ChoiceField(choices=ACTIONS)
    folder = serializers.ChoiceField(choices=Folder.choices, required=False, help_text="For `move`.")
    labels = serializers.ListField(
        child=pk_field(), required=False, max_length=100, help_text="For `add_labels` and `remove_labels`."
    )

    def validate(self, attrs):
        if attrs["action"] == "move" and "folder" not in attrs:
            raise serializers.ValidationError({"folder": ["Say which folder to move to."]})
        if attrs["action"] in ("add_labels", "remove_labels") and not attrs.get("labels"):
            raise serializers.ValidationError({"labels": ["Give the label ids."]})
        return attrs


class BulkActionSerializer(ActionSerializer):
    ids = serializers.ListField(child=pk_field(), min_length=1, max_length=1000, help_text="emailIds")


class ThreadActionSerializer(ActionSerializer):
    scope = serializers.ChoiceField(
        choices=[*Folder.values, "starred"],
        required=False,
        help_text="Only the conversation's messages in this list, as the webmail does from that list "
        "(archiving from `inbox` leaves the Sent copies in Sent). Absent: all of them but the trashed ones.",
    )


# --- query strings ------------------------------------------------------------


class PageQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=50, required=False)
    cursor = serializers.CharField(required=False, max_length=2000, help_text="`next_cursor` of the previous page.")


class SearchQuerySerializer(PageQuerySerializer):
    q = serializers.CharField(
        max_length=1000, help_text="Query language: `from: to: subject: label: in: is:unread has:attachment` …"
    )
    order = serializers.ChoiceField(choices=["date", "relevance"], default="date", required=False)


class EmailQuerySerializer(serializers.Serializer):
    remote_images = serializers.BooleanField(default=False, required=False, help_text="Keep remote images in `html`.")
