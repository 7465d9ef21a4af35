"""DMARC aggregate reports received by mail: read from each reporter's packing, stored once, summed per domain.

The samples (tests/samples/dmarc/, built by make_messages.py there) follow the layouts Google (zip),
Microsoft (gzip, XML Schema namespaces declared), Yahoo (gzip sent as application/octet-stream) and a
DMARCbis reporter (plain XML in the dmarc-2.0 namespace) send.
"""

import gzip
import io
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.urls import reverse

from inbound.dmarc_reports import reading
from inbound.dmarc_reports.figures import domain_figures
from inbound.dmarc_reports.reading import ReportError, parse_report, reports_in_message, unpack
from inbound.dmarc_reports.services import handle_report_mail, is_report_address
from inbound.models import DmarcAggregateReport, DmarcReportRow, InboundMessage
from inbound.services.pipeline import process_inbound_messages
from inbound.services.reception import RecipientCheck, accept_message, check_recipient
from mailboxes.models import MailboxItem
from tests.factories import DomainFactory, UserFactory

SAMPLES = Path(__file__).parent.parent / "samples" / "dmarc"
MAILS = {
    "google_zip.eml": ("google.com", "14210917750388264921", 4, 461),
    "microsoft_gzip.eml": ("Enterprise Outlook", "9f2c61a04b7e4d0c8d1f3b5a6e7c8d90", 2, 124),
    "yahoo_octet_stream.eml": ("Yahoo", "1772496423.571044", 2, 76),
    "dmarcbis_plain_xml.eml": ("reports.mailhost.example", "example.org-1772409600-3", 1, 2),
}
MARCH_2 = datetime(2026, 3, 2, tzinfo=UTC)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def xml(name: str) -> bytes:
    return next(SAMPLES.glob(f"{name}!*.xml")).read_bytes()


def report_mail(payload: bytes, *, filename: str = "report.xml.gz", subtype: str = "gzip") -> bytes:
    message = EmailMessage()
    message["From"] = "noreply-dmarc-support@google.com"
    message["To"] = "dmarc-reports@example.org"
    message["Subject"] = "Report domain: example.org Submitter: google.com"
    message.set_content("This is an aggregate report.\n")
    message.add_attachment(payload, maintype="application", subtype=subtype, filename=filename)
    return message.as_bytes()


# --- reading ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MAILS)
def test_each_reporters_mail_reads_as_its_report(name):
    org_name, report_id, rows, messages = MAILS[name]

    (report,), problems = reports_in_message(sample(name))

    assert problems == []
    assert (report.org_name, report.report_id, report.domain) == (org_name, report_id, "example.org")
    assert report.date_begin == MARCH_2
    assert report.policy["p"] == "quarantine"
    assert (len(report.rows), sum(row.count for row in report.rows)) == (rows, messages)
    assert report.problems == []


def test_a_row_keeps_the_evaluated_policy_identifiers_and_raw_results():
    (report,), _ = reports_in_message(sample("microsoft_gzip.eml"))

    forwarded = report.rows[1]

    assert (forwarded.source_ip, forwarded.count, forwarded.disposition) == ("198.51.100.7", 4, "none")
    assert (forwarded.dkim, forwarded.spf, forwarded.dmarc_pass) == ("fail", "fail", False)
    assert (forwarded.header_from, forwarded.envelope_from, forwarded.envelope_to) == (
        "example.org", "lists.example", "fabrikam.example",
    )  # fmt: skip
    assert forwarded.reasons == [{"type": "local_policy", "comment": "arc=pass as.1.lists.example=pass"}]
    assert [(r.domain, r.selector, r.result) for r in forwarded.dkim_results] == [("example.org", "s2026", "fail")]
    assert [(r.domain, r.scope, r.result) for r in forwarded.spf_results] == [("lists.example", "mfrom", "pass")]


def test_an_ipv6_source_is_kept():
    (report,), _ = reports_in_message(sample("google_zip.eml"))

    assert report.rows[3].source_ip == "2001:db8::25"


def test_a_mail_without_a_report_gives_nothing():
    raw = b"From: a@example.org\r\nSubject: hello\r\n\r\nJust text.\r\n"

    assert reports_in_message(raw) == ([], [])


def test_a_message_with_two_reports_gives_both():
    message = EmailMessage()
    message["Subject"] = "two reports"
    message.set_content("two")
    message.add_attachment(gzip.compress(xml("yahoo.com")), maintype="application", subtype="gzip", filename="a.gz")
    message.add_attachment(xml("google.com"), maintype="application", subtype="xml", filename="b.xml")

    reports, problems = reports_in_message(message.as_bytes())

    assert [report.org_name for report in reports] == ["Yahoo", "google.com"]
    assert problems == []


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"PK\x03\x04 truncated zip", "broken zip"),
        (b"\x1f\x8b\x08\x00 truncated gzip", "broken gzip"),
        (b"%PDF-1.7 not a report", "neither XML, gzip nor zip"),
        (b"<feedback><report_metadata>", "not well-formed XML"),
        (b"<html><body>hi</body></html>", "not <feedback>"),
        (b"<feedback><report_metadata/></feedback>", "no report_metadata or policy_published"),
        (
            b"<feedback><report_metadata><org_name>x</org_name><report_id>1</report_id></report_metadata>"
            b"<policy_published><domain>example.org</domain></policy_published></feedback>",
            "no readable date_range",
        ),
    ],
)
def test_unreadable_attachments_are_problems_not_crashes(payload, why):
    reports, problems = reports_in_message(report_mail(payload))

    assert reports == []
    assert len(problems) == 1 and why in problems[0]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<feedback><report_metadata><org_name>&lol3;</org_name></report_metadata></feedback>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<feedback><report_metadata><org_name>&secret;</org_name></report_metadata></feedback>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_xml_with_a_dtd_is_refused(payload):
    with pytest.raises(ReportError, match="not well-formed XML: DTDForbidden"):
        parse_report(payload)


