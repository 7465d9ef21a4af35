"""Operators' read-only view of the message store.

Messages, mailbox items, threads, attachments and blobs are written only by
the ``mailboxes`` and ``delivery`` services (threading counters, blob
references and delivery state depend on it), so the admin shows them and
changes nothing. Labels can be deleted, through ``delete_label``.
"""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.urls import path, reverse
from django.utils.html import format_html

from delivery.services import requeue_recipients
from mailboxes.blobstore import open_blob
from mailboxes.models import (
    Attachment,
    Blob,
    Correspondent,
    Identity,
    ImportJob,
    Label,
    MailboxChange,
    MailboxCounter,
    MailboxItem,
    Message,
    Recipient,
    Thread,
    ThreadKey,
    TrustedImageSender,
    UndoableAction,
    Upload,
)
from mailboxes.services import delete_label

RAW_SOURCE_PREVIEW_BYTES = 1024 * 1024


class ReadOnlyAdminMixin:
    """View-only: no add, change or delete, not even through actions."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    show_change_link = True


class RecipientInline(ReadOnlyInline):
    model = Recipient
    fields = ("kind", "address", "name", "user", "status", "attempts", "smtp_code", "response")
    readonly_fields = fields


class AttachmentInline(ReadOnlyInline):
    model = Attachment
    fields = ("position", "filename", "content_type", "size", "is_inline", "scan_status", "scan_reason", "blob")
    readonly_fields = fields


class ItemInline(ReadOnlyInline):
    model = MailboxItem
    verbose_name_plural = "in mailboxes"
    fields = ("user", "origin", "folder", "is_read", "is_starred", "thread", "received_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "thread")


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("subject_display", "from_address", "status", "size", "has_attachments", "date", "created_at")
    list_filter = ("status", "has_attachments")
    search_fields = ("subject", "from_address", "from_name", "=message_id")
    list_select_related = ("sender",)
    date_hierarchy = "created_at"
    raw_id_fields = ("sender", "blob")
    fieldsets = (
        (None, {"fields": ("subject", "from_name", "from_address", "to", "cc", "date", "sender", "status")}),
        ("Threading", {"fields": ("message_id", "in_reply_to", "references")}),
        ("Storage", {"fields": ("blob", "size", "has_attachments", "snippet", "created_at", "updated_at")}),
        ("Parsed headers", {"classes": ("collapse",), "fields": ("headers", "parse_defects")}),
        ("Raw source", {"fields": ("raw_source",)}),
    )
    readonly_fields = ("raw_source",)
    inlines = (RecipientInline, AttachmentInline, ItemInline)

    @admin.display(description="Subject", ordering="subject")
    def subject_display(self, obj):
        return str(obj)

    @admin.display(description="Raw source")
    def raw_source(self, obj):
        """The stored bytes as text (escaped, never rendered), with a link to download them exactly."""
        try:
            with open_blob(obj.blob) as handle:
                head = handle.read(RAW_SOURCE_PREVIEW_BYTES + 1)
        except OSError as exc:
            return format_html("<strong>The stored bytes cannot be read ({}): {}</strong>", obj.blob_id, exc)
        text = head[:RAW_SOURCE_PREVIEW_BYTES].decode("utf-8", errors="replace")
        note = ""
        if len(head) > RAW_SOURCE_PREVIEW_BYTES:
            note = f"Only the first {RAW_SOURCE_PREVIEW_BYTES // 1024} KB of {obj.blob.size} bytes are shown. "
        url = reverse("admin:mailboxes_message_raw", args=[obj.pk])
        return format_html(
            '<p>{}<a href="{}">Download the exact bytes (.eml)</a></p>'
            '<pre style="white-space:pre-wrap;max-height:40em;overflow:auto">{}</pre>',
            note,
            url,
            text,
        )

    def get_urls(self):
        raw = path(
            "<path:object_id>/raw/",
            self.admin_site.admin_view(self.raw_view),
            name="mailboxes_message_raw",
        )
        return [raw, *super().get_urls()]

    def raw_view(self, request, object_id):
        """The message exactly as stored, as a ``message/rfc822`` download."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        message = self.get_object(request, unquote(object_id))
        if message is None:
            raise Http404("No such message.")
        try:
            handle = open_blob(message.blob)
        except OSError as exc:
            raise Http404("The stored bytes of this message are missing.") from exc
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=f"message-{message.pk}.eml",
            content_type="message/rfc822",
        )
        response["Content-Length"] = str(message.blob.size)
        response["X-Content-Type-Options"] = "nosniff"
        return response


