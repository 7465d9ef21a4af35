"""The delivery event log in the admin: append-only, so it can be read and filtered, never edited."""

from django.contrib import admin
from django.template.defaultfilters import truncatechars

from delivery.models import DeliveryEvent


@admin.register(DeliveryEvent)
class DeliveryEventAdmin(admin.ModelAdmin):
    list_display = ("timestamp", "event_type", "recipient_address", "message", "transport", "reject_reason", "reply")
    list_filter = ("event_type", "transport", "reject_reason")
    search_fields = ("recipient__address", "message__subject", "=message__message_id", "mta_response")
    list_select_related = ("recipient", "message")
    raw_id_fields = ("message", "recipient")
    date_hierarchy = "timestamp"

    @admin.display(description="Recipient", ordering="recipient__address")
    def recipient_address(self, obj):
        return obj.recipient.address if obj.recipient else "—"

    @admin.display(description="Server reply")
    def reply(self, obj):
        return truncatechars(obj.mta_response or obj.description, 80)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
