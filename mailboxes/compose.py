"""Building outgoing messages from what a user wrote.

``Composition`` is the validated input of a new message or draft; ``render``
turns it into RFC 5322 bytes with Python's ``email`` package. Nothing a user
types can add a header: line breaks (CR, LF and the other characters Python's
``email`` package splits lines on) and control characters in any header field
are refused.
"""

import mimetypes
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from django.conf import settings
from django.utils.translation import gettext as _

from accounts.addresses import parse_address_list, split_address
from accounts.selectors import addresses_of
from mailboxes.exceptions import HeaderInjection, MessageTooLarge, NoRecipients, SenderNotAllowed, TooManyRecipients
from mailboxes.models import Identity


@dataclass(frozen=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    content: bytes


@dataclass
class Composition:
    from_name: str
    from_address: str
    to: list[tuple[str, str]] = field(default_factory=list)
    cc: list[tuple[str, str]] = field(default_factory=list)
    bcc: list[tuple[str, str]] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    html: str = ""
    attachments: list[OutgoingAttachment] = field(default_factory=list)
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    # Extra header fields ``(name, value)`` a service adds (List-Unsubscribe…): ``EXTRA_HEADERS`` only.
    headers: list[tuple[str, str]] = field(default_factory=list)

    def envelope_recipients(self) -> list[tuple[str, str, str]]:
        """``(kind, name, address)`` once per address, the first field it appears in winning."""
        seen, result = set(), []
        for kind, entries in (("to", self.to), ("cc", self.cc), ("bcc", self.bcc)):
            for name, address in entries:
                if address.lower() not in seen:
                    seen.add(address.lower())
                    result.append((kind, name, address))
        return result


def new_message_id(from_address: str) -> str:
    _, domain = split_address(from_address)
    return f"{uuid.uuid4().hex}@{domain or 'localhost'}"


def compose(
    *,
    user,
    from_address: str | None,
    to=(),
    cc=(),
    bcc=(),
    subject: str = "",
    text: str = "",
    html: str = "",
    attachments=(),
    message_id: str = "",
    in_reply_to: str = "",
    references=(),
    headers=(),
) -> Composition:
    """Validate what the user wrote; errors name the field at fault.

    ``headers``: extra fields, a mapping or ``(name, value)`` pairs, from ``EXTRA_HEADERS`` only.
    """
    own = addresses_of(user)
    names, default = _identities(user)
    sender = from_address.strip().lower() if from_address else (default or (own[0] if own else ""))
    matching = [a for a in own if a.lower() == sender]
    if not matching:
        raise SenderNotAllowed(_("You can only send from your own addresses."), field="from")
    _refuse_line_breaks(subject, field="subject")
    composition = Composition(
        from_name=names.get(matching[0].lower()) or user.display_name,
        from_address=matching[0],
        to=parse_address_list(to, field="to"),
        cc=parse_address_list(cc, field="cc"),
        bcc=parse_address_list(bcc, field="bcc"),
        subject=(subject or "").strip(),
        text=text or "",
        html=html or "",
        attachments=[_clean_attachment(a) for a in attachments],
        message_id=message_id or new_message_id(matching[0]),
        in_reply_to=in_reply_to,
        references=list(references),
        headers=_clean_headers(headers.items() if hasattr(headers, "items") else headers),
    )
    if len(composition.envelope_recipients()) > settings.MAIL_MAX_RECIPIENTS:
        raise TooManyRecipients(
            _("A message can have at most %(max)d recipients.") % {"max": settings.MAIL_MAX_RECIPIENTS}, field="to"
        )
    return composition


def _identities(user) -> tuple[dict[str, str], str | None]:
    """The display names the user gave their addresses (``mailboxes.Identity``), and their default address."""
    rows = Identity.objects.filter(user=user).values_list(
        "address__local_part", "address__domain__name", "display_name", "is_default"
    )
    names, default = {}, None
    for local, domain, name, is_default in rows:
        names[f"{local}@{domain}"] = name
        if is_default:
            default = f"{local}@{domain}"
    return names, default


def require_recipients(composition: Composition) -> None:
    if not composition.envelope_recipients():
        raise NoRecipients(_("Add at least one recipient."), field="to")


# What ``str.splitlines`` breaks on, plus the other C0 controls and DEL; a tab is fine.
_HEADER_UNSAFE = frozenset([chr(c) for c in range(32) if chr(c) != "\t"] + ["\x7f", "\x85", "\u2028", "\u2029"])


def _refuse_line_breaks(value: str, *, field: str) -> None:
    # Python's email package refuses these only with a bare ValueError at render
    # time (or, for NUL, writes them into the header): refuse them up front.
    if any(ch in _HEADER_UNSAFE for ch in value or ""):
        raise HeaderInjection(_("Line breaks and control characters are not allowed here."), field=field)


# The header fields a service may add to a message: list and campaign bookkeeping, nothing that
# changes who the message is from, to or about (those have their own validated fields).
EXTRA_HEADERS = {
    name.lower(): name
    for name in ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Precedence", "Feedback-ID", "X-Campaign-ID")
}
# Mail the rules app sends by itself (vacation replies, forwards, RFC 3834) and its forwarding loop guard.
EXTRA_HEADERS |= {name.lower(): name for name in ("Auto-Submitted", "X-Forwarded-For-Loop")}
# RFC 5322 §2.1.1: a line is at most 998 characters (folding is only done between list items).
_MAX_LINE = 998


def _clean_headers(pairs) -> list[tuple[str, str]]:
    headers = [_clean_header(name, value) for name, value in pairs]
    names = [name for name, _ in headers]
    if len(set(names)) != len(names):
        raise HeaderInjection(_("Each extra header can be given once."), field="headers")
    return headers


def _clean_header(name: str, value: str) -> tuple[str, str]:
    canonical = EXTRA_HEADERS.get(name.lower()) if name.isascii() else None
    if canonical is None:
        raise HeaderInjection(_("The header %(name)r cannot be set here.") % {"name": name}, field="headers")
    _refuse_line_breaks(value, field="headers")
    # Written as they are, unencoded (``render``): an encoded word would break a URL list.
    if not value.isascii():
        raise HeaderInjection(_("The %(name)s header must be plain ASCII.") % {"name": canonical}, field="headers")
    if any(len(canonical) + 2 + len(item) > _MAX_LINE for item in value.split(", ")):
        raise HeaderInjection(_("The %(name)s header is too long.") % {"name": canonical}, field="headers")
    return canonical, value.strip()


def fold_header(name: str, value: str) -> str:
    """``name: value`` folded after the commas of a list when the line would pass 78 characters."""
    first, *rest = value.split(", ")
    lines = [f"{name}: {first}"]
    for item in rest:
        if len(lines[-1]) + 2 + len(item) > 78:
            lines[-1] += ","
            lines.append(" " + item)
        else:
            lines[-1] += ", " + item
    return "\r\n".join(lines) + "\r\n"


def extra_header_bytes(composition: Composition) -> bytes:
    """The composition's extra fields as ``render`` writes them, ahead of the rest of the header."""
    return "".join(fold_header(name, value) for name, value in composition.headers).encode("ascii")


def _clean_attachment(attachment: OutgoingAttachment) -> OutgoingAttachment:
    _refuse_line_breaks(attachment.filename, field="attachments")
    filename = attachment.filename.replace("/", "_").replace("\\", "_").strip() or "attachment"
    content_type = attachment.content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if content_type.count("/") != 1 or any(ch in content_type for ch in "\r\n;"):
        content_type = "application/octet-stream"
    return OutgoingAttachment(filename=filename[:255], content_type=content_type.lower(), content=attachment.content)


def _is_7bit(content: bytes) -> bool:
    return content.isascii() and b"\0" not in content and all(len(line) <= 998 for line in content.split(b"\n"))


def render(composition: Composition, *, date: datetime | None, include_bcc: bool) -> bytes:
    """RFC 5322 bytes with CRLF line endings.

    ``include_bcc`` is for drafts only: a draft keeps its Bcc list, a sent
    message never shows it.
    """
    msg = EmailMessage(policy=policy.default)
    msg["From"] = Address(display_name=composition.from_name, addr_spec=composition.from_address)
    for header, entries in (("To", composition.to), ("Cc", composition.cc)):
        if entries:
            msg[header] = [Address(display_name=name, addr_spec=addr) for name, addr in entries]
    if include_bcc and composition.bcc:
        msg["Bcc"] = [Address(display_name=name, addr_spec=addr) for name, addr in composition.bcc]
    msg["Subject"] = composition.subject
    if date is not None:
        msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{composition.message_id}>"
    if composition.in_reply_to:
        msg["In-Reply-To"] = f"<{composition.in_reply_to}>"
    if composition.references:
        msg["References"] = " ".join(f"<{ref}>" for ref in composition.references)
    msg.set_content(composition.text or "")
    if composition.html:
        msg.add_alternative(composition.html, subtype="html")
    for attachment in composition.attachments:
        maintype, subtype = attachment.content_type.split("/", 1)
        # A message/rfc822 part may not be base64-encoded (RFC 2046 §5.2.1): 7bit when its bytes allow.
        seven_bit = attachment.content_type == "message/rfc822" and _is_7bit(attachment.content)
        msg.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename,
            **({"cte": "7bit"} if seven_bit else {}),
        )  # fmt: skip
    # Non-ASCII local parts need SMTPUTF8 (RFC 6532); everything else stays 7-bit safe.
    addresses = [composition.from_address, *(a for _, a in composition.to + composition.cc + composition.bcc)]
    raw = msg.as_bytes(policy=policy.SMTPUTF8 if not all(a.isascii() for a in addresses) else policy.SMTP)
    if composition.headers:
        # Written by hand, ahead of the rest: Python's email package turns a long URL
        # into RFC 2047 encoded words, which no mail client reads as a List-Unsubscribe URL.
        raw = extra_header_bytes(composition) + raw
    if len(raw) > settings.MAIL_MAX_MESSAGE_BYTES:
        limit_mb = settings.MAIL_MAX_MESSAGE_BYTES / (1024 * 1024)
        raise MessageTooLarge(
            _("The message is %(size).1f MB with attachments encoded; the limit is %(limit).0f MB.")
            % {"size": len(raw) / (1024 * 1024), "limit": limit_mb},
            field="attachments",
        )
    return raw
