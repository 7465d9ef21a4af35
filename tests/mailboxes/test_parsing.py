"""Parsing real, messy mail: every sample in tests/samples/messages and generated hostile input.

Expected values are written out by hand from what each sample says; nothing
here is copied from the parser's output.
"""

import base64
import dataclasses
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailboxes.parsing import MAX_ATTACHMENTS, MAX_REFERENCES, ParsedMessage, parse_body_text, parse_message
from mailboxes.text import decode_bytes, html_to_text, make_snippet

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
SAMPLE_NAMES = sorted(path.name for path in SAMPLES.glob("*.eml"))

PDF = b"%PDF-1.4\n%\xc7\xec\x8f\xa2\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
BUILD_LOG = b"2024-03-09 03:00:01 start\n2024-03-09 03:04:59 done\n"
GMAIL_REFS = [f"CAJx{i:04d}q7Rk2mZp8Lr2nQvT0c4W1sE5u7B6dF9@mail.gmail.example" for i in range(1, 56)]
CET, EST, PST, EDT = (timezone(timedelta(hours=h)) for h in (1, -5, -8, -4))


def load(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def parsed_sample(name: str) -> ParsedMessage:
    return parse_message(load(name))


def between(raw: bytes, start: bytes, end: bytes) -> bytes:
    """The raw bytes from ``start`` (included) to ``end`` (excluded)."""
    first = raw.index(start)
    return raw[first : raw.index(end, first)]


TO_ALICE = [("", "alice@example.test")]
# RFC 2046: the line break before a boundary delimiter belongs to the delimiter.
FORWARDED = load("forwarded_message_rfc822.eml")
FORWARDED_INNER = between(FORWARDED, b"Return-Path: <carol@example.test>", b"\r\n--------------fwd0123456789ABCDEF--")
BOUNCE = load("bounce_delivery_status.eml")
BOUNCE_REPORT = between(BOUNCE, b"Reporting-MTA:", b"\r\n--ABCDEF12345.1710590405/mx.example.test")
BOUNCE_HEADERS = between(BOUNCE, b"From: Alice Liddell", b"\r\n--ABCDEF12345.1710590405/mx.example.test--")
NUL_ATTACHMENT = b"\x00\x01\x02binary\x00"

LONG_LINES = load("long_header_line.eml")
LONG_SUBJECT = between(LONG_LINES, b"Subject: ", b"\r\n").decode().removeprefix("Subject: ")
LONG_UNSUBSCRIBE = between(LONG_LINES, b"List-Unsubscribe: ", b"\r\n").decode().removeprefix("List-Unsubscribe: ")


# name: what a careful human reads in the sample. "html" is the HTML part as text.
EXPECTED = {
    "outlook_alternative_qp_windows1252.eml": {
        "subject": "Angebot – Preise für 2024",
        "from": ("Müller, Jürgen", "j.mueller@contoso.example"),
        "to": [("Alice Liddell", "alice@example.test")],
        "cc": [("Bob Builder", "bob@example.test")],
        "message_id": "AM0PR07MB1234A1B2C3D4E5F6A7B8C9D0E1F2A@AM0PR07MB1234.eurprd07.prod.outlook.example",
        "date": datetime(2024, 3, 5, 9, 14, 22, tzinfo=UTC),
        "text": "Hallo Alice,\n\nanbei die Preise für 2024 – gültig bis 31.\xa03.\n\nViele Grüße\nJürgen Müller\n",
        "html": "Hallo Alice,\n\nanbei die Preise für 2024 – gültig bis 31. 3.\n\nViele Grüße\n\nJürgen Müller",
        "snippet": "Hallo Alice, anbei die Preise für 2024 – gültig bis 31. 3. Viele Grüße Jürgen Müller",
        "headers": {"content-language": "de-DE"},
    },
    "apple_mail_related_inline_image.eml": {
        "subject": "Photo from the site",
        "from": ("Bob Builder", "bob@example.test"),
        "to": [("Alice Liddell", "alice@example.test")],
        "message_id": "8C1B2E3F-4A5B-4C6D-8E9F-0A1B2C3D4E5F@example.test",
        "date": datetime(2024, 3, 6, 18, 2, 11, tzinfo=CET),
        "text": "Here is the wall we built today.\n\n[image: IMG_0042.png]\n\nBob",
        "html": "Here is the wall we built today.\n\nBob",
        "attachments": [
            ("IMG_0042.png", "image/png", len(PNG_1X1), "2F1E4B6A-7C8D-4E9F-A0B1-C2D3E4F5A6B7@example.test", True)
        ],
        "snippet": "Here is the wall we built today. [image: IMG_0042.png] Bob",
        "headers": {"x-mailer": "Apple Mail (2.3774.500.171.1.1)"},
    },
    "gmail_reply_long_references.eml": {
        "subject": "Re: Planning the offsite 🎉",
        "from": ("Carol Danvers", "carol@example.test"),
        "to": [("Bob Builder", "bob@example.test")],
        "cc": [("Alice Liddell", "alice@example.test")],
        "message_id": "CAKx9Yq3m_Zp8Lr2nQvT0c4W1sE5u7B6dF9gH2jK3lM4nO5pQ6r@mail.gmail.example",
        "in_reply_to": GMAIL_REFS[-1],
        "references": [GMAIL_REFS[0], *GMAIL_REFS[-49:]],
        "date": datetime(2024, 3, 4, 11, 27, 45, tzinfo=PST),
        "text": (
            "Works for me — see you Thursday.\n\n"
            "On Mon, 4 Mar 2024 at 10:02, Bob Builder <bob@example.test> wrote:\n\n"
            "> Shall we meet at the lake house?\n>\n"
            "> On Sun, 3 Mar 2024 at 21:40, Alice Liddell <alice@example.test> wrote:\n>\n"
            ">> Planning the offsite 🎉\n>>\n>\n"
        ),
        "html": (
            "Works for me — see you Thursday.\n\n"
            "On Mon, 4 Mar 2024 at 10:02, Bob Builder <bob@example.test> wrote:\n\n"
            "Shall we meet at the lake house?"
        ),
        "snippet": (
            "Works for me — see you Thursday. On Mon, 4 Mar 2024 at 10:02, Bob Builder <bob@example.test> wrote:"
        ),
    },
    "mailing_list_mailman.eml": {
        "subject": "[dev] Release 2.3 is out",
        "from": ("Dana Scully", "dana@fbi.example"),
        "to": [("", "dev@lists.example.org")],
        "message_id": "170983440012.4567.1122334455@fbi.example",
        "date": datetime(2024, 3, 7, 14, 0, tzinfo=EST),
        "text": (
            "Hi all,\n\nVersion 2.3 is tagged and on the download page.\n\n-- \nDana\n"
            "_______________________________________________\n"
            "dev mailing list -- dev@lists.example.org\n"
            "To unsubscribe send an email to dev-leave@lists.example.org\n"
        ),
        "snippet": "Hi all, Version 2.3 is tagged and on the download page.",
        "headers": {
            "reply-to": "dev@lists.example.org",
            "list-id": "Developers <dev.lists.example.org>",
            "list-unsubscribe": (
                "<mailto:dev-leave@lists.example.org>, "
                "<https://lists.example.org/unsubscribe/dev?token=8f14e45fceea167a>"
            ),
            "list-unsubscribe-post": "List-Unsubscribe=One-Click",
            "precedence": "list",
            "return-path": "<dev-bounces@lists.example.org>",
        },
    },
    "broken_boundary_missing_close.eml": {
        "subject": "Scanned document",
        "from": ("Legacy Scanner", "scanner@printer.example"),
        "to": TO_ALICE,
        "message_id": "20240308073000.1234@printer.example",
        "date": datetime(2024, 3, 8, 8, 30, tzinfo=CET),
        "text": "Your scan is attached.\n",
        "attachments": [("scan0001.pdf", "application/pdf", len(PDF), "", False)],
        "snippet": "Your scan is attached.",
    },
    "bad_base64_body.eml": {
        "subject": "Nightly build report",
        "from": ("Build Bot", "ci@build.example"),
        "to": TO_ALICE,
        "message_id": "nightly-20240309@build.example",
        "date": datetime(2024, 3, 9, 3, 5, tzinfo=UTC),
        "text": "Build 456 passed: 12 tests, 0 failures.\n",
        # 65 base64 characters survived: 16 whole quanta are 48 bytes.
        "attachments": [("build.log", "text/plain", len(BUILD_LOG[:48]), "", False)],
        "snippet": "Build 456 passed: 12 tests, 0 failures.",
    },
    "unknown_charset.eml": {
        "subject": "Réunion à 15 h",
        "from": ("René François", "rene@legacy.example"),
        "to": TO_ALICE,
        "message_id": "x-unknown.1@legacy.example",
        "date": datetime(2024, 3, 10, 9, 0, tzinfo=CET),
        "text": "Bonjour Alice, la réunion est déplacée à 15 h.\n",
        "snippet": "Bonjour Alice, la réunion est déplacée à 15 h.",
    },
    "lying_utf8_charset_latin1_bytes.eml": {
        "subject": "Reçu : facture n° 42",
        "from": ("Françoise Dupré", "francoise@vieux.example"),
        "to": TO_ALICE,
        "message_id": "facture-42@vieux.example",
        "date": datetime(2024, 3, 10, 10, 15, tzinfo=CET),
        "text": "Bonjour,\n\nCi-joint la facture n° 42 (montant : 120 €).\n\nCordialement,\nFrançoise\n",
        "snippet": "Bonjour, Ci-joint la facture n° 42 (montant : 120 €). Cordialement, Françoise",
    },
    "chinese_gb2312.eml": {
        "subject": "你好，周五一起吃饭吗？",
        "from": ("张三", "zhangsan@example.cn"),
        "to": TO_ALICE,
        "message_id": "20240311120000.5f3e@example.cn",
        "date": datetime(2024, 3, 11, 12, 0, tzinfo=timezone(timedelta(hours=8))),
        "text": "爱丽丝，你好！\n\n周五中午一起吃饭吗？朱镕基路那家餐厅不错。\n\n张三\n",
        "snippet": "爱丽丝，你好！ 周五中午一起吃饭吗？朱镕基路那家餐厅不错。 张三",
        "headers": {"x-mailer": "Foxmail 7.2.25.254[cn]"},
    },
    "japanese_iso2022jp.eml": {
        "subject": "会議の議事録について",
        "from": ("山田 太郎", "yamada@example.co.jp"),
        "to": TO_ALICE,
        "message_id": "000001da7437$1a2b3c40$4e5f6a70$@example.co.jp",
        "date": datetime(2024, 3, 12, 10, 30, tzinfo=timezone(timedelta(hours=9))),
        "text": (
            "アリス様\n\nお疲れ様です。山田です。\n昨日の会議の議事録をお送りします。\n\n"
            "①予算の見直し\n②スケジュールの確認\n\nよろしくお願いいたします。\n"
        ),
        "snippet": (
            "アリス様 お疲れ様です。山田です。 昨日の会議の議事録をお送りします。 "
            "①予算の見直し ②スケジュールの確認 よろしくお願いいたします。"
        ),
        "headers": {"x-mailer": "Microsoft Outlook 16.0"},
    },
    "raw_utf8_headers.eml": {
        "subject": "Grüße aus München – 東京にて",
        "from": ("Jürgen Müller", "jm@example.de"),
        "to": [("Zoë Saldaña", "zoe@example.test"), ("山田太郎", "yamada@example.co.jp")],
        "message_id": "raw8bit.001@example.de",
        "date": datetime(2024, 3, 13, 8, 0, tzinfo=CET),
        "text": "Schöne Grüße!\n",
        "attachments": [("Übersicht März.txt", "text/plain", len("Äpfel, Birnen, Kirschen.\r\n".encode()), "", False)],
        "snippet": "Schöne Grüße!",
    },
    "rfc2231_attachment_filename.eml": {
        "subject": "Reports",
        "from": ("Alice Liddell", "alice@example.test"),
        "to": [("", "bob@example.test")],
        "message_id": "rfc2231.names@example.test",
        "date": datetime(2024, 3, 13, 12, 0, tzinfo=UTC),
        "text": "Reports attached.\n",
        "attachments": [
            ("报告 2024.pdf", "application/pdf", len(PDF), "", False),
            ("Grüße aus München.txt", "text/plain", len(b"Servus!\r\n"), "", False),
            (
                "Übersicht Q1.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                len(b"PK\x03\x04\x14\x00\x00\x00\x08\x00"),
                "",
                False,
            ),
            ("résumé.txt", "application/octet-stream", len(b"CV"), "", False),
        ],
        "snippet": "Reports attached.",
    },
    "bare_lf_line_endings.eml": {
        "subject": "Sent with bare LF",
        "from": ("Unix User", "user@unix.example"),
        "to": TO_ALICE,
        "message_id": "bare.lf@unix.example",
        "date": datetime(2024, 3, 14, 7, 7, 7, tzinfo=UTC),
        "text": "Line one, café.\nLine two is long enough to be wrapped by a soft line break right here.\n",
        "attachments": [("data.bin", "application/octet-stream", len(bytes(range(16))), "", False)],
        "snippet": "Line one, café. Line two is long enough to be wrapped by a soft line break right here.",
    },
    "mixed_cr_lf_line_endings.eml": {
        "subject": "Line endings are a mess",
        "from": ("Mixed Endings", "mixed@example.test"),
        "to": TO_ALICE,
        "message_id": "mixed.eol@example.test",
        "date": datetime(2024, 3, 14, 16, 45, tzinfo=UTC),
        "text": "first line\nsecond line\nthird line\nfourth line\n",
        "snippet": "first line second line third line fourth line",
    },
    "no_headers.eml": {
        "to": [],
        "text": "This message has no headers at all.\nSomebody piped a text file straight into sendmail.\n",
        "snippet": "This message has no headers at all. Somebody piped a text file straight into sendmail.",
    },
    "headers_only_no_body.eml": {
        "subject": "Nothing to see",
        "from": ("Empty Body", "empty@example.test"),
        "to": TO_ALICE,
        "message_id": "headers.only@example.test",
        "date": datetime(2024, 3, 15, 9, 0, tzinfo=UTC),
    },
    "nul_bytes.eml": {
        "subject": "HelloWorld",
        "from": ("Nul Sender", "nul@example.test"),
        "to": TO_ALICE,
        "message_id": "nulbyte@example.test",
        "references": ["ref1@example.test", "ref2@example.test"],
        "date": datetime(2024, 3, 15, 10, 0, tzinfo=UTC),
        "text": "Beforeafter.",
        "html": "Htmlbody",
        "attachments": [("evilname.bin", "application/octet-stream", len(NUL_ATTACHMENT), "", False)],
        "snippet": "Beforeafter.",
        "headers": {"x-mailer": "EvilMailer 1.0"},
    },
    "forwarded_message_rfc822.eml": {
        "subject": "Fwd: Original subject",
        "from": ("Alice Liddell", "alice@example.test"),
        "to": [("", "bob@example.test")],
        "message_id": "fwd.1@example.test",
        "date": datetime(2024, 3, 16, 11, 0, tzinfo=UTC),
        "text": "See the message below.\n",
        "attachments": [("Original subject.eml", "message/rfc822", len(FORWARDED_INNER), "", False)],
        "snippet": "See the message below.",
        "headers": {"user-agent": "Mozilla Thunderbird"},
    },
    "message_id_without_brackets.eml": {
        "subject": "Re: status",
        "from": ("Old Client", "old@legacy.example"),
        "to": TO_ALICE,
        "message_id": "1710496800.4242.old@legacy.example",
        "in_reply_to": "fourth@d.example",
        "references": ["root@a.example", "second@b.example", "third@c.example", "fourth@d.example"],
        "date": datetime(2024, 3, 15, 10, 0, tzinfo=UTC),
        "text": "Still waiting for the status.\n",
        "snippet": "Still waiting for the status.",
    },
    "obsolete_date.eml": {
        "subject": "From the archive",
        "from": ("Vintage Sender", "vintage@oldnet.example"),
        "to": TO_ALICE,
        "message_id": "archive.2003@oldnet.example",
        "date": datetime(2003, 7, 1, 10, 52, 37, tzinfo=EDT),
        "text": "Two-digit year, named zone.\n",
        "snippet": "Two-digit year, named zone.",
    },
    "garbage_date.eml": {
        "subject": "What time is it",
        "from": ("Broken Clock", "clock@example.test"),
        "to": TO_ALICE,
        "message_id": "garbage.date@example.test",
        "text": "Nobody knows.\n",
        "snippet": "Nobody knows.",
    },
    "thousand_recipients.eml": {
        "subject": "Company-wide announcement",
        "from": ("Announcer", "news@big.example"),
        "to": [(f"Recipient {i:04d}", f"r{i:04d}@big.example") for i in range(1, 1001)],
        "message_id": "all-hands@big.example",
        "date": datetime(2024, 3, 16, 9, 0, tzinfo=UTC),
        "text": "Everyone gets this one.\n",
        "snippet": "Everyone gets this one.",
    },
    "long_header_line.eml": {
        "subject": LONG_SUBJECT.strip(),
        "from": ("Verbose", "verbose@news.example"),
        "to": TO_ALICE,
        "message_id": "long.header@news.example",
        "date": datetime(2024, 3, 16, 10, 0, tzinfo=UTC),
        "text": "Short body.\n",
        "snippet": "Short body.",
        "headers": {"list-unsubscribe": LONG_UNSUBSCRIBE[:2000]},
    },
    "deeply_nested_multipart.eml": {
        "subject": "Fifty levels",
        "from": ("Russian Doll", "doll@matryoshka.example"),
        "to": TO_ALICE,
        "message_id": "fifty.levels@matryoshka.example",
        "date": datetime(2024, 3, 17, 10, 0, tzinfo=UTC),
        "text": "Deep inside fifty multiparts.",
        "attachments": [("deep.txt", "text/plain", len(b"found me"), "", False)],
        "snippet": "Deep inside fifty multiparts.",
    },
    "bounce_delivery_status.eml": {
        "subject": "Undelivered Mail Returned to Sender",
        "from": ("", "MAILER-DAEMON@mx.example.test"),
        "to": TO_ALICE,
        "message_id": "20240316120005.ABCDEF12345@mx.example.test",
        "date": datetime(2024, 3, 16, 12, 0, 5, tzinfo=UTC),
        "text": (
            "This is the mail system at host mx.example.test.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
            "<nobody@nowhere.example>: host mx.nowhere.example[192.0.2.1] said: 550 5.1.1\n"
            "    <nobody@nowhere.example>: Recipient address rejected: User unknown\n"
        ),
        "attachments": [
            ("attachment-1", "message/delivery-status", len(BOUNCE_REPORT), "", False),
            ("attachment-2", "text/rfc822-headers", len(BOUNCE_HEADERS), "", False),
        ],
        "snippet": (
            "This is the mail system at host mx.example.test. I'm sorry to have to inform you that your message "
            "could not be delivered to one or more recipients. <nobody@nowhere.example>: host mx.nowhere.example[…"
        ),
        "headers": {"auto-submitted": "auto-replied", "return-path": "<>"},
    },
}

DEFAULTS = {
    "subject": "",
    "from": ("", ""),
    "to": [],
    "cc": [],
    "message_id": "",
    "in_reply_to": "",
    "references": [],
    "date": None,
    "text": "",
    "html": "",
    "attachments": [],
    "snippet": "",
    "headers": {},
}


def summary(parsed: ParsedMessage) -> dict:
    return {
        "subject": parsed.subject,
        "from": (parsed.from_name, parsed.from_address),
        "to": [(a["name"], a["address"]) for a in parsed.to],
        "cc": [(a["name"], a["address"]) for a in parsed.cc],
        "message_id": parsed.message_id,
        "in_reply_to": parsed.in_reply_to,
        "references": parsed.references,
        "date": parsed.date,
        "text": parsed.text,
        "html": html_to_text(parsed.html),
        "attachments": [
            (a.filename, a.content_type, len(a.content), a.content_id, a.is_inline) for a in parsed.attachments
        ],
        "snippet": parsed.snippet,
        "headers": parsed.headers,
    }


def strings_in(value):
    """Every string inside a parsed message: fields, list items, dict keys and values."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)
    elif dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            yield from strings_in(getattr(value, f.name))


def assert_storable_text(parsed: ParsedMessage) -> None:
    """PostgreSQL rejects NUL in text and jsonb, and no driver can encode a lone surrogate."""
    strings = [*strings_in(parsed), parsed.snippet, parsed.body_text]
    for text in strings:
        assert "\x00" not in text, text[:80]
        assert not any("\ud800" <= ch <= "\udfff" for ch in text), text[:80]


# --- the corpus ------------------------------------------------------------------


def test_every_sample_has_expectations():
    assert sorted(EXPECTED) == SAMPLE_NAMES


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_is_parsed_to_the_fields_a_reader_sees(name):
    assert summary(parsed_sample(name)) == {**DEFAULTS, **EXPECTED[name]}


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_yields_no_nul_or_lone_surrogate_in_any_string(name):
    assert_storable_text(parsed_sample(name))


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_snippet_is_at_most_200_printable_characters(name):
    snippet = parsed_sample(name).snippet
    assert len(snippet) <= 200
    assert snippet == snippet.strip()
    assert all(ch.isprintable() for ch in snippet)


# --- charsets ---------------------------------------------------------------------


def test_lying_utf8_charset_falls_back_to_windows_1252():
    parsed = parsed_sample("lying_utf8_charset_latin1_bytes.eml")

    assert "120 €" in parsed.text  # 0x80 is the euro sign only in Windows-1252
    assert parsed.subject == "Reçu : facture n° 42"  # an encoded-word that lies the same way
    assert parsed.from_name == "Françoise Dupré"  # raw Latin-1 bytes in the header
    assert "\ufffd" not in parsed.text + parsed.subject + parsed.from_name


def test_unknown_charset_label_is_read_as_utf8():
    parsed = parsed_sample("unknown_charset.eml")

    assert parsed.text == "Bonjour Alice, la réunion est déplacée à 15 h.\n"
    assert (parsed.subject, parsed.from_name) == ("Réunion à 15 h", "René François")


def test_gb2312_label_decodes_gbk_only_characters_through_gb18030():
    parsed = parsed_sample("chinese_gb2312.eml")

    assert parsed.subject == "你好，周五一起吃饭吗？"
    assert "朱镕基路" in parsed.text  # 镕 is in GBK, not in GB2312
    assert parsed.from_name == "张三"


def test_iso_2022_jp_with_nec_circled_digits_decodes_the_whole_body():
    parsed = parsed_sample("japanese_iso2022jp.eml")

    assert "①予算の見直し\n②スケジュールの確認" in parsed.text
    assert "\x1b" not in parsed.text
    assert parsed.subject == "会議の議事録について"


def test_iso_2022_jp_half_width_katakana_decodes():
    # ESC ( I switches to JIS X 0201 katakana, which Python's iso2022_jp rejects.
    assert decode_bytes(b"\x1b(I6@6E\x1b(B \x1b$B%+%?%+%J\x1b(B", "ISO-2022-JP") == "ｶﾀｶﾅ カタカナ"


def test_iso_2022_jp_with_one_unmappable_character_keeps_the_rest_japanese():
    # Row 9 of JIS X 0208 is empty: only that character is lost, not the whole text to escape codes.
    text = decode_bytes(b"\x1b$B%+)!%+\x1b(B", "iso-2022-jp")

    assert text.startswith("カ") and text.endswith("カ")
    assert "\ufffd" in text
    assert "\x1b" not in text


def test_raw_8bit_utf8_headers_decode_without_encoded_words():
    parsed = parsed_sample("raw_utf8_headers.eml")

    assert parsed.subject == "Grüße aus München – 東京にて"
    assert (parsed.from_name, parsed.from_address) == ("Jürgen Müller", "jm@example.de")
    assert [a["name"] for a in parsed.to] == ["Zoë Saldaña", "山田太郎"]
    assert parsed.attachments[0].filename == "Übersicht März.txt"


def test_windows_1252_unassigned_bytes_become_replacement_characters():
    # 0x81 has no character in Windows-1252; the rest of the text must survive.
    assert decode_bytes(b"caf\xe9 \x81 cr\xe8me", "utf-8") == "café \ufffd crème"


def test_declared_single_byte_charset_survives_an_unassigned_byte():
    # 0xAE is unassigned in ISO-8859-7: keep reading Greek rather than switch to Windows-1252.
    assert decode_bytes("Καλημέρα".encode("iso8859-7") + b"\xae", "iso-8859-7") == "Καλημέρα\ufffd"


@pytest.mark.parametrize("charset", ["undefined", "idna", "punycode", "base64", "rot13", "utf-8\x00", "x" * 300])
def test_charset_labels_python_cannot_decode_with_fall_back_to_utf8(charset):
    raw = (
        f'Subject: =?{charset}?q?caf=C3=A9?=\r\nContent-Type: text/plain; charset="{charset}"\r\n\r\ncafé\r\n'
    ).encode()

    parsed = parse_message(raw)

    assert parsed.text == "café\n"
    assert parsed.subject == "café"
    assert_storable_text(parsed)


@pytest.mark.parametrize("charset", ["unicode-escape", "raw-unicode-escape"])
def test_escape_codecs_are_not_charsets(charset):
    raw = f"Subject: =?{charset}?q?=5Cud800?=\r\nContent-Type: text/plain; charset={charset}\r\n\r\n\\ud800\\x00\r\n"

    parsed = parse_message(raw.encode())

    assert parsed.text == "\\ud800\\x00\n"  # the backslashes are text, not escapes
    assert parsed.subject == "\\ud800"
    assert_storable_text(parsed)


def test_utf7_lone_surrogate_never_reaches_the_text():
    parsed = parse_message(b"Content-Type: text/plain; charset=utf-7\r\n\r\nHi +2AA- there\r\n")

    assert parsed.text == "Hi \ufffd there\n"  # an unpaired surrogate is a bad UTF-7 sequence
    assert_storable_text(parsed)


def test_utf7_text_is_decoded():
    assert decode_bytes(b"Hi Mom -+Jjo--!", "utf-7") == "Hi Mom -☺-!"


def test_adjacent_encoded_words_splitting_a_character_are_joined():
    # "été" in UTF-8 is C3 A9 74 C3 A9; the first word ends mid-character.
    parsed = parse_message(b"Subject: =?utf-8?Q?=C3?= =?utf-8?Q?=A9t=C3=A9?= ensoleill=?utf-8?q?=C3=A9?=\r\n\r\n")

    assert parsed.subject == "été ensoleillé"


def test_encoded_words_keep_the_text_between_them():
    parsed = parse_message(b"Subject: Re: =?utf-8?B?w5xiZXJzaWNodA==?= and =?iso-8859-1?q?caf=E9?= (2)\r\n\r\n")

    assert parsed.subject == "Re: Übersicht and café (2)"


def test_word_with_an_unknown_encoding_stays_as_written():
    # Raw 8-bit bytes inside a word are decoded: see test_header_decoding.py.
    parsed = parse_message(b"Subject: =?utf-8?B?w5xi?= =?utf-8?X?caf=C3=A9?=\r\n\r\n")

    assert parsed.subject == "Üb =?utf-8?X?caf=C3=A9?="


def test_encoded_word_in_a_lying_charset_inside_a_display_name_is_decoded():
    parsed = parse_message(b"From: =?utf-8?Q?J=FCrgen_M=FCller?= <jm@example.de>\r\n\r\n")

    assert (parsed.from_name, parsed.from_address) == ("Jürgen Müller", "jm@example.de")


# --- structure ----------------------------------------------------------------------


def test_forwarded_message_attachment_keeps_the_exact_inner_bytes():
    parsed = parse_message(FORWARDED)

    (attachment,) = parsed.attachments
    assert attachment.content == FORWARDED_INNER  # CRLF and the folded DKIM-Signature untouched
    assert "inner text" not in parsed.text
    assert parse_message(attachment.content).subject == "Original subject"


def test_delivery_status_report_is_kept_whole_with_its_own_content_type():
    status, returned = parse_message(BOUNCE).attachments

    assert (status.content_type, status.content) == ("message/delivery-status", BOUNCE_REPORT)
    assert b"Final-Recipient: rfc822; nobody@nowhere.example" in status.content  # the second block too
    assert (returned.content_type, returned.content) == ("text/rfc822-headers", BOUNCE_HEADERS)


def test_message_rfc822_that_cannot_be_located_in_the_raw_bytes_is_regenerated():
    # No boundary parameter: the parts cannot be re-split, so the embedded message is rebuilt.
    raw = b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n"

    (attachment,) = parse_message(raw).attachments

    assert attachment.content_type == "message/rfc822"
    assert attachment.filename == "attachment-1.eml"
    assert parse_message(attachment.content).subject == "inner"


def test_missing_close_boundary_still_yields_the_parts():
    parsed = parsed_sample("broken_boundary_missing_close.eml")

    assert parsed.text == "Your scan is attached.\n"
    assert parsed.attachments[0].content == PDF
    assert "CloseBoundaryNotFoundDefect" in parsed.defects


def test_truncated_base64_attachment_decodes_every_complete_quantum():
    parsed = parsed_sample("bad_base64_body.eml")

    assert parsed.attachments[0].content == BUILD_LOG[:48]
    assert parsed.text == "Build 456 passed: 12 tests, 0 failures.\n"  # junk characters and no padding
    assert {"InvalidBase64CharactersDefect", "InvalidBase64LengthDefect"} <= set(parsed.defects)


def test_concatenated_base64_with_padding_in_the_middle_decodes_each_piece():
    raw = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8s=IHdvcmxkIQ==\r\n"

    assert parse_message(raw).text == "Hello, world!"


def test_inline_image_is_an_attachment_but_not_a_visible_one():
    parsed = parsed_sample("apple_mail_related_inline_image.eml")

    (image,) = parsed.attachments
    assert image.content == PNG_1X1
    assert image.is_inline
    assert image.content_id == "2F1E4B6A-7C8D-4E9F-A0B1-C2D3E4F5A6B7@example.test"
    assert f"cid:{image.content_id}" in parsed.html


def test_rfc2231_and_rfc2047_attachment_names_are_decoded():
    names = [a.filename for a in parsed_sample("rfc2231_attachment_filename.eml").attachments]

    assert names == ["报告 2024.pdf", "Grüße aus München.txt", "Übersicht Q1.xlsx", "résumé.txt"]


def test_rfc2231_filename_is_preferred_to_its_plain_fallback_and_its_charset_may_lie():
    raw = (
        b"Content-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename=\"fallback.pdf\"; filename*=utf-8''%E9t%E9.pdf\r\n\r\nx"
    )

    assert parse_message(raw).attachments[0].filename == "été.pdf"


def test_attachment_names_cannot_carry_paths_or_control_characters():
    raw = b'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="../../etc/pass\x01wd"\r\n\r\nx'

    assert parse_message(raw).attachments[0].filename == "passwd"  # the path's last component


def test_bare_lf_and_mixed_line_endings_become_newlines_in_the_text():
    assert parsed_sample("bare_lf_line_endings.eml").text.count("\n") == 2
    assert parsed_sample("mixed_cr_lf_line_endings.eml").text == "first line\nsecond line\nthird line\nfourth line\n"


def test_header_ending_in_a_lone_cr_is_still_a_header():
    parsed = parsed_sample("mixed_cr_lf_line_endings.eml")

    assert parsed.subject == "Line endings are a mess"  # folded, then ended by a lone CR
    assert parsed.date == datetime(2024, 3, 14, 16, 45, tzinfo=UTC)


def test_message_without_headers_is_all_body():
    parsed = parsed_sample("no_headers.eml")

    assert parsed.text.startswith("This message has no headers at all.\n")
    assert (parsed.subject, parsed.message_id, parsed.date) == ("", "", None)
    assert "MissingHeaderBodySeparatorDefect" in parsed.defects


def test_message_with_headers_only_has_an_empty_body():
    parsed = parsed_sample("headers_only_no_body.eml")

    assert (parsed.subject, parsed.text, parsed.html, parsed.attachments) == ("Nothing to see", "", "", [])


def test_nul_bytes_are_dropped_from_text_but_kept_in_binary_attachments():
    parsed = parsed_sample("nul_bytes.eml")

    assert (parsed.subject, parsed.from_name, parsed.message_id) == ("HelloWorld", "Nul Sender", "nulbyte@example.test")
    assert parsed.text == "Beforeafter."
    assert parsed.attachments[0].content == NUL_ATTACHMENT
    assert parsed.attachments[0].filename == "evilname.bin"


def test_fifty_nested_multiparts_reach_the_innermost_text():
    parsed = parsed_sample("deeply_nested_multipart.eml")

    assert parsed.text == "Deep inside fifty multiparts."
    assert parsed.attachments[0].content == b"found me"


def test_thousand_nesting_levels_do_not_lose_the_headers():
    head = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(1000))
    tail = b"".join(b"\r\n--b%d--" % i for i in reversed(range(1000)))
    raw = (
        b"Subject: deep\r\nMessage-ID: <deep@example.test>\r\n"
        + head
        + b"Content-Type: text/plain\r\n\r\nbottom"
        + tail
    )

    parsed = parse_message(raw)

    assert (parsed.subject, parsed.message_id) == ("deep", "deep@example.test")
    # The standard parser recurses per level; if it gives up, the headers are still there.
    assert parsed.text == "bottom" or "unparseable: RecursionError" in parsed.defects


def test_thousand_nested_forwarded_messages_stay_within_the_attachment():
    raw = b"Subject: inner\r\n\r\ninnermost"
    for level in range(300):
        raw = b"Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n" % level + raw

    parsed = parse_message(raw)

    assert parsed.subject == "level 299"
    (attachment,) = parsed.attachments
    assert attachment.content == raw[raw.index(b"Subject: level 298") :]


def test_more_parts_than_the_limit_keeps_the_first_attachments():
    parts = b"".join(
        b"--b\r\nContent-Type: application/x-part-%d\r\n\r\nx\r\n" % i for i in range(MAX_ATTACHMENTS + 99)
    )
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        + parts
        + b"--b\r\nContent-Type: text/plain\r\n\r\nend\r\n--b--"
    )

    parsed = parse_message(raw)

    assert len(parsed.attachments) == MAX_ATTACHMENTS
    assert parsed.attachments[-1].content_type == f"application/x-part-{MAX_ATTACHMENTS - 1}"
    assert parsed.text == "end"  # text after the limit is still read
    assert "TooManyAttachmentsDefect" in parsed.defects


# --- headers --------------------------------------------------------------------------


def test_message_id_without_brackets_and_junk_between_references():
    parsed = parsed_sample("message_id_without_brackets.eml")

    assert parsed.message_id == "1710496800.4242.old@legacy.example"
    assert parsed.in_reply_to == "fourth@d.example"
    assert parsed.references == ["root@a.example", "second@b.example", "third@c.example", "fourth@d.example"]


def test_references_longer_than_the_limit_keep_the_root_and_the_latest():
    parsed = parsed_sample("gmail_reply_long_references.eml")

    assert len(parsed.references) == MAX_REFERENCES
    assert parsed.references[0] == GMAIL_REFS[0]  # the thread's root
    assert parsed.references[1:] == GMAIL_REFS[-(MAX_REFERENCES - 1) :]
    assert parsed.thread_keys[:2] == [parsed.message_id, GMAIL_REFS[-1]]


def test_obsolete_two_digit_year_and_named_zone_date_parses():
    assert parsed_sample("obsolete_date.eml").date == datetime(2003, 7, 1, 14, 52, 37, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    ["sometime next week, probably", "Mon, 32 Dec 2020 10:00:00 +0000", "Mon, 1 Jan 2020 10:00:00 +9959", "1 Jan 1900"],
)
def test_unusable_date_is_none(value):
    assert parse_message(f"Date: {value}\r\n\r\n".encode()).date is None


def test_date_without_zone_is_taken_as_utc():
    assert parse_message(b"Date: Tue, 5 Mar 2024 09:14:22 -0000\r\n\r\n").date == datetime(
        2024, 3, 5, 9, 14, 22, tzinfo=UTC
    )


def test_thousand_recipients_are_all_listed():
    to = parsed_sample("thousand_recipients.eml").to

    assert len(to) == 1000
    assert to[0] == {"name": "Recipient 0001", "address": "r0001@big.example"}
    assert to[-1] == {"name": "Recipient 1000", "address": "r1000@big.example"}


def test_5000_character_header_line_is_kept_whole():
    assert len("Subject: " + LONG_SUBJECT) == len("List-Unsubscribe: " + LONG_UNSUBSCRIBE) == 5000

    parsed = parse_message(LONG_LINES)

    assert parsed.subject == LONG_SUBJECT.strip()
    assert parsed.headers["list-unsubscribe"] == LONG_UNSUBSCRIBE[:2000]  # kept headers are capped


def test_long_address_list_with_encoded_names_is_split_before_decoding():
    # Past the size the standard parser handles; a decoded name holds a comma.
    names = ",\r\n ".join(f"=?iso-8859-1?Q?M=FCller=2C_J=FCrgen_{i:04d}?= <j{i:04d}@example.de>" for i in range(600))
    parsed = parse_message(f"To: {names}\r\n\r\n".encode())

    assert len(parsed.to) == 600
    assert parsed.to[599] == {"name": "Müller, Jürgen 0599", "address": "j0599@example.de"}


def test_group_syntax_and_null_sender_give_no_addresses():
    parsed = parse_message(
        b"From: <>\r\nTo: undisclosed-recipients:;\r\nCc: Team: a@example.test, b@example.test;\r\n\r\n"
    )

    assert (parsed.from_address, parsed.to) == ("", [])
    assert [a["address"] for a in parsed.cc] == ["a@example.test", "b@example.test"]


# --- hostile input stays cheap ----------------------------------------------------------


def peak_memory_of(function, *args):
    tracemalloc.start()
    try:
        result = function(*args)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_subject_of_100kb_encoded_words_is_decoded_with_little_memory():
    # The standard header parser needs ~350 MB for this (and gigabytes for a megabyte).
    raw = b"Subject: " + b"=?utf-8?q?a?= " * 7000 + b"\r\n\r\n"

    parsed, peak = peak_memory_of(parse_message, raw)

    assert parsed.subject == "a" * 7000
    assert peak < 30_000_000


def test_display_name_of_40kb_encoded_words_is_decoded_with_little_memory():
    raw = b"From: " + b"=?utf-8?q?a?= " * 3000 + b"<a@example.test>\r\n\r\n"

    parsed, peak = peak_memory_of(parse_message, raw)

    assert (parsed.from_name, parsed.from_address) == ("a" * 300, "a@example.test")
    assert peak < 30_000_000


def test_content_type_with_200kb_of_parameters_parses():
    # Quadratic in the standard parser; how long it takes here is measured in bench/hostile_parsing.py.
    raw = b"Content-Type: text/plain; " + b'a="b;c"; ' * 22000 + b"charset=utf-8\r\n\r\nbody"

    parsed = parse_message(raw)

    assert parsed.text == "body"


def test_thousands_of_mime_parts_all_parse():
    parts = b"".join(b"--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nx\r\n" for _ in range(10000))
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"

    parsed = parse_message(raw)

    assert parsed.text.count("x") == 10000


def test_hostile_html_only_message_gets_its_snippet():
    # html.parser backtracks on unterminated tags (30 KB of "<a " took ten seconds); see bench/hostile_parsing.py.
    raw = b"Content-Type: text/html\r\n\r\n<p>Hello</p>" + b"<a " * 10000

    snippet = parse_message(raw).snippet

    assert snippet == "Hello"


# --- text helpers -------------------------------------------------------------------------


def test_html_source_line_breaks_are_spaces_not_new_lines():
    assert html_to_text("<p>Angebot gültig\r\nbis   Ende\tMärz</p><p>Zweiter\nAbsatz</p>") == (
        "Angebot gültig bis Ende März\n\nZweiter Absatz"
    )


def test_html_pre_keeps_its_line_breaks():
    assert html_to_text("<pre>line one\nline two</pre>") == "line one\nline two"


def test_html_script_style_title_and_head_are_not_text():
    html = (
        "<html><head><title>Title</title><style>p { color: red }</style></head>"
        "<body><script>if (a < b && c > d) { x('<p>') }</script><p>Visible</p><noscript>Enable JS</noscript></body>"
    )

    assert html_to_text(html) == "Visible"


def test_html_unclosed_head_does_not_hide_the_body():
    assert html_to_text("<html><head><meta charset=utf-8><body>Body text") == "Body text"


def test_html_attribute_containing_greater_than_does_not_leak_into_text():
    assert html_to_text('<img alt="a > b" src="x.png">after &amp; &lt;tag&gt; &#x1F600;') == "after & <tag> 😀"


def test_html_comments_and_conditional_comments_are_not_text():
    assert html_to_text("a<!-- hidden -->b<!--[if mso]><p>mso</p><![endif]-->c<!-- unterminated") == "abc"


def test_html_numeric_reference_to_nul_or_surrogate_becomes_a_replacement_character():
    assert html_to_text("x&#0;y&#xD800;z") == "x\ufffdy\ufffdz"


def test_snippet_skips_quoted_lines_and_stops_at_the_signature():
    assert make_snippet("> earlier\n>> older\nThanks,\n  Bob\n-- \nBob Builder\nACME") == "Thanks, Bob"


def test_snippet_is_cut_at_200_characters_with_an_ellipsis():
    snippet = make_snippet("word " * 100)

    assert len(snippet) == 200
    assert snippet.endswith("word…")


def test_snippet_of_a_huge_body_reads_only_its_beginning():
    text = "Hello there.\n" + "x" * 50 + "\n" + "filler line\n" * 3_000_000

    snippet = make_snippet(text)

    assert snippet.startswith("Hello there. xxxx")


def test_the_indexers_body_text_is_parse_messages():
    for raw in (
        b"From: a@example.test\r\nSubject: plain\r\n\r\nHello there\r\n",
        b'From: a@example.test\r\nContent-Type: text/html; charset="utf-8"\r\n\r\n'
        b"<p>Caf\xc3\xa9 <b>au</b> lait</p>\r\n",
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nplain part\r\n"
        b"--b\r\nContent-Type: text/html\r\n\r\n<p>html part</p>\r\n--b--\r\n",
    ):
        assert parse_body_text(raw) == parse_message(raw).body_text != ""
