"""Hijacked accounts: the signs, the verdict, and the suspension that keeps the queued mail held.

Five signs, each read from a counter (never from the event log or the mail store):

- ``volume``: recipients submitted in the last hour far above the account's own
  baseline (its hourly average over ``REPUTATION_COMPROMISE_BASELINE_DAYS``):
  moderate over ``max(VOLUME_FLOOR, VOLUME_FACTOR × baseline)``, strong over
  ``max(VOLUME_STRONG_FLOOR, VOLUME_STRONG_FACTOR × baseline)``;
- ``unknown_users``: a burst of unknown-user bounces in the last hour (the figures);
- ``new_recipients``: many addresses the account never wrote to nor received from;
- ``new_network``: a sign-in from a network (/24, /48) the account never signed in
  from, within ``NEW_NETWORK_HOURS``, followed by mass sending;
- ``spam_content``: outbound messages the content check scored as spam or found a
  blocked link in (``reputation.services.content``).

One strong sign, or two moderate ones, make the verdict: the account's sending
is suspended (a ``SendingHold`` of cause ``compromised``: its queued mail stays
parked in the outbox until an admin resumes it) and the admins and the owner are
told, with the evidence.

Submissions are counted per user and clock hour in ``SubmissionCount`` (the
figures count outcomes, which come back too late to stop a burst; the limits'
counters live in the cache and say nothing about last week). "The last hour" is
the current hour plus the share of the previous one that the sliding hour still
covers. Campaign fan-out is not a submission and is not counted: a campaign
passed its preflight (content included) and the guardrails watch its outcomes.
"""

import ipaddress
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Min, Q, Subquery, Sum
from django.utils import timezone

from core.lookups import any_of
from mailboxes.models import Folder, MailboxItem, Recipient
from reputation.figures import Window
from reputation.models import Correspondent, SendingHold, SignInNetwork, Subject, SubmissionCount
from reputation.selectors import figures, figures_many
from reputation.services.holds import place_hold_once
from reputation.services.notify import admins, notify

logger = logging.getLogger(__name__)

MODERATE, STRONG = "moderate", "strong"


@dataclass(frozen=True)
class Sign:
    name: str
    strength: str
    summary: str
    figures: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    signs: list[Sign]

    @property
    def compromised(self) -> bool:
        strong = sum(sign.strength == STRONG for sign in self.signs)
        return strong >= 1 or len(self.signs) >= 2

    @property
    def reason(self) -> str:
        return "The account looks compromised: " + "; ".join(sign.summary for sign in self.signs) + "."

    def evidence(self, *, now: datetime) -> dict:
        return {"evaluated_at": now.isoformat(), "signs": [asdict(sign) for sign in self.signs]}


# --- counting ------------------------------------------------------------------------------------


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def record_submission(*, user, recipient_addresses: list[str], now: datetime | None = None):
    """Count an admitted submission, then check the account; returns the hold if this one suspended it.

    Called by ``admit_submission`` (webmail, API and service mail alike). The
    submission that sets the verdict off is still accepted: it is queued and
    parked with the rest, as the issue asks ("the mail is held"), and the ones
    after it are refused by the hold.
    """
    now = now or timezone.now()
    addresses = sorted({address.strip().lower() for address in recipient_addresses if address})
    new = _learn_correspondents(user, addresses, now)
    _add(user, hour_of(now), submissions=1, recipients=len(recipient_addresses), new_recipients=new)
    return evaluate_account(user=user, now=now, at_submission=True)


def record_content_flag(*, user, now: datetime | None = None) -> None:
    """One outbound message objected to by the content check: evidence for the ``spam_content`` sign."""
    _add(user, hour_of(now or timezone.now()), flagged=1)


def _add(user, hour: datetime, **counts: int) -> None:
    increments = {name: F(name) + value for name, value in counts.items()}
    if SubmissionCount.objects.filter(user=user, hour=hour).update(**increments):
        return
    try:
        with transaction.atomic():
            SubmissionCount.objects.create(user=user, hour=hour, **counts)
    except IntegrityError:  # a concurrent submission created the hour's row first
        SubmissionCount.objects.filter(user=user, hour=hour).update(**increments)


