"""A campaign's results, read from its counters (``campaigns.models.results``), never from the event log.

Counts of recipients (where each one's delivery stands now) and counts of
events (opens, clicks, complaints…) are read together; the rates divide them:

* delivered, bounced (hard, soft): recipients, by their state now; a message
  delivered and then reported bounced counts as bounced;
* the delivery and bounce rates are over the recipients whose server answered
  (delivered + bounced);
* the open, click, complaint and unsubscribe rates are over the delivered;
  opens and clicks are people's first ones (``_unique``): machine opens (privacy
  proxies) and link scanners' clicks are shown apart and left out;
* a rate with nothing to divide by is None ("—" on the page).

Eventually consistent: the counters commit with the events they count.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Sum

from campaigns.models import Campaign, CampaignHourlyTally, CampaignLinkTally, CampaignTally
from webmail.errors import NotFound

TOP_DOMAINS = 10
TOP_LINKS = 10
# The chart over time has a bar per hour for up to three days, then a bar per day.
HOURLY_SPAN = timedelta(hours=72)
SERIES = ("sent", "delivered", "bounced", "opened", "clicked")
# The hourly counter each line of the chart shows (delivered: net, the delivered that hour less the later bounced).
_SERIES_METRICS = {"sent": "sent", "now_delivered": "delivered", "bounced": "bounced", "opened": "opened",
                   "clicked": "clicked"}  # fmt: skip
_DOMAIN_METRICS = ("sent", "now_delivered", "now_deferred", "now_bounced_hard", "now_bounced_soft", "opened_unique",
                   "clicked_unique", "complained")  # fmt: skip


def rate(part: int, whole: int) -> float | None:
    """``part / whole``, or None when there is nothing to divide by."""
    return part / whole if whole > 0 else None


@dataclass(frozen=True)
class Progress:
    """Where the audience stands: sent, waiting for a retry, bounced, not sent (suppressed, cancelled), remaining."""

    audience: int
    released: int
    sent: int
    deferred: int
    bounced: int
    not_sent: int

    @property
    def done(self) -> int:
        return min(self.audience, self.sent + self.bounced + self.not_sent)

    @property
    def failed(self) -> int:
        """Bounced or not sent: finished without reaching the person."""
        return self.bounced + self.not_sent

    @property
    def remaining(self) -> int:
        """Recipients with no final outcome yet (the deferred among them)."""
        return self.audience - self.done

    @property
    def percent(self) -> int:
        return self.done * 100 // self.audience if self.audience else 0


@dataclass(frozen=True)
class Point:
    start: datetime
    counts: dict[str, int]


@dataclass(frozen=True)
class DomainResults:
    domain: str
    sent: int
    delivered: int
    deferred: int
    bounced_hard: int
    bounced_soft: int
    opened: int
    clicked: int
    complained: int

    @property
    def bounced(self) -> int:
        return self.bounced_hard + self.bounced_soft

    @property
    def delivery_rate(self) -> float | None:
        return rate(self.delivered, self.delivered + self.bounced)

    @property
    def open_rate(self) -> float | None:
        return rate(self.opened, self.delivered)


@dataclass(frozen=True)
class LinkResults:
    url: str
    clicks: int
    unique_clicks: int


@dataclass(frozen=True)
class CampaignResults:
    campaign: Campaign
    counts: dict[str, int]
    progress: Progress
    rates: dict[str, float | None]
    series: list[Point] = field(default_factory=list)
    series_step: timedelta = timedelta(hours=1)
    domains: list[DomainResults] = field(default_factory=list)
    links: list[LinkResults] = field(default_factory=list)


def get_campaign_for_workspace(*, workspace, campaign_id) -> Campaign:
    """One of the workspace's campaigns; another workspace's id is as unknown as a missing one."""
    campaign = None
    if workspace is not None and str(campaign_id).isdigit():
        campaign = Campaign.objects.filter(pk=int(campaign_id), domain=workspace).first()
    if campaign is None:
        raise NotFound("No such campaign.")
    return campaign


# The recipient states (``now_*`` counters) of people the campaign finished without reaching.
NOT_SENT_STATES = ("now_rejected", "now_cancelled", "now_failed")


def progress_of(campaign: Campaign, counts: dict[str, int] | None = None) -> Progress:
    """The progress bar's numbers (one query unless ``counts``, the campaign's totals, are given)."""
    counts = _totals(campaign) if counts is None else counts
    return Progress(
        audience=campaign.audience_size,
        released=campaign.released_count,
        sent=counts.get("now_delivered", 0),
        deferred=counts.get("now_deferred", 0),
        bounced=counts.get("now_bounced_hard", 0) + counts.get("now_bounced_soft", 0),
        not_sent=sum(counts.get(state, 0) for state in NOT_SENT_STATES),
    )


def results_of(campaign: Campaign) -> CampaignResults:
    """Everything the results page and the API show: a handful of queries over the counters."""
    counts = _totals(campaign)
    series, step = _series(campaign)
    return CampaignResults(
        campaign=campaign,
        counts=counts,
        progress=progress_of(campaign, counts),
        rates=_rates(counts),
        series=series,
        series_step=step,
        domains=_top_domains(campaign),
        links=[
            LinkResults(url=url, clicks=clicks, unique_clicks=unique)
            for url, clicks, unique in CampaignLinkTally.objects.filter(campaign=campaign)
            .order_by("-clicks", "url")
            .values_list("url", "clicks", "unique_clicks")[:TOP_LINKS]
        ],
    )


def _totals(campaign: Campaign) -> dict[str, int]:
    return dict(CampaignTally.objects.filter(campaign=campaign, domain="").values_list("metric", "count"))


def _rates(counts: dict[str, int]) -> dict[str, float | None]:
    delivered = counts.get("now_delivered", 0)
    hard, soft = counts.get("now_bounced_hard", 0), counts.get("now_bounced_soft", 0)
    answered = delivered + hard + soft
    return {
        "delivered": rate(delivered, answered),
        "bounced": rate(hard + soft, answered),
        "bounced_hard": rate(hard, answered),
        "bounced_soft": rate(soft, answered),
        "opened": rate(counts.get("opened_unique", 0), delivered),
        "clicked": rate(counts.get("clicked_unique", 0), delivered),
        "clicked_of_opened": rate(counts.get("clicked_unique", 0), counts.get("opened_unique", 0)),
        "complained": rate(counts.get("complained", 0), delivered),
        "unsubscribed": rate(counts.get("unsubscribed", 0), delivered),
    }


def _series(campaign: Campaign) -> tuple[list[Point], timedelta]:
    """The chart over time: every hour (or day) from the first counted to the last, the empty ones as zeros."""
    hourly = CampaignHourlyTally.objects.filter(campaign=campaign, metric__in=_SERIES_METRICS)
    rows = list(hourly.values_list("hour", "metric", "count"))
    if not rows:
        return [], timedelta(hours=1)
    first, last = min(hour for hour, _, _ in rows), max(hour for hour, _, _ in rows)
    step = timedelta(hours=1) if last - first <= HOURLY_SPAN else timedelta(days=1)
    if step == timedelta(days=1):
        first = first.replace(hour=0)
    points = []
    start = first
    while start <= last:
        points.append(Point(start=start, counts=dict.fromkeys(SERIES, 0)))
        start += step
    for hour, metric, count in rows:
        points[int((hour - first) / step)].counts[_SERIES_METRICS[metric]] += count
    return points, step


def _top_domains(campaign: Campaign) -> list[DomainResults]:
    """The destination domains the campaign tried most (sends, bounces, deferrals), with their outcomes: two queries."""
    per_domain = CampaignTally.objects.filter(campaign=campaign).exclude(domain="")
    top = list(
        per_domain.filter(metric__in=["sent", "bounced", "deferred", "rejected", "cancelled"])
        .values("domain")
        .annotate(total=Sum("count"))
        .order_by("-total", "domain")
        .values_list("domain", flat=True)[:TOP_DOMAINS]
    )
    counts: dict[str, dict[str, int]] = {domain: {} for domain in top}
    for domain, metric, count in per_domain.filter(domain__in=top, metric__in=_DOMAIN_METRICS).values_list(
        "domain", "metric", "count"
    ):
        counts[domain][metric] = count
    return [
        DomainResults(
            domain=domain,
            sent=c.get("sent", 0),
            delivered=c.get("now_delivered", 0),
            deferred=c.get("now_deferred", 0),
            bounced_hard=c.get("now_bounced_hard", 0),
            bounced_soft=c.get("now_bounced_soft", 0),
            opened=c.get("opened_unique", 0),
            clicked=c.get("clicked_unique", 0),
            complained=c.get("complained", 0),
        )
        for domain, c in counts.items()
    ]
