"""Aggregate reports we send (RFC 7489 §7.2) about the mail our MX received, one a day per reporting domain.

What each message did is already kept: the pipeline stores every judged message's SPF, DKIM and DMARC
results (``InboundMessage.auth``) and its client IP, so no extra write per message is needed; the day's
rows are grouped here by From domain, source IP, disposition and results into the report's records.

A domain gets a report when its DMARC record (looked up again when the report is built, RFC 7489 §7.2:
"the policy as published") has a ``rua=`` with ``mailto:`` URIs. A destination outside the domain's
Organizational Domain must agree to receive it (§7.1: a ``v=DMARC1`` TXT record at
``<domain>._report._dmarc.<destination domain>``), and a ``!size`` limit is kept. The gzipped XML goes
out through the normal outbound queue (transactional stream, no sender user), From
``DMARC_REPORT_FROM``. A report sent for a domain and day is remembered (``DmarcReportSent``) and not
sent again, so the daily task can run twice.

Only messages whose DMARC evaluation found a policy (pass or fail) are reported; none, temperror and
permerror say nothing a domain owner can use.
"""

import gzip
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from xml.etree.ElementTree import Element, SubElement, tostring

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.addresses import split_address
from inbound.auth import dmarc
from inbound.auth.lookups import InvalidName, Lookups, TempError
from inbound.dmarc_models import DmarcReportSent
from inbound.models import InboundMessage
from mailboxes.compose import Composition, OutgoingAttachment, new_message_id, render
from mailboxes.models import Message
from mailboxes.services.store import store_message

logger = logging.getLogger(__name__)

_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass(frozen=True)
class RowKey:
    source_ip: str
    header_from: str
    disposition: str
    dkim_aligned: str  # pass or fail
    spf_aligned: str
    dkim: tuple[tuple[str, str, str], ...]  # (domain, selector, result)
    spf: tuple[str, str, str]  # (domain, scope, result)


def send_aggregate_reports(*, day: date) -> list[DmarcReportSent]:
    """Build and queue the reports for mail received on ``day`` (UTC); those queued now."""
    begin = datetime.combine(day, time.min, tzinfo=UTC)
    end = begin + timedelta(days=1)
    lookups = Lookups()
    by_policy: dict[str, tuple[dmarc.Discovery, Counter]] = {}
    for domain, rows in sorted(collect_rows(begin=begin, end=end).items()):
        try:
            discovery = dmarc.discover(lookups, domain)
        except TempError as exc:  # its DNS could not answer: the next run tries again
            logger.info("DMARC report for %s not sent: %s", domain, exc)
            continue
        if discovery is None or discovery.record.p is None or not discovery.record.rua:
            continue
        _, merged = by_policy.setdefault(discovery.found_at, (discovery, Counter()))
        merged.update(rows)  # subdomains governed by one record share its report
    sent = []
    for policy_domain, (discovery, rows) in sorted(by_policy.items()):
        if DmarcReportSent.objects.filter(domain=policy_domain, date_begin=begin).exists():
            continue
        try:
            kept = _send_for_domain(lookups, discovery=discovery, rows=rows, begin=begin, end=end)
        except TempError as exc:
            logger.info("DMARC report for %s not sent: %s", policy_domain, exc)
            continue
        if kept is not None:
            sent.append(kept)
    return sent


def collect_rows(*, begin: datetime, end: datetime) -> dict[str, Counter]:
    """Per From domain, how many messages fell in each ``RowKey``."""
    by_domain: dict[str, Counter] = {}
    jobs = InboundMessage.objects.filter(received_at__gte=begin, received_at__lt=end, processed_at__isnull=False)
    for client_ip, auth in jobs.values_list("client_ip", "auth").iterator(chunk_size=2000):
        key = _row_key(client_ip, auth)
        if key is not None:
            by_domain.setdefault(key.header_from, Counter())[key] += 1
    return by_domain


def _row_key(client_ip: str | None, auth) -> RowKey | None:
    if not client_ip or not isinstance(auth, dict):
        return None
    result = auth.get("dmarc") or {}
    domain = str(result.get("domain") or "")
    if result.get("result") not in ("pass", "fail") or not domain:
        return None
    spf = auth.get("spf") or {}
    dkim = [entry for entry in auth.get("dkim") or [] if entry.get("domain")]
    org = dmarc.organizational_domain(domain)
    spf_domain = str(spf.get("domain") or "")
    spf_aligned = spf.get("result") == "pass" and spf_domain and dmarc.organizational_domain(spf_domain) == org
    dkim_aligned = any(
        entry.get("result") == "pass" and dmarc.organizational_domain(str(entry["domain"])) == org for entry in dkim
    )
    return RowKey(
        source_ip=client_ip,
        header_from=domain,
        disposition=str(result.get("disposition") or "none"),
        dkim_aligned="pass" if dkim_aligned else "fail",
        spf_aligned="pass" if spf_aligned else "fail",
        dkim=tuple((str(e["domain"]), str(e.get("selector") or ""), str(e.get("result") or "")) for e in dkim[:5]),
        spf=(spf_domain, "helo" if spf.get("scope") == "helo" else "mfrom", str(spf.get("result") or "none")),
    )


