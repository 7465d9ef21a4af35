"""Sender limits: how much one user and one sending domain may submit per minute, hour and day.

``check_and_count`` runs for every submission (``admission.admit_submission``):
messages per minute, hour and day, recipients per message and recipients per
day, for the sending user and for the From address's domain (every user of
the domain together). Each limit is the admin's override (``SenderLimit``) or
the setting's default; 0 lifts it.

A window is the sum of its slots (``SendQuotaCount`` rows, ``Window.slot_seconds``
long): the slot that holds "now minus the window" counts whole, so a window is
a little longer than its name, never shorter, and a limit is never exceeded.
Counting holds across processes: a submission first adds 0 to the current slot
of every window it is counted in, which takes those rows' locks, so submissions
of one user or domain are checked one at a time; then it sums the windows and
either refuses (the transaction rolls back: a refused submission counts
nothing) or adds itself.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from reputation.models import SenderLimit, SendQuotaCount
from webmail.errors import UserError

Kind = SendQuotaCount.Kind
Metric = SendQuotaCount.Metric


class RateLimited(UserError):
    """Over a quota: waiting ``retry_after`` seconds frees room for this submission."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class TooManyRecipients(UserError):
    """More recipients than one message (or one day) may have: waiting does not help, fewer recipients do."""

    code = "too_many_recipients"
    status = 400

    def __init__(self, message: str):
        super().__init__(message, field="to")


@dataclass(frozen=True)
class Window:
    name: str
    seconds: int
    slot_seconds: int

    def slot_of(self, moment: datetime) -> datetime:
        stamp = math.floor(moment.timestamp())
        return datetime.fromtimestamp(stamp - stamp % self.slot_seconds, tz=UTC)

    def start(self, now: datetime) -> datetime:
        """The oldest slot still in the window at ``now``."""
        return self.slot_of(now - timedelta(seconds=self.seconds))


MINUTE = Window("minute", 60, 5)
HOUR = Window("hour", 3600, 60)
DAY = Window("day", 86400, 900)
WINDOWS = (MINUTE, HOUR, DAY)


@dataclass(frozen=True)
class Limits:
    """One sender's limits; 0 is no limit."""

    per_minute: int
    per_hour: int
    per_day: int
    recipients_per_message: int
    recipients_per_day: int


FIELDS = tuple(Limits.__dataclass_fields__)
# The limits kept as counters: (Limits field, what is counted, over which window).
COUNTED = (
    ("per_minute", Metric.MESSAGES, MINUTE),
    ("per_hour", Metric.MESSAGES, HOUR),
    ("per_day", Metric.MESSAGES, DAY),
    ("recipients_per_day", Metric.RECIPIENTS, DAY),
)


def default_limits(kind: str) -> Limits:
    prefix = "SEND_LIMIT_" if kind == Kind.USER else "SEND_LIMIT_DOMAIN_"
    return Limits(**{field: getattr(settings, prefix + field.upper()) for field in FIELDS})


def effective_limits(kind: str, override: SenderLimit | None) -> Limits:
    """The settings' defaults, with the admin's override where it has a value."""
    limits = default_limits(kind)
    if override is None:
        return limits
    return Limits(
        **{
            field: getattr(limits, field) if getattr(override, field) is None else getattr(override, field)
            for field in FIELDS
        }
    )


@dataclass(frozen=True)
class Quota:
    """One counted limit of one sender, and what this submission adds to it."""

    kind: str
    key: str
    field: str
    metric: str
    window: Window
    limit: int
    need: int