def test_a_gzip_bomb_is_cut_off_at_the_cap(monkeypatch):
    monkeypatch.setattr(reading, "MAX_XML_BYTES", 1024 * 1024)
    bomb = gzip.compress(b"<feedback>" + b" " * (4 * 1024 * 1024))

    with pytest.raises(ReportError, match="decompresses to more than"):
        unpack(bomb)


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_by_its_size(monkeypatch):
    monkeypatch.setattr(reading, "MAX_XML_BYTES", 1024 * 1024)

    with pytest.raises(ReportError, match="decompresses to more than"):
        unpack(zipped({"report.xml": b"\0" * (4 * 1024 * 1024)}))


def test_a_zip_of_many_files_is_refused():
    with pytest.raises(ReportError, match="zip with 11 files"):
        unpack(zipped({f"{n}.xml": b"<feedback/>" for n in range(11)}))


def test_a_zip_with_a_readme_beside_the_report_reads_the_xml():
    payload = zipped({"README.txt": b"hello", "report.xml": xml("google.com")})

    assert parse_report(unpack(payload)).org_name == "google.com"


def test_an_oversized_attachment_is_refused(monkeypatch):
    monkeypatch.setattr(reading, "MAX_ATTACHMENT_BYTES", 1000)

    with pytest.raises(ReportError, match="attachment larger than"):
        unpack(b"<" + b" " * 1000)


def test_damaged_records_are_skipped_and_noted():
    text = xml("yahoo.com").decode()
    text = text.replace("<count>55</count>", "<count>many</count>", 1)
    text = text.replace("<source_ip>203.0.113.66</source_ip>", "<source_ip>not-an-ip</source_ip>", 1)

    report = parse_report(text.encode())

    assert [(row.source_ip, row.count) for row in report.rows] == [(None, 21)]
    assert report.problems == ["a record with count 'many' skipped", "source_ip 'not-an-ip' is not an IP address"]


# --- routing and storing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("dmarc-reports@example.org", True),
        ("DMARC-Reports@Example.ORG", True),
        ("<dmarc-reports@example.org>", True),
        ("dmarc@example.org", False),
        ("alice@example.org", False),
        ("", False),
    ],
)
def test_report_addresses_follow_the_setting(address, expected):
    assert is_report_address(address) is expected


def test_report_addresses_can_be_configured(settings):
    settings.DMARC_REPORT_ADDRESSES = ["rua+*@example.org", "postmaster-dmarc@example.net"]

    assert is_report_address("rua+2026@example.org")
    assert is_report_address("postmaster-dmarc@example.net")
    assert not is_report_address("dmarc-reports@example.org")


@pytest.mark.django_db
def test_the_mx_accepts_the_report_address_of_a_hosted_domain_without_a_mailbox():
    DomainFactory(name="example.org")

    assert check_recipient("dmarc-reports@example.org") == RecipientCheck.ACCEPT
    assert check_recipient("dmarc-reports@elsewhere.example") == RecipientCheck.RELAY
    assert check_recipient("nobody@example.org") == RecipientCheck.UNKNOWN


def received(raw: bytes, *recipients: str) -> InboundMessage:
    job = accept_message(
        raw=raw, mail_from="bounce@google.com", rcpt_tos=list(recipients), client_ip="209.85.220.41", helo="google.com"
    )
    process_inbound_messages(job_ids=[job.pk])
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_a_report_mail_is_stored_and_not_placed_when_no_mailbox_has_the_address():
    DomainFactory(name="example.org")

    job = received(sample("google_zip.eml"), "dmarc-reports@example.org")

    assert job.status == InboundMessage.Status.REPORT
    report = DmarcAggregateReport.objects.get()
    assert (report.org_name, report.report_id, report.domain, report.inbound_message) == (
        "google.com", "14210917750388264921", "example.org", job,
    )  # fmt: skip
    assert report.policy_published == {"p": "quarantine", "sp": "quarantine", "np": "reject", "adkim": "r",
                                       "aspf": "r", "pct": "100"}  # fmt: skip
    assert sorted(report.rows.values_list("source_ip", "count")) == [
        ("192.0.2.10", 412), ("192.0.2.11", 37), ("2001:db8::25", 3), ("203.0.113.66", 9),
    ]  # fmt: skip
    row = report.rows.get(source_ip="192.0.2.10")
    assert row.auth_results["dkim"] == [{"domain": "example.org", "selector": "s2026", "result": "pass"}]
    assert MailboxItem.objects.count() == 0


