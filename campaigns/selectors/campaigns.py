"""Campaign reads, scoped to the reader's workspace.

Another workspace's campaign ids behave exactly like ids that do not exist
(``NotFound``, a 404 in pages and the API).
"""

from django.db.models import F, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from campaigns.models import Campaign, CampaignTally, Segment, Template
from campaigns.selectors.results import NOT_SENT_STATES, Progress
from campaigns.workspace import workspace_of
from webmail.errors import NotFound


def campaigns_of(*, user) -> QuerySet[Campaign]:
    """The workspace's campaigns, newest first, with their recipients' ``sent_count``, ``deferred_count``,
    ``bounced_count``, ``not_sent_count`` and ``failed_count``, from the results counters (a list of large
    campaigns reads a few rows each, not their outboxes)."""
    workspace = workspace_of(user)
    if workspace is None:
        return Campaign.objects.none()
    return (
        Campaign.objects.filter(domain=workspace)
        .select_related("template", "segment")
        .annotate(
            sent_count=_tally(["now_delivered"]),
            deferred_count=_tally(["now_deferred"]),
            bounced_count=_tally(["now_bounced_hard", "now_bounced_soft"]),
            not_sent_count=_tally(NOT_SENT_STATES),
        )
        .annotate(failed_count=F("bounced_count") + F("not_sent_count"))
        .order_by("-created_at", "-pk")
    )


def _tally(metrics) -> Coalesce:
    rows = (
        CampaignTally.objects.filter(campaign=OuterRef("pk"), domain="", metric__in=metrics)
        .values("campaign")
        .annotate(total=Sum("count"))
        .values("total")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def get_campaign_for_user(*, user, campaign_id) -> Campaign:
    """One of the workspace's campaigns, annotated as ``campaigns_of`` annotates them."""
    campaign = campaigns_of(user=user).filter(pk=_as_id(campaign_id)).select_related("version").first()
    if campaign is None:
        raise NotFound("No such campaign.")
    return campaign


def progress_of(campaign: Campaign) -> Progress:
    """The progress of a campaign read by ``campaigns_of`` or ``get_campaign_for_user`` (no query of its own)."""
    return Progress(
        audience=campaign.audience_size, released=campaign.released_count, sent=campaign.sent_count,
        deferred=campaign.deferred_count, bounced=campaign.bounced_count, not_sent=campaign.not_sent_count,
    )  # fmt: skip


def marketing_templates_of(*, user) -> QuerySet[Template]:
    """What a campaign can send: the workspace's marketing templates (default variants) that have a version."""
    workspace = workspace_of(user)
    if workspace is None:
        return Template.objects.none()
    return (
        Template.objects.filter(domain=workspace, stream=Template.Stream.MARKETING, locale="")
        .exclude(active_version=None)
        .order_by("name", "key")
    )


def segments_of(*, user) -> QuerySet[Segment]:
    """The workspace's segments, by name: whom a campaign can send to."""
    workspace = workspace_of(user)
    return Segment.objects.filter(domain=workspace).order_by("name") if workspace else Segment.objects.none()


def segment_for_user(*, user, segment_id) -> Segment | None:
    """One of the workspace's segments, or None (a choice not made, or not the workspace's)."""
    return segments_of(user=user).filter(pk=_as_id(segment_id)).first()


def _as_id(value) -> int:
    """An id from a URL or form; anything that is not one finds nothing (404), never a 500."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
