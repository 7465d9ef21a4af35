"""CSV import of contacts: upload, column mapping, a batched run with a report.

1. ``upload_contact_import`` stores the file (default storage, ``ContactImport.blob_key``),
   detects its encoding and delimiter, refuses what is not a CSV of contacts,
   and keeps the header and five rows with a guessed column mapping.
2. ``start_contact_import`` takes the marketer's mapping and queues the task.
3. ``run_contact_import`` (the task) claims the import with a conditional UPDATE,
   then reads the file in batches of ``CONTACT_IMPORT_BATCH_SIZE`` rows: one
   upsert of contacts and one insert of memberships per batch, ``processed_rows``
   updated as it goes (the page's progress bar).

Nothing wrong is imported silently: every row that is not imported, or
imported but not put on the list, is counted in the report with a reason, a
sample of 100 is kept in it and all of them go into a CSV for download.
"""

import codecs
import csv
import io
import logging
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.addresses import InvalidAddress
from campaigns.models import Contact, ContactImport, ContactList, ListMembership
from campaigns.services import contacts as contact_values
from campaigns.services.consent import CONSENT_FIELDS
from campaigns.services.double_opt_in import send_confirmations
from core.lookups import any_of
from delivery.services.suppression import Sending, refusing_entries
from mailboxes.models import Message
from webmail.celery import BROKER_ERRORS
from webmail.errors import NotFound, UserError

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 5
SAMPLE_REFUSED = 100
_HEAD_BYTES = 64 * 1024
_CHUNK = 1024 * 1024

ENCODING_LABELS = {
    "utf-8": gettext_lazy("UTF-8"),
    "utf-8-sig": gettext_lazy("UTF-8 with byte order mark"),
    "utf-16": gettext_lazy("UTF-16 with byte order mark"),
    "cp1252": gettext_lazy("Windows-1252 (Western European)"),
    "latin-1": gettext_lazy("Latin-1 (ISO 8859-1)"),
}
DELIMITER_LABELS = {",": gettext_lazy("comma"), ";": gettext_lazy("semicolon"), "\t": gettext_lazy("tab")}

FIELDS = {
    "email": gettext_lazy("Email address"),
    "name": gettext_lazy("Name"),
    "first_name": gettext_lazy("First name"),
    "last_name": gettext_lazy("Last name"),
    "locale": gettext_lazy("Language"),
    "consent": gettext_lazy("Consent (yes/no)"),
    "tracking_consent": gettext_lazy("Tracking consent (yes/no)"),
    "attribute": gettext_lazy("Attribute"),
    "ignore": gettext_lazy("Ignore"),
}

# Why a row was refused, or imported but kept off the list.
REASONS = {
    "invalid_address": gettext_lazy("Not a valid email address: not imported."),
    "duplicate": gettext_lazy("The same address is on an earlier row: not imported again."),
    "role_account": gettext_lazy(
        "A role address (postmaster@, info@, noreply@…) reaches a team, not a person: not imported."
    ),
    "invalid_value": gettext_lazy("A value of this row is not valid: not imported."),
    "suppressed": gettext_lazy("On the suppression list: contact saved, not added to the list."),
    "missing_consent": gettext_lazy("No consent recorded: contact saved, not added to the list."),
    "unsubscribed": gettext_lazy("Unsubscribed or opted out before: contact saved, not added to the list again."),
}  # fmt: skip
COUNTS = [
    "created", "updated", "added", "pending", "already_on_list",
    "invalid_address", "duplicate", "role_account", "invalid_value", "suppressed", "missing_consent", "unsubscribed",
]  # fmt: skip

