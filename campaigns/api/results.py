"""GET /api/campaigns/<id>/results: the numbers of the results page, from the same selector."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.selectors.results import CampaignResults, Progress, get_campaign_for_workspace, results_of
from campaigns.workspace import is_marketer, workspace_of
from webmail.api.serializers import ErrorSerializer


class ProgressSerializer(serializers.Serializer):
    audience = serializers.IntegerField(help_text="People frozen into the campaign's audience when it started.")
    released = serializers.IntegerField(help_text="Of them, handed to the outbox so far.")
    sent = serializers.IntegerField(help_text="Accepted by their server (and not bounced since).")
    deferred = serializers.IntegerField(help_text="Refused for now; tried again later.")
    bounced = serializers.IntegerField()
    not_sent = serializers.IntegerField(help_text="Suppressed at send time, cancelled, or held for an admin.")
    remaining = serializers.IntegerField(help_text="With no final outcome yet (the deferred among them).")
    percent = serializers.IntegerField(help_text="Done (sent, bounced or not sent), of the audience.")


def progress_body(progress: Progress) -> dict:
    """A campaign's progress as ``ProgressSerializer`` shows it (here and in the campaign API)."""
    p = progress
    return {
        "audience": p.audience, "released": p.released, "sent": p.sent, "deferred": p.deferred,
        "bounced": p.bounced, "not_sent": p.not_sent, "remaining": p.remaining, "percent": p.percent,
    }  # fmt: skip


class CountsSerializer(serializers.Serializer):
    delivered = serializers.IntegerField(help_text="Recipients delivered (and not bounced since).")
    bounced_hard = serializers.IntegerField(help_text="Recipients whose address will never work.")
    bounced_soft = serializers.IntegerField(help_text="Recipients refused for another reason.")
    deferrals = serializers.IntegerField(help_text="Temporary refusals (events; one recipient may have several).")
    complained = serializers.IntegerField()
    opened = serializers.IntegerField(help_text="People who opened, each once; machine opens are not in it.")
    opens = serializers.IntegerField(help_text="People's opens, every one.")
    machine_opens = serializers.IntegerField(help_text="Opens by privacy proxies and scanners.")
    clicked = serializers.IntegerField(help_text="People who clicked, each once.")
    clicks = serializers.IntegerField(help_text="People's clicks, every one.")
    machine_clicks = serializers.IntegerField(help_text="Clicks by link scanners.")
    unsubscribed = serializers.IntegerField()


class RatesSerializer(serializers.Serializer):
    delivered = serializers.FloatField(allow_null=True, help_text="Of the recipients whose server answered.")
    bounced = serializers.FloatField(allow_null=True, help_text="Of the recipients whose server answered.")
    bounced_hard = serializers.FloatField(allow_null=True)
    bounced_soft = serializers.FloatField(allow_null=True)
    opened = serializers.FloatField(allow_null=True, help_text="Of the delivered.")
    clicked = serializers.FloatField(allow_null=True, help_text="Of the delivered.")
    clicked_of_opened = serializers.FloatField(allow_null=True, help_text="Of the people who opened.")
    complained = serializers.FloatField(allow_null=True, help_text="Of the delivered.")
    unsubscribed = serializers.FloatField(allow_null=True, help_text="Of the delivered.")


class PointSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField(help_text="Net: delivered in the period, less those bounced later.")
    bounced = serializers.IntegerField()
    opened = serializers.IntegerField()
    clicked = serializers.IntegerField()


class DomainSerializer(serializers.Serializer):
    domain = serializers.CharField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    deferred = serializers.IntegerField()
    bounced_hard = serializers.IntegerField()
    bounced_soft = serializers.IntegerField()
    opened = serializers.IntegerField()
    clicked = serializers.IntegerField()
    complained = serializers.IntegerField()


class LinkSerializer(serializers.Serializer):
    url = serializers.CharField()
    clicks = serializers.IntegerField()
    unique_clicks = serializers.IntegerField()


class CampaignResultsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    progress = ProgressSerializer()
    counts = CountsSerializer()
    rates = RatesSerializer(help_text="Fractions from 0 to 1; null when there is nothing to divide by.")
    series_step = serializers.ChoiceField(choices=["hour", "day"])
    series = PointSerializer(many=True, help_text="Every hour (or day, past three days) from the first event on.")
    domains = DomainSerializer(many=True, help_text="The ten destination domains tried most.")
    links = LinkSerializer(many=True, help_text="The ten links people clicked most.")


def results_body(results: CampaignResults) -> dict:
    c, p, r = results.counts, results.progress, results.rates
    return {
        "id": results.campaign.pk,
        "name": results.campaign.name,
        "status": results.campaign.status,
        "progress": progress_body(p),
        "counts": {
            "delivered": c.get("now_delivered", 0), "bounced_hard": c.get("now_bounced_hard", 0),
            "bounced_soft": c.get("now_bounced_soft", 0), "deferrals": c.get("deferred", 0),
            "complained": c.get("complained", 0), "opened": c.get("opened_unique", 0), "opens": c.get("opened", 0),
            "machine_opens": c.get("opened_machine", 0), "clicked": c.get("clicked_unique", 0),
            "clicks": c.get("clicked", 0), "machine_clicks": c.get("clicked_machine", 0),
            "unsubscribed": c.get("unsubscribed", 0),
        },
        "rates": {
            "delivered": r["delivered"], "bounced": r["bounced"], "bounced_hard": r["bounced_hard"],
            "bounced_soft": r["bounced_soft"], "opened": r["opened"], "clicked": r["clicked"],
            "clicked_of_opened": r["clicked_of_opened"], "complained": r["complained"],
            "unsubscribed": r["unsubscribed"],
        },
        "series_step": "day" if results.series_step.days else "hour",
        "series": [{"start": point.start, **point.counts} for point in results.series],
        "domains": [
            {
                "domain": d.domain, "sent": d.sent, "delivered": d.delivered, "deferred": d.deferred,
                "bounced_hard": d.bounced_hard, "bounced_soft": d.bounced_soft, "opened": d.opened,
                "clicked": d.clicked, "complained": d.complained,
            }
            for d in results.domains
        ],
        "links": [
            {"url": link.url, "clicks": link.clicks, "unique_clicks": link.unique_clicks} for link in results.links
        ],
    }  # fmt: skip


class CampaignResultsView(APIView):
    @extend_schema(
        operation_id="campaigns_results",
        summary="A campaign's results",
        description=(
            "Progress while it sends, then delivery, bounces (hard and soft), complaints, opens, clicks and "
            "unsubscribes with their rates, over time, per destination domain, and the most clicked links. "
            "Counted as events arrive: eventually consistent, within moments. Marketers of the campaign's "
            "workspace only; any other campaign id is a 404."
        ),
        responses={200: CampaignResultsSerializer, 404: ErrorSerializer},
        tags=["campaigns"],
    )
    def get(self, request, campaign_id):
        workspace = workspace_of(request.user) if is_marketer(request.user) else None
        campaign = get_campaign_for_workspace(workspace=workspace, campaign_id=campaign_id)
        return Response(CampaignResultsSerializer(results_body(results_of(campaign))).data)
