"""CSV export of a workspace's or a list's contacts, produced row by row for a streamed response.

Attributes become columns (the union of every contact's attribute names).
A cell that a spreadsheet would run as a formula gets a leading ``'`` (OWASP's
CSV injection advice): contact data comes from strangers' sign-up forms.
"""

import csv
from collections.abc import Iterator

from campaigns.models import Contact, ContactList, ListMembership

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTACT_COLUMNS = [
    "address", "name", "locale", "consent", "consent_source", "consent_at", "consent_ip", "consent_user_agent",
    "tracking_consent",
]  # fmt: skip
MEMBERSHIP_COLUMNS = ["status", "subscribed_at", "source"]
_CHUNK_ROWS = 500


def guard_cell(value) -> str | int | float:
    """The value as a safe cell: numbers as they are, text never starting like a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def export_contacts(*, workspace, contact_list: ContactList | None = None) -> Iterator[str]:
    """CSV text in chunks: every contact of the workspace, or every member of ``contact_list`` with its status."""
    if contact_list is None:
        contacts = Contact.objects.filter(domain=workspace).order_by("address", "pk")
        attribute_names = _attribute_names(contacts)
        rows = ((c, None) for c in contacts.iterator(chunk_size=2000))
    else:
        members = ListMembership.objects.filter(contact_list=contact_list, contact__domain=workspace)
        attribute_names = _attribute_names(Contact.objects.filter(memberships__contact_list=contact_list))
        ordered = members.select_related("contact").order_by("contact__address", "pk")
        rows = ((m.contact, m) for m in ordered.iterator(chunk_size=2000))
    header = [*CONTACT_COLUMNS, *(MEMBERSHIP_COLUMNS if contact_list else []), *attribute_names]
    buffer = _Lines()
    writer = csv.writer(buffer)
    writer.writerow(header)
    chunk = ["\ufeff", *buffer.take()]  # a BOM: spreadsheets then read the file as UTF-8
    for contact, membership in rows:
        cells = [getattr(contact, name) for name in CONTACT_COLUMNS]
        if membership is not None:
            cells += [membership.status, membership.subscribed_at, membership.source]
        cells += [contact.attributes.get(name) for name in attribute_names]
        writer.writerow([guard_cell(cell) for cell in cells])
        chunk += buffer.take()
        if len(chunk) >= _CHUNK_ROWS:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)


def _attribute_names(contacts) -> list[str]:
    names = set()
    for attributes in contacts.values_list("attributes", flat=True).iterator(chunk_size=2000):
        names.update(attributes or {})
    return sorted(names)


class _Lines:
    """A file-like target for ``csv.writer`` that hands back what was written."""

    def __init__(self):
        self.lines = []

    def write(self, text: str) -> None:
        self.lines.append(text)

    def take(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines
