"""Reading DMARC aggregate reports (RFC 7489 §7.2 and appendix C) out of the mail that carries them.

Reporters attach one XML file, plain, gzipped (``.xml.gz``, Microsoft, Yahoo) or zipped (``.zip``, Google),
labelled ``text/xml``, ``application/gzip``, ``application/zip`` or plain ``application/octet-stream``: the
format is told by the bytes (gzip and zip magic, ``<`` of XML), not by the label. Everything here is
hostile input: the XML parser refuses DTDs and entities (defusedxml), and every size is capped before it is
read (the attachment, what it decompresses to, the members of a zip, the records of a report), so a zip
bomb or a billion laughs costs a few megabytes at most. Readers never raise on bad input: what cannot be
read is returned as a list of problems.
"""

import gzip
import io
import ipaddress
import logging
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

logger = logging.getLogger(__name__)

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # as it arrives (compressed)
MAX_XML_BYTES = 50 * 1024 * 1024  # decompressed: a day of a big sender's mail is a few MB
MAX_ZIP_MEMBERS = 10
MAX_PARTS = 50
MAX_RECORDS = 100_000
MAX_TEXT = 255  # a field stored as text: longer values are cut

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_REPORT_SUFFIXES = (".xml", ".gz", ".gzip", ".zip")
_REPORT_TYPES = {
    "text/xml", "application/xml", "application/gzip", "application/x-gzip", "application/zip",
    "application/x-zip-compressed", "application/x-zip", "application/octet-stream",
}  # fmt: skip


@dataclass
class AuthResult:
    domain: str
    result: str
    selector: str = ""  # DKIM
    scope: str = ""  # SPF: mfrom or helo


@dataclass
class ReportRow:
    source_ip: str | None
    count: int
    disposition: str  # none, quarantine, reject
    dkim: str  # DMARC-aligned DKIM: pass or fail
    spf: str  # DMARC-aligned SPF: pass or fail
    header_from: str
    envelope_from: str = ""
    envelope_to: str = ""
    reasons: list[dict] = field(default_factory=list)  # policy overrides: [{"type": ..., "comment": ...}]
    dkim_results: list[AuthResult] = field(default_factory=list)
    spf_results: list[AuthResult] = field(default_factory=list)

    @property
    def dmarc_pass(self) -> bool:
        return self.dkim == "pass" or self.spf == "pass"


@dataclass
class AggregateReport:
    org_name: str
    report_id: str
    email: str
    date_begin: datetime
    date_end: datetime
    domain: str  # policy_published
    policy: dict  # p, sp, np, adkim, aspf, pct, fo as published
    rows: list[ReportRow]
    problems: list[str] = field(default_factory=list)  # what was skipped while reading


class ReportError(Exception):
    """Not an aggregate report, or one too damaged to keep."""


def reports_in_message(raw: bytes) -> tuple[list[AggregateReport], list[str]]:
    """The aggregate reports a message carries and, for each attachment that could not be read, why."""
    reports, problems = [], []
    for name, payload in _candidate_parts(raw):
        try:
            reports.append(parse_report(unpack(payload)))
        except ReportError as exc:
            problems.append(f"{name or 'unnamed part'}: {exc}")
        except Exception as exc:  # a case these readers did not foresee: the mail is still delivered
            logger.exception("reading a DMARC report attachment failed")
            problems.append(f"{name or 'unnamed part'}: unreadable ({exc.__class__.__name__})")
    return reports, problems


def _candidate_parts(raw: bytes) -> list[tuple[str, bytes]]:
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception:  # the email package on hostile input
        return []
    found = []
    for count, part in enumerate(message.walk()):
        if count >= MAX_PARTS:
            break
        if part.is_multipart():
            continue
        try:
            name = part.get_filename() or ""
            content_type = part.get_content_type()
        except Exception:
            name, content_type = "", "application/octet-stream"
        if content_type not in _REPORT_TYPES and not name.lower().endswith(_REPORT_SUFFIXES):
            continue
        try:
            payload = part.get_payload(decode=True) or b""
        except Exception:  # a transfer encoding the email package cannot undo: nothing to read there
            payload = b""
        if payload:
            found.append((name[:200], payload))
    return found


def unpack(payload: bytes) -> bytes:
    """The XML inside an attachment: gunzipped, unzipped or as it is; ``ReportError`` past the size caps."""
    if len(payload) > MAX_ATTACHMENT_BYTES:
        raise ReportError(f"attachment larger than {MAX_ATTACHMENT_BYTES} bytes")
    if payload.startswith(_GZIP_MAGIC):
        return _gunzip(payload)
    if payload.startswith(_ZIP_MAGIC):
        return _unzip(payload)
    if payload.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return payload
    raise ReportError("neither XML, gzip nor zip")