# Magic numbers of what people upload by mistake, and how to say so.
_NOT_CSV = [
    (b"\x89PNG\r\n\x1a\n", gettext_lazy("This is a PNG image, not a CSV file.")),
    (b"\xff\xd8\xff", gettext_lazy("This is a JPEG image, not a CSV file.")),
    (b"GIF8", gettext_lazy("This is a GIF image, not a CSV file.")),
    (b"%PDF", gettext_lazy("This is a PDF document, not a CSV file.")),
    (b"\xd0\xcf\x11\xe0", gettext_lazy("This is an old Excel or Office file: save it as CSV (UTF-8) and upload that.")),
    (b"\x1f\x8b", gettext_lazy("This is a compressed (gzip) file: upload the CSV inside it.")),
]
_HEADER_GUESSES = {
    "email": {"email", "emailaddress", "mail", "emails", "address", "邮箱", "电子邮件", "邮件地址", "courriel"},
    "name": {"name", "fullname", "displayname", "contactname", "姓名", "名称"},
    "first_name": {"firstname", "givenname", "first", "forename", "prenom", "名"},
    "last_name": {"lastname", "surname", "familyname", "last", "nom", "姓"},
    "locale": {"locale", "language", "lang", "语言"},
    "consent": {"consent", "optin", "optedin", "gdprconsent", "subscribed", "同意"},
    "tracking_consent": {"trackingconsent", "tracking", "trackingoptin", "allowtracking", "跟踪同意"},
}


class NotCsv(UserError):
    code = "not_csv"


class FileTooLarge(UserError):
    code = "file_too_large"
    status = 413


def import_storage():
    return storages["default"]


# --- inspecting an upload --------------------------------------------------------------


@dataclass
class Inspection:
    encoding: str
    delimiter: str
    has_header: bool
    header: list[str]
    sample: list[list[str]]
    total_rows: int
    columns: list[dict] = field(default_factory=list)


def inspect_csv(stream) -> Inspection:
    """What an uploaded file is: encoding, delimiter, header, five rows, row count, guessed mapping.

    ``stream`` is a binary file object; it is read twice (the encoding is
    decided over the whole file: a cp1252 "é" on row 90,000 must not break the run).
    """
    stream.seek(0)
    head = stream.read(_HEAD_BYTES)
    if not head.strip(b" \t\r\n\xef\xbb\xbf\xff\xfe\x00"):
        raise NotCsv(_("The file is empty."), field="file")
    for magic, message in _NOT_CSV:
        if head.startswith(magic):
            raise NotCsv(str(message), field="file")
    if head.startswith(b"PK\x03\x04"):
        if b"[Content_Types].xml" in head or b"xl/" in head:
            raise NotCsv(_("This is an Excel workbook (.xlsx): save it as CSV (UTF-8) and upload that."), field="file")
        raise NotCsv(_("This is a zip archive, not a CSV file."), field="file")
    encoding = _detect_encoding(stream, head)
    if encoding != "utf-16" and b"\x00" in head:
        raise NotCsv(_("This file holds binary data, not text: it is not a CSV file."), field="file")
    sample_text = _decoded_head(head, encoding)
    delimiter = _detect_delimiter(sample_text)
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        rows = (row for row in csv.reader(text, delimiter=delimiter) if any(cell.strip() for cell in row))
        first = next(rows, None)
        if first is None:
            raise NotCsv(_("The file is empty."), field="file")
        sample = list(islice(rows, PREVIEW_ROWS))
        total = len(sample) + sum(1 for _row in rows)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise NotCsv(_("This file cannot be read as CSV: %(error)s") % {"error": exc}, field="file") from exc
    finally:
        text.detach()  # leave the caller's stream open
    has_header = not any(_looks_like_address(cell) for cell in first)
    if has_header:
        header = [cell.strip() for cell in first]
    else:
        sample, total = [first, *sample][:PREVIEW_ROWS], total + 1
        header = [_("Column %(n)d") % {"n": n} for n in range(1, len(first) + 1)]
    if not total:
        raise NotCsv(_("The file has a header row but no contacts."), field="file")
    columns = guess_columns(header, sample, has_header=has_header)
    if not any(column["field"] == "email" for column in columns):
        raise NotCsv(
            _("No column of this file holds email addresses: is it a CSV file of contacts with a header row?"),
            field="file",
        )
    return Inspection(
        encoding=encoding, delimiter=delimiter, has_header=has_header, header=header, sample=sample,
        total_rows=total, columns=columns,
    )  # fmt: skip


