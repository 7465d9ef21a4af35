"""The admin of the abuse checks: the link blocklist, the content objections, sign-in networks, submission counts."""

from django.contrib import admin

from reputation.models import ContentFlag, LinkBlocklistEntry, SignInNetwork, SubmissionCount
from reputation.services.content import block_link_domain, unblock_link_domains


@admin.register(LinkBlocklistEntry)
class LinkBlocklistEntryAdmin(admin.ModelAdmin):
    """Domains no outbound link may point to (their subdomains included), through the services."""

    list_display = ("domain", "reason", "created_by", "created_at")
    search_fields = ("domain", "reason")
    fields = ("domain", "reason", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")
    actions = ["remove_selected"]

    def save_model(self, request, obj, form, change):
        entry = block_link_domain(domain=obj.domain, reason=obj.reason, created_by=request.user)
        obj.pk = entry.pk

    def delete_model(self, request, obj):
        unblock_link_domains(entry_ids=[obj.pk])

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Remove the selected domains from the blocklist", permissions=["delete"])
    def remove_selected(self, request, queryset):
        removed = unblock_link_domains(entry_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"Removed {removed} domains: links to them are allowed again.")


class _ReadOnly(admin.ModelAdmin):
    """Records the checks keep: for reading, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ContentFlag)
class ContentFlagAdmin(_ReadOnly):
    list_display = ("created_at", "user", "finding", "source", "refused", "subject", "detail")
    list_filter = ("finding", "source", "refused")
    search_fields = ("user__username", "detail", "subject")
    list_select_related = ("user",)
    date_hierarchy = "created_at"


@admin.register(SignInNetwork)
class SignInNetworkAdmin(_ReadOnly):
    list_display = ("user", "network", "is_new", "first_seen", "last_seen", "sign_ins")
    list_filter = ("is_new",)
    search_fields = ("user__username", "network")
    list_select_related = ("user",)


@admin.register(SubmissionCount)
class SubmissionCountAdmin(_ReadOnly):
    list_display = ("hour", "user", "submissions", "recipients", "new_recipients", "flagged")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    date_hierarchy = "hour"
