"""How fast a campaign may send: its own maximum rate, its deadline, the engine's limits and the From domain's warm-up.

Two questions, asked at two times:

- ``plan`` (before scheduling, by the preflight and the UI): at what rate it
  will send, when it will finish, and whether the limits make its deadline
  impossible. The limits are the engine's (``delivery.services.engine``):
  ``OUTBOUND_DOMAIN_RATE_PER_MINUTE`` per destination domain and
  ``OUTBOUND_SENDER_RATE_PER_MINUTE`` for the campaign's sender, plus the
  From domain's warm-up cap per day. The plan assumes the campaign has those
  limits to itself: other mail sharing them can only make it later.
- ``allowance`` (every few seconds, by the pacer): how many more people may be
  released into the outbox now. Released people are counted over the last
  minute, so the rate is even at a minute's grain; a deadline is met by
  spreading what is left over the time left, which also catches up after a
  pause. The engine still applies its per-domain and per-sender throttles to
  whatever is released.

The warm-up (``CAMPAIGN_WARMUP_DAILY_CAPS``, e.g. ``50,100,500``) caps what
all campaigns from one From domain release in a rolling 24 hours, on day N
(counted from the domain's first campaign start) the Nth number; from day
len(caps) on, no cap. Empty: no warm-up.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils.translation import gettext as _

from accounts.addresses import split_address
from campaigns.models import Campaign, CampaignRecipient

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class PacePlan:
    rate_per_minute: float  # the rate it will release at (the fastest the limits allow, when nothing slows it)
    finishes_at: datetime | None  # when the last person is released; None for an empty audience
    problems: list[str] = field(default_factory=list)


def plan(campaign: Campaign, *, audience_by_domain: dict[str, int], now: datetime) -> PacePlan:
    """The pace of ``campaign`` to this audience (destination domain → people), starting at its send time."""
    total = sum(audience_by_domain.values())
    start = max(campaign.send_at or now, now)
    if total == 0:
        return PacePlan(rate_per_minute=0.0, finishes_at=None)
    # Minutes each limit needs on its own; the slowest decides the earliest possible end.
    needs = {
        _("the sender's limit of %(rate)d a minute") % {"rate": settings.OUTBOUND_SENDER_RATE_PER_MINUTE}: (
            total / settings.OUTBOUND_SENDER_RATE_PER_MINUTE
        ),
    }
    busiest, busiest_count = max(audience_by_domain.items(), key=lambda item: item[1])
    needs[
        _("%(domain)s has %(count)s recipients and the limit per domain lets it take %(rate)s a minute")
        % {"domain": busiest, "count": f"{busiest_count:,}", "rate": f"{settings.OUTBOUND_DOMAIN_RATE_PER_MINUTE:,}"}
    ] = busiest_count / settings.OUTBOUND_DOMAIN_RATE_PER_MINUTE
    if campaign.max_per_hour:
        needs[_("its maximum of %(rate)s an hour") % {"rate": f"{campaign.max_per_hour:,}"}] = total / (
            campaign.max_per_hour / 60
        )
    warmup_days = _warmup_days_needed(_from_domain(campaign), total, start)
    if warmup_days:
        needs[_("the warm-up of its From domain caps it at %(cap)s a day") % {"cap": _caps_text()}] = (
            warmup_days * 24 * 60
        )
    bottleneck, minutes = max(needs.items(), key=lambda item: item[1])
    earliest = start + timedelta(minutes=minutes)
    problems = []
    if campaign.finish_by is None:
        return PacePlan(rate_per_minute=total / minutes, finishes_at=earliest)
    if campaign.finish_by <= start:
        return PacePlan(rate_per_minute=total / minutes, finishes_at=earliest)  # the preflight names this itself
    if earliest > campaign.finish_by:
        problems.append(
            _("It cannot finish by the deadline: %(why)s, so it needs until %(earliest)s.")
            % {"why": bottleneck, "earliest": earliest.strftime("%Y-%m-%d %H:%M UTC")}
        )
        return PacePlan(rate_per_minute=total / minutes, finishes_at=earliest, problems=problems)
    spread = (campaign.finish_by - start) / MINUTE
    return PacePlan(rate_per_minute=total / spread, finishes_at=campaign.finish_by)


def allowance(campaign: Campaign, *, now: datetime) -> int:
    """How many more of ``campaign``'s people the pacer may release now (0 or more)."""
    released_last_minute = CampaignRecipient.objects.filter(
        campaign=campaign, released_at__gt=now - MINUTE, recipient__isnull=False
    ).count()
    room = settings.CAMPAIGN_RELEASE_WINDOW - _in_outbox(campaign)
    rates = []
    if campaign.max_per_hour:
        rates.append(campaign.max_per_hour / 60)
    if campaign.finish_by is not None:
        left = campaign.audience.filter(released_at__isnull=True).count()
        minutes_left = (campaign.finish_by - now) / MINUTE
        if minutes_left > 1:  # past (or within a minute of) the deadline: as fast as allowed
            rates.append(left / minutes_left)
    if rates:
        room = min(room, math.ceil(min(rates)) - released_last_minute)
    cap = warmup_cap(_from_domain(campaign), now=now)
    if cap is not None:
        room = min(room, cap - released_today(_from_domain(campaign), now=now))
    return max(room, 0)


def _in_outbox(campaign: Campaign) -> int:
    """Released people not yet through the engine: the window a pause parks and a cancel rejects."""
    from mailboxes.models import Recipient  # the outbox; imported here as campaigns.models imports this app

    if campaign.message_id is None:
        return 0
    return Recipient.objects.filter(message_id=campaign.message_id, status__in=Recipient.PENDING_STATUSES).count()


# --- warm-up ------------------------------------------------------------------------------------


def warmup_caps() -> list[int]:
    return list(settings.CAMPAIGN_WARMUP_DAILY_CAPS)


def _caps_text() -> str:
    return ", ".join(f"{cap:,}" for cap in warmup_caps())


def _from_domain(campaign: Campaign) -> str:
    return split_address(campaign.from_address)[1].lower()


def _first_start(domain: str) -> datetime | None:
    first = (
        Campaign.objects.filter(from_address__iendswith="@" + domain, started_at__isnull=False)
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    return first


def warmup_cap(domain: str, *, now: datetime) -> int | None:
    """What campaigns from ``domain`` may release in 24 hours now, or None: no cap (warm-up off or over)."""
    caps = warmup_caps()
    if not caps or not domain:
        return None
    first = _first_start(domain) or now
    day = (now - first).days
    return caps[day] if day < len(caps) else None


def released_today(domain: str, *, now: datetime) -> int:
    return CampaignRecipient.objects.filter(
        campaign__from_address__iendswith="@" + domain,
        released_at__gt=now - timedelta(days=1),
        recipient__isnull=False,
    ).count()


def _warmup_days_needed(domain: str, total: int, start: datetime) -> int:
    """Whole days of warm-up caps it takes to release ``total`` from ``start`` on (0: the caps do not bind)."""
    caps = warmup_caps()
    if not caps or not domain:
        return 0
    first = _first_start(domain) or start
    day, left, days = (start - first).days, total, 0
    while day < len(caps):
        if left <= caps[day]:
            return days
        left -= caps[day]
        day, days = day + 1, days + 1
    return days