def _detect_encoding(stream, head: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; else cp1252, and latin-1 when even cp1252 fails."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        if _decodes_as(stream, encoding):
            return encoding
    return "latin-1"  # every byte is a latin-1 character


def _decodes_as(stream, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    stream.seek(0)
    try:
        while chunk := stream.read(_CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _decoded_head(head: bytes, encoding: str) -> str:
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)
    cut = max(text.rfind("\n"), text.rfind("\r"))
    return text[:cut] if cut > 0 and len(head) == _HEAD_BYTES else text


def _detect_delimiter(sample: str) -> str:
    first_line = sample.splitlines()[0] if sample else ""
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ""
    if delimiter and (delimiter in first_line or not any(c in first_line for c in ",;\t")):
        return delimiter
    # The sniffer gave up (one column) or chose a character the header does not use.
    counts = {candidate: first_line.count(candidate) for candidate in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _looks_like_address(value: str) -> bool:
    value = (value or "").strip()
    if "@" not in value or " " in value:
        return False
    try:
        contact_values.normalize_contact_address(value)
    except InvalidAddress:
        return False
    return True


def _header_key(header: str) -> str:
    return re.sub(r"[\s_\-.]+", "", header.strip().lower())


def guess_columns(header: list[str], sample: list[list[str]], *, has_header: bool) -> list[dict]:
    """A mapping per column: by its header (email, e-mail, First Name, 姓名…), else by its values."""
    columns, taken = [], set()
    for index, title in enumerate(header):
        values = [row[index].strip() for row in sample if index < len(row) and row[index].strip()]
        key = _header_key(title) if has_header else ""
        guess = next((name for name, keys in _HEADER_GUESSES.items() if key in keys and name not in taken), None)
        if guess is None and "email" not in taken and values and all(_looks_like_address(v) for v in values):
            guess = "email"
        attribute = contact_values.attribute_name_from_header(title) if has_header else ""
        if guess is None:
            guess = "attribute" if attribute else "ignore"
        taken.add(guess)
        value_type = _guess_type(values) if guess == "attribute" else "string"
        columns.append({"header": title, "field": guess, "attribute": attribute, "type": value_type})
    return columns


def _guess_type(values: list[str]) -> str:
    for kind in ("number", "boolean", "date"):
        try:
            if values and all(contact_values.parse_typed_value(kind, v) is not None for v in values):
                return kind
        except UserError:
            continue
    return "string"


# --- upload, mapping, start ------------------------------------------------------------


def upload_contact_import(*, workspace, user, file, contact_list_id=None) -> ContactImport:
    """Store an uploaded CSV and inspect it (``NotCsv``, ``FileTooLarge``); the import waits for its mapping."""
    if file.size > settings.CONTACT_IMPORT_MAX_BYTES:
        limit = settings.CONTACT_IMPORT_MAX_BYTES // (1024 * 1024)
        raise FileTooLarge(_("The file is larger than %(limit)d MB.") % {"limit": limit}, field="file")
    contact_list = _list_of(workspace, contact_list_id)
    inspection = inspect_csv(file)
    file.seek(0)
    key = import_storage().save(f"contact-imports/{workspace.pk}/{uuid.uuid4().hex}.csv", File(file))
    return ContactImport.objects.create(
        domain=workspace,
        contact_list=contact_list,
        created_by=user,
        filename=(getattr(file, "name", "") or "contacts.csv")[:255],
        blob_key=key,
        encoding=inspection.encoding,
        total_rows=inspection.total_rows,
        mapping={
            "delimiter": inspection.delimiter,
            "has_header": inspection.has_header,
            "header": inspection.header,
            "sample": inspection.sample,
            "columns": inspection.columns,
            "consent": {"given": False, "source": ""},
        },
    )


def _list_of(workspace, contact_list_id) -> ContactList | None:
    if not contact_list_id:
        return None
    contact_list = ContactList.objects.filter(domain=workspace, pk=contact_list_id).first()
    if contact_list is None:
        raise NotFound(_("No such list."))
    return contact_list


def get_contact_import(*, workspace, import_id) -> ContactImport:
    contact_import = ContactImport.objects.filter(domain=workspace, pk=import_id).select_related("contact_list").first()
    if contact_import is None:
        raise NotFound(_("No such import."))
    return contact_import


def start_contact_import(
    *,
    workspace,
    import_id,
    columns: list[dict],
    contact_list_id=None,
    consent_given: bool = False,
    consent_source: str = "",
) -> ContactImport:
    """Save the mapping (one email column; attribute names valid and distinct) and queue the run, once."""
    with transaction.atomic():
        contact_import = get_contact_import(workspace=workspace, import_id=import_id)
        if contact_import.status != ContactImport.Status.UPLOADED:
            return contact_import  # started already (a second click)
        cleaned = _clean_columns(columns, header=contact_import.mapping["header"])
        consent_source = contact_values.clean_name(consent_source, field="consent_source")
        if consent_given and not consent_source:
            raise UserError(_("Say how these people gave their consent (the source)."), field="consent_source")
        contact_import.contact_list = _list_of(workspace, contact_list_id)
        contact_import.mapping = {
            **contact_import.mapping,
            "columns": cleaned,
            "consent": {"given": consent_given, "source": consent_source},
        }
        contact_import.status = ContactImport.Status.QUEUED
        contact_import.save(update_fields=["contact_list", "mapping", "status"])
        transaction.on_commit(lambda: _dispatch(contact_import.pk))
    return contact_import


def _clean_columns(columns: list[dict], *, header: list[str]) -> list[dict]:
    if len(columns) != len(header):
        raise UserError(_("Map every column of the file."), field="columns")
    cleaned, attributes = [], set()
    for title, column in zip(header, columns, strict=True):
        kind = column.get("field", "ignore")
        if kind not in FIELDS:
            raise UserError(_("Unknown field %(field)s.") % {"field": kind}, field="columns")
        attribute, value_type = (column.get("attribute") or "").strip(), column.get("type") or "string"
        if kind == "attribute":
            contact_values.clean_attributes({attribute: None})  # the name's rules, with the usual message
            if value_type not in contact_values.ATTRIBUTE_TYPES:
                raise UserError(_("Unknown attribute type %(kind)s.") % {"kind": value_type}, field="columns")
            if attribute in attributes:
                raise UserError(_("Two columns are the attribute %(name)s.") % {"name": attribute}, field="columns")
            attributes.add(attribute)
        cleaned.append({"header": title, "field": kind, "attribute": attribute, "type": value_type})
    singles = [c["field"] for c in cleaned if c["field"] not in ("attribute", "ignore")]
    if singles.count("email") != 1:
        raise UserError(_("Choose exactly one column of email addresses."), field="columns")
    if len(singles) != len(set(singles)):
        raise UserError(_("Each field can come from one column only."), field="columns")
    return cleaned


def _dispatch(import_id: int) -> None:
    from campaigns.tasks import run_contact_import_task

    try:
        run_contact_import_task.delay(import_id)
    except BROKER_ERRORS:
        logger.warning("broker unreachable: contact import %s stays queued", import_id, exc_info=True)


def redispatch_queued_imports(*, limit: int = 100) -> int:
    """Dispatch again the imports still queued (the broker was down at their start, or the task was lost)
    and those whose worker died (``run_contact_import``).

    Harmless for one whose task is only waiting in the queue: the run's claim
    lets one of the two tasks do the work.
    """
    ids = list(ContactImport.objects.filter(_claimable(timezone.now())).values_list("pk", flat=True)[:limit])
    for import_id in ids:
        _dispatch(import_id)
    return len(ids)


# --- the run ---------------------------------------------------------------------------


class LeaseLost(Exception):
    """Another run took the import over (this one was presumed dead): stop without writing the outcome."""


def _claimable(at: datetime) -> Q:
    """Queued, or running under a lease that ran out (its worker died: the batches stopped renewing it)."""
    running = ContactImport.Status.RUNNING
    return Q(status=ContactImport.Status.QUEUED) | Q(status=running, lease_expires_at__lt=at)


def run_contact_import(*, import_id: int, now: datetime | None = None) -> bool:
    """Import a queued file; False when another run has it (or had it): a task run twice imports once.

    The run holds a lease that each batch renews. A run whose worker died
    (the import stays "running" and its lease runs out) is taken over by the
    next dispatch, which starts again from the first row: contacts and
    memberships are upserts, so nothing is written twice (rows the dead run
    had written count as updated).
    """
    token = uuid.uuid4().hex
    claimed = (
        ContactImport.objects.filter(pk=import_id)
        .filter(_claimable(timezone.now()))
        .update(status=ContactImport.Status.RUNNING, processed_rows=0, lease_token=token, lease_expires_at=_lease_end())
    )
    if not claimed:
        return False
    contact_import = ContactImport.objects.select_related("domain", "contact_list", "created_by").get(pk=import_id)
    try:
        _Importer(contact_import, now=now or timezone.now(), token=token).run()
    except LeaseLost:
        logger.warning("contact import %s: another run took it over", import_id)
        return False
    except Exception as exc:
        logger.exception("contact import %s failed", import_id)
        ContactImport.objects.filter(pk=import_id, lease_token=token).update(
            status=ContactImport.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    return True


def _lease_end() -> datetime:
    return timezone.now() + timedelta(seconds=settings.CONTACT_IMPORT_LEASE_SECONDS)


@dataclass
class _Row:
    number: int
    cells: list[str]
    address: str = ""
    name: str | None = None
    locale: str | None = None
    consent: bool | None = None
    tracking_consent: bool | None = None
    attributes: dict = field(default_factory=dict)


class _Importer:
    """One run: reads the rows, writes them batch by batch, keeps the report."""

    def __init__(self, contact_import: ContactImport, *, now: datetime, token: str):
        self.contact_import, self.now, self.token = contact_import, now, token
        self.workspace, self.contact_list = contact_import.domain, contact_import.contact_list
        mapping = contact_import.mapping
        self.columns, self.consent = mapping["columns"], mapping.get("consent", {})
        self.source = f"import #{contact_import.pk}"
        self.seen: set[str] = set()
        self.counts = dict.fromkeys(COUNTS, 0)
        self.sample: list[dict] = []
        self.refused_total = 0
        # All refused rows, on disk as they come (there may be 100,000 of them); with a BOM, so that
        # a spreadsheet opens it as UTF-8.
        self.refused_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by run()
        self.refused = io.TextIOWrapper(self.refused_file, encoding="utf-8-sig", newline="")
        self.refused_writer = csv.writer(self.refused)
        self.refused_writer.writerow(["row", "reason", *mapping["header"]])

    def run(self) -> None:
        processed = 0
        with self.refused:
            for batch in self._batches():
                self._write_batch(batch)
                processed += len(batch)
                if not self._held().update(processed_rows=processed, lease_expires_at=_lease_end()):
                    raise LeaseLost
            refused_key = self._save_refused()
        report = {"counts": self.counts, "sample": self.sample}
        report |= {"refused_total": self.refused_total, "refused_key": refused_key}
        done = self._held().update(
            status=ContactImport.Status.DONE, report=report, processed_rows=processed, total_rows=processed,
            finished_at=timezone.now(), lease_expires_at=None,
        )  # fmt: skip
        if not done:
            raise LeaseLost
        import_storage().delete(self.contact_import.blob_key)  # the people's data now lives in the contacts

    def _held(self):
        """The import, if this run still holds it."""
        return ContactImport.objects.filter(pk=self.contact_import.pk, lease_token=self.token)

    def _batches(self):
        mapping = self.contact_import.mapping
        with import_storage().open(self.contact_import.blob_key, "rb") as raw:
            text = io.TextIOWrapper(raw, encoding=self.contact_import.encoding, newline="")
            reader = csv.reader(text, delimiter=mapping["delimiter"])
            rows = ((n, row) for n, row in enumerate(reader, start=1) if any(cell.strip() for cell in row))
            if mapping.get("has_header", True):
                next(rows, None)
            while batch := list(islice(rows, settings.CONTACT_IMPORT_BATCH_SIZE)):
                yield batch

    def _refuse(self, row: _Row, reason: str, value: str = "") -> None:
        self.counts[reason] += 1
        self.refused_total += 1
        self.refused_writer.writerow([row.number, str(REASONS[reason]), *row.cells])
        if len(self.sample) < SAMPLE_REFUSED:
            self.sample.append({"row": row.number, "value": (value or row.address)[:200], "reason": reason})

    def _parse(self, number: int, cells: list[str]) -> _Row | None:
        row = _Row(number=number, cells=cells)
        first = last = None
        raw_address = ""
        try:
            for index, column in enumerate(self.columns):
                value = cells[index].strip() if index < len(cells) else ""
                kind = column["field"]
                if kind == "email":
                    raw_address = value
                elif kind == "name" and value:
                    row.name = contact_values.clean_name(value)
                elif kind == "first_name" and value:
                    first = value
                elif kind == "last_name" and value:
                    last = value
                elif kind == "locale" and value:
                    row.locale = contact_values.clean_locale(value)
                elif kind == "consent" and value:
                    row.consent = contact_values.parse_typed_value("boolean", value)
                elif kind == "tracking_consent" and value:
                    row.tracking_consent = contact_values.parse_typed_value("boolean", value)
                elif kind == "attribute" and value:
                    row.attributes[column["attribute"]] = contact_values.parse_typed_value(column["type"], value)
            if row.name is None and (first or last):
                row.name = contact_values.clean_name(" ".join(p for p in (first, last) if p))
            row.attributes = contact_values.clean_attributes(row.attributes)
        except UserError as exc:
            row.address = raw_address
            self._refuse(row, "invalid_value", f"{raw_address}: {exc.message}")
            return None
        try:
            row.address = contact_values.normalize_contact_address(raw_address)
        except InvalidAddress:
            row.address = raw_address
            self._refuse(row, "invalid_address")
            return None
        if row.address in self.seen:
            self._refuse(row, "duplicate")
            return None
        self.seen.add(row.address)
        if contact_values.is_role_address(row.address):
            self._refuse(row, "role_account")
            return None
        return row

    def _write_batch(self, batch: list[tuple[int, list[str]]]) -> None:
        rows = [row for number, cells in batch if (row := self._parse(number, cells)) is not None]
        if not rows:
            return
        addresses = [row.address for row in rows]
        with transaction.atomic():
            existing = {
                c.address: c
                for c in Contact.objects.filter(domain=self.workspace).filter(any_of("address", addresses)).only(
                    "address", "name", "locale", "attributes", "consent", "consent_source", "consent_at",
                    "consent_ip", "consent_user_agent", "tracking_consent", "created_at", "updated_at",
                )
            }  # fmt: skip
            contacts = [self._merged(row, existing.get(row.address)) for row in rows]
            Contact.objects.bulk_create(
                contacts, update_conflicts=True, unique_fields=["domain", "address"],
                update_fields=["name", "locale", "attributes", *CONSENT_FIELDS, "tracking_consent"],
            )  # fmt: skip
            for row in rows:
                self.counts["updated" if row.address in existing else "created"] += 1
            if self.contact_list is not None:
                pending = self._join_list(rows, contacts)
                if pending:
                    transaction.on_commit(lambda: self._confirm(pending))

    def _merged(self, row: _Row, before: Contact | None) -> Contact:
        # A new instance either way: the upsert matches on (domain, address), and an instance with
        # its primary key would conflict on that instead.
        contact = Contact(domain=self.workspace, address=row.address, created_at=self.now)
        if before is not None:
            for name in ("name", "locale", "attributes", *CONSENT_FIELDS, "tracking_consent", "created_at"):
                setattr(contact, name, getattr(before, name))
        if row.name is not None:
            contact.name = row.name
        if row.locale is not None:
            contact.locale = row.locale
        if row.tracking_consent is not None:  # an empty cell leaves what the person said before
            contact.tracking_consent = row.tracking_consent
        contact.attributes = {**(contact.attributes or {}), **row.attributes}
        contact.updated_at = self.now
        consent = row.consent if row.consent is not None else bool(self.consent.get("given"))
        # An earlier opt-in keeps its own evidence; an opt-out is never overwritten by a file.
        if consent and contact.consent not in (Contact.Consent.OPTED_IN, Contact.Consent.OPTED_OUT):
            contact.consent = Contact.Consent.OPTED_IN
            contact.consent_source = (self.consent.get("source") or self.source)[:100]
            contact.consent_at, contact.consent_ip, contact.consent_user_agent = self.now, None, ""
        return contact

    def _join_list(self, rows: list[_Row], contacts: list[Contact]) -> list[int]:
        """Memberships for the batch (ids of new pending ones, for their confirmation mail)."""
        ids = dict(
            Contact.objects.filter(domain=self.workspace).filter(any_of("address", [r.address for r in rows]))
            .values_list("address", "pk")
        )  # fmt: skip
        statuses = dict(
            ListMembership.objects.filter(contact_list=self.contact_list)
            .filter(any_of("contact_id", list(ids.values())))
            .values_list("contact_id", "status")
        )  # fmt: skip
        # As the engine will judge this list's mail: global entries, the workspace's marketing ones, the list's.
        refused = refusing_entries(
            (
                Sending(
                    address=r.address, stream=Message.Stream.BULK, domain_id=self.contact_list.domain_id,
                    contact_list_id=self.contact_list.pk,
                )
                for r in rows
            ),
            now=self.now,
        )  # fmt: skip
        suppressed = {sending.address for sending in refused}
        double_opt_in = self.contact_list.double_opt_in
        new, pending_ids = [], []
        for row, contact in zip(rows, contacts, strict=True):
            contact_id, status = ids[row.address], statuses.get(ids[row.address])
            if status in (ListMembership.Status.SUBSCRIBED, ListMembership.Status.PENDING):
                self.counts["already_on_list"] += 1
            elif status == ListMembership.Status.UNSUBSCRIBED or contact.consent == Contact.Consent.OPTED_OUT:
                self._refuse(row, "unsubscribed")
            elif row.address in suppressed:
                self._refuse(row, "suppressed")
            elif double_opt_in:
                new.append(self._membership(contact_id, ListMembership.Status.PENDING))
                pending_ids.append(contact_id)
                self.counts["pending"] += 1
            elif contact.consent == Contact.Consent.OPTED_IN and row.consent is not False:  # the row's "no" counts
                new.append(self._membership(contact_id, ListMembership.Status.SUBSCRIBED))
                self.counts["added"] += 1
            else:
                self._refuse(row, "missing_consent")
        # A marketer may add one of them meanwhile: theirs stands.
        ListMembership.objects.bulk_create(new, ignore_conflicts=True)
        if not pending_ids:
            return []
        return list(
            ListMembership.objects.filter(contact_list=self.contact_list, status=ListMembership.Status.PENDING)
            .filter(any_of("contact_id", pending_ids), confirmation_sent_at__isnull=True)
            .values_list("pk", flat=True)
        )

    def _membership(self, contact_id: int, status: str) -> ListMembership:
        subscribed = status == ListMembership.Status.SUBSCRIBED
        return ListMembership(
            contact_list=self.contact_list, contact_id=contact_id, status=status, source=self.source,
            created_at=self.now, updated_at=self.now, subscribed_at=self.now if subscribed else None,
        )  # fmt: skip

    def _confirm(self, membership_ids: list[int]) -> None:
        send_confirmations(membership_ids=membership_ids, added_by_id=self.contact_import.created_by_id, now=self.now)

    def _save_refused(self) -> str:
        if not self.refused_total:
            return ""
        self.refused.flush()
        self.refused_file.seek(0)
        key = f"contact-imports/{self.workspace.pk}/{uuid.uuid4().hex}-refused.csv"
        return import_storage().save(key, File(self.refused_file))


def open_refused_rows(contact_import: ContactImport):
    """The CSV of every refused row of a finished import (a binary file object), or None."""
    key = (contact_import.report or {}).get("refused_key")
    return import_storage().open(key, "rb") if key else None
