"""Inbound mail in the admin: what arrived, how it authenticated, what the scanners said, where it went."""

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from inbound.dmarc_reports.figures import domain_figures, reported_domains
from inbound.filters.explanations import explain
from inbound.models import DmarcAggregateReport, DmarcReportRow, InboundMessage, SpamToken, SpamTrainingCount
from inbound.services.reception import dispatch_processing


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ("received_at", "mail_from_display", "recipients", "status", "spam_score", "infected", "source")
    list_filter = ("status", "source")
    search_fields = ("mail_from", "rcpt_tos", "client_ip", "helo", "authentication_results")
    date_hierarchy = "received_at"
    raw_id_fields = ("blob", "message")
    readonly_fields = (
        "blob", "source", "mail_from", "rcpt_tos", "client_ip", "helo", "received_at", "status", "attempts",
        "authentication_results", "auth", "spam_score", "spam_signals", "spam_verdict", "virus_verdict", "message",
        "error", "processed_at", "raw_source",
    )  # fmt: skip
    exclude = ("lease_token", "lease_expires_at")
    actions = ["reprocess"]

    @admin.display(description="From (envelope)", ordering="mail_from")
    def mail_from_display(self, obj):
        return obj.mail_from or "<>"

    @admin.display(description="To (envelope)")
    def recipients(self, obj):
        return ", ".join(obj.rcpt_tos)[:100]

    @admin.display(description="Virus", boolean=True)
    def infected(self, obj):
        return bool(obj.virus_verdict.get("infected")) if obj.virus_verdict else None

    @admin.display(description="Spam signals")
    def spam_signals(self, obj):
        """Per recipient: the verdict, then each signal with its points, heaviest towards spam first."""
        verdicts = obj.spam_verdict if isinstance(obj.spam_verdict, dict) else {}
        tables = [
            self._signal_table(recipient, explain(verdict))
            for recipient, verdict in verdicts.items()
            if isinstance(verdict, dict)
        ]
        return format_html_join("", "{}", ((table,) for table in tables)) if tables else "-"

    @staticmethod
    def _signal_table(recipient: str, check: dict):
        outcome = "spam" if check["is_spam"] else "not spam"
        if check["dmarc_quarantine"] and not check["is_spam"]:
            outcome += ", to Spam by the sender's DMARC policy"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td style='text-align: right'>{}</td><td>{}</td><td>{}</td></tr>",
            ((s["name"], f"{float(s.get('points') or 0):+.1f}", s.get("description", ""), s.get("detail", ""))
             for s in check["signals"]),
        )  # fmt: skip
        return format_html(
            "<table><caption>{}: {} of {} points, {} ({}){}</caption>"
            "<thead><tr><th>Signal</th><th>Points</th><th>Meaning</th><th>Detail</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            recipient, check["score"], check["threshold"], outcome, check["filter"],
            format_html("; error: {}", check["error"]) if check["error"] else "", rows,
        )  # fmt: skip

    @admin.display(description="Raw source")
    def raw_source(self, obj):
        from mailboxes.blobstore import read_blob

        try:
            data = read_blob(obj.blob)
        except OSError:
            return "(the stored file is missing)"
        preview = data[: 1024 * 1024].decode("utf-8", errors="replace")
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", preview)

    @admin.action(description="Process the selected messages again (quarantined or failed ones)",
                  permissions=["reprocess"])  # fmt: skip
    def reprocess(self, request, queryset):
        jobs = list(queryset.filter(status__in=[InboundMessage.Status.FAILED, InboundMessage.Status.QUARANTINED]))
        InboundMessage.objects.filter(pk__in=[job.pk for job in jobs]).update(
            status=InboundMessage.Status.QUEUED, attempts=0
        )
        dispatch_processing(job_ids=[job.pk for job in jobs])
        self.message_user(request, f"Queued {len(jobs)} message(s) for processing again.")

    def has_reprocess_permission(self, request):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SpamTrainingCount)
class SpamTrainingCountAdmin(admin.ModelAdmin):
    list_display = ("__str__", "scope_user", "spam_messages", "ham_messages")
    raw_id_fields = ("scope_user",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SpamToken)
class SpamTokenAdmin(admin.ModelAdmin):
    list_display = ("token", "scope_user", "spam_count", "ham_count")
    search_fields = ("token",)
    raw_id_fields = ("scope_user",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DmarcReportRowInline(admin.TabularInline):
    model = DmarcReportRow
    fields = ("source_ip", "count", "disposition", "dkim", "spf", "header_from", "envelope_from", "reasons")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False


@admin.register(DmarcAggregateReport)
class DmarcAggregateReportAdmin(admin.ModelAdmin):
    """Aggregate reports received about our domains, and per domain their pass/fail figures over a period."""

    list_display = ("date_begin", "date_end", "domain", "org_name", "report_id", "received_at")
    list_filter = ("domain", "org_name")
    search_fields = ("domain", "org_name", "report_id")
    date_hierarchy = "date_begin"
    raw_id_fields = ("inbound_message",)
    readonly_fields = (
        "org_name", "report_id", "email", "domain", "date_begin", "date_end", "policy_published", "problems",
        "inbound_message", "received_at",
    )  # fmt: skip
    inlines = [DmarcReportRowInline]
    change_list_template = "admin/inbound/dmarcaggregatereport/change_list.html"

    def get_urls(self):
        figures = self.admin_site.admin_view(self.figures_view)
        return [path("figures/", figures, name="inbound_dmarcaggregatereport_figures"), *super().get_urls()]

    def figures_view(self, request):
        """Per domain, over a date range: messages, DKIM- and SPF-aligned passes, DMARC pass rate, failing sources."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = DmarcFiguresForm(request.GET or None, domains=reported_domains())
        figures = None
        if form.is_valid():
            since = datetime.combine(form.cleaned_data["since"], time.min, tzinfo=UTC)
            until = datetime.combine(form.cleaned_data["until"], time.min, tzinfo=UTC) + timedelta(days=1)
            figures = domain_figures(domain=form.cleaned_data["domain"], since=since, until=until)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("DMARC report figures"),
            "form": form,
            "figures": figures,
        }
        return TemplateResponse(request, "admin/inbound/dmarc_figures.html", context)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DmarcFiguresForm(forms.Form):
    domain = forms.ChoiceField(label=_("Domain"))
    since = forms.DateField(label=_("From (UTC)"), widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To (UTC, inclusive)"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, domains: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["domain"].choices = [(domain, domain) for domain in domains]
        today = timezone.now().date()
        self.fields["since"].initial = today - timedelta(days=30)
        self.fields["until"].initial = today

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("since") and cleaned.get("until") and cleaned["since"] > cleaned["until"]:
            raise forms.ValidationError(_("The period ends before it starts."))
        return cleaned