def _learn_correspondents(user, addresses: list[str], now: datetime) -> int:
    """How many of ``addresses`` are new to the user; all of them are known from now on.

    Known addresses are looked up in ``Correspondent`` (one indexed query). The
    first time a user is seen, the table is seeded from the mail store (whom
    they wrote to and heard from in the last ``NEW_RECIPIENT_LOOKBACK_DAYS``),
    once; after that, a miss is only looked for among the senders of their
    recent inbox (a reply to someone new who wrote first), so a submission
    never scans a user's history.
    """
    if not addresses:
        return 0
    known, seeded = _known_and_seeded(user, addresses)
    misses = [address for address in addresses if address not in known]
    if not misses:
        return 0
    if not seeded:
        _seed_correspondents(user, now)
        known = _known(user, misses)
        misses = [address for address in misses if address not in known]
    wrote_first = set()
    if misses and len(misses) <= REPLY_LOOKUP_MAX:
        recent = now - timedelta(days=REPLY_LOOKBACK_DAYS)
        senders = MailboxItem.objects.filter(
            user=user, folder=Folder.INBOX, received_at__gte=recent, message__from_address__in=misses
        ).values_list("message__from_address", flat=True)
        wrote_first = {address.lower() for address in senders}
    Correspondent.objects.bulk_create(
        [Correspondent(user=user, address=address, first_seen=now) for address in misses], ignore_conflicts=True
    )
    return sum(address not in wrote_first for address in misses)


def _known(user, addresses: list[str]) -> set[str]:
    return set(Correspondent.objects.filter(any_of("address", addresses), user=user).values_list("address", flat=True))


def _known_and_seeded(user, addresses: list[str]) -> tuple[set[str], bool]:
    """``_known``, and whether the user has any correspondent at all, in one query: the known addresses
    plus the user's first row (a send to only new addresses would otherwise ask again)."""
    # A UNION, not an OR: each part uses its own index, where an OR would read all the user's rows.
    first = Correspondent.objects.filter(user=user).values("pk")[:1]
    known = Correspondent.objects.filter(any_of("address", addresses), user=user).values_list("address", flat=True)
    found = list(
        known.union(Correspondent.objects.filter(pk=Subquery(first)).values_list("address", flat=True), all=True)
    )
    return set(found) & set(addresses), bool(found)


REPLY_LOOKUP_MAX = 100  # more misses than this at once are not replies to people who wrote first
REPLY_LOOKBACK_DAYS = 30
SEED_MAX = 10_000  # of each: the most recent recipients and senders


def _seed_correspondents(user, now: datetime) -> None:
    """The addresses a user wrote to and heard from before the abuse checks knew them (once per user)."""
    since = now - timedelta(days=settings.REPUTATION_COMPROMISE_NEW_RECIPIENT_LOOKBACK_DAYS)
    written = (
        Recipient.objects.filter(message__sender=user, message__created_at__gte=since)
        .order_by("-message__created_at")
        .values_list("address", flat=True)[:SEED_MAX]
    )
    received = (
        MailboxItem.objects.filter(user=user, received_at__gte=since)
        .exclude(folder__in=[Folder.SENT, Folder.DRAFTS, Folder.SPAM])
        .order_by("-received_at")
        .values_list("message__from_address", flat=True)[:SEED_MAX]
    )
    seen = {address.lower() for address in [*written, *received] if address}
    Correspondent.objects.bulk_create(
        [Correspondent(user=user, address=address, first_seen=now) for address in sorted(seen)],
        ignore_conflicts=True,
        batch_size=1000,
    )


