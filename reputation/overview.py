"""What the admin reputation page shows: rates over time, every sender against the thresholds, holds, alerts.

Reads only (the counters through ``reputation.selectors``, never the event log).
The view renders what ``reputation_overview`` returns; the owner's "Sending
health" panel uses ``standing`` for one domain or campaign.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from core import charts
from core.providers import PROVIDER_LABELS, Provider
from reputation import selectors
from reputation.figures import Figures, Window
from reputation.models import ReputationAlert, SendingHold, Subject
from reputation.services.holds import open_holds

# The rates drawn over time, and the threshold (guide) lines drawn on each.
CHART_RATES = ("bounce_rate", "complaint_rate", "deferral_rate", "unknown_user_rate")
CHARTED_DOMAINS = 6  # the busiest sending domains get a line; more would be unreadable
SENDER_ROWS = 100
RECENT_ALERTS = 20
SENDER_KINDS = (Subject.USER.value, Subject.DOMAIN.value, Subject.CAMPAIGN.value)  # plain str: used in dict keys


@dataclass(frozen=True)
class Thresholds:
    warn_bounce: float
    pause_bounce: float
    warn_complaint: float
    pause_complaint: float
    min_volume: int

    @classmethod
    def from_settings(cls) -> "Thresholds":
        return cls(
            warn_bounce=settings.REPUTATION_WARN_BOUNCE_RATE,
            pause_bounce=settings.REPUTATION_PAUSE_BOUNCE_RATE,
            warn_complaint=settings.REPUTATION_WARN_COMPLAINT_RATE,
            pause_complaint=settings.REPUTATION_PAUSE_COMPLAINT_RATE,
            min_volume=settings.REPUTATION_MIN_VOLUME,
        )

    def guides(self, rate: str) -> dict[str, float]:
        """The threshold lines drawn on a chart of ``rate`` (none for rates without a guardrail)."""
        if rate == "bounce_rate":
            return {"warn": self.warn_bounce, "pause": self.pause_bounce}
        if rate == "complaint_rate":
            return {"warn": self.warn_complaint, "pause": self.pause_complaint}
        return {}


@dataclass(frozen=True)
class Standing:
    """One sender's figures against the pause thresholds."""

    kind: str
    key: str
    label: str
    figures: Figures
    bounce_share: float  # bounce rate ÷ pause bounce rate: 1.0 is the pause
    complaint_share: float
    min_volume: int

    @property
    def closeness(self) -> float:
        """How near the nearer pause threshold is: 0 nothing yet, 1 at the threshold, above 1 past it."""
        return max(self.bounce_share, self.complaint_share)

    @property
    def nearest(self) -> str:
        return "complaint_rate" if self.complaint_share > self.bounce_share else "bounce_rate"

    @property
    def has_volume(self) -> bool:
        """Whether the guardrails judge this sender at all (under the minimum volume they never pause)."""
        return self.figures.sent >= self.min_volume


@dataclass(frozen=True)
class RateChart:
    rate: str
    chart: charts.LineChart | None
    lines: list[tuple[str, str]]  # (series key, label), in the legend's order
    rows: list[tuple[datetime, list[float]]]  # the same numbers as a table


@dataclass
class Overview:
    window: Window
    now: datetime
    thresholds: Thresholds
    domain_charts: list[RateChart] = field(default_factory=list)
    provider_charts: list[RateChart] = field(default_factory=list)
    senders: list[Standing] = field(default_factory=list)
    holds: list[tuple[SendingHold, str]] = field(default_factory=list)
    alerts: list[tuple[ReputationAlert, str]] = field(default_factory=list)