def check_and_count(
    *,
    user,
    from_domain: str,
    recipient_count: int,
    now: datetime,
    message_count: int = 1,
    largest_message: int | None = None,
) -> None:
    """Count this submission against the user's and the domain's quotas, or raise without counting it.

    ``RateLimited`` (429, with ``retry_after``) when a window is full;
    ``TooManyRecipients`` when the message has more recipients than allowed.
    A batch counts as ``message_count`` messages of ``recipient_count``
    recipients in all, the largest of them with ``largest_message``.
    """
    quotas = _quotas(
        user=user, from_domain=from_domain, recipient_count=recipient_count, message_count=message_count,
        largest_message=recipient_count if largest_message is None else largest_message,
    )  # fmt: skip
    if not quotas:
        return
    with transaction.atomic():
        # Counted first: the rows' locks, one submission checked at a time. A refusal rolls the count back.
        _add(quotas, now=now, amounts=[quota.need for quota in quotas])
        refusal = _refusal(quotas, now=now, counted=True)
        if refusal is not None:
            raise refusal


def check(*, user, from_domain: str, recipient_count: int, now: datetime) -> None:
    """Raise what ``check_and_count`` would raise now, counting nothing (the webmail, before its undo window)."""
    quotas = _quotas(
        user=user, from_domain=from_domain, recipient_count=recipient_count, message_count=1,
        largest_message=recipient_count,
    )  # fmt: skip
    refusal = _refusal(quotas, now=now) if quotas else None
    if refusal is not None:
        raise refusal


def forget_old_quota_counts(*, now: datetime) -> int:
    """Delete the slots no window reaches any more (the outbox reconciler calls this)."""
    longest = max(WINDOWS, key=lambda window: window.seconds)
    deleted, _ = SendQuotaCount.objects.filter(slot__lt=longest.start(now)).delete()
    return deleted


# --- the parts ----------------------------------------------------------------------------------


def _quotas(*, user, from_domain: str, recipient_count: int, message_count: int, largest_message: int) -> list[Quota]:
    from_domain = from_domain.lower()
    overrides = SenderLimit.objects.filter(Q(user=user) | Q(domain__name=from_domain))
    user_override = next((o for o in overrides if o.user_id is not None), None)
    domain_override = next((o for o in overrides if o.domain_id is not None), None)
    subjects = [
        (Kind.USER, str(user.pk), effective_limits(Kind.USER, user_override)),
        (Kind.DOMAIN, from_domain, effective_limits(Kind.DOMAIN, domain_override)),
    ]
    quotas = []
    for kind, key, limits in subjects:
        if limits.recipients_per_message and largest_message > limits.recipients_per_message:
            raise TooManyRecipients(_too_many_recipients(kind, key, limits.recipients_per_message))
        for field, metric, window in COUNTED:
            limit = getattr(limits, field)
            need = message_count if metric == Metric.MESSAGES else recipient_count
            if not limit:
                continue
            if need > limit:  # more recipients than a whole day allows: waiting would not help
                raise TooManyRecipients(_too_many_recipients(kind, key, limit, per_day=True))
            quotas.append(Quota(kind, key, field, metric, window, limit, need))
    return sorted(quotas, key=lambda q: (q.kind, q.key, q.metric, q.window.slot_seconds))  # lock order


