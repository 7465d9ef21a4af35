"""Per-minute send rates for the throttles, kept as counters per short slot (``SendRate``)."""

from collections import Counter
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q, Sum

from core.bulk import recordset
from core.lookups import any_of
from delivery.models import SendRate

WINDOW = timedelta(minutes=1)


def _slot(moment: datetime) -> datetime:
    seconds = SendRate.SLOT_SECONDS
    return moment.replace(second=moment.second - moment.second % seconds, microsecond=0)


def recent_attempts(*, domains, senders, now: datetime) -> tuple[dict[str, int], dict[int, int]]:
    """Attempts in the last minute per domain and per sender id.

    The slot holding ``now - 1 minute`` counts whole, so the window is a
    little longer than a minute, never shorter: a rate is never exceeded.
    """
    domains, senders = set(domains), {str(s) for s in senders}
    if not (domains or senders):
        return {}, {}
    rows = (
        SendRate.objects.filter(slot__gte=_slot(now - WINDOW))
        .filter(
            Q(any_of("key", domains), scope=SendRate.Scope.DOMAIN)
            | Q(any_of("key", senders), scope=SendRate.Scope.SENDER)
        )
        .values("scope", "key")
        .annotate(attempts=Sum("attempts"))
        .values_list("scope", "key", "attempts")
    )
    by_domain, by_sender = {}, {}
    for scope, key, attempts in rows:
        if scope == SendRate.Scope.DOMAIN:
            by_domain[key] = attempts
        else:
            by_sender[int(key)] = attempts
    return by_domain, by_sender


def recent_provider_attempts(*, providers, now: datetime) -> dict[str, int]:
    """Attempts in the last minute per destination provider (as ``recent_attempts`` counts them)."""
    providers = {str(p) for p in providers}
    if not providers:
        return {}
    return dict(
        SendRate.objects.filter(slot__gte=_slot(now - WINDOW), scope=SendRate.Scope.PROVIDER)
        .filter(any_of("key", providers))
        .values("key")
        .annotate(attempts=Sum("attempts"))
        .values_list("key", "attempts")
    )


def count_attempts(*, domains: Counter, senders: Counter, now: datetime, providers: Counter | None = None) -> None:
    """Add attempts to the current slot: one statement, rows in a fixed order (no deadlock between workers)."""
    rows = sorted(
        [(SendRate.Scope.DOMAIN.value, key, n) for key, n in domains.items() if n]
        + [(SendRate.Scope.SENDER.value, str(key), n) for key, n in senders.items() if n]
        + [(SendRate.Scope.PROVIDER.value, str(key), n) for key, n in (providers or {}).items() if n]
    )
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(SendRate._meta.db_table)
    names = ("scope", "key", "slot", "attempts")
    scope, key, slot_column, attempts = (quote(name) for name in names)
    if connection.vendor == "postgresql":  # the rows as one JSON parameter (core.bulk), in their order
        fields = [SendRate._meta.get_field(name) for name in names]
        slot = _slot(now)
        records = [{"scope": scope_, "key": key_, "slot": slot, "attempts": n} for scope_, key_, n in rows]
        source, param = recordset(fields, records, ordinality=True)
        values = f"SELECT {scope}, {key}, {slot_column}, {attempts} FROM {source} ORDER BY ordinality"  # noqa: S608
        params = [param]
    else:
        slot = SendRate._meta.get_field("slot").get_db_prep_value(_slot(now), connection)
        values = f"VALUES {', '.join(['(%s, %s, %s, %s)'] * len(rows))}"
        params = [value for scope_, key_, n in rows for value in (scope_, key_, slot, n)]
    sql = (
        f"INSERT INTO {table} ({scope}, {key}, {slot_column}, {attempts}) {values} "  # noqa: S608 - names only
        f"ON CONFLICT ({scope}, {key}, {slot_column}) "
        f"DO UPDATE SET {attempts} = {table}.{attempts} + excluded.{attempts}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def forget_old_rates(*, now: datetime) -> int:
    deleted, _ = SendRate.objects.filter(slot__lt=_slot(now - 2 * WINDOW)).delete()
    return deleted