@pytest.mark.django_db
def test_a_report_mail_to_an_address_a_mailbox_has_is_stored_and_delivered():
    postmaster = UserFactory(address="dmarc-reports@example.org")

    job = received(sample("yahoo_octet_stream.eml"), "dmarc-reports@example.org")

    assert job.status == InboundMessage.Status.DELIVERED
    assert DmarcAggregateReport.objects.get().org_name == "Yahoo"
    assert MailboxItem.objects.get().user == postmaster


@pytest.mark.django_db
def test_a_report_mail_copied_to_a_person_reaches_that_person(alice):
    DomainFactory(name="example.org")

    job = received(sample("microsoft_gzip.eml"), "dmarc-reports@example.org", "alice@example.test")

    assert job.status == InboundMessage.Status.DELIVERED
    assert DmarcAggregateReport.objects.count() == 1
    assert MailboxItem.objects.get().user == alice


@pytest.mark.django_db
def test_the_same_report_sent_twice_is_stored_once():
    DomainFactory(name="example.org")

    received(sample("google_zip.eml"), "dmarc-reports@example.org")
    second = received(sample("google_zip.eml"), "dmarc-reports@example.org")

    assert second.status == InboundMessage.Status.REPORT
    assert DmarcAggregateReport.objects.count() == 1
    assert DmarcReportRow.objects.count() == 4
    assert handle_report_mail(raw=sample("google_zip.eml")) == []


@pytest.mark.django_db
def test_a_broken_report_mail_is_finished_without_storing_anything(caplog):
    DomainFactory(name="example.org")

    job = received(report_mail(b"\x1f\x8b\x08\x00 truncated"), "dmarc-reports@example.org")

    assert job.status == InboundMessage.Status.REPORT
    assert DmarcAggregateReport.objects.count() == 0
    assert "broken gzip" in caplog.text


# --- figures --------------------------------------------------------------------------------------------


@pytest.fixture
def all_samples(db):
    for name in MAILS:
        handle_report_mail(raw=sample(name))


def test_figures_sum_every_report_of_the_domain_over_the_period(all_samples):
    figures = domain_figures(domain="example.org", since=MARCH_2, until=datetime(2026, 3, 3, tzinfo=UTC))

    assert (figures.reports, figures.messages) == (4, 663)
    assert (figures.dkim_aligned_pass, figures.spf_aligned_pass, figures.dmarc_pass) == (626, 592, 629)
    assert (figures.quarantined, figures.rejected) == (30, 0)
    assert round(figures.dmarc_pass_rate, 4) == round(629 / 663, 4)
    assert figures.top_failing_sources == [
        {"source_ip": "203.0.113.66", "messages": 30, "header_froms": 1},
        {"source_ip": "198.51.100.7", "messages": 4, "header_froms": 1},
    ]


def test_figures_leave_out_reports_outside_the_period_and_of_other_domains(all_samples):
    assert domain_figures(domain="example.org", since=datetime(2026, 3, 3, tzinfo=UTC),
                          until=datetime(2026, 4, 1, tzinfo=UTC)).messages == 0  # fmt: skip
    empty = domain_figures(domain="example.net", since=MARCH_2, until=datetime(2026, 3, 3, tzinfo=UTC))
    assert (empty.reports, empty.messages, empty.dmarc_pass_rate, empty.top_failing_sources) == (0, 0, None, [])


@pytest.fixture
def operator(db):
    return UserFactory(address="root@example.test", display_name="Operator", admin=True)


def test_admin_figures_page_shows_the_domains_figures(client, operator, all_samples):
    client.force_login(operator)
    url = reverse("admin:inbound_dmarcaggregatereport_figures")

    response = client.get(url, {"domain": "example.org", "since": "2026-03-01", "until": "2026-03-02"})

    assert response.status_code == 200
    page = response.content.decode()
    assert '<td id="dmarc-pass-rate">95 %</td>' in page  # 629 of 663
    assert "<td>203.0.113.66</td><td>30</td>" in page
    assert "<td>663</td>" in page
    assert client.get(url).status_code == 200  # the empty form
    changelist = client.get(reverse("admin:inbound_dmarcaggregatereport_changelist")).content.decode()
    assert url in changelist


def test_admin_figures_page_is_for_staff_only(client, alice):
    client.force_login(alice)

    response = client.get(reverse("admin:inbound_dmarcaggregatereport_figures"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_report_page_lists_its_rows_read_only(client, operator, all_samples):
    client.force_login(operator)
    report = DmarcAggregateReport.objects.get(org_name="Enterprise Outlook")

    response = client.get(reverse("admin:inbound_dmarcaggregatereport_change", args=[report.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "198.51.100.7" in page and "local_policy" in page
    assert client.post(reverse("admin:inbound_dmarcaggregatereport_change", args=[report.pk]), {}).status_code == 403