def network_of(client: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) a client address belongs to; "" when it is not an address."""
    try:
        address = ipaddress.ip_address(client.strip())
    except ValueError:
        return ""
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def record_sign_in(*, user, client: str, now: datetime | None = None) -> SignInNetwork | None:
    """Remember the network a user signed in from; a network is *new* when the user knew others before it.

    A user's first recorded sign-in is a baseline, not a sign: otherwise every
    account would look hijacked the day this was deployed.
    """
    network = network_of(client)
    if not network or user is None:
        return None
    now = now or timezone.now()
    if SignInNetwork.objects.filter(user=user, network=network).update(last_seen=now, sign_ins=F("sign_ins") + 1):
        return SignInNetwork.objects.get(user=user, network=network)
    is_new = SignInNetwork.objects.filter(user=user).exists()
    try:
        with transaction.atomic():
            return SignInNetwork.objects.create(
                user=user, network=network, first_seen=now, last_seen=now, is_new=is_new
            )
    except IntegrityError:  # the same user signing in twice at once
        return SignInNetwork.objects.get(user=user, network=network)


# --- the signs and the verdict ------------------------------------------------------------------


@dataclass(frozen=True)
class _Hour:
    """The last hour's counts (sliding, from two clock-hour rows) and the baseline per hour."""

    recipients: float
    new_recipients: float
    flagged: float
    baseline: float
    baseline_hours: int


