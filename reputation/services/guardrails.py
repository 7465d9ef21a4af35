"""Guardrails: warn, then pause, a sender whose bounces or complaints near what gets a domain blocked.

After Gmail's and Yahoo's 2024 sender rules (spam rate under 0.1 %, never
0.3 %): a subject is **warned** at ``REPUTATION_WARN_COMPLAINT_RATE`` (0.1 %)
complaints or ``REPUTATION_WARN_BOUNCE_RATE`` (5 %) bounces, and **paused** at
``REPUTATION_PAUSE_COMPLAINT_RATE`` (0.3 %) or ``REPUTATION_PAUSE_BOUNCE_RATE``
(10 %), but only once its window holds ``REPUTATION_MIN_VOLUME`` final outcomes
(three bounces out of ten are no signal).

The windows (``WINDOWS``): a sending user, a sending domain, a stream and a
destination provider are judged over the last 24 hours; a campaign over its
whole life (the 30-day window: longer than any campaign runs), since its
list is what is judged.

Users, sending domains and campaigns are paused (``holds.place_hold`` with
cause "guardrail"); streams and providers are shared by everybody, so they
only raise alerts. A warning is raised at most once per subject and metric a
day; a pause once per hold. An admin who resumed a subject has looked at
its figures: for ``REPUTATION_RESUME_GRACE_HOURS`` after that (a campaign: for
the rest of its life, its window still holding the figures the admin saw) it
is warned, not paused again.

``check_subjects`` runs when the figures part commits new counts
(``reputation.signals.figures_changed``): in the worker that recorded the
outcomes, before it claims its next batch, so a campaign is paused before
another batch of it leaves.

Most commits only add deliveries, which lower both rates. A subject this
process found clean (every rate under its warning threshold, over at least
the minimum volume) within the same hour, whose counts since grew only by
deliveries, is not judged again: within an hour its window holds the same
buckets, its volume only grows, and whichever worker adds a bounce or a
complaint judges it then (over the minimum volume already). Any other change
(a bounce, a complaint, a deferral, a delivery taken back, a new hour, a
caller that does not say what changed) judges it as before.

Under the minimum volume nothing is judged (``judge``): only the commit that
brings a subject's window to the minimum can change that, and deliveries are
judged then. So a subject this process read under the minimum within the same
hour is not read again after a commit of deliveries whose hourly volume, as
the counters' upsert returned it (every worker's outcomes of the hour so far,
``figures.add_counts``), keeps the window under the minimum: the window is
the hours before this one, which were read (``_below``: at most what the read
found less this hour's volume then), plus this hour. A read in the first
minutes of an hour is not remembered: an outcome of the hour before may still
be committing into a bucket the read could not see.
"""

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reputation import selectors
from reputation.buckets import HOUR, floor
from reputation.figures import METRICS, WINDOW_LABELS, WINDOW_SECONDS, Figures, Window
from reputation.models import ReputationAlert, SendingHold, Subject
from reputation.services import notify
from reputation.services.holds import open_hold_for, place_hold_once
from reputation.services.owners import describe_subject, owners

logger = logging.getLogger(__name__)

WINDOWS = {
    Subject.USER: Window.DAY,
    Subject.DOMAIN: Window.DAY,
    Subject.STREAM: Window.DAY,
    Subject.PROVIDER: Window.DAY,
    Subject.CAMPAIGN: Window.MONTH,
}
HOLDABLE = {Subject.USER, Subject.DOMAIN, Subject.CAMPAIGN}
JUDGING_ORDER = (Subject.CAMPAIGN, Subject.USER, Subject.DOMAIN, Subject.STREAM, Subject.PROVIDER)
METRIC_LABELS = {"complaint_rate": "Complaint rate", "bounce_rate": "Bounce rate"}
WARNING_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class Breach:
    metric: str
    rate: float
    threshold: float
    part: int  # the complaints or bounces
    whole: int  # what the rate is of (delivered for complaints, final outcomes for bounces)


def thresholds() -> dict[str, tuple[float, float]]:
    """Per metric: (warn at, pause at), from the settings."""
    return {
        "complaint_rate": (settings.REPUTATION_WARN_COMPLAINT_RATE, settings.REPUTATION_PAUSE_COMPLAINT_RATE),
        "bounce_rate": (settings.REPUTATION_WARN_BOUNCE_RATE, settings.REPUTATION_PAUSE_BOUNCE_RATE),
    }


