"""Admin: sending limits (inlines on the user and domain pages), holds ("Resume sending") and alerts.

A hold is placed by the guardrails, the compromised-account checks or an
admin ("Add sending hold" here), always through ``reputation.services.holds``,
and released through the same service ("Resume sending"), so its mail is
parked and requeued and a campaign paused and resumed; a hold is never edited
or deleted.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from reputation.admin_page import ReputationPageMixin
from reputation.models import ReputationAlert, SenderLimit, SendingHold
from reputation.services.holds import place_hold, release_hold
from reputation.services.limits import FIELDS, Kind, default_limits


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return (("yes", "Open"), ("no", "Released"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(resolved_at=None)
        if self.value() == "no":
            return queryset.exclude(resolved_at=None)
        return queryset


class ResumeForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why sending may go on (the list was cleaned, the account secured…): kept with the hold.",
    )


class AlertInline(admin.TabularInline):
    model = ReputationAlert
    fields = ("created_at", "level", "metric", "rate", "threshold", "volume", "window")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SendingHold)
class SendingHoldAdmin(admin.ModelAdmin):
    list_display = ("kind", "key", "cause", "is_open", "created_at", "reason", "resolved_at", "resolved_by")
    list_filter = (OpenFilter, "cause", "kind")
    search_fields = ("=key", "reason")
    date_hierarchy = "created_at"
    list_select_related = ("resolved_by",)
    fields = (
        "kind", "key", "cause", "reason", "evidence", "created_at", "resolved_at", "resolved_by", "resolution_note",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [AlertInline]
    actions = ["resume_sending"]

    @admin.display(boolean=True, description="open")
    def is_open(self, hold):
        return hold.is_open

    add_fields = ("kind", "key", "reason")

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser  # "Hold sending" by hand: through place_hold, cause "admin"

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        hold = place_hold(
            kind=obj.kind, key=obj.key, cause=SendingHold.Cause.ADMIN, reason=obj.reason,
            evidence={"held_by": request.user.get_username()},
        )  # fmt: skip
        obj.pk, obj.key, obj.created_at = hold.pk, hold.key, hold.created_at  # an open hold is kept as it was

    def has_resume_permission(self, request):
        return request.user.is_superuser

    @admin.action(description="Resume sending of the selected holds", permissions=["resume"])
    def resume_sending(self, request, queryset):
        holds = list(queryset.filter(resolved_at=None))
        form = ResumeForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            for hold in holds:
                release_hold(hold=hold, by=request.user, note=form.cleaned_data["note"])
            self.message_user(request, f"Sending resumed for {len(holds)} hold(s); their parked mail is due again.")
            return None
        if not holds:
            self.message_user(request, "None of the selected holds is open.")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Resume sending",
            "opts": self.model._meta,
            "holds": holds,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "resume_sending",
        }
        return TemplateResponse(request, "admin/reputation/sendinghold/resume.html", context)


@admin.register(ReputationAlert)
class ReputationAlertAdmin(ReputationPageMixin, admin.ModelAdmin):
    list_display = ("created_at", "level", "kind", "key", "metric", "rate_percent", "threshold_percent", "volume",
                    "window", "hold")  # fmt: skip
    list_filter = ("level", "kind", "metric", "window")
    search_fields = ("=key",)
    date_hierarchy = "created_at"
    list_select_related = ("hold",)
    readonly_fields = ("kind", "key", "level", "metric", "rate", "threshold", "volume", "window", "created_at", "hold")
    change_list_template = "admin/reputation/reputationalert/change_list.html"  # links the reputation page

    @admin.display(description="rate", ordering="rate")
    def rate_percent(self, alert):
        return f"{alert.rate:.2%}"

    @admin.display(description="threshold", ordering="threshold")
    def threshold_percent(self, alert):
        return f"{alert.threshold:.2%}"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


_LIMIT_FIELDS = (("per_minute", "per_hour", "per_day"), ("recipients_per_message", "recipients_per_day"), "note")


class _SenderLimitInline(admin.StackedInline):
    """The sender's own limits, on its user or domain page; a blank one shows (and keeps) the default."""

    model = SenderLimit
    kind = Kind.USER
    fields = _LIMIT_FIELDS
    extra = 0
    max_num = 1
    verbose_name = verbose_name_plural = "Sending limits (blank: the default; 0: no limit)"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in FIELDS:
            default = getattr(default_limits(self.kind), db_field.name)
            field.help_text = f"{db_field.help_text} Default: {default or 'no limit'}."
        return field


class UserSenderLimitInline(_SenderLimitInline):
    fk_name = "user"


class DomainSenderLimitInline(_SenderLimitInline):
    fk_name = "domain"
    kind = Kind.DOMAIN


@admin.register(SenderLimit)
class SenderLimitAdmin(admin.ModelAdmin):
    """Every sender with limits other than the defaults, in one list."""

    list_display = ("__str__", *FIELDS, "note", "updated_at")
    list_select_related = ("user", "domain")
    search_fields = ("user__username", "domain__name", "note")
    autocomplete_fields = ("user", "domain")
    fields = ("user", "domain", *_LIMIT_FIELDS)


from reputation import abuse_admin  # noqa: E402, F401  (the abuse checks' models: the link blocklist and the records)
