"""manage.py doctor against real parts: loopback DNS, a real MX and SMTP server, the real migration table (issue 17)."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from accounts.dkim import dns_records
from accounts.services import create_domain, ensure_dkim_key
from delivery.services import send_message
from inbound.models import InboundMessage
from mailboxes.models import Blob, Recipient
from observability.doctor import (
    Level,
    check_backlog,
    check_clock,
    check_database,
    check_domains,
    check_migrations,
    check_mx_port,
    check_outbound_port,
    check_settings,
    run_doctor,
)
from tests.support.broker import unreachable_broker
from tests.support.databases import unreachable_database
from tests.support.smtp_server import free_port

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
OUTBOUND_IP = "192.0.2.25"


def at(moment: datetime):
    return lambda: moment


def levels(findings) -> dict[str, Level]:
    return {f"{finding.area} {finding.name}": finding.level for finding in findings}


@pytest.fixture(autouse=True)
def _our_mail_host(settings):
    settings.MAIL_HOSTNAME = "mx.ours.test"
    settings.OUTBOUND_IPS = [OUTBOUND_IP]


@pytest.fixture
def brand(db):
    create_domain(name="brand.example")
    domain, _ = ensure_dkim_key(domain_name="brand.example")
    return domain


# --- DNS and DKIM of the hosted domains ---------------------------------------------------------


def test_a_domain_whose_records_are_all_published_is_all_ok(brand, dns_server):
    for record in dns_records(brand):
        dns_server.resolver.add(record.replace("\t", " "))

    findings = check_domains(at(NOW))

    assert levels(findings) == {
        "dkim brand.example": Level.OK,
        "dns brand.example Ownership": Level.OK,
        "dns brand.example MX": Level.OK,
        "dns brand.example SPF": Level.OK,
        f"dns brand.example DKIM RSA ({brand.dkim_selector})": Level.OK,
        "dns brand.example DMARC": Level.OK,
    }
    assert all(not finding.publish and not finding.remedy for finding in findings)


def test_a_domain_with_missing_or_wrong_records_fails_and_says_what_to_publish(brand, dns_server):
    dns_server.resolver.add("brand.example. 300 IN MX 10 mx.elsewhere.example.")

    findings = {f"{f.area} {f.name}": f for f in check_domains(at(NOW))}

    mx = findings["dns brand.example MX"]
    assert mx.level == Level.FAIL
    assert "mx.elsewhere.example" in mx.detail
    assert mx.remedy == "Publish the record below." and mx.publish == ["brand.example.\t3600\tIN\tMX\t10 mx.ours.test."]
    assert findings["dns brand.example SPF"].level == Level.FAIL
    assert findings["dns brand.example DMARC"].level in (Level.WARN, Level.FAIL)
    assert findings[f"dns brand.example DKIM RSA ({brand.dkim_selector})"].level == Level.FAIL


def test_a_domain_without_a_dkim_key_fails_with_the_command_that_makes_one(db):
    create_domain(name="nokey.example")

    [dkim] = [finding for finding in check_domains(at(NOW)) if finding.area == "dkim"]

    assert dkim.level == Level.FAIL
    assert "manage.py dkimkey nokey.example" in dkim.remedy


# --- database, migrations, clock, backlog -------------------------------------------------------


def test_a_database_that_answers_is_ok():
    [finding] = check_database()

    assert finding.level in (Level.OK, Level.WARN)  # WARN: SQLite with DEBUG off
    assert "answers" in finding.detail


def test_a_database_that_refuses_fails_with_what_to_correct():
    with unreachable_database("replica") as alias:
        [finding] = check_database(alias)

    assert finding.level == Level.FAIL
    assert "OperationalError" in finding.detail
    assert "DATABASE_URL" in finding.remedy


def test_all_migrations_applied_is_ok():
    assert [finding.level for finding in check_migrations()] == [Level.OK]


def test_an_unapplied_migration_fails_and_is_named():
    # As a database restored from before the migration was applied: its row in django_migrations is gone.
    applied = MigrationRecorder.Migration.objects.filter(app="sessions", name="0001_initial")
    assert applied.delete()[0] == 1

    [finding] = check_migrations()

    assert finding.level == Level.FAIL
    assert "sessions.0001_initial" in finding.detail
    assert "manage.py migrate" in finding.remedy


def test_the_clock_is_compared_with_the_database_servers():
    [in_step] = check_clock(timezone.now)
    [ahead] = check_clock(lambda: timezone.now() + timedelta(minutes=2))

    assert in_step.level == Level.OK
    assert ahead.level == Level.WARN
    assert "behind this machine's" in ahead.detail
    assert "NTP" in ahead.remedy


def queue_mail(user, count: int, *, next_attempt_at: datetime, status=Recipient.Status.QUEUED) -> None:
    for n in range(count):
        send_message(user=user, to=[f"r{n}@remote.example"], text="x")
    Recipient.objects.filter(address__startswith="r").update(status=status, next_attempt_at=next_attempt_at)


def test_an_empty_queue_is_ok(alice):
    findings = check_backlog(at(NOW))

    assert levels(findings) == {
        "queue outbound": Level.OK,
        "queue inbound": Level.OK,
        "queue dead letters": Level.OK,
    }
    assert findings[0].detail == "0 recipients due, 0 deferred"


def test_a_due_backlog_that_is_small_and_fresh_is_ok(alice, settings):
    settings.DOCTOR_BACKLOG_DUE_WARN = 5
    queue_mail(alice, 3, next_attempt_at=NOW - timedelta(seconds=30))

    [outbound] = [f for f in check_backlog(at(NOW)) if f.name == "outbound"]

    assert outbound.level == Level.OK
    assert outbound.detail == "3 recipients due, 0 deferred, the oldest due waits 30 s"


def test_too_many_due_recipients_warn(alice, settings):
    settings.DOCTOR_BACKLOG_DUE_WARN = 2
    queue_mail(alice, 3, next_attempt_at=NOW - timedelta(seconds=30))

    [outbound] = [f for f in check_backlog(at(NOW)) if f.name == "outbound"]

    assert outbound.level == Level.WARN
    assert "celery -A webmail worker" in outbound.remedy


def test_an_old_due_recipient_warns_but_future_retries_do_not(alice, settings):
    settings.DOCTOR_BACKLOG_OLDEST_WARN_SECONDS = 900
    queue_mail(alice, 2, next_attempt_at=NOW + timedelta(hours=1), status=Recipient.Status.DEFERRED)
    assert [f.level for f in check_backlog(at(NOW)) if f.name == "outbound"] == [Level.OK]

    Recipient.objects.filter(address="r0@remote.example").update(next_attempt_at=NOW - timedelta(seconds=901))
    [outbound] = [f for f in check_backlog(at(NOW)) if f.name == "outbound"]

    assert outbound.level == Level.WARN
    assert outbound.detail == "1 recipients due, 2 deferred, the oldest due waits 901 s"


def test_dead_letters_and_waiting_received_mail_warn(alice):
    queue_mail(alice, 1, next_attempt_at=NOW, status=Recipient.Status.FAILED)
    blob = Blob.objects.create(sha256="0" * 64, size=1)
    InboundMessage.objects.create(blob=blob, rcpt_tos=["alice@example.test"], received_at=NOW - timedelta(hours=1))

    findings = {finding.name: finding for finding in check_backlog(at(NOW))}

    assert findings["dead letters"].level == Level.WARN
    assert findings["dead letters"].detail == "1 outgoing recipients and 0 received messages"
    assert findings["inbound"].level == Level.WARN
    assert "-Q inbound" in findings["inbound"].remedy


# --- ports --------------------------------------------------------------------------------------


def test_the_mx_port_is_ok_when_the_mx_greets(mx_server):
    finding = check_mx_port()

    assert finding.level == Level.OK
    assert "220" in finding.detail


def test_the_mx_port_fails_when_nothing_listens(settings):
    settings.SMTPD_PORT = free_port()

    finding = check_mx_port()

    assert finding.level == Level.FAIL
    assert "refused" in finding.detail.lower()
    assert "runsmtpd" in finding.remedy


@pytest.fixture
def gmail_on_loopback(dns_server):
    dns_server.resolver.add("gmail.com. 300 IN MX 5 gmail-smtp-in.l.google.com.")
    dns_server.resolver.add("gmail-smtp-in.l.google.com. 300 IN A 127.0.0.1")


def test_outbound_port_25_is_ok_when_the_probe_domains_mx_greets(gmail_on_loopback, smtp_server):
    finding = check_outbound_port(offline=False)

    assert finding.level == Level.OK, finding
    assert "gmail.com's MX 127.0.0.1" in finding.detail


def test_outbound_port_blocked_fails_with_the_alternatives(gmail_on_loopback):
    finding = check_outbound_port(offline=False)  # nothing listens on SMTP_DELIVERY_PORT

    assert finding.level == Level.FAIL
    assert "MAIL_TRANSPORT=relay" in finding.remedy


def test_outbound_through_a_relay_checks_the_relays_port(settings, smtp_server):
    settings.MAIL_TRANSPORT = {
        "BACKEND": "delivery.transports.smtp.RelayTransport",
        "OPTIONS": {"HOST": "127.0.0.1", "PORT": smtp_server.port},
    }

    assert check_outbound_port(offline=False).level == Level.OK
    settings.MAIL_TRANSPORT["OPTIONS"]["PORT"] = free_port()  # a relay that is down
    assert check_outbound_port(offline=False).level == Level.FAIL


def test_outbound_port_is_not_applicable_with_an_esp(settings):
    settings.MAIL_TRANSPORT = {"BACKEND": "delivery.transports.esp.AnymailTransport", "OPTIONS": {}}

    finding = check_outbound_port(offline=False)

    assert finding.level == Level.OK
    assert finding.detail.startswith("not applicable")


# --- settings -----------------------------------------------------------------------------------


def test_production_settings_that_hurt_fail(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = "django-insecure-" + "x" * 40
    settings.ALLOWED_HOSTS = []

    assert levels(check_settings()) == {
        "settings DEBUG": Level.OK,
        "settings SECRET_KEY": Level.FAIL,
        "settings ALLOWED_HOSTS": Level.FAIL,
    }


def test_debug_and_a_wildcard_host_warn(settings):
    settings.DEBUG = True
    settings.SECRET_KEY = "Zq8-" + "".join(chr(ord("a") + n % 26) for n in range(60))
    settings.ALLOWED_HOSTS = ["*"]

    assert levels(check_settings()) == {
        "settings DEBUG": Level.WARN,
        "settings SECRET_KEY": Level.OK,
        "settings ALLOWED_HOSTS": Level.WARN,
    }


# --- the command --------------------------------------------------------------------------------


@pytest.fixture
def healthy(settings, brand, dns_server, mx_server):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["mail.brand.example"]
    for record in dns_records(brand):
        dns_server.resolver.add(record.replace("\t", " "))


def test_doctor_on_a_healthy_deployment_exits_0_with_one_line_per_check(healthy):
    out = io.StringIO()

    call_command("doctor", "--offline", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[-1].endswith(" 0 FAIL")
    assert not any(line.startswith("FAIL") for line in lines)
    assert any(line.startswith("OK    broker") for line in lines)
    assert any(line.startswith("OK    dns        brand.example MX") for line in lines)


def test_doctor_exits_1_naming_the_broker_when_it_is_down_and_json_is_parseable(healthy):
    out = io.StringIO()

    with unreachable_broker(), pytest.raises(SystemExit) as exit_:
        call_command("doctor", "--offline", "--json", stdout=out)

    assert exit_.value.code == 1
    document = json.loads(out.getvalue())
    failing = [check for check in document["checks"] if check["level"] == "FAIL"]
    assert [(check["area"], check["name"]) for check in failing] == [("broker", "broker")]
    assert "refused" in failing[0]["detail"].lower()
    assert document["summary"]["FAIL"] == 1


def test_doctor_prints_the_records_to_publish_under_a_failing_dns_line(settings, brand, mx_server):
    out = io.StringIO()

    with pytest.raises(SystemExit):
        call_command("doctor", "--offline", "--domain", "brand.example", stdout=out)

    text = out.getvalue()
    assert "FAIL  dns        brand.example MX: the domain does not exist in DNS." in text
    assert "        brand.example.\t3600\tIN\tMX\t10 mx.ours.test." in text


def test_run_doctor_skips_what_needs_the_database_when_it_does_not_answer(settings, monkeypatch):
    from observability import doctor

    broken = doctor.Finding("database", "default", Level.FAIL, "OperationalError: refused", "")
    monkeypatch.setattr(doctor, "check_database", lambda: [broken])

    findings = run_doctor(offline=True)

    skipped = [f.area for f in findings if f.name == "skipped"]
    assert skipped == ["migrations", "clock", "queue", "dns"]