# Per process: (kind, key) -> the hour in which it was last found clean, with the thresholds it was judged by
# (see the module's docstring).
_clean: dict[tuple[str, str], tuple] = {}
# Per process: (kind, key) -> (judged_by, at most its window's volume outside the hour) when read under the minimum.
_below: dict[tuple[str, str], tuple] = {}
_CLEAN_KEPT = 100_000  # subjects remembered at most (then forgotten all at once)
_HOUR_SETTLED = 120  # seconds into an hour after which the hours before it are taken as settled


def forget_clean() -> None:
    """Judge every subject again at its next change (tests: each starts from its own figures)."""
    _clean.clear()
    _below.clear()


def on_figures_changed(sender, subjects, now=None, worsened=None, volumes=None, **kwargs) -> None:
    """The ``figures_changed`` receiver: a failing check is logged, never a failure of the delivery it follows."""
    try:
        check_subjects(subjects, now=now or timezone.now(), worsened=worsened, volumes=volumes)
    except Exception:
        logger.exception("reputation guardrails: the check of %d subjects failed", len(subjects))


def check_subjects(subjects, *, now: datetime, worsened=None, volumes=None) -> list[ReputationAlert]:
    """Judge each (kind, key) over its window; the alerts raised (warnings and pauses).

    ``worsened``: the subjects whose counts grew by more than deliveries (None: any may have); the
    others are not judged again when this process found them clean within this hour, or read them
    under the minimum volume and ``volumes`` (``{(kind, key): (hour, final outcomes in it)}``, from
    the commit) shows they still are.
    """
    hour = floor(now, HOUR)
    judged_by = (hour, settings.REPUTATION_MIN_VOLUME, *thresholds().values())
    volumes = volumes or {}
    keys_by_kind: dict[str, set[str]] = {}
    for kind, key in subjects:
        subject = (kind, str(key))
        if kind not in WINDOWS:
            continue
        if worsened is not None and subject not in worsened and _unchanged_by_deliveries(subject, judged_by, volumes):
            continue
        keys_by_kind.setdefault(kind, set()).add(subject[1])
    if not keys_by_kind:
        return []
    if len(_clean) > _CLEAN_KEPT:
        _clean.clear()
    if len(_below) > _CLEAN_KEPT:
        _below.clear()
    settled = (now - hour).total_seconds() >= _HOUR_SETTLED
    alerts = []
    # Every subject's figures in one query (each kind over its window): most checks find nothing wrong.
    found = selectors.figures_of_subjects({kind: (WINDOWS[kind], keys) for kind, keys in keys_by_kind.items()}, now=now)
    # Campaigns first: a campaign paused now is accounted for when its sender and domain are judged.
    for kind in sorted(keys_by_kind, key=JUDGING_ORDER.index):
        keys, window = sorted(keys_by_kind[kind]), WINDOWS[kind]
        for key in keys:
            figures = found.get((kind, key), Figures())
            if figures.sent >= settings.REPUTATION_MIN_VOLUME and not breaches(figures)[0]:
                _clean[kind, key] = judged_by
            else:
                _clean.pop((kind, key), None)
            if figures.sent < settings.REPUTATION_MIN_VOLUME and settled:
                # This hour's volume then was at least what the commit before the read returned (0 if none).
                this_hour = volumes.get((kind, key))
                known = this_hour[1] if this_hour and this_hour[0] == int(hour.timestamp()) else 0
                _below[kind, key] = (judged_by, figures.sent - known)
            else:
                _below.pop((kind, key), None)
            if kind in (Subject.USER, Subject.DOMAIN) and breaches(figures)[0]:
                figures = _without_paused_campaigns(kind, key, figures, window=window, now=now)
            alerts += judge(kind, key, figures, window=window, now=now)
    return alerts


def _unchanged_by_deliveries(subject: tuple[str, str], judged_by: tuple, volumes: dict) -> bool:
    """Deliveries cannot change the subject's verdict: found clean this hour, or still under the minimum."""
    return _clean.get(subject) == judged_by or _still_below(subject, judged_by, volumes.get(subject))


