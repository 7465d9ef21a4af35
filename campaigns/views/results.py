"""A campaign's results page (its progress polled while it sends) and its CSV export."""

from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from campaigns.models import Campaign
from campaigns.results_export import export_results
from campaigns.selectors.results import SERIES, CampaignResults, get_campaign_for_workspace, progress_of, results_of
from campaigns.views.common import marketer_required
from core import charts
from reputation.overview import sending_health
from webmail.errors import NotFound

# The domain chart's stacked parts, left to right.
DOMAIN_PARTS = ("delivered", "deferred", "bounced_soft", "bounced_hard")


@require_GET
@marketer_required
def campaign_results(request, campaign_id):
    campaign = _campaign(request, campaign_id)
    if request.htmx:  # the progress bar's poll: the counters' totals only
        progress = progress_of(campaign)
        response = render(request, "campaigns/results/page.html#progress", _progress_context(campaign, progress))
        if request.GET.get("poll") and campaign.status != Campaign.Status.SENDING:
            response["HX-Refresh"] = "true"  # the live bar saw the sending end: the whole page, final numbers
        return response
    results = results_of(campaign)
    return render(request, "campaigns/results/page.html", {
        "section": "campaigns",
        "results": results,
        "over_time": _over_time_chart(results),
        "health": sending_health(campaign=campaign),
        "by_domain": charts.bar_chart([(d.domain, {p: getattr(d, p) for p in DOMAIN_PARTS}) for d in results.domains]),
        **_progress_context(campaign, results.progress),
    })  # fmt: skip


@require_GET
@marketer_required
def campaign_results_csv(request, campaign_id):
    campaign = _campaign(request, campaign_id)
    response = StreamingHttpResponse(export_results(campaign), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-results.csv"'
    return response


def _campaign(request, campaign_id) -> Campaign:
    try:
        return get_campaign_for_workspace(workspace=request.workspace, campaign_id=campaign_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _progress_context(campaign: Campaign, progress) -> dict:
    parts = [("sent", progress.sent), ("bounced", progress.bounced), ("not_sent", progress.not_sent),
             ("deferred", progress.deferred)]  # fmt: skip
    return {
        "campaign": campaign,
        "progress": progress,
        "live": campaign.status == Campaign.Status.SENDING,
        "progress_segments": charts.progress_segments(parts, progress.audience),
    }


def _over_time_chart(results: CampaignResults):
    starts = [point.start for point in results.series]
    return charts.line_chart(starts, {key: [p.counts[key] for p in results.series] for key in SERIES})
