"""The campaign pages: list, new and edit form, the campaign page with its check before scheduling, its live
progress and the buttons of its life (schedule, unschedule, test, pause, resume, cancel, delete)."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from campaigns import segments
from campaigns.forms_campaigns import CampaignForm
from campaigns.models import Campaign
from campaigns.selectors import campaigns as selectors
from campaigns.services import campaigns as services
from campaigns.views.common import marketer_required, not_found_is_404
from webmail.errors import UserError

Status = Campaign.Status
# The buttons each status offers (the services refuse the others anyway).
ACTIONS = {
    Status.DRAFT: ("edit", "schedule", "test", "delete"),
    Status.SCHEDULED: ("unschedule", "test", "cancel"),
    Status.SENDING: ("pause", "cancel"),
    Status.PAUSED: ("resume", "cancel"),
    Status.SENT: (),
    Status.CANCELLED: (),
}
# A campaign the system paused (a guardrail, an admin's hold): only an admin resumes it.
HELD_ACTIONS = ("cancel",)
# Statuses whose page follows the sending live.
LIVE = (Status.SCHEDULED, Status.SENDING, Status.PAUSED)
# Problems of the check before scheduling, by field: which input of the form fixes them.
FORM_ANCHORS = {
    "name": "id_name", "template": "id_template", "segment": "id_segment", "from_address": "id_from_address",
    "from_name": "id_from_name", "time_zone": "id_time_zone", "send_at": "id_send_at", "finish_by": "id_finish_by",
    "max_per_hour": "id_rate", "track_opens": "id_track_opens", "track_clicks": "id_track_clicks",
}  # fmt: skip


@require_GET
@marketer_required
def campaign_list(request):
    campaigns = list(selectors.campaigns_of(user=request.user))
    context = {
        "section": "campaigns",
        "title": _("Campaigns"),
        "campaigns": campaigns,
        "live": any(c.status in LIVE for c in campaigns),
    }
    template = "campaigns/campaigns/list.html#rows" if request.htmx else "campaigns/campaigns/list.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@marketer_required
def campaign_new(request):
    if request.method == "GET":
        return _form_page(request, CampaignForm(user=request.user))
    form = CampaignForm(request.POST, user=request.user)
    if not form.is_valid():
        return _form_page(request, form, status=400)
    try:
        campaign = services.create_campaign(user=request.user, **form.service_fields())
    except services.CampaignInvalid as exc:
        form.add_service_errors(exc.errors)
        return _form_page(request, form, status=400)
    messages.success(request, _("Campaign %(name)s saved as a draft.") % {"name": campaign.name})
    return redirect("campaigns:campaign", campaign.pk)


@require_http_methods(["GET", "POST"])
@marketer_required
@not_found_is_404
def campaign_edit(request, campaign_id: int):
    campaign = selectors.get_campaign_for_user(user=request.user, campaign_id=campaign_id)
    if request.method == "GET":
        form = CampaignForm(initial=CampaignForm.initial_for(campaign), user=request.user)
        return _form_page(request, form, campaign)
    form = CampaignForm(request.POST, user=request.user)
    if not form.is_valid():
        return _form_page(request, form, campaign, status=400)
    try:
        services.update_campaign(campaign=campaign, user=request.user, **form.service_fields())
    except services.CampaignInvalid as exc:
        form.add_service_errors(exc.errors)
        return _form_page(request, form, campaign, status=400)
    except UserError as exc:  # e.g. it started sending meanwhile
        form.add_error(None, exc.message)
        return _form_page(request, form, campaign, status=400)
    messages.success(request, _("Campaign %(name)s saved.") % {"name": campaign.name})
    return redirect("campaigns:campaign", campaign.pk)


@require_GET
@marketer_required
@not_found_is_404
def campaign_detail(request, campaign_id: int):
    campaign = selectors.get_campaign_for_user(user=request.user, campaign_id=campaign_id)
    problems = services.preflight(campaign) if campaign.status == Status.DRAFT else []
    context = {
        "section": "campaigns",
        "title": campaign.name,
        "campaign": campaign,
        "actions": HELD_ACTIONS if campaign.hold_reason else ACTIONS[campaign.status],
        "problems": [_with_fix_url(campaign, problem) for problem in problems],
        **_progress_context(campaign),
    }
    return render(request, "campaigns/campaigns/campaign.html", context)


@require_GET
@marketer_required
@not_found_is_404
def campaign_progress(request, campaign_id: int):
    """The live progress bar; a status other than the one the page shows reloads the page (new buttons)."""
    campaign = selectors.get_campaign_for_user(user=request.user, campaign_id=campaign_id)
    if request.htmx and request.GET.get("shown") != campaign.status:
        return HttpResponseClientRefresh()
    context = {"campaign": campaign, **_progress_context(campaign)}
    return render(request, "campaigns/campaigns/campaign.html#progress", context)


@require_GET
@marketer_required
def segment_counts(request):
    """The form's live count of the chosen segment: in it, suppressed, will be sent."""
    segment = selectors.segment_for_user(user=request.user, segment_id=request.GET.get("segment"))
    counts = segments.counts(segment) if segment else None
    return render(request, "campaigns/campaigns/form.html#segment-counts", {"counts": counts})


