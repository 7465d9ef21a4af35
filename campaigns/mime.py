"""A fast MIME writer for the platform's own messages (text and HTML, no attachments): template batches, campaigns.

The standard library's generator (``mailboxes.compose.render``) costs several
milliseconds a message, most of a batch's or a campaign's time; the parts here
are quoted-printable from C (``binascii``) and the few headers formatted
directly. Anything unusual (attachments, a non-ASCII address, a control
character in a header) goes through ``render``.

The bytes depend only on the composition, ``now`` and ``boundary``: a campaign
gives the same three again and gets the same bytes (``campaigns.personalize``).
"""

import binascii
import re
from email.header import Header
from email.utils import format_datetime, formataddr

from mailboxes.compose import Composition, fold_header, render
from mailboxes.parsing import ParsedMessage, parse_built_message, parse_message

# Anything but printable ASCII, tab and the folds (CRLF and a space) written here.
_UNUSUAL_HEADER = re.compile(r"[^\t\x20-\x7e\r\n]|\r(?!\n )|(?<!\r)\n|\r\n(?! )")


def mime_bytes(composition: Composition, *, now, boundary: str) -> bytes:
    """The message's bytes. ``boundary`` must start with ``=_`` (which never occurs in quoted-printable)."""
    built = _build(composition, now=now, boundary=boundary)
    return built[0] if built is not None else render(composition, date=now, include_bcc=False)


def mime_and_parsed(composition: Composition, *, now, boundary: str) -> tuple[bytes, ParsedMessage]:
    """``mime_bytes`` and its parsed view, made from what was built (parsing the bytes back cost more)."""
    built = _build(composition, now=now, boundary=boundary)
    if built is None:
        raw = render(composition, date=now, include_bcc=False)
        return raw, parse_message(raw)
    raw, headers, bodies = built
    return raw, parse_built_message(raw, headers, bodies)


def _build(composition: Composition, *, now, boundary: str):
    """``(raw, headers, bodies)``, or None when the message needs the standard generator."""
    addresses = [composition.from_address, *(a for _, a in composition.to + composition.cc)]
    if composition.attachments or not all(a.isascii() for a in addresses):
        return None
    headers = [
        # The extra fields (List-Unsubscribe…) first and folded, as ``render`` writes them.
        *((name, fold_header(name, value)[len(name) + 2 : -2]) for name, value in composition.headers),
        ("From", formataddr((composition.from_name, composition.from_address), charset="utf-8")),
        *(
            (name, ",\r\n ".join(formataddr(pair, charset="utf-8") for pair in pairs))
            for name, pairs in (("To", composition.to), ("Cc", composition.cc))
            if pairs
        ),
        ("Subject", _header_text(composition.subject)),
        ("Date", format_datetime(now)),
        ("Message-ID", f"<{composition.message_id}>"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    if any(_UNUSUAL_HEADER.search(value) for _, value in headers):  # the feed parser would read it its own way
        return None
    head = "\r\n".join(f"{name}: {value}" for name, value in headers)
    bodies = [
        (f"text/{kind}", binascii.b2a_qp(body.encode(), istext=True).replace(b"\n", b"\r\n"))
        for kind, body in (("plain", composition.text), ("html", composition.html))
    ]
    parts = [
        f'--{boundary}\r\nContent-Type: {content_type}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode("ascii")
        + payload
        for content_type, payload in bodies
    ]
    raw = (head + "\r\n\r\n").encode("ascii") + b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode("ascii")
    return raw, headers, bodies


def _header_text(value: str) -> str:
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", header_name="Subject").encode(linesep="\r\n")