@admin.register(Recipient)
class RecipientAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Delivery state per recipient; it is derived from the delivery events, never edited."""

    list_display = (
        "address", "kind", "status", "message", "attempts", "next_attempt_at", "enhanced_status", "updated_at",
    )  # fmt: skip
    list_filter = ("status", "queue", "kind")
    search_fields = ("address", "domain", "name", "message__subject", "=message__message_id")
    list_select_related = ("message", "user")
    raw_id_fields = ("message", "user")
    date_hierarchy = "updated_at"
    actions = ["requeue"]

    @admin.action(description="Requeue the selected dead letters and bounces", permissions=["requeue"])
    def requeue(self, request, queryset):
        count = requeue_recipients(recipient_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Requeued {count} recipient(s); others were not failed or bounced.")

    def has_requeue_permission(self, request):
        return request.user.is_superuser


@admin.register(MailboxItem)
class MailboxItemAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("message", "user", "folder", "origin", "is_read", "is_starred", "received_at")
    list_filter = ("folder", "origin", "is_read", "is_starred")
    search_fields = ("user__username", "message__subject", "message__from_address")
    list_select_related = ("message", "user")
    raw_id_fields = ("user", "message", "thread")
    date_hierarchy = "received_at"
    fields = (
        "user",
        "message",
        "thread",
        "origin",
        "folder",
        "previous_folder",
        "is_read",
        "is_starred",
        "label_list",
        "received_at",
        "updated_at",
    )
    readonly_fields = ("label_list",)

    @admin.display(description="Labels")
    def label_list(self, obj):
        return ", ".join(label.name for label in obj.labels.all()) or "—"


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    """Users' labels: shown, and deletable through ``delete_label`` (the messages stay)."""

    list_display = ("name", "swatch", "user", "created_at")
    search_fields = ("name", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"

    @admin.display(description="Colour", ordering="color")
    def swatch(self, obj):
        return format_html(
            '<span style="display:inline-block;width:1em;height:1em;border-radius:2px;'
            'background:{};vertical-align:middle"></span> {}',
            obj.color,
            obj.color,
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        delete_label(user=obj.user, label_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for label in queryset.select_related("user"):
            delete_label(user=label.user, label_id=label.pk)


class ThreadItemInline(ItemInline):
    fk_name = "thread"
    verbose_name_plural = "messages"
    fields = ("message", "origin", "folder", "is_read", "is_starred", "received_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("message").order_by("received_at", "pk")


@admin.register(Thread)
class ThreadAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "user", "message_count", "unread_count", "has_attachments", "latest_at")
    list_filter = ("has_attachments",)
    search_fields = ("subject", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "latest_at"
    inlines = (ThreadItemInline,)


@admin.register(ThreadKey)
class ThreadKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("message_key", "thread", "user")
    search_fields = ("=message_key", "user__username")
    list_select_related = ("thread", "user")
    raw_id_fields = ("thread", "user")


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("filename", "content_type", "size", "is_inline", "scan_status", "scan_reason", "message")
    list_filter = ("scan_status", "is_inline")
    search_fields = ("filename", "content_type", "message__subject", "=blob__sha256")
    list_select_related = ("message",)
    raw_id_fields = ("message", "blob")


@admin.register(Blob)
class BlobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Stored content. Unreferenced blobs are collected by ``collect_orphan_blobs``, not deleted here."""

    list_display = ("sha256", "size", "created_at")
    search_fields = ("^sha256",)
    date_hierarchy = "created_at"
    fields = ("sha256", "size", "storage_key", "created_at", "used_by")
    readonly_fields = ("storage_key", "used_by")

    @admin.display(description="Used by")
    def used_by(self, obj):
        messages = obj.messages.count()
        attachments = obj.attachments.count()
        return f"{messages} message(s), {attachments} attachment(s)"


@admin.register(Upload)
class UploadAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("filename", "user", "content_type", "size", "created_at")
    search_fields = ("filename", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user", "blob")
    date_hierarchy = "created_at"


@admin.register(MailboxChange)
class MailboxChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The change feed that indexing and notifications follow."""

    list_display = ("pk", "user", "kind", "item_id", "created_at")
    list_filter = ("kind",)
    search_fields = ("user__username",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(MailboxCounter)
class MailboxCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Items per folder, starred and label, kept by database triggers; ``manage.py recount_mailboxes`` repairs them."""

    list_display = ("user", "key", "total", "unread", "unread_awake")
    search_fields = ("user__username", "key")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(TrustedImageSender)
class TrustedImageSenderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Senders whose images a user always shows (docs/HTML-MAIL.md); the user takes them back in the webmail."""

    list_display = ("address", "user", "created_at")
    search_fields = ("address", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The send-as identities and signatures users set in their settings (docs/COMPOSE.md)."""

    list_display = ("address", "user", "display_name", "is_default", "updated_at")
    search_fields = ("address__local_part", "user__username", "display_name")
    list_select_related = ("user", "address__domain")
    raw_id_fields = ("user",)


@admin.register(Correspondent)
class CorrespondentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Whom each user writes to and hears from: the compose suggestions (``manage.py rebuild_correspondents``)."""

    list_display = ("address", "user", "name", "sent_count", "received_count", "last_at")
    search_fields = ("address", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Mailbox imports (mbox, Maildir) and their progress (docs/IMPORT-EXPORT.md)."""

    list_display = ("filename", "user", "status", "done", "total", "imported", "skipped", "failed", "created_at")
    list_filter = ("status",)
    search_fields = ("filename", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(UndoableAction)
class UndoableActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Actions users may still undo for a few seconds (docs/WEBMAIL-ACTIONS.md); purged by Celery beat."""

    list_display = ("kind", "user", "created_at")
    list_filter = ("kind",)
    search_fields = ("user__username",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)