def _send_for_domain(
    lookups: Lookups, *, discovery: dmarc.Discovery, rows: Counter, begin: datetime, end: datetime
) -> DmarcReportSent | None:
    record = discovery.record
    report_id = f"{discovery.found_at}.{int(begin.timestamp())}@{settings.MAIL_HOSTNAME}"
    xml = build_report_xml(
        report_id=report_id, policy_domain=discovery.found_at, record=record, rows=rows, begin=begin, end=end
    )
    payload = gzip.compress(xml, mtime=int(end.timestamp()))
    destinations = [
        address for uri in record.rua if (address := _destination(lookups, uri, discovery.found_at, len(payload)))
    ]
    if not destinations:
        return None
    filename = f"{settings.MAIL_HOSTNAME}!{discovery.found_at}!{int(begin.timestamp())}!{int(end.timestamp()) - 1}"
    composition = Composition(
        from_name="DMARC Aggregate Report",
        from_address=_report_from(),
        to=[("", address) for address in destinations],
        subject=f"Report Domain: {discovery.found_at} Submitter: {settings.MAIL_HOSTNAME} Report-ID: <{report_id}>",
        text=f"DMARC aggregate report for {discovery.found_at} from {settings.MAIL_HOSTNAME}, "
        f"{begin:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC.\n",
        attachments=[OutgoingAttachment(f"{filename}.xml.gz", "application/gzip", payload)],
        message_id=new_message_id(_report_from()),
    )
    from delivery.services.submission import enqueue_recipients  # delivery imports inbound: import here

    try:
        with transaction.atomic():
            raw = render(composition, date=end, include_bcc=False)
            message, _ = store_message(raw=raw, status=Message.Status.QUEUED, stream=Message.Stream.TRANSACTIONAL)
            kept = DmarcReportSent.objects.create(
                domain=discovery.found_at,
                date_begin=begin,
                report_id=report_id,
                message=message,
                destinations=destinations,
            )
            enqueue_recipients(message=message, composition=composition)
    except IntegrityError:  # another run sent it meanwhile
        return None
    return kept


def _report_from() -> str:
    return getattr(settings, "DMARC_REPORT_FROM", "") or f"dmarc-noreply@{settings.MAIL_HOSTNAME}"


def _destination(lookups: Lookups, uri: str, policy_domain: str, size: int) -> str | None:
    """The mailto: address of a ``rua`` URI we may send this report to, or None (§7.1, §6.4 ``!size``)."""
    if not uri.lower().startswith("mailto:"):
        return None  # only mail is a transport reporters use
    address, _, limit = uri[len("mailto:") :].partition("!")
    if limit and size > _limit_bytes(limit):
        logger.info("DMARC report for %s is larger than %s allows", policy_domain, uri)
        return None
    address = address.split("?", 1)[0]
    destination_domain = split_address(address)[1].lower()
    if not destination_domain:
        return None
    outside = dmarc.organizational_domain(destination_domain) != dmarc.organizational_domain(policy_domain)
    if outside and not _destination_agrees(lookups, policy_domain, destination_domain):
        logger.info("%s does not agree to receive DMARC reports for %s", destination_domain, policy_domain)
        return None
    return address


def _destination_agrees(lookups: Lookups, policy_domain: str, destination_domain: str) -> bool:
    try:
        texts = lookups.txt(f"{policy_domain}._report._dmarc.{destination_domain}")
    except InvalidName:
        return False
    return any(text.decode("utf-8", "replace").replace(" ", "").startswith("v=DMARC1") for text in texts)


def _limit_bytes(limit: str) -> int:
    limit = limit.strip().lower()
    digits, unit = (limit[:-1], limit[-1]) if limit and limit[-1] in _SIZE_UNITS else (limit, "")
    return int(digits) * _SIZE_UNITS[unit] if digits.isdigit() else 0


def build_report_xml(
    *, report_id: str, policy_domain: str, record: dmarc.Record, rows: Counter, begin: datetime, end: datetime
) -> bytes:
    """The report's XML (RFC 7489 appendix C), records ordered by most messages first."""
    feedback = Element("feedback")
    SubElement(feedback, "version").text = "1.0"
    metadata = SubElement(feedback, "report_metadata")
    SubElement(metadata, "org_name").text = settings.MAIL_HOSTNAME
    SubElement(metadata, "email").text = _report_from()
    SubElement(metadata, "report_id").text = report_id
    date_range = SubElement(metadata, "date_range")
    SubElement(date_range, "begin").text = str(int(begin.timestamp()))
    SubElement(date_range, "end").text = str(int(end.timestamp()) - 1)
    published = SubElement(feedback, "policy_published")
    SubElement(published, "domain").text = policy_domain
    SubElement(published, "adkim").text = record.adkim
    SubElement(published, "aspf").text = record.aspf
    SubElement(published, "p").text = record.p
    SubElement(published, "sp").text = record.sp
    if record.np:
        SubElement(published, "np").text = record.np
    SubElement(published, "pct").text = str(record.pct)
    for key, count in sorted(rows.items(), key=lambda item: (-item[1], item[0].source_ip)):
        entry = SubElement(feedback, "record")
        row = SubElement(entry, "row")
        SubElement(row, "source_ip").text = key.source_ip
        SubElement(row, "count").text = str(count)
        evaluated = SubElement(row, "policy_evaluated")
        SubElement(evaluated, "disposition").text = key.disposition
        SubElement(evaluated, "dkim").text = key.dkim_aligned
        SubElement(evaluated, "spf").text = key.spf_aligned
        identifiers = SubElement(entry, "identifiers")
        SubElement(identifiers, "header_from").text = key.header_from
        results = SubElement(entry, "auth_results")
        for domain, selector, result in key.dkim:
            dkim = SubElement(results, "dkim")
            SubElement(dkim, "domain").text = domain
            if selector:
                SubElement(dkim, "selector").text = selector
            SubElement(dkim, "result").text = result
        spf = SubElement(results, "spf")
        SubElement(spf, "domain").text = key.spf[0]
        SubElement(spf, "scope").text = key.spf[1]
        SubElement(spf, "result").text = key.spf[2]
    return tostring(feedback, encoding="utf-8", xml_declaration=True)
