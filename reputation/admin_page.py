"""The admin reputation page: rates over time per sending domain and provider, every sender against the pause
thresholds, the open holds (with Resume, through ``release_hold``) and the recent alerts.

Hooked into the alerts' admin with ``get_urls`` (as the DMARC figures page is into
the DMARC reports'): ``/admin/reputation/reputationalert/overview/``, linked from
the admin index. Staff who may view alerts see it; only superusers resume, as in
the holds' own admin action.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from reputation.figures import WINDOW_LABELS, Window
from reputation.models import SendingHold
from reputation.overview import label_of, reputation_overview
from reputation.services.holds import release_hold


class WindowForm(forms.Form):
    window = forms.ChoiceField(choices=[(w.value, _(WINDOW_LABELS[w])) for w in Window])


class ResumeForm(forms.Form):
    note = forms.CharField(
        label=_("Note"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Why it is safe to send again (kept with the hold)."),
    )


class ReputationPageMixin:
    """For the ``ReputationAlert`` ModelAdmin: adds the page and its Resume endpoint to its URLs."""

    def get_urls(self):
        overview = self.admin_site.admin_view(self.reputation_overview_view)
        resume = self.admin_site.admin_view(require_POST(self.reputation_resume_view))
        return [
            path("overview/", overview, name="reputation_overview"),
            path("overview/holds/<int:hold_id>/resume/", resume, name="reputation_resume_hold"),
            *super().get_urls(),
        ]

    def reputation_overview_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = WindowForm(request.GET)
        window = Window(form.cleaned_data["window"]) if form.is_valid() else Window.DAY
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Sending reputation"),
            "form": form,
            "window": window,
            "window_label": _(WINDOW_LABELS[window]),
            "by_day": window in (Window.WEEK, Window.MONTH),  # the x axis labels dates, else times
            "overview": reputation_overview(window=window),
            "can_resume": can_resume(request.user),
            "resume_form": ResumeForm(),
        }
        return TemplateResponse(request, "admin/reputation/overview.html", context)

    def reputation_resume_view(self, request, hold_id):
        """Resume a held sender (its parked mail is due again, a paused campaign resumes), with the admin's note."""
        if not can_resume(request.user):
            raise PermissionDenied
        hold = get_object_or_404(SendingHold, pk=hold_id)
        form = ResumeForm(request.POST)
        back = reverse("admin:reputation_overview") + "#holds"
        if not form.is_valid():
            messages.error(request, _("Say why the sender may send again: a note is required to resume."))
        elif not hold.is_open:
            messages.warning(request, _("That hold was already resolved."))
        else:
            release_hold(hold=hold, by=request.user, note=form.cleaned_data["note"])
            sender = label_of(hold.kind, hold.key)
            messages.success(request, _("Resumed: %(sender)s may send again.") % {"sender": sender})
        return redirect(back)


def can_resume(user) -> bool:
    """Who may resume a held sender: superusers (as the holds' admin action allows)."""
    return user.is_active and user.is_superuser