@require_POST
@marketer_required
@not_found_is_404
def campaign_transition(request, campaign_id: int, action: str):
    """Schedule, unschedule, pause, resume or cancel; the campaign page says what happened, or every problem."""
    campaign = selectors.get_campaign_for_user(user=request.user, campaign_id=campaign_id)
    service, done = TRANSITIONS[action]  # the URL admits only these actions
    try:
        service(campaign=campaign, user=request.user)
    except services.CampaignInvalid as exc:
        for field_messages in exc.errors.values():
            for message in field_messages:
                messages.error(request, message)
    except UserError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done())
    return redirect("campaigns:campaign", campaign.pk)


@require_POST
@marketer_required
@not_found_is_404
def campaign_test(request, campaign_id: int):
    campaign = selectors.get_campaign_for_user(user=request.user, campaign_id=campaign_id)
    to = [a.strip() for a in request.POST.get("to", "").replace(";", ",").replace("\n", ",").split(",") if a.strip()]
    try:
        services.send_test(campaign=campaign, user=request.user, to=to)
    except services.CampaignInvalid as exc:
        for field_messages in exc.errors.values():
            for message in field_messages:
                messages.error(request, _("The test was not sent: %(problem)s") % {"problem": message})
    except UserError as exc:
        messages.error(request, _("The test was not sent: %(problem)s") % {"problem": exc.message})
    else:
        messages.success(request, _("Test sent to %(addresses)s.") % {"addresses": ", ".join(to)})
    return redirect("campaigns:campaign", campaign.pk)


@require_POST
@marketer_required
@not_found_is_404
def campaign_delete(request, campaign_id: int):
    campaign = selectors.get_campaign_for_user(user=request.user, campaign_id=campaign_id)
    try:
        services.delete_campaign(campaign=campaign, user=request.user)
    except UserError as exc:
        messages.error(request, exc.message)
        return redirect("campaigns:campaign", campaign.pk)
    messages.success(request, _("Draft %(name)s deleted.") % {"name": campaign.name})
    return redirect("campaigns:campaigns")


TRANSITIONS = {
    "schedule": (services.schedule, lambda: _("Scheduled: the check passed and the campaign will send on time.")),
    "unschedule": (services.unschedule, lambda: _("Unscheduled: the campaign is a draft again.")),
    "pause": (services.pause, lambda: _("Paused: nothing more is sent until you resume.")),
    "resume": (services.resume, lambda: _("Resumed: sending goes on.")),
    "cancel": (services.cancel, lambda: _("Cancelled: nothing more will be sent.")),
}


def _form_page(request, form, campaign=None, *, status=200) -> HttpResponse:
    segment = selectors.segment_for_user(user=request.user, segment_id=form["segment"].value())
    context = {
        "section": "campaigns",
        "title": _("Edit %(name)s") % {"name": campaign.name} if campaign else _("New campaign"),
        "campaign": campaign,
        "form": form,
        "counts": segments.counts(segment) if segment else None,
    }
    return render(request, "campaigns/campaigns/form.html", context, status=status)


def _progress_context(campaign) -> dict:
    return {"progress": selectors.progress_of(campaign), "live": campaign.status in LIVE}


def _with_fix_url(campaign, problem) -> dict:
    """A problem of the check, with the page (and input) where it is fixed."""
    if problem.field == "template" and campaign.template_id:
        url = reverse("campaigns:template_edit", args=[campaign.template_id])
    else:
        anchor = FORM_ANCHORS.get(problem.field, "id_from_address")  # DNS and domain problems: the From address
        url = reverse("campaigns:campaign_edit", args=[campaign.pk]) + "#" + anchor
    return {"field": problem.field, "message": problem.message, "url": url}
