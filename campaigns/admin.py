import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from campaigns.models import Template, TemplateSend, TemplateVersion
from mailboxes.admin import MessageAdmin, ReadOnlyAdminMixin


def _json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


# --- templates --------------------------------------------------------------------------------


class VersionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TemplateVersion
    fields = ("number", "subject", "comment", "created_by", "created_at")
    extra = 0
    show_change_link = True


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ("key", "locale", "domain", "stream", "active_number", "updated_at")
    list_filter = ("stream", "locale")
    search_fields = ("key", "name", "domain__name")
    list_select_related = ("domain", "active_version")
    raw_id_fields = ("domain", "created_by")
    readonly_fields = ("active_version", "created_at", "updated_at")
    inlines = (VersionInline,)

    @admin.display(description="Active version")
    def active_number(self, obj):
        return obj.active_version.number if obj.active_version else "—"


@admin.register(TemplateVersion)
class TemplateVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Versions are immutable (sends point at them): shown, never edited here."""

    list_display = ("template", "number", "subject", "created_at")
    search_fields = ("template__key", "subject")
    list_select_related = ("template",)
    fields = ("template", "number", "subject", "html", "text", "variables_display", "comment", "created_by")
    readonly_fields = ("variables_display",)

    @admin.display(description="Variables")
    def variables_display(self, obj):
        return _json(obj.variables)


# --- the pinned version on a message ---------------------------------------------------------


class TemplateSendInline(ReadOnlyAdminMixin, admin.StackedInline):
    """On a message's admin page: the template version and the variables it was rendered from."""

    model = TemplateSend
    fields = ("template_key", "version_link", "locale", "variables_display", "created_at")
    readonly_fields = fields
    extra = 0
    verbose_name = "Template send"

    @admin.display(description="Template")
    def template_key(self, obj):
        return obj.version.template

    @admin.display(description="Version")
    def version_link(self, obj):
        url = reverse("admin:campaigns_templateversion_change", args=[obj.version_id])
        return format_html('<a href="{}">version {}</a>', url, obj.version.number)

    @admin.display(description="Variables")
    def variables_display(self, obj):
        return _json(obj.variables)


# The message admin belongs to mailboxes, which knows nothing of templates: the inline is added from here.
MessageAdmin.inlines = (*MessageAdmin.inlines, TemplateSendInline)


@admin.register(TemplateSend)
class TemplateSendAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("message", "version", "locale", "created_at")
    list_select_related = ("message", "version__template")
    search_fields = ("version__template__key", "message__message_id")
    raw_id_fields = ("message", "version")
    fields = ("message", "version", "locale", "variables_display", "created_at")
    readonly_fields = ("variables_display",)

    @admin.display(description="Variables")
    def variables_display(self, obj):
        return _json(obj.variables)