def _gunzip(payload: bytes) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(payload)) as stream:
            data = stream.read(MAX_XML_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ReportError(f"broken gzip: {exc}") from exc
    if len(data) > MAX_XML_BYTES:
        raise ReportError(f"decompresses to more than {MAX_XML_BYTES} bytes")
    return data


def _unzip(payload: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if not members or len(members) > MAX_ZIP_MEMBERS:
                raise ReportError(f"zip with {len(members)} files")
            chosen = next((info for info in members if info.filename.lower().endswith(".xml")), members[0])
            if chosen.file_size > MAX_XML_BYTES:  # what it says; what it gives is capped below too
                raise ReportError(f"decompresses to more than {MAX_XML_BYTES} bytes")
            with archive.open(chosen) as stream:
                data = stream.read(MAX_XML_BYTES + 1)
    except ReportError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        raise ReportError(f"broken zip: {exc}") from exc
    except RuntimeError as exc:  # an encrypted member
        raise ReportError(f"unreadable zip: {exc}") from exc
    if len(data) > MAX_XML_BYTES:
        raise ReportError(f"decompresses to more than {MAX_XML_BYTES} bytes")
    return data


def parse_report(xml: bytes) -> AggregateReport:
    """An aggregate report from its XML (any namespace: RFC 7489's has none, DMARCbis's has one)."""
    try:
        root = fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise ReportError(f"not well-formed XML: {exc.__class__.__name__}: {str(exc)[:120]}") from exc
    _strip_namespaces(root)
    if root.tag != "feedback":
        raise ReportError(f"the root element is <{root.tag[:40]}>, not <feedback>")
    metadata = root.find("report_metadata")
    published = root.find("policy_published")
    if metadata is None or published is None:
        raise ReportError("no report_metadata or policy_published")
    org_name, report_id = _text(metadata, "org_name"), _text(metadata, "report_id")
    domain = _text(published, "domain").lower().rstrip(".")
    if not (org_name and report_id and domain):
        raise ReportError("no org_name, report_id or published domain")
    problems: list[str] = []
    begin = _timestamp(_text(metadata, "date_range/begin"))
    end = _timestamp(_text(metadata, "date_range/end"))
    if begin is None or end is None:
        raise ReportError("no readable date_range")
    rows = []
    for index, record in enumerate(root.iterfind("record")):
        if index >= MAX_RECORDS:
            problems.append(f"records past the first {MAX_RECORDS} skipped")
            break
        row = _row(record, problems)
        if row is not None:
            rows.append(row)
    policy_tags = ("p", "sp", "np", "adkim", "aspf", "pct", "fo")
    return AggregateReport(
        org_name=org_name,
        report_id=report_id,
        email=_text(metadata, "email"),
        date_begin=min(begin, end),
        date_end=max(begin, end),
        domain=domain,
        policy={tag: _text(published, tag).lower() for tag in policy_tags if _text(published, tag)},
        rows=rows,
        problems=problems,
    )


def _row(record: Element, problems: list[str]) -> ReportRow | None:
    row = record.find("row")
    if row is None:
        problems.append("a record without <row> skipped")
        return None
    count_text = _text(row, "count")
    if not count_text.isdigit():
        problems.append(f"a record with count {count_text[:20]!r} skipped")
        return None
    source_ip = _text(row, "source_ip")
    try:
        source_ip = str(ipaddress.ip_address(source_ip))
    except ValueError:
        problems.append(f"source_ip {source_ip[:50]!r} is not an IP address")
        source_ip = None
    reasons = [
        {"type": _text(reason, "type")[:MAX_TEXT], "comment": _text(reason, "comment")[:MAX_TEXT]}
        for reason in row.iterfind("policy_evaluated/reason")
    ]
    return ReportRow(
        source_ip=source_ip,
        count=min(int(count_text), 2**62),
        disposition=_text(row, "policy_evaluated/disposition").lower() or "none",
        dkim=_text(row, "policy_evaluated/dkim").lower(),
        spf=_text(row, "policy_evaluated/spf").lower(),
        header_from=_text(record, "identifiers/header_from").lower(),
        envelope_from=_text(record, "identifiers/envelope_from").lower(),
        envelope_to=_text(record, "identifiers/envelope_to").lower(),
        reasons=reasons[:10],
        dkim_results=[
            AuthResult(_text(e, "domain").lower(), _text(e, "result").lower(), selector=_text(e, "selector"))
            for e in record.iterfind("auth_results/dkim")
        ][:10],
        spf_results=[
            AuthResult(_text(e, "domain").lower(), _text(e, "result").lower(), scope=_text(e, "scope").lower())
            for e in record.iterfind("auth_results/spf")
        ][:10],
    )


def _strip_namespaces(root: Element) -> None:
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.rsplit("}", 1)[1]


def _text(element: Element, path: str) -> str:
    found = element.find(path)
    if found is None or found.text is None:
        return ""
    return " ".join(found.text.split())[:MAX_TEXT]


def _timestamp(text: str) -> datetime | None:
    """Seconds since the epoch (what the schema says); a few reporters write a fraction."""
    try:
        seconds = float(text)
    except ValueError:
        return None
    if not 0 <= seconds < 32503680000:  # before the year 3000
        return None
    return datetime.fromtimestamp(int(seconds), tz=UTC)
