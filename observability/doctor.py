"""``manage.py doctor``: check a deployment end to end and say what to fix (docs/HEALTH.md).

Every check gives one ``Finding``: OK, WARN (works, but will hurt) or FAIL (broken: the command
exits non-zero), what it found and the remedy. Checks that need the database are skipped,
saying so, when the database does not answer. Time comes from ``now`` (a callable), so tests
can stand the local clock somewhere else.
"""

import contextlib
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Min
from django.utils import timezone

from accounts.dkim import dkim_keys
from accounts.domain_checks import Light
from accounts.domain_checks import run_checks as check_domain_dns
from accounts.models import Domain
from delivery.mx import DNSError, resolve_addresses, resolve_mx
from inbound.models import InboundMessage
from mailboxes.models import Recipient
from observability import health

# A default SECRET_KEY gives itself away by these (Django's startproject, tutorials).
WEAK_SECRET_PREFIXES = ("django-insecure", "changeme", "secret")
SMTP_PROBE_TIMEOUT_SECONDS = 5.0


class Level(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass
class Finding:
    area: str  # settings, database, migrations, clock, broker, storage, search, queue, ports, dkim, dns
    name: str
    level: Level
    detail: str
    remedy: str = ""
    publish: list[str] = field(default_factory=list)  # zone-file lines, for DNS findings

    def to_json(self) -> dict:
        return {**asdict(self), "level": str(self.level)}


Clock = Callable[[], datetime]


# --- settings -------------------------------------------------------------------------------------


def check_settings() -> list[Finding]:
    findings = []
    if settings.DEBUG:
        findings.append(
            Finding(
                "settings", "DEBUG", Level.WARN, "DEBUG is on",
                "Fine in development; set DEBUG=0 in production (tracebacks are shown, every query is kept in memory).",
            )
        )  # fmt: skip
    else:
        findings.append(Finding("settings", "DEBUG", Level.OK, "DEBUG is off"))
    key = settings.SECRET_KEY or ""
    if len(key) < 32 or len(set(key)) < 8 or key.lower().startswith(WEAK_SECRET_PREFIXES):
        findings.append(
            Finding(
                "settings", "SECRET_KEY", Level.FAIL, "SECRET_KEY is short, repetitive or a well-known default",
                "Set SECRET_KEY (or SECRET_KEY_FILE) to 50 random characters: "
                "python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
            )
        )  # fmt: skip
    else:
        findings.append(Finding("settings", "SECRET_KEY", Level.OK, "set, and not a known default"))
    hosts = list(settings.ALLOWED_HOSTS)
    if not hosts:
        findings.append(
            Finding(
                "settings", "ALLOWED_HOSTS", Level.FAIL, "empty: every request is answered 400",
                "Set ALLOWED_HOSTS to the site's host names (comma-separated).",
            )
        )  # fmt: skip
    elif "*" in hosts:
        findings.append(
            Finding(
                "settings", "ALLOWED_HOSTS", Level.WARN, "'*' accepts any Host header (host-header attacks)",
                "List the site's host names in ALLOWED_HOSTS instead of '*'.",
            )
        )  # fmt: skip
    else:
        findings.append(Finding("settings", "ALLOWED_HOSTS", Level.OK, ", ".join(hosts)))
    return findings


# --- database, migrations, clock ------------------------------------------------------------------


def check_database(alias: str = "default") -> list[Finding]:
    result = health.run_checks(
        {"database": lambda: health.check_database(alias, settings.HEALTH_CHECK_TIMEOUT_SECONDS)},
        timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS,
    )[0]
    vendor = connections[alias].vendor
    if not result.ok:
        return [
            Finding(
                "database", alias, Level.FAIL, result.error,
                "Start the database server, or correct DATABASE_URL (host, port, name, user, password).",
            )
        ]  # fmt: skip
    detail = f"{vendor} answers ({result.seconds * 1000:.0f} ms)"
    if vendor == "sqlite" and not settings.DEBUG:
        return [
            Finding(
                "database", alias, Level.WARN, f"{detail}; SQLite in production",
                "SQLite serves one machine and one writer at a time: use PostgreSQL (DATABASE_URL=postgres://…).",
            )
        ]  # fmt: skip
    return [Finding("database", alias, Level.OK, detail)]


def unapplied_migrations() -> list[str]:
    executor = MigrationExecutor(connections["default"])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]


