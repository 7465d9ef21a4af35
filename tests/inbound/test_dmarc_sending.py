"""Aggregate reports we send about the mail we received: built from what the pipeline recorded, sent once.

Mail from ``a.example`` reaches alice through the real pipeline (its SPF, DKIM and DMARC looked up on the
loopback DNS server); the day's report then goes to the ``rua`` of ``a.example``'s DMARC record, and is read
back with our own report reader.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from core.dns import flush_dns_cache
from inbound.dmarc_reports.reading import reports_in_message
from inbound.dmarc_reports.sending import send_aggregate_reports
from inbound.models import DmarcReportSent, InboundMessage
from inbound.services.pipeline import process_inbound_messages
from inbound.services.reception import accept_message
from inbound.tasks import send_dmarc_aggregate_reports
from mailboxes.blobstore import read_blob
from mailboxes.models import Message, Recipient
from tests.inbound.test_auth import zone  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


# When the pipeline received the test mail: a fixed moment, so a run across midnight reports the same day.
RECEIVED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def mail_from_a_example(client_ip: str, n: int, from_: str = "alice@a.example") -> None:
    raw = (
        f"From: {from_}\r\nTo: alice@example.test\r\nSubject: Note {n}\r\nMessage-ID: <note-{n}@a.example>\r\n"
        "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nHello.\r\n"
    ).encode()
    job = accept_message(
        raw=raw, mail_from="alice@a.example", rcpt_tos=["alice@example.test"], client_ip=client_ip, helo="mx.a.example"
    )
    process_inbound_messages(job_ids=[job.pk])
    InboundMessage.objects.filter(pk=job.pk).update(received_at=RECEIVED)


@pytest.fixture
def received_today(alice, zone):  # noqa: F811
    zone("a.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@a.example")
    mail_from_a_example("192.0.2.10", 1)
    mail_from_a_example("192.0.2.10", 2)
    mail_from_a_example("203.0.113.66", 3)
    mail_from_a_example("203.0.113.66", 4, from_="ceo@news.a.example")
    return zone


def the_report(sent: DmarcReportSent):
    raw = read_blob(sent.message.blob)
    (report,), problems = reports_in_message(raw)
    assert problems == []
    return report, raw


def test_the_days_report_goes_to_the_rua_and_reads_back(received_today):
    (sent,) = send_aggregate_reports(day=RECEIVED.date())

    assert (sent.domain, sent.destinations) == ("a.example", ["dmarc@a.example"])
    assert sent.message.status == Message.Status.QUEUED
    assert list(Recipient.objects.filter(message=sent.message).values_list("address", flat=True)) == ["dmarc@a.example"]
    report, raw = the_report(sent)
    assert b"Subject: Report Domain: a.example Submitter: " in raw
    assert (report.domain, report.report_id, report.policy["p"], report.policy["sp"]) == (
        "a.example", sent.report_id, "reject", "quarantine",
    )  # fmt: skip
    rows = sorted((r.source_ip, r.header_from, r.count, r.disposition, r.dkim, r.spf) for r in report.rows)
    assert rows == [
        ("192.0.2.10", "a.example", 2, "none", "fail", "pass"),
        ("203.0.113.66", "a.example", 1, "reject", "fail", "fail"),
        ("203.0.113.66", "news.a.example", 1, "quarantine", "fail", "fail"),
    ]
    passing = next(row for row in report.rows if row.source_ip == "192.0.2.10")
    assert [(r.domain, r.scope, r.result) for r in passing.spf_results] == [("a.example", "mfrom", "pass")]


def test_a_report_is_sent_once_however_often_the_task_runs(received_today):
    send_aggregate_reports(day=RECEIVED.date())

    assert send_aggregate_reports(day=RECEIVED.date()) == []
    assert DmarcReportSent.objects.count() == 1


def test_a_day_without_mail_sends_nothing(received_today):
    assert send_aggregate_reports(day=RECEIVED.date() - timedelta(days=3)) == []


def test_a_domain_without_rua_gets_no_report(alice, zone):  # noqa: F811
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject")
    mail_from_a_example("203.0.113.66", 1)

    assert send_aggregate_reports(day=RECEIVED.date()) == []


def test_a_destination_outside_the_domain_must_agree(alice, zone, dns_server):  # noqa: F811
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject; rua=mailto:agg@reports.vendor.example")
    mail_from_a_example("203.0.113.66", 1)

    assert send_aggregate_reports(day=RECEIVED.date()) == []
    assert ("a.example._report._dmarc.reports.vendor.example.", "TXT") in dns_server.resolver.queries

    zone("a.example._report._dmarc.reports.vendor.example", "TXT", "v=DMARC1")
    flush_dns_cache()
    (sent,) = send_aggregate_reports(day=RECEIVED.date())
    assert sent.destinations == ["agg@reports.vendor.example"]


def test_a_report_larger_than_the_rua_size_limit_is_not_sent(alice, zone):  # noqa: F811
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject; rua=mailto:dmarc@a.example!100")
    mail_from_a_example("203.0.113.66", 1)

    assert send_aggregate_reports(day=RECEIVED.date()) == []


def test_the_daily_task_sends_only_when_enabled(received_today, settings):
    yesterday = timezone.now() - timedelta(days=1)
    InboundMessage.objects.update(received_at=yesterday)  # the pipeline received them a day ago

    assert send_dmarc_aggregate_reports() == 0
    settings.DMARC_SEND_AGGREGATE_REPORTS = True
    assert send_dmarc_aggregate_reports() == 1
