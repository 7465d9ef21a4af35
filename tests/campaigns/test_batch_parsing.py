"""The batch path's parsed view of a message it built is exactly what parsing its bytes gives.

``send_template_batch`` fills each stored ``Message``'s parsed fields from the
composition it just built (``parse_built_message``) instead of parsing the
bytes back; these tests hold it to ``mailboxes.parsing.parse_message`` on
the same bytes, field by field, for varied messages.
"""

import dataclasses
from datetime import UTC, datetime

import pytest

from campaigns import mime
from campaigns.mime import mime_and_parsed
from mailboxes.blobstore import read_blob
from mailboxes.compose import Composition, OutgoingAttachment, render
from mailboxes.models import Message
from mailboxes.parsing import parse_message
from mailboxes.services.store import _apply_parsed
from tests.campaigns.template_factories import make_template
from tests.campaigns.test_send_template_api import BATCH_URL, json_client

STORED_FIELDS = ("message_id", "in_reply_to", "references", "subject", "from_name", "from_address", "to", "cc", "date",
                 "snippet", "has_attachments", "headers", "parse_defects", "content_fingerprint")  # fmt: skip
NOW = datetime(2026, 12, 7, 9, 30, 15, tzinfo=UTC)
BOUNDARY = "=_0123456789abcdef0123456789abcdef"
TEXT = "Hello Ann,\n\nyour order A-1 ships today.\n"
HTML = "<p>Hello <b>Ann</b>,</p>\n<p>your order A-1 ships today.</p>"