def _last_hour(user, now: datetime) -> _Hour:
    hour = hour_of(now)
    previous = hour - timedelta(hours=1)
    start = hour - timedelta(days=settings.REPUTATION_COMPROMISE_BASELINE_DAYS)
    still_covered = 1 - (now - hour).total_seconds() / 3600  # of the previous hour, by the sliding one
    sums = {}
    for name in ("recipients", "new_recipients", "flagged"):
        sums[f"{name}_now"] = Sum(name, filter=Q(hour=hour))
        sums[f"{name}_before"] = Sum(name, filter=Q(hour=previous))
    row = SubmissionCount.objects.filter(user=user, hour__gte=start, hour__lte=hour).aggregate(
        **sums, history=Sum("recipients", filter=Q(hour__lt=previous)), first=Min("hour")
    )

    def sliding(name: str) -> float:
        return (row[f"{name}_now"] or 0) + (row[f"{name}_before"] or 0) * still_covered

    # The average over the hours the account has existed here, within the window (at least a day):
    # a week-old baseline for a two-day-old account would make it look quieter than it is.
    first = row["first"] or previous
    hours = max(
        24, min(int((previous - first).total_seconds() // 3600), settings.REPUTATION_COMPROMISE_BASELINE_DAYS * 24)
    )
    return _Hour(
        recipients=sliding("recipients"),
        new_recipients=sliding("new_recipients"),
        flagged=sliding("flagged"),
        baseline=(row["history"] or 0) / hours,
        baseline_hours=hours,
    )


def _could_be_compromised(last: _Hour) -> bool:
    """Whether the submission-side counts allow two moderate signs at all (else the rest is not read).

    Below every volume floor and the flagged count, only the unknown-user sign
    could hold, and one moderate sign is no verdict.
    """
    floors = (
        settings.REPUTATION_COMPROMISE_VOLUME_FLOOR,
        settings.REPUTATION_COMPROMISE_NEW_RECIPIENTS,
        settings.REPUTATION_COMPROMISE_NEW_NETWORK_VOLUME,
    )
    return last.recipients >= min(floors) or last.flagged >= settings.REPUTATION_COMPROMISE_SPAM_MESSAGES


def _volume_sign(last: _Hour) -> Sign | None:
    strong = max(
        settings.REPUTATION_COMPROMISE_VOLUME_STRONG_FLOOR,
        settings.REPUTATION_COMPROMISE_VOLUME_STRONG_FACTOR * last.baseline,
    )
    moderate = max(
        settings.REPUTATION_COMPROMISE_VOLUME_FLOOR, settings.REPUTATION_COMPROMISE_VOLUME_FACTOR * last.baseline
    )
    strength = STRONG if last.recipients > strong else MODERATE if last.recipients > moderate else None
    if strength is None:
        return None
    return Sign(
        "volume",
        strength,
        f"{last.recipients:,.0f} recipients in the last hour against a baseline of {last.baseline:,.1f} an hour "
        f"(over the last {last.baseline_hours} hours)",
        {
            "recipients_last_hour": round(last.recipients),
            "baseline_per_hour": round(last.baseline, 2),
            "baseline_hours": last.baseline_hours,
            "threshold": round(strong if strength == STRONG else moderate, 1),
        },
    )


def _new_recipients_sign(last: _Hour) -> Sign | None:
    if last.new_recipients < settings.REPUTATION_COMPROMISE_NEW_RECIPIENTS:
        return None
    return Sign(
        "new_recipients",
        MODERATE,
        f"{last.new_recipients:,.0f} recipients it never wrote to nor heard from before, in the last hour",
        {
            "new_recipients_last_hour": round(last.new_recipients),
            "threshold": settings.REPUTATION_COMPROMISE_NEW_RECIPIENTS,
        },
    )


def _new_network_sign(user, last: _Hour, now: datetime) -> Sign | None:
    if last.recipients < settings.REPUTATION_COMPROMISE_NEW_NETWORK_VOLUME:
        return None
    since = now - timedelta(hours=settings.REPUTATION_COMPROMISE_NEW_NETWORK_HOURS)
    networks = list(
        SignInNetwork.objects.filter(user=user, is_new=True, first_seen__gte=since, first_seen__lte=now)
        .order_by("-first_seen")
        .values_list("network", "first_seen")[:5]
    )
    if not networks:
        return None
    network, first_seen = networks[0]
    return Sign(
        "new_network",
        MODERATE,
        f"a sign-in from a new network ({network}, {first_seen:%Y-%m-%d %H:%M} UTC) followed by "
        f"{last.recipients:,.0f} recipients in the last hour",
        {
            "networks": [{"network": n, "first_seen": seen.isoformat()} for n, seen in networks],
            "recipients_last_hour": round(last.recipients),
        },
    )


def _spam_sign(last: _Hour) -> Sign | None:
    if last.flagged < settings.REPUTATION_COMPROMISE_SPAM_MESSAGES:
        return None
    return Sign(
        "spam_content",
        MODERATE,
        f"{last.flagged:,.0f} outbound messages scored as spam or linking to blocked sites in the last hour",
        {"flagged_last_hour": round(last.flagged), "threshold": settings.REPUTATION_COMPROMISE_SPAM_MESSAGES},
    )


def _unknown_users_sign(user, now: datetime) -> Sign | None:
    last = figures(Subject.USER, str(user.pk), Window.HOUR, now=now)
    if (
        last.unknown_user < settings.REPUTATION_COMPROMISE_UNKNOWN_USERS
        or last.unknown_user_rate < settings.REPUTATION_COMPROMISE_UNKNOWN_USER_RATE
    ):
        return None
    return Sign(
        "unknown_users",
        MODERATE,
        f"{last.unknown_user:,} unknown-user bounces in the last hour "
        f"({last.unknown_user_rate:.0%} of {last.sent:,} sent)",
        {"unknown_user": last.unknown_user, "sent": last.sent, "rate": round(last.unknown_user_rate, 4)},
    )


def assess_account(*, user, now: datetime | None = None, at_submission: bool = False) -> Verdict:
    """The signs the account shows now. ``at_submission``: stop early when two signs cannot hold (cheap path)."""
    now = now or timezone.now()
    last = _last_hour(user, now)
    if at_submission and not _could_be_compromised(last):
        return Verdict(signs=[])
    signs = [
        _volume_sign(last),
        _new_recipients_sign(last),
        _new_network_sign(user, last, now),
        _spam_sign(last),
        _unknown_users_sign(user, now),
    ]
    return Verdict(signs=[sign for sign in signs if sign is not None])


def evaluate_account(*, user, now: datetime | None = None, at_submission: bool = False) -> SendingHold | None:
    """Assess the account and suspend it if the verdict says so; returns the new hold, if any."""
    if not settings.REPUTATION_COMPROMISE_DETECTION:
        return None
    now = now or timezone.now()
    verdict = assess_account(user=user, now=now, at_submission=at_submission)
    if not verdict.compromised or _held_or_lately_resumed(user, now):
        return None
    return suspend_compromised_account(user=user, verdict=verdict, now=now)


def _held_or_lately_resumed(user, now: datetime) -> bool:
    """An open hold already stops the user; an admin who just resumed one has judged the same counts."""
    holds = SendingHold.objects.filter(kind=SendingHold.Kind.USER, key=str(user.pk))
    grace = now - timedelta(hours=settings.REPUTATION_COMPROMISE_RESUMED_GRACE_HOURS)
    return holds.filter(Q(resolved_at=None) | Q(cause=SendingHold.Cause.COMPROMISED, resolved_at__gte=grace)).exists()


def suspend_compromised_account(*, user, verdict: Verdict, now: datetime | None = None) -> SendingHold | None:
    """Hold the user's sending (queued mail stays, parked) and tell the admins and the owner, with the evidence.

    Returns the hold it opened; None when one was open already (then nobody is told twice).
    """
    now = now or timezone.now()
    hold, opened = place_hold_once(
        kind=SendingHold.Kind.USER,
        key=str(user.pk),
        cause=SendingHold.Cause.COMPROMISED,
        reason=verdict.reason,
        evidence={**verdict.evidence(now=now), "user": user.username},
        now=now,
    )
    if not opened:
        return None
    logger.warning("sending suspended for %s: %s", user.username, verdict.reason)
    notify(
        users=[*admins(), user],
        subject=f"Sending suspended: {user.username} looks compromised",
        body=_notice_body(user, verdict, now),
        now=now,
    )
    return hold


def _notice_body(user, verdict: Verdict, now: datetime) -> str:
    lines = [
        f"Outbound mail from {user.username} was suspended at {now:%Y-%m-%d %H:%M} UTC because the account",
        "shows the signs of a hijacked account:",
        "",
        *[f"- {sign.summary} ({sign.strength})" for sign in verdict.signs],
        "",
        "Its queued mail is held, not lost: nothing more leaves until an admin resumes its sending",
        "(admin: Reputation and abuse > Sending holds). Before resuming, secure the account: reset its",
        "password, revoke its API tokens and check its recent sign-ins (Sign-in networks).",
    ]
    return "\n".join(lines) + "\n"


def evaluate_recent_accounts(*, now: datetime | None = None) -> list[SendingHold]:
    """The periodic check: every account that submitted in the last hour or had unknown-user bounces."""
    now = now or timezone.now()
    since = hour_of(now) - timedelta(hours=1)
    ids = set(SubmissionCount.objects.filter(hour__gte=since, hour__lte=now).values_list("user_id", flat=True))
    bounced = figures_many(Subject.USER, None, Window.HOUR, now=now)
    ids |= {int(key) for key, last in bounced.items() if last.unknown_user and key.isdigit()}
    holds = []
    for user in get_user_model().objects.filter(pk__in=ids, is_active=True).order_by("pk"):
        hold = evaluate_account(user=user, now=now)
        if hold is not None:
            holds.append(hold)
    return holds


def evaluate_senders_after_outcomes(*, user_keys, now: datetime | None = None) -> list[SendingHold]:
    """After delivery outcomes were counted (``figures_changed``): the senders they belong to, checked at once.

    Runs after the delivery's commit, in the worker: a failure here is logged,
    never raised into delivery (the periodic check tries again).
    """
    ids = [int(key) for key in user_keys if str(key).isdigit()]
    if not ids:
        return []
    holds = []
    try:
        for user in get_user_model().objects.filter(pk__in=ids, is_active=True).order_by("pk"):
            hold = evaluate_account(user=user, now=now)
            if hold is not None:
                holds.append(hold)
    except Exception:
        logger.exception("compromised-account check after delivery outcomes failed for users %s", ids)
    return holds