def _add(quotas: list[Quota], *, now: datetime, amounts: list[int]) -> None:
    """Add to each quota's current slot: one statement, rows in a fixed order (no deadlock between workers)."""
    quote = connection.ops.quote_name
    table = quote(SendQuotaCount._meta.db_table)
    columns = ("kind", "key", "metric", "span", "slot", "count")
    kind, key, metric, span, slot, count = (quote(name) for name in columns)
    slot_field = SendQuotaCount._meta.get_field("slot")
    params = []
    for quota, amount in zip(quotas, amounts, strict=True):
        moment = slot_field.get_db_prep_value(quota.window.slot_of(now), connection)
        params += [quota.kind, quota.key, quota.metric, quota.window.slot_seconds, moment, amount]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(quotas))
    sql = (
        f"INSERT INTO {table} ({kind}, {key}, {metric}, {span}, {slot}, {count}) VALUES {values} "  # noqa: S608
        f"ON CONFLICT ({kind}, {key}, {metric}, {span}, {slot}) "
        f"DO UPDATE SET {count} = {table}.{count} + excluded.{count}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _window_filter(quota: Quota, now: datetime) -> Q:
    return Q(
        kind=quota.kind, key=quota.key, metric=quota.metric, span=quota.window.slot_seconds,
        slot__gte=quota.window.start(now),
    )  # fmt: skip


def _refusal(quotas: list[Quota], *, now: datetime, counted: bool = False) -> RateLimited | None:
    """The error for the quota this submission would overrun for longest, or None if it fits in every one.

    ``counted``: the counts already hold this submission.
    """
    condition = Q()
    for quota in quotas:
        condition |= _window_filter(quota, now)
    used = {
        (kind, key, metric, span): total
        for kind, key, metric, span, total in SendQuotaCount.objects.filter(condition)
        .values("kind", "key", "metric", "span")
        .annotate(total=Sum("count"))
        .values_list("kind", "key", "metric", "span", "total")
    }
    over = [
        quota
        for quota in quotas
        if used.get((quota.kind, quota.key, quota.metric, quota.window.slot_seconds), 0)
        + (0 if counted else quota.need)
        > quota.limit
    ]
    if not over:
        return None
    waits = {quota: _seconds_until_room(quota, now, counted=counted) for quota in over}
    quota = max(over, key=waits.__getitem__)
    return RateLimited(_rate_limited(quota, waits[quota]), retry_after=waits[quota])


def _seconds_until_room(quota: Quota, now: datetime, *, counted: bool = False) -> int:
    """Until enough of the oldest slots have left the window for this submission to fit."""
    slots = list(
        SendQuotaCount.objects.filter(_window_filter(quota, now)).order_by("slot").values_list("slot", "count")
    )
    used = sum(count for _slot, count in slots) - (quota.need if counted else 0)
    window, span = timedelta(seconds=quota.window.seconds), timedelta(seconds=quota.window.slot_seconds)
    for slot, count in slots:
        used -= count
        if used + quota.need <= quota.limit:
            # A slot counts while it holds "now minus the window", so it leaves a slot length after that.
            return max(1, math.ceil((slot + span + window - now).total_seconds()))
    return quota.window.seconds + quota.window.slot_seconds  # not reached: need <= limit was checked


# --- what the sender is told --------------------------------------------------------------------


def _wait(seconds: int) -> str:
    if seconds < 120:
        return ngettext("%(n)d second", "%(n)d seconds", seconds) % {"n": seconds}
    if seconds < 2 * 3600:
        minutes = math.ceil(seconds / 60)
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    hours = math.ceil(seconds / 3600)
    return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}


def _rate_limited(quota: Quota, retry_after: int) -> str:
    values = {"limit": quota.limit, "domain": quota.key, "wait": _wait(retry_after)}
    if quota.kind == Kind.USER:
        texts = {
            "per_minute": _("You can send %(limit)d messages per minute; try again in %(wait)s."),
            "per_hour": _("You can send %(limit)d messages per hour; try again in %(wait)s."),
            "per_day": _("You can send %(limit)d messages per day; try again in %(wait)s."),
            "recipients_per_day": _("You can send to %(limit)d recipients per day; try again in %(wait)s."),
        }
    else:
        texts = {
            "per_minute": _("%(domain)s can send %(limit)d messages per minute; try again in %(wait)s."),
            "per_hour": _("%(domain)s can send %(limit)d messages per hour; try again in %(wait)s."),
            "per_day": _("%(domain)s can send %(limit)d messages per day; try again in %(wait)s."),
            "recipients_per_day": _("%(domain)s can send to %(limit)d recipients per day; try again in %(wait)s."),
        }
    return texts[quota.field] % values


def _too_many_recipients(kind: str, key: str, limit: int, *, per_day: bool = False) -> str:
    values = {"limit": limit, "domain": key}
    if per_day:
        if kind == Kind.USER:
            return _("You can send to at most %(limit)d recipients per day; remove some recipients.") % values
        return _("%(domain)s can send to at most %(limit)d recipients per day; remove some recipients.") % values
    if kind == Kind.USER:
        return _("A message can have at most %(limit)d recipients; remove some recipients.") % values
    return _("A message from %(domain)s can have at most %(limit)d recipients; remove some recipients.") % values