def _still_below(subject: tuple[str, str], judged_by: tuple, this_hour: tuple[int, int] | None) -> bool:
    """The subject's window is still under the minimum volume: read under it this hour, and the hours
    before this one plus this hour's volume as the commit left it stay under it (see the module's docstring)."""
    remembered = _below.get(subject)
    if remembered is None or remembered[0] != judged_by or this_hour is None:
        return False
    hour, volume = this_hour
    return hour == int(judged_by[0].timestamp()) and remembered[1] + volume < settings.REPUTATION_MIN_VOLUME


def judge(kind: str, key: str, figures: Figures, *, window: Window, now: datetime) -> list[ReputationAlert]:
    """Warn or pause one subject on its figures over ``window``; the alerts raised."""
    if figures.sent < settings.REPUTATION_MIN_VOLUME:
        return []
    warnings, pauses = breaches(figures)
    if not warnings:
        return []
    if kind in HOLDABLE:
        if open_hold_for(kind, key) is not None:  # held already: its owner and the admins know
            return []
        if pauses and not _resumed_by_admin(kind, key, now):
            return _pause(kind, key, figures, pauses, window=window, now=now)
    return _warn(kind, key, figures, warnings, window=window, now=now)


def breaches(figures: Figures) -> tuple[list[Breach], list[Breach]]:
    """The metrics at or past their warning threshold, and those at or past their pause threshold."""
    parts = {
        "complaint_rate": (figures.complained, figures.delivered),
        "bounce_rate": (figures.bounced, figures.sent),
    }
    warnings, pauses = [], []
    for metric, (warn_at, pause_at) in thresholds().items():
        rate = getattr(figures, metric)
        part, whole = parts[metric]
        if rate >= pause_at:
            pauses.append(Breach(metric, rate, pause_at, part, whole))
        if rate >= warn_at:
            warnings.append(Breach(metric, rate, pause_at if rate >= pause_at else warn_at, part, whole))
    return warnings, pauses


# --- pause and warn -----------------------------------------------------------------------------


def _pause(kind, key, figures: Figures, pauses: list[Breach], *, window: Window, now) -> list[ReputationAlert]:
    subject = describe_subject(kind, key)
    over = _over(kind, window)
    reason = "Paused by a reputation guardrail: " + "; ".join(
        f"{METRIC_LABELS[b.metric].lower()} {_percent(b.rate)} {over} ({b.part} of {b.whole}) reached the "
        f"{_percent(b.threshold)} pause threshold"
        for b in pauses
    )
    reason += "."
    evidence = {
        "window": str(window),
        "figures": asdict(figures),
        "rates": {b.metric: b.rate for b in pauses},
        "thresholds": {metric: {"warn": warn, "pause": pause} for metric, (warn, pause) in thresholds().items()},
        "min_volume": settings.REPUTATION_MIN_VOLUME,
    }
    with transaction.atomic():
        hold, created = place_hold_once(
            kind=kind, key=key, cause=SendingHold.Cause.GUARDRAIL, reason=reason, evidence=evidence, now=now
        )
        if not created:  # another worker paused it a moment ago
            return []
        alerts = _record_alerts(kind, key, ReputationAlert.Level.PAUSE, pauses, window=window, now=now, hold=hold)
    body = (
        f"Sending of {subject} is paused.\n\n{reason}\n\n{_figures_text(figures, window, kind)}\n\n"
        "Its queued mail is kept (nothing is lost, nothing more is sent) until an administrator resumes it "
        "(admin: Reputation and abuse › Sending holds › Resume sending)."
    )
    told = [*owners(kind, key), *notify.admins()]
    notify.notify(users=told, subject=f"Sending paused: {subject}", body=body, now=now)
    return alerts


def _record_alerts(kind, key, level, breaches: list[Breach], *, window: Window, now, hold=None):
    return [
        ReputationAlert.objects.create(
            kind=kind,
            key=key,
            level=level,
            metric=b.metric,
            rate=b.rate,
            threshold=b.threshold,
            volume=b.whole,
            window=str(window),
            created_at=now,
            hold=hold,
        )
        for b in breaches
    ]