def reputation_overview(*, window: Window, now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    thresholds = Thresholds.from_settings()
    domains = selectors.figures_many(Subject.DOMAIN, None, window, now=now)
    busiest = sorted(domains, key=lambda name: (-domains[name].sent, name))[:CHARTED_DOMAINS]
    providers = selectors.figures_many(Subject.PROVIDER, None, window, now=now)
    shown_providers = [p.value for p in Provider if p.value in providers]
    senders = sender_standings(window=window, now=now, thresholds=thresholds)
    labels = _labels({(s.kind, s.key) for s in senders} | _held_and_alerted())
    return Overview(
        window=window,
        now=now,
        thresholds=thresholds,
        domain_charts=_rate_charts(Subject.DOMAIN, [(d, d) for d in busiest], window, now, thresholds),
        provider_charts=_rate_charts(
            Subject.PROVIDER, [(p, str(PROVIDER_LABELS[Provider(p)])) for p in shown_providers], window, now, thresholds
        ),
        senders=[_relabel(s, labels) for s in senders[:SENDER_ROWS]],
        holds=[(hold, labels.get((hold.kind, hold.key), hold.key)) for hold in open_holds()],
        alerts=[(alert, labels.get((alert.kind, alert.key), alert.key)) for alert in recent_alerts()],
    )


def sender_standings(*, window: Window, now: datetime, thresholds: Thresholds) -> list[Standing]:
    """Every user, domain and campaign with counts in the window, those nearest a pause first.

    Senders the guardrails can judge (at least the minimum volume) come before
    the ones they cannot: three bounces out of ten is a high rate, not a risk.
    """
    standings = []
    for kind in SENDER_KINDS:
        for key, figures in selectors.figures_many(kind, None, window, now=now).items():
            standings.append(standing(kind=kind, key=key, figures=figures, thresholds=thresholds))
    standings.sort(key=lambda s: (not s.has_volume, -s.closeness, -s.figures.sent, s.kind, s.key))
    return standings


def standing(*, kind: str, key: str, figures: Figures, thresholds: Thresholds, label: str = "") -> Standing:
    return Standing(
        kind=kind,
        key=key,
        label=label or key,
        figures=figures,
        bounce_share=_share(figures.bounce_rate, thresholds.pause_bounce),
        complaint_share=_share(figures.complaint_rate, thresholds.pause_complaint),
        min_volume=thresholds.min_volume,
    )


def recent_alerts():
    return list(ReputationAlert.objects.select_related("hold").order_by("-created_at")[:RECENT_ALERTS])


def _share(rate: float, threshold: float) -> float:
    return rate / threshold if threshold > 0 else 0.0


def _rate_charts(kind: str, subjects: list[tuple[str, str]], window, now, thresholds) -> list[RateChart]:
    """Per rate, one chart with a line per subject; empty when no subject has counts in the window."""
    if not subjects:
        return []
    points = {key: selectors.series(kind, key, window, now=now) for key, _ in subjects}
    starts = [start for start, _ in points[subjects[0][0]]]
    lines = [(f"s{index}", label) for index, (_, label) in enumerate(subjects)]
    drawn = []
    for rate in CHART_RATES:
        values = {f"s{index}": [getattr(f, rate) for _, f in points[key]] for index, (key, _) in enumerate(subjects)}
        rows = [(start, [values[line][i] for line, _ in lines]) for i, start in enumerate(starts)]
        drawn.append(RateChart(rate=rate, chart=charts.rate_chart(starts, values, thresholds.guides(rate)),
                               lines=lines, rows=rows))  # fmt: skip
    return drawn


def _held_and_alerted() -> set[tuple[str, str]]:
    held = SendingHold.objects.filter(resolved_at=None).values_list("kind", "key")
    alerted = ReputationAlert.objects.order_by("-created_at").values_list("kind", "key")[:RECENT_ALERTS]
    return set(held) | set(alerted)


def label_of(kind: str, key: str) -> str:
    """One subject's readable name (a user's address, a campaign's name, a domain as it is)."""
    return _labels({(kind, key)}).get((kind, key), key)


def _labels(subjects: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Readable names: a user's address, a campaign's name (the keys are their ids)."""
    from campaigns.models import Campaign

    labels = {}
    user_ids = [int(key) for kind, key in subjects if kind == Subject.USER.value and key.isdigit()]
    for pk, username in get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"):
        labels[(Subject.USER.value, str(pk))] = username
    campaign_ids = [int(key) for kind, key in subjects if kind == Subject.CAMPAIGN.value and key.isdigit()]
    for pk, name in Campaign.objects.filter(pk__in=campaign_ids).values_list("pk", "name"):
        labels[(Subject.CAMPAIGN.value, str(pk))] = name
    return labels


def _relabel(s: Standing, labels: dict) -> Standing:
    return Standing(**{**s.__dict__, "label": labels.get((s.kind, s.key), s.key)})


# The windows the guardrails judge a campaign and a sending domain over (``reputation.services.guardrails``).
OWNER_WINDOWS = {Subject.CAMPAIGN.value: Window.MONTH, Subject.DOMAIN.value: Window.DAY}


@dataclass(frozen=True)
class Health:
    """A marketer's view of one of their senders (a campaign, its sending domain) against the thresholds."""

    kind: str
    key: str
    window: Window
    figures: Figures
    thresholds: Thresholds
    hold: SendingHold | None

    @property
    def level(self) -> str:
        """held, low (too few sent to be judged), pause, warn or ok."""
        if self.hold is not None:
            return "held"
        if self.figures.sent < self.thresholds.min_volume:
            return "low"
        bounce, complaint, t = self.figures.bounce_rate, self.figures.complaint_rate, self.thresholds
        if bounce >= t.pause_bounce or complaint >= t.pause_complaint:
            return "pause"
        if bounce >= t.warn_bounce or complaint >= t.warn_complaint:
            return "warn"
        return "ok"


def sending_health(*, campaign, now: datetime | None = None) -> list[Health]:
    """The campaign's figures and its sending domain's, each over the window the guardrails judge, with any hold."""
    now = now or timezone.now()
    thresholds = Thresholds.from_settings()
    domain = (campaign.from_address.rpartition("@")[2] or campaign.domain.name).lower()
    subjects = [(Subject.CAMPAIGN.value, str(campaign.pk)), (Subject.DOMAIN.value, domain)]
    held = {(h.kind, h.key): h for h in open_holds().filter(kind__in=[k for k, _ in subjects],
                                                             key__in=[key for _, key in subjects])}  # fmt: skip
    return [
        Health(kind=kind, key=key, window=OWNER_WINDOWS[kind], thresholds=thresholds, hold=held.get((kind, key)),
               figures=selectors.figures(kind, key, OWNER_WINDOWS[kind], now=now))
        for kind, key in subjects
    ]  # fmt: skip
