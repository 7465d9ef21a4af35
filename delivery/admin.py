"""The delivery event log in the admin: append-only, so it can be read and filtered, never edited."""

from django import forms
from django.contrib import admin
from django.template.defaultfilters import truncatechars

from core.providers import Provider
from delivery.models import (
    DeliveryEvent,
    IdempotencyKey,
    ProviderBackoff,
    ProviderProfile,
    RetryRule,
    SendRate,
    SendScope,
    Suppression,
)
from delivery.services import suppress_address
from delivery.services.shaping import DEFAULT_PROFILES, effective_profile, end_backoffs, ensure_profile_rows
from delivery.services.suppression import remove_suppression_entries, scope_summary
from observability.admin_page import OperatorDashboardMixin


@admin.register(DeliveryEvent)
class DeliveryEventAdmin(OperatorDashboardMixin, admin.ModelAdmin):
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


class SuppressionForm(forms.ModelForm):
    """An entry without a scope is a GLOBAL one, as ``suppress_address`` takes it."""

    class Meta:
        model = Suppression
        fields = ("address", "scope", "domain", "stream", "contact_list", "reason", "detail")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "scope" in self.fields:
            self.fields["scope"].required = False

    def clean_scope(self):
        return self.cleaned_data.get("scope") or Suppression.Scope.GLOBAL


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Addresses some mail is not sent to, per scope. Admins may add and remove entries, through the services."""

    list_display = ("address", "scope_target", "reason", "source", "created_at", "expires_at", "detail_preview")
    list_filter = ("scope", "reason", "source", "stream")
    search_fields = ("address", "detail", "domain__name", "contact_list__name")
    list_select_related = ("domain", "contact_list")
    form = SuppressionForm
    date_hierarchy = "created_at"
    fields = (
        "address", "scope", "domain", "stream", "contact_list", "reason", "detail", "source", "source_event",
        "created_at", "expires_at",
    )  # fmt: skip
    readonly_fields = ("source", "source_event", "created_at", "expires_at")
    raw_id_fields = ("source_event", "domain", "contact_list")
    actions = ["remove_selected"]

    @admin.display(description="Detail")
    def detail_preview(self, obj):
        return truncatechars(obj.detail, 80)

    @admin.display(description="Scope")
    def scope_target(self, obj):
        return scope_summary(obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return (*self.readonly_fields, "address", "scope", "domain", "stream", "contact_list", "reason", "detail")

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        entry = suppress_address(
            address=obj.address, reason=obj.reason or Suppression.Reason.MANUAL, detail=obj.detail,
            scope=obj.scope, domain=obj.domain, stream=obj.stream, contact_list=obj.contact_list,
        )  # fmt: skip
        obj.pk = entry.pk

    def delete_model(self, request, obj):
        remove_suppression_entries(entry_ids=[obj.pk])

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Remove the selected entries", permissions=["delete"])
    def remove_selected(self, request, queryset):
        removed = remove_suppression_entries(entry_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"Removed {removed} entries; those addresses can be sent to again in their scope.")


@admin.register(SendScope)
class SendScopeAdmin(admin.ModelAdmin):
    """Which workspace and list each transactional or bulk message was sent for. Read-only."""

    list_display = ("message", "domain", "contact_list_id")
    list_select_related = ("message", "domain")
    raw_id_fields = ("message", "domain")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


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


def _in_force(obj: ProviderProfile, name: str) -> str:
    """A profile's value in force, marked when it is the code's default."""
    value = getattr(effective_profile(obj), name)
    shown = "no limit" if value == 0 and name == "messages_per_connection" else value
    return f"{shown} (default)" if getattr(obj, name) is None else f"{shown}"


@admin.register(ProviderProfile)
class ProviderProfileAdmin(admin.ModelAdmin):
    """One row per destination provider, all five always listed; an empty field keeps the code's default
    (delivery.services.shaping.DEFAULT_PROFILES)."""

    list_display = ("provider", "workers_at_once", "per_connection", "per_minute", "note", "updated_at")
    readonly_fields = ("provider", "defaults")
    fields = ("provider", "defaults", "max_connections", "messages_per_connection", "messages_per_minute", "note")

    @admin.display(description="Workers at once")
    def workers_at_once(self, obj):
        return _in_force(obj, "max_connections")

    @admin.display(description="Messages per connection")
    def per_connection(self, obj):
        return _in_force(obj, "messages_per_connection")

    @admin.display(description="Messages per minute")
    def per_minute(self, obj):
        return _in_force(obj, "messages_per_minute")

    @admin.display(description="Defaults in the code")
    def defaults(self, obj):
        default = DEFAULT_PROFILES[Provider(obj.provider)]
        return (
            f"{default.max_connections} workers at once, {default.messages_per_connection or 'no limit'} messages "
            f"per connection, {default.messages_per_minute} messages per minute"
        )

    def changelist_view(self, request, extra_context=None):
        ensure_profile_rows()  # the five rows, empty (the defaults) until an admin overrides one
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RetryRule)
class RetryRuleAdmin(admin.ModelAdmin):
    """The admin's rules for throttling and temporary replies, tried before the code's defaults
    (delivery.services.shaping.DEFAULT_RULES, listed in docs/PROVIDER-SHAPING.md)."""

    list_display = ("position", "provider", "status_prefix", "text_pattern", "action", "backoff_seconds", "enabled")
    list_display_links = ("status_prefix",)
    list_editable = ("position", "enabled")
    list_filter = ("provider", "action", "enabled")


@admin.register(ProviderBackoff)
class ProviderBackoffAdmin(admin.ModelAdmin):
    """The pauses that throttling replies set: a provider whose pause runs gets no mail until its end."""

    list_display = ("provider", "until", "strikes", "started_at", "reason")
    readonly_fields = ("provider", "strikes", "started_at", "reason")
    fields = ("provider", "until", "strikes", "started_at", "reason")
    actions = ["end_now"]

    @admin.action(description="End the pause now (the provider's mail is due again)")
    def end_now(self, request, queryset):
        ended = end_backoffs(providers=list(queryset.values_list("provider", flat=True)))
        self.message_user(request, f"{ended} pause(s) ended.")

    def has_add_permission(self, request):
        return False