UNSUBSCRIBE = {
    "List-Unsubscribe": "<https://mail.shop.test/u/eyJkIjoxLCJhIjoiYW5uQGQudGVzdCJ9:1vS2xy:Qe3Zr5YtAbCdEfGhIjKlMnOp/>, "
    "<mailto:unsubscribe@shop.test?subject=unsubscribe%20eyJkIjoxLCJhIjoiYW5uQGQudGVzdCJ9:1vS2xy:Qe3Zr5Yt>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}

# (what varies, the composition's fields, whether the fast path builds it)
CASES = [
    ("plain", {}, True),
    ("ascii names needing quotes", {"from_name": 'Shop "Best", Inc.', "to": [("Lee, Ann", "ann@d.test")]}, True),
    ("non-ascii names", {"from_name": "Café Zoë", "to": [("李雷", "li@d.test"), ("Ünïcode Ñame", "u@d.test")]}, True),
    ("no names", {"from_name": "", "to": [("", "ann@d.test")]}, True),
    ("cc and bcc", {"cc": [("Carl", "carl@d.test"), ("", "dee@e.test")], "bcc": [("Hidden", "h@d.test")]}, True),
    ("many recipients", {"to": [(f"Person {i}", f"p{i}@d{i}.test") for i in range(30)]}, True),
    ("encoded subject", {"subject": "Ihre Bestellung über 99 € — 谢谢"}, True),
    ("long encoded subject", {"subject": "Données " * 60}, True),
    ("long ascii subject", {"subject": "word " * 200}, True),
    ("subject with spaces around", {"subject": "   spaced out   "}, True),
    ("subject with a tab", {"subject": "tab\there"}, True),
    ("subject that looks encoded", {"subject": "=?utf-8?q?not_really?= plain"}, True),
    ("empty subject", {"subject": ""}, True),
    ("subject with a control character", {"subject": "del\x7fete"}, False),
    ("name with a control character", {"to": [("Ann\x0bLee", "ann@d.test")]}, False),
    ("empty text", {"text": ""}, True),
    ("empty html", {"html": ""}, True),
    ("non-ascii bodies", {"text": "Grüße, 李雷 😀\n" * 3, "html": "<p>Grüße, 李雷 😀</p>"}, True),
    ("long lines, trailing spaces", {"text": "x" * 300 + "   \nend \t\n", "html": "<p>" + "y " * 200 + "</p> "}, True),
    ("line breaks and NULs", {"text": "a\r\nb\rc\n\x00d\n\n\n", "html": "<p>\r\n</p>\x00"}, True),
    ("boundary-like and dot lines", {"text": f"--{BOUNDARY}\n.\nFrom here\n=3D=\n--", "html": "--=_x--\n"}, True),
    ("quoted reply and signature", {"text": "> quoted\n\nreal words\n-- \nsig\n"}, True),
    ("html only words", {"text": "", "html": "<style>p{}</style><div>Shown <i>words</i></div>"}, True),
    ("attachment", {"attachments": [OutgoingAttachment("r.pdf", "application/pdf", b"%PDF-1.4 \x00\xff")]}, False),
    ("non-ascii domain", {"to": [("Ann", "ann@bücher.example")]}, False),
    ("list-unsubscribe headers", {"headers": list(UNSUBSCRIBE.items())}, True),
]


def composition(**fields) -> Composition:
    values = {
        "from_name": "Shop",
        "from_address": "receipts@shop.test",
        "to": [("Ann Lee", "ann@d.test")],
        "subject": "Your order A-1",
        "text": TEXT,
        "html": HTML,
        "message_id": "20261207093015.abc123@shop.test",
    }
    return Composition(**(values | fields))


@pytest.mark.parametrize(("fields", "fast"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_the_parsed_view_of_a_built_message_is_what_parsing_its_bytes_gives(fields, fast, monkeypatch):
    parsed_back = []
    monkeypatch.setattr(mime, "parse_message", lambda raw: parsed_back.append(raw) or parse_message(raw))

    raw, parsed = mime_and_parsed(composition(**fields), now=NOW, boundary=BOUNDARY)

    assert dataclasses.asdict(parsed) == dataclasses.asdict(parse_message(raw))
    assert parsed_back == ([] if fast else [raw])  # which path built it: unusual messages are parsed back


def test_the_fast_path_builds_the_bytes_the_message_had_before():
    """The bytes themselves did not change with the parsed view (a regression guard on the layout)."""
    raw, _ = mime_and_parsed(composition(cc=[("Carl", "carl@d.test")]), now=NOW, boundary=BOUNDARY)

    assert raw.startswith(
        b"From: Shop <receipts@shop.test>\r\nTo: Ann Lee <ann@d.test>\r\nCc: Carl <carl@d.test>\r\n"
        b"Subject: Your order A-1\r\nDate: Mon, 07 Dec 2026 09:30:15 +0000\r\n"
        b"Message-ID: <20261207093015.abc123@shop.test>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="=_0123456789abcdef0123456789abcdef"\r\n\r\n'
        b'--=_0123456789abcdef0123456789abcdef\r\nContent-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nHello Ann,\r\n\r\nyour order A-1 ships today.\r\n"
    )
    assert raw.endswith(b"\r\n--=_0123456789abcdef0123456789abcdef--\r\n")


def test_stored_batch_messages_hold_the_fields_parsing_their_blobs_gives(alice):
    make_template(subject="Reçu {{ orderId }} für {{ customer.name }}")
    people = [
        {"to": ["Zoë Ünïcode <zoe@remote.example>"], "cc": ['"Lee, Carl" <carl@remote.example>'],
         "bcc": ["hidden@remote.example"], "variables": {"orderId": "Ä-1", "amount": 1, "customer": {"name": "李雷"}}},
        {"to": ["plain@remote.example"], "variables": {"orderId": "B-2", "amount": 2.5}},
    ]  # fmt: skip

    response = json_client(alice).post(BATCH_URL, {"templateId": "order_receipt", "personalizations": people})

    assert response.status_code == 202, response.content
    for message in Message.objects.filter(pk__in=[m["id"] for m in response.json()["messages"]]):
        expected = Message()
        _apply_parsed(expected, parse_message(read_blob(message.blob)))
        for field in STORED_FIELDS:
            assert getattr(message, field) == getattr(expected, field), field


def test_extra_headers_are_written_as_render_writes_them():
    """List-Unsubscribe first and folded after its comma, byte for byte as the one-message path writes it."""
    built = composition(headers=list(UNSUBSCRIBE.items()))

    raw, _ = mime_and_parsed(built, now=NOW, boundary=BOUNDARY)

    rendered = render(built, date=NOW, include_bcc=False)
    head = rendered[: rendered.index(b"From: ")]
    assert head.startswith(b"List-Unsubscribe: <https://") and b",\r\n <mailto:" in head
    assert raw.startswith(head + b"From: Shop <receipts@shop.test>\r\n")
