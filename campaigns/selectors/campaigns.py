"""Campaign reads, scoped to the reader's workspace.

Another workspace's campaign ids behave exactly like ids that do not exist
(``NotFound``, a 404 in pages and the API).
"""

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from campaigns.models import Campaign, Segment, Template
from campaigns.workspace import workspace_of
from mailboxes.models import Recipient
from webmail.errors import NotFound

_SENT = (Recipient.Status.SENT, Recipient.Status.DELIVERED)
_FAILED = tuple(Recipient.FAILED_STATUSES)


def campaigns_of(*, user) -> QuerySet[Campaign]:
    """The workspace's campaigns, newest first, each with ``sent_count`` and ``failed_count`` of its recipients."""
    workspace = workspace_of(user)
    if workspace is None:
        return Campaign.objects.none()
    return (
        Campaign.objects.filter(domain=workspace)
        .select_related("template", "segment")
        .annotate(
            sent_count=Count("message__recipients", filter=Q(message__recipients__status__in=_SENT)),
            failed_count=Count("message__recipients", filter=Q(message__recipients__status__in=_FAILED)),
        )
        .order_by("-created_at", "-pk")
    )


def get_campaign_for_user(*, user, campaign_id) -> Campaign:
    """One of the workspace's campaigns, annotated as ``campaigns_of`` annotates them."""
    campaign = campaigns_of(user=user).filter(pk=_as_id(campaign_id)).select_related("version").first()
    if campaign is None:
        raise NotFound("No such campaign.")
    return campaign


@dataclass(frozen=True)
class Progress:
    """Where a campaign's sending stands: its frozen audience, handed to the outbox, sent and failed."""

    audience: int
    released: int
    sent: int
    failed: int

    @property
    def done(self) -> int:
        return self.sent + self.failed

    @property
    def percent(self) -> int:
        """Finished deliveries (sent or failed) of the audience, 0–100; rounded down so 100 means all."""
        return min(100, self.done * 100 // self.audience) if self.audience else 0


def progress_of(campaign: Campaign) -> Progress:
    """A campaign read by ``campaigns_of`` or ``get_campaign_for_user`` (its counts are annotated)."""
    return Progress(
        audience=campaign.audience_size, released=campaign.released_count,
        sent=campaign.sent_count, failed=campaign.failed_count,
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
