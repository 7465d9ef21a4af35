"""Operators' view of the reputation and abuse side."""

from django.contrib import admin

from reputation.models import SenderLimit
from reputation.services.limits import FIELDS, Kind, default_limits

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