def _warn(kind, key, figures: Figures, warnings: list[Breach], *, window: Window, now) -> list[ReputationAlert]:
    recent = set(
        ReputationAlert.objects.filter(
            kind=kind, key=key, level=ReputationAlert.Level.WARNING, created_at__gt=now - WARNING_EVERY
        ).values_list("metric", flat=True)
    )
    fresh = [b for b in warnings if b.metric not in recent]
    if not fresh:
        return []
    alerts = _record_alerts(kind, key, ReputationAlert.Level.WARNING, fresh, window=window, now=now)
    subject = describe_subject(kind, key)
    over = _over(kind, window)
    lines = "\n".join(
        f"- {METRIC_LABELS[b.metric]} {_percent(b.rate)} {over} ({b.part} of {b.whole}), "
        f"at or above {_percent(b.threshold)}"
        for b in fresh
    )
    warn_complaints, pause_complaints = thresholds()["complaint_rate"]
    warn_bounces, pause_bounces = thresholds()["bounce_rate"]
    body = (
        f"Reputation warning for {subject}:\n{lines}\n\n{_figures_text(figures, window, kind)}\n\n"
        f"Warnings start at {_percent(warn_complaints)} complaints or {_percent(warn_bounces)} bounces; "
        f"sending is paused at {_percent(pause_complaints)} complaints or {_percent(pause_bounces)} bounces. "
        "Clean the list (remove addresses that bounce, send only to people who asked) before it gets there."
    )
    recipients = owners(kind, key) if kind in HOLDABLE else notify.admins()
    notify.notify(users=recipients, subject=f"Reputation warning: {subject}", body=body, now=now)
    return alerts


def _without_paused_campaigns(kind: str, key: str, figures: Figures, *, window: Window, now) -> Figures:
    """A sender's or domain's figures less the outcomes of its campaigns a guardrail paused in the window.

    Such a campaign (its bad list) is stopped, or an admin resumed it knowing
    its figures: its outcomes must not also stop the sender's or the whole
    domain's other mail (receipts, personal mail). What is left is judged.
    """
    from campaigns.models import Campaign  # campaigns know nothing of reputation

    paused = SendingHold.objects.filter(
        kind=SendingHold.Kind.CAMPAIGN, cause=SendingHold.Cause.GUARDRAIL,
        created_at__gt=now - timedelta(seconds=WINDOW_SECONDS[window]),
    ).values_list("key", flat=True)  # fmt: skip
    ids = {int(pk) for pk in paused if pk.isdigit()}
    if not ids:
        return figures
    campaigns = Campaign.objects.filter(pk__in=ids)
    if kind == Subject.USER:
        campaigns = campaigns.filter(created_by_id=int(key) if key.isdigit() else None)
    else:
        campaigns = campaigns.filter(from_address__iendswith="@" + key)
    own = [str(pk) for pk in campaigns.values_list("pk", flat=True)]
    if not own:
        return figures
    theirs = sum(selectors.figures_many(Subject.CAMPAIGN, own, window, now=now).values(), Figures())
    return Figures(**{name: max(0, getattr(figures, name) - getattr(theirs, name)) for name in METRICS})


def _resumed_by_admin(kind: str, key: str, now) -> bool:
    """An admin released a guardrail pause of this subject lately (a campaign: ever)."""
    released = SendingHold.objects.filter(kind=kind, key=key, cause=SendingHold.Cause.GUARDRAIL).exclude(
        resolved_at=None
    )
    if kind != Subject.CAMPAIGN:
        released = released.filter(resolved_at__gt=now - timedelta(hours=settings.REPUTATION_RESUME_GRACE_HOURS))
    return released.exists()


# --- how it reads -------------------------------------------------------------------------------


def _over(kind: str, window: Window) -> str:
    return "over the campaign so far" if kind == Subject.CAMPAIGN else f"over the {WINDOW_LABELS[window].lower()}"


def _figures_text(figures: Figures, window: Window, kind: str) -> str:
    title = "The campaign so far" if kind == Subject.CAMPAIGN else WINDOW_LABELS[window]
    return (
        f"{title}: {figures.sent} final outcomes, {figures.delivered} delivered, "
        f"{figures.bounced} bounced ({_percent(figures.bounce_rate)}; {figures.bounced_hard} hard, "
        f"{figures.unknown_user} unknown users), {figures.complained} complaints "
        f"({_percent(figures.complaint_rate)} of delivered), {figures.expired} expired, {figures.deferred} deferrals.\n"
        f"Judged once at least {settings.REPUTATION_MIN_VOLUME} outcomes are counted."
    )


def _percent(rate: float) -> str:
    text = f"{rate * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text} %"
