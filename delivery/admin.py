"""The delivery event log in the admin: append-only, so it can be read and filtered, never edited."""

from django.contrib import admin
from django.template.defaultfilters import truncatechars

from delivery.models import DeliveryEvent, IdempotencyKey, SendRate, Suppression
from delivery.services import remove_suppression, suppress_address


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


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Addresses bulk mail is not sent to. Admins may add (manual) and remove entries, through the services."""

    list_display = ("address", "reason", "source", "created_at", "expires_at", "detail_preview")
    list_filter = ("reason", "source")
    search_fields = ("address", "detail")
    date_hierarchy = "created_at"
    fields = ("address", "reason", "detail", "source", "source_event", "created_at", "expires_at")
    readonly_fields = ("source", "source_event", "created_at", "expires_at")
    raw_id_fields = ("source_event",)
    actions = ["remove_selected"]

    @admin.display(description="Detail")
    def detail_preview(self, obj):
        return truncatechars(obj.detail, 80)

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "address", "reason", "detail") if obj else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        entry = suppress_address(address=obj.address, reason=obj.reason or Suppression.Reason.MANUAL, detail=obj.detail)
        obj.pk = entry.pk

    def delete_model(self, request, obj):
        remove_suppression(address=obj.address)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Remove the selected addresses from the list", permissions=["delete"])
    def remove_selected(self, request, queryset):
        removed = sum(remove_suppression(address=address) for address in queryset.values_list("address", flat=True))
        self.message_user(request, f"Removed {removed} address(es); they can be sent to again.")


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ("key", "user", "message", "created_at")
    search_fields = ("key", "user__username")
    list_select_related = ("user", "message")
    raw_id_fields = ("user", "message")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SendRate)
class SendRateAdmin(admin.ModelAdmin):
    """The throttles' counters: attempts per domain or sender per slot of the last minutes. Read-only."""

    list_display = ("slot", "scope", "key", "attempts")
    list_filter = ("scope",)
    search_fields = ("key",)
    ordering = ("-slot", "scope", "key")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