def check_migrations() -> list[Finding]:
    pending = unapplied_migrations()
    if not pending:
        return [Finding("migrations", "applied", Level.OK, "every migration is applied")]
    shown = ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
    return [
        Finding(
            "migrations", "applied", Level.FAIL, f"{len(pending)} not applied: {shown}",
            "Run manage.py migrate (before starting the new code's web, MX and workers).",
        )
    ]  # fmt: skip


def database_clock() -> datetime:
    """The database server's current time (not the transaction's start: PostgreSQL's now() is that)."""
    connection = connections["default"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
        cursor.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
        return datetime.fromisoformat(cursor.fetchone()[0]).replace(tzinfo=UTC)


def check_clock(now: Clock) -> list[Finding]:
    """The database server's clock against this machine's: no NTP server needed, and the skew that matters
    (leases, retry times and ``next_attempt_at`` are compared across both)."""
    before = now()
    server = database_clock()
    after = now()
    local = before + (after - before) / 2
    skew = (server - local).total_seconds()
    direction = "ahead of" if skew > 0 else "behind"
    detail = f"the database server's clock is {abs(skew):.1f} s {direction} this machine's"
    if abs(skew) > settings.DOCTOR_CLOCK_SKEW_WARN_SECONDS:
        return [
            Finding(
                "clock", "skew", Level.WARN, detail,
                "Run NTP (chrony or systemd-timesyncd) on every host: leases and retry times compare both clocks.",
            )
        ]  # fmt: skip
    return [Finding("clock", "skew", Level.OK, detail)]


# --- broker, storage, search ----------------------------------------------------------------------

REMEDIES = {
    "broker": "Start the broker (RabbitMQ/Redis) or correct CELERY_BROKER_URL; with the file broker, make var/celery "
    "writable by the web, MX and worker users.",
    "storage": "Make the mailstore writable (MAILSTORE_DIR's owner and free space), or check the S3 bucket, "
    "endpoint and credentials.",
    "search": "Start Elasticsearch or correct ELASTICSEARCH_URL; unset it to search with the database instead.",
}


def check_services() -> list[Finding]:
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    checks = {name: check for name, check in health.readiness_checks(timeout).items() if name != "database"}
    checks = {name: check for name, check in checks.items() if not name.startswith("database:")}
    findings = []
    for result in health.run_checks(checks, timeout=timeout):
        area, _, name = result.name.partition(":")
        if result.ok:
            findings.append(Finding(area, name or area, Level.OK, f"answers ({result.seconds * 1000:.0f} ms)"))
        else:
            findings.append(Finding(area, name or area, Level.FAIL, result.error, REMEDIES[area]))
    if not health.search_configured():
        findings.append(Finding("search", "search", Level.OK, "the database's full-text search (no ELASTICSEARCH_URL)"))
    return findings


# --- queue backlog --------------------------------------------------------------------------------


def _age(since: datetime, now: datetime) -> str:
    return f"{max((now - since).total_seconds(), 0):.0f} s"


def check_backlog(now: Clock) -> list[Finding]:
    at = now()
    due = Recipient.objects.filter(
        status__in=(Recipient.Status.QUEUED, Recipient.Status.DEFERRED), next_attempt_at__lte=at
    )
    due_count = due.count()
    oldest_due = due.aggregate(oldest=Min("next_attempt_at"))["oldest"]
    deferred = Recipient.objects.filter(status=Recipient.Status.DEFERRED).count()
    findings = []
    detail = f"{due_count} recipients due, {deferred} deferred"
    if oldest_due is not None:
        detail += f", the oldest due waits {_age(oldest_due, at)}"
    too_old = oldest_due is not None and at - oldest_due > timedelta(
        seconds=settings.DOCTOR_BACKLOG_OLDEST_WARN_SECONDS
    )
    if due_count > settings.DOCTOR_BACKLOG_DUE_WARN or too_old:
        findings.append(
            Finding(
                "queue", "outbound", Level.WARN, detail,
                "Workers are down or not keeping up: start (more) `celery -A webmail worker -Q transactional,bulk`, "
                "and look at the provider backoffs and send rates in the admin.",
            )
        )  # fmt: skip
    else:
        findings.append(Finding("queue", "outbound", Level.OK, detail))

    stale_inbound = InboundMessage.objects.filter(
        status=InboundMessage.Status.QUEUED,
        received_at__lte=at - timedelta(seconds=settings.DOCTOR_BACKLOG_OLDEST_WARN_SECONDS),
    )
    waiting = stale_inbound.count()
    if waiting:
        oldest = stale_inbound.aggregate(oldest=Min("received_at"))["oldest"]
        findings.append(
            Finding(
                "queue", "inbound", Level.WARN, f"{waiting} received messages wait, the oldest for {_age(oldest, at)}",
                "Start the inbound workers: `celery -A webmail worker -Q inbound`.",
            )
        )  # fmt: skip
    else:
        findings.append(Finding("queue", "inbound", Level.OK, "no received message waits"))

    dead_out = Recipient.objects.filter(status=Recipient.Status.FAILED).count()
    dead_in = InboundMessage.objects.filter(status=InboundMessage.Status.FAILED).count()
    if dead_out or dead_in:
        findings.append(
            Finding(
                "queue", "dead letters", Level.WARN, f"{dead_out} outgoing recipients and {dead_in} received messages",
                "Read their error in the admin (status \"Failed (dead letter)\"), fix the cause, then requeue "
                "them (the admin action) or delete them.",
            )
        )  # fmt: skip
    else:
        findings.append(Finding("queue", "dead letters", Level.OK, "none"))
    return findings


# --- ports ----------------------------------------------------------------------------------------


def smtp_banner(host: str, port: int, *, timeout: float) -> str:
    """Connect and read the server's first line (its 220 greeting), then leave politely."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        banner = sock.makefile("rb").readline(512).decode("ascii", "replace").strip()
        with contextlib.suppress(OSError):
            sock.sendall(b"QUIT\r\n")
    return banner


def _probe(area_name: str, host: str, port: int, *, failed: Level, remedy: str, label: str) -> Finding:
    try:
        banner = smtp_banner(host, port, timeout=SMTP_PROBE_TIMEOUT_SECONDS)
    except OSError as exc:
        return Finding("ports", area_name, failed, f"{label} {host}:{port}: {health.describe_error(exc)}", remedy)
    if not banner.startswith("220"):
        return Finding("ports", area_name, Level.WARN, f"{label} {host}:{port} greets with {banner[:80]!r}", remedy)
    return Finding("ports", area_name, Level.OK, f"{label} {host}:{port} greets: {banner[:80]}")


def check_mx_port() -> Finding:
    host = settings.SMTPD_HOST
    # An MX bound to every interface is asked on loopback.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104 - not a bind
    finding = _probe(
        "MX", host, settings.SMTPD_PORT, failed=Level.FAIL, label="the MX on",
        remedy="Start the MX (manage.py runsmtpd), or correct SMTPD_HOST/SMTPD_PORT.",
    )  # fmt: skip
    if settings.SMTPD_PORT != 25:
        finding.detail += " (other servers deliver on port 25: forward it to this port)"
    return finding


def check_outbound_port(*, offline: bool) -> Finding:
    backend = settings.MAIL_TRANSPORT["BACKEND"]
    options = settings.MAIL_TRANSPORT.get("OPTIONS", {})
    if backend.endswith("AnymailTransport"):
        return Finding("ports", "outbound", Level.OK, "not applicable: mail leaves through the ESP's HTTPS API")
    if offline:
        return Finding("ports", "outbound", Level.OK, "skipped (--offline): no connection to another server tried")
    if backend.endswith("RelayTransport"):
        return _probe(
            "outbound", options["HOST"], int(options.get("PORT", 587)), failed=Level.FAIL, label="the relay",
            remedy="Check RELAY_HOST/RELAY_PORT and that the firewall lets this machine reach it.",
        )  # fmt: skip
    probe_domain = settings.DOCTOR_OUTBOUND_PROBE_DOMAIN
    port = int(options.get("PORT", settings.SMTP_DELIVERY_PORT))
    try:
        hosts = resolve_mx(probe_domain)
        addresses = resolve_addresses(hosts[0].host) if hosts else []
    except DNSError as exc:
        return Finding(
            "ports", "outbound", Level.FAIL, f"cannot look up the MX of {probe_domain}: {exc}",
            "Check the resolver (DNS_NAMESERVERS, /etc/resolv.conf).",
        )  # fmt: skip
    if not addresses:
        return Finding("ports", "outbound", Level.WARN, f"{probe_domain}'s MX has no address", "")
    return _probe(
        "outbound", addresses[0], port, failed=Level.FAIL, label=f"{probe_domain}'s MX",
        remedy=f"Outbound port {port} looks blocked (many clouds block 25): ask the provider to open it, or send "
        "through a relay (MAIL_TRANSPORT=relay) or an ESP (MAIL_TRANSPORT=anymail).",
    )  # fmt: skip


# --- hosted domains -------------------------------------------------------------------------------

LEVELS = {Light.GREEN: Level.OK, Light.AMBER: Level.WARN, Light.RED: Level.FAIL}


def check_domains(now: Clock, *, names: list[str] | None = None) -> list[Finding]:
    domains = Domain.objects.filter(is_active=True).order_by("name")
    if names:
        domains = domains.filter(name__in=names)
    findings = []
    for domain in domains:
        if dkim_keys(domain):
            findings.append(Finding("dkim", domain.name, Level.OK, "a signing key is present"))
        else:
            findings.append(
                Finding(
                    "dkim", domain.name, Level.FAIL, "no DKIM key: its mail goes out unsigned",
                    f"Run manage.py dkimkey {domain.name}, then publish the record it prints.",
                )
            )  # fmt: skip
        for check in check_domain_dns(domain, now=now()).checks:
            level = LEVELS[check.light]
            detail = f"{check.found}. {check.note}".strip()
            publishes = level != Level.OK and check.publish
            remedy = f"Publish the record{'s' if len(check.publish) > 1 else ''} below." if publishes else ""
            publish = check.publish if remedy else []
            findings.append(Finding("dns", f"{domain.name} {check.label}", level, detail, remedy, publish))
    if not findings and not names:
        findings.append(
            Finding("dns", "domains", Level.WARN, "no hosted domain", "Add one: manage.py createdomain DOMAIN.")
        )
    return findings


# --- all of it ------------------------------------------------------------------------------------


def _guarded(area: str, check: Callable[[], list[Finding]]) -> list[Finding]:
    try:
        return check()
    except Exception as exc:  # a check that breaks is itself a finding, and the others still run
        return [Finding(area, "check", Level.FAIL, health.describe_error(exc), "See the error; run the check again.")]


def run_doctor(*, now: Clock = timezone.now, domains: list[str] | None = None, offline: bool = False) -> list[Finding]:
    findings = check_settings()
    database = check_database()
    findings += database
    database_ok = database[0].level != Level.FAIL
    db_checks = [
        ("migrations", check_migrations),
        ("clock", lambda: check_clock(now)),
        ("queue", lambda: check_backlog(now)),
    ]
    for area, check in db_checks:
        if database_ok:
            findings += _guarded(area, check)
        else:
            findings.append(Finding(area, "skipped", Level.WARN, "skipped: the database does not answer"))
    findings += _guarded("services", check_services)
    findings += _guarded("ports", lambda: [check_mx_port(), check_outbound_port(offline=offline)])
    if database_ok:
        findings += _guarded("dns", lambda: check_domains(now, names=domains))
    else:
        findings.append(
            Finding("dns", "skipped", Level.WARN, "skipped: the database (the domain list) does not answer")
        )
    return findings
