"""Header decoding where Python's ``email`` package reads real mail wrong (issue 15, header decoding).

Each sample is written the way the mailers that send it write it; the expected
value is what Thunderbird, Gmail and Apple Mail show.
"""

import base64
import re
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import create_api_token
from mailboxes.blobstore import read_blob
from mailboxes.header_text import decode_encoded_words, safe_filename
from mailboxes.models import Attachment
from mailboxes.parsing import parse_body_text, parse_message
from mailboxes.search.indexing import index_items
from mailboxes.search.services import search
from tests.factories import deliver


def b_word(charset: str, data: bytes) -> bytes:
    return b"=?" + charset.encode() + b"?B?" + base64.b64encode(data) + b"?="


def with_attachment(part_headers: bytes, *, top: bytes = b"") -> bytes:
    return (
        b"From: Ann <ann@example.test>\r\nTo: bob@example.test\r\nSubject: Files\r\n" + top + b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XyZ"\r\n\r\n'
        b"--XyZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"
        b"--XyZ\r\n" + part_headers + b"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--XyZ--\r\n"
    )


def filename_of(part_headers: bytes) -> str:
    (attachment,) = parse_message(with_attachment(part_headers)).attachments
    return attachment.filename


# --- 1. raw 8-bit bytes inside an encoded-word --------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "=?iso-8859-1?Q?Die_Hasen_und_die_Frösche?=".encode(),  # a UTF-8 editor, a Latin-1 label
        "=?iso-8859-1?Q?Die_Hasen_und_die_Frösche?=".encode("latin-1"),  # the label's own bytes
        "=?utf-8?Q?Die_Hasen_und_die_Frösche?=".encode("latin-1"),  # the label lies about the raw bytes
        b"=?UTF-8?q?Die_Hasen_und_die_Fr=C3=B6sche?=",  # the standard way, for comparison
        b"=?iso-8859-1?q?Die_Hasen_und_die_Fr=F6sche?=",
        b"=?ISO-8859-1?Q?Die_Hasen_und_die_?=\r\n =?ISO-8859-1?Q?Fr=F6sche?=",  # folded
    ],
)
def test_raw_8bit_bytes_inside_an_encoded_word_are_decoded(written):
    parsed = parse_message(b"Subject: " + written + b"\r\nFrom: " + written + b" <hasen@example.de>\r\n\r\nx")

    assert parsed.subject == "Die Hasen und die Frösche"
    assert (parsed.from_name, parsed.from_address) == ("Die Hasen und die Frösche", "hasen@example.de")


def test_raw_bytes_beside_escaped_ones_are_read_in_their_own_charset():
    # The escaped bytes are Latin-1 as declared; the raw ones came from a UTF-8 keyboard.
    parsed = parse_message("Subject: =?iso-8859-1?Q?=C4pfel_und_Birnen_für_M=FCller?=\r\n\r\n".encode())

    assert parsed.subject == "Äpfel und Birnen für Müller"


def test_raw_gb2312_inside_a_gb2312_word_is_decoded_in_that_charset():
    parsed = parse_message(b"Subject: =?gb2312?Q?" + "会议通知".encode("gb2312") + b"?=\r\n\r\n")

    assert parsed.subject == "会议通知"


# --- 2. white space before the colon (RFC 5322 §4.5.8) ------------------------------------

OBSOLETE_SPACING = (
    b"Return-Path : <ann@example.test>\r\n"
    b"From : Ann Example <ann@example.test>\r\n"
    b"To\t: Bob <bob@example.test>\r\n"
    b"Cc  : carol@example.test\r\n"
    b"Subject : Minutes of the meeting\r\n"
    b"Date : Fri, 4 Dec 2026 09:30:00 +0100\r\n"
    b"Message-ID : <minutes-42@example.test>\r\n"
    b"In-Reply-To : <agenda-41@example.test>\r\n"
    b"References : <agenda-40@example.test>\r\n <agenda-41@example.test>\r\n"
    b"MIME-Version : 1.0\r\n"
    b"Content-Type : text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Subject : this line is body text and stays as written\r\n"
)


def test_space_before_the_colon_is_still_the_header():
    parsed = parse_message(OBSOLETE_SPACING)

    assert parsed.subject == "Minutes of the meeting"
    assert (parsed.from_name, parsed.from_address) == ("Ann Example", "ann@example.test")
    assert parsed.to == [{"name": "Bob", "address": "bob@example.test"}]
    assert parsed.cc == [{"name": "", "address": "carol@example.test"}]
    assert parsed.date == datetime(2026, 12, 4, 8, 30, tzinfo=UTC)
    assert parsed.message_id == "minutes-42@example.test"
    assert parsed.in_reply_to == "agenda-41@example.test"
    assert parsed.references == ["agenda-40@example.test", "agenda-41@example.test"]
    assert parsed.headers["return-path"] == "<ann@example.test>"
    assert parsed.text == "Subject : this line is body text and stays as written\n"
    assert "MissingHeaderBodySeparatorDefect" not in parsed.defects
    assert parse_body_text(OBSOLETE_SPACING) == parsed.text


@pytest.mark.parametrize("line_break", [b"\n", b"\r"])
def test_space_before_the_colon_is_read_whatever_the_line_breaks(line_break):
    parsed = parse_message(OBSOLETE_SPACING.replace(b"\r\n", line_break))

    assert (parsed.subject, parsed.message_id) == ("Minutes of the meeting", "minutes-42@example.test")
    assert parsed.text == "Subject : this line is body text and stays as written\n"


def test_a_header_like_line_in_the_body_is_not_a_header():
    parsed = parse_message(b"Subject: Notes\r\n\r\nSubject : not this\r\nFrom : nor this\r\n")

    assert (parsed.subject, parsed.from_address) == ("Notes", "")
    assert parsed.text == "Subject : not this\nFrom : nor this\n"


def test_space_before_the_colon_in_a_multipart_message_keeps_every_part_and_its_bytes():
    forwarded = b"From: Carol <carol@example.test>\r\nSubject: Original\r\n\r\nOriginal text.\r\n"
    raw = (
        b"From : Ann <ann@example.test>\r\nSubject : Forwarded\r\nMIME-Version : 1.0\r\n"
        b'Content-Type : multipart/mixed; boundary="XyZ"\r\n\r\n'
        b"--XyZ\r\nContent-Type: text/plain\r\n\r\nBelow.\r\n"
        b"--XyZ\r\nContent-Type: message/rfc822\r\n\r\n" + forwarded + b"--XyZ--\r\n"
    )

    parsed = parse_message(raw)

    assert (parsed.subject, parsed.text) == ("Forwarded", "Below.")
    # The line break before the delimiter belongs to the delimiter.
    assert [(a.filename, a.content) for a in parsed.attachments] == [("attachment-1.eml", forwarded[:-2])]
    assert parsed.fingerprint == parse_message(raw.replace(b" :", b":")).fingerprint


# --- 3. display names split across encoded-words ------------------------------------------


@pytest.mark.parametrize(
    ("charset", "name", "cut"),
    [
        ("utf-8", "張偉明", 4),  # in the middle of the second character
        ("utf-8", "Jürgen Müller", 2),  # in the middle of ü
        ("iso-2022-jp", "山田太郎", 7),  # after the escape sequence and one and a half characters
        ("gb2312", "王小明", 3),  # in the middle of the second character
        ("shift_jis", "佐藤花子", 5),
        ("euc-kr", "김민준", 3),
    ],
)
def test_display_name_split_across_words_is_joined_without_spaces(charset, name, cut):
    encoded = name.encode(charset)
    words = b_word(charset, encoded[:cut]) + b"\r\n " + b_word(charset, encoded[cut:])
    raw = b"From: " + words + b" <sender@example.test>\r\nTo: " + words + b" <a@example.test>, b@example.test\r\n"

    parsed = parse_message(raw + b"Subject: " + words + b"\r\n\r\nx")

    assert (parsed.from_name, parsed.from_address) == (name, "sender@example.test")
    assert parsed.to == [{"name": name, "address": "a@example.test"}, {"name": "", "address": "b@example.test"}]
    assert parsed.subject == name


def test_whitespace_between_words_is_dropped_but_text_beside_them_is_kept():
    raw = (
        b"From: =?utf-8?B?5byg?= =?utf-8?B?5LiJ?= (Sales) <zhang@example.cn>\r\n"
        b"To: Dr. =?utf-8?Q?J=C3=BCrgen?= =?utf-8?Q?_M=C3=BCller?= Jr. <jm@example.de>,\r\n"
        b" =?utf-8?Q?M=C3=BCller=2C_Anna?= <am@example.de>\r\n\r\nx"
    )

    parsed = parse_message(raw)

    assert parsed.from_name == "张三"
    assert parsed.to == [
        {"name": "Dr. Jürgen Müller Jr.", "address": "jm@example.de"},
        {"name": "Müller, Anna", "address": "am@example.de"},  # a decoded comma does not split the list
    ]


def test_encoded_words_inside_quoted_strings_are_decoded():
    raw = b'From: "=?utf-8?Q?Fran=C3=A7ois?= =?utf-8?Q?_Dupont?=, Ventes" <fd@example.fr>\r\n\r\nx'

    assert parse_message(raw).from_name == "François Dupont, Ventes"


def test_address_that_looks_like_an_encoded_word_is_kept_as_written():
    raw = b"To: =?utf-8?q?Ann?= <=?utf-8?q?x?=@example.test>, =?us-ascii?q?bob?=@example.test\r\n\r\nx"

    assert [entry["address"] for entry in parse_message(raw).to] == [
        "=?utf-8?q?x?=@example.test",
        "=?us-ascii?q?bob?=@example.test",
    ]


# --- messy encoded-words ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        (b"=?x-unknown?Q?caf=C3=A9?=", "café"),  # unknown charset: UTF-8 when the bytes are UTF-8
        (b"=?x-unknown?Q?caf=E9?=", "café"),  # else Windows-1252
        (b"=?us-ascii?Q?caf=E9?=", "café"),  # a lying 7-bit label
        (b"=?utf-8?Q?caf=E9?=", "café"),  # UTF-8 label on Latin-1 bytes
        (b"=?utf-8?b?Y2Fmw6k?=", "café"),  # lower-case b, no padding
        (b"=?utf-8?B?Y2Fmw6k=====?=", "café"),  # too much padding
        (b"=?utf-8?B?Y2Fm w6k=?=", "=?utf-8?B?Y2Fm w6k=?="),  # white space inside is no word
        (b"=?utf-8?q?caf=C3=A9", "café"),  # "?=" missing at the end
        (b"Re: =?utf-8?Q?caf=C3=A9", "Re: café"),
        (b"=?utf-8*fr?Q?caf=C3=A9?=", "café"),  # RFC 2231 language
        (b"=?utf-8?Q?caf=C3=A9?==?utf-8?Q?_cr=C3=A8me?=", "café crème"),  # no space between words
        (b"=?utf-8?Q?100=_sure?=", "100= sure"),  # a broken escape stays
        (b'"=?utf-8?Q?caf=C3=A9?="', '"café"'),  # in quotes, in an unstructured header
        (b"=?utf-7?Q?caf+AOk-?=", "café"),
        (b"=?unicode-escape?Q?=5Cu0041?=", "\\u0041"),  # not a mail charset: the text as written
        (b"=?utf-8?X?caf=C3=A9?=", "=?utf-8?X?caf=C3=A9?="),  # unknown encoding: left as written
    ],
)
def test_messy_encoded_words_decode_sensibly(written, shown):
    assert parse_message(b"Subject: " + written + b"\r\n\r\nx").subject == shown


def test_raw_utf8_and_raw_latin1_headers_are_text():
    raw = "From: Zoë Ångström <zoe@example.se>\r\nSubject: Smörgåsbord für alle\r\n\r\nx"

    for encoding in ("utf-8", "latin-1"):
        parsed = parse_message(raw.encode(encoding))
        assert (parsed.from_name, parsed.subject) == ("Zoë Ångström", "Smörgåsbord für alle")


def test_very_long_header_of_raw_8bit_words_is_decoded_whole():
    word = "=?iso-8859-1?Q?Gr=FC=DFe_aus_M=FCnchen_und_Fröschen_?=".encode()
    parsed = parse_message(b"Subject: " + b"\r\n ".join([word] * 5000) + b"\r\n\r\nx")

    assert parsed.subject == ("Grüße aus München und Fröschen " * 5000).strip()


@pytest.mark.parametrize(
    "text",
    ["=?utf-8?q?\udcff\udcfe?=", "=?\udcff?q?a?=", "=?utf-8?b?\ud800?=", "=?" * 1000, "\ue000=?a?q?b?=\ue001"],
)
def test_hostile_encoded_words_never_raise(text):
    assert isinstance(decode_encoded_words(text), str)


# --- 4. attachment names ------------------------------------------------------------------


@pytest.mark.parametrize(
    "part_headers",
    [
        # Outlook Express and old Lotus Notes sent the path the file was attached from.
        b'Content-Type: application/msword\r\nContent-Disposition: attachment; filename="C:\\TEMP\\report.doc"',
        b'Content-Type: application/msword; name="C:\\\\Users\\\\ann\\\\report.doc"',
        b"Content-Type: application/msword\r\nContent-Disposition: attachment; filename=C:\\TEMP\\report.doc",
        b'Content-Type: application/msword\r\nContent-Disposition: attachment; filename="/home/ann/report.doc"',
        b'Content-Type: application/msword\r\nContent-Disposition: attachment; filename="C:report.doc"',
        b'Content-Type: application/msword\r\nContent-Disposition: attachment; filename="\\\\srv\\share\\report.doc"',
    ],
)
def test_attachment_path_becomes_its_file_name(part_headers):
    assert filename_of(part_headers) == "report.doc"


@pytest.mark.parametrize(
    ("part_headers", "name"),
    [
        # RFC 2231 continuations with a charset, the first segment encoded and a plain one after it.
        (
            b"Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n"
            b" filename*0*=utf-8''%E5%B9%B4%E5%BA%A6%E5%A0%B1; filename*1*=%E5%91%8A%E6%9B%B8;\r\n"
            b' filename*2=" 2026.pdf"',
            "年度報告書 2026.pdf",
        ),
        (
            b"Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n"
            b" filename*=iso-8859-1'de'%DCbersicht%20M%E4rz.pdf",
            "Übersicht März.pdf",
        ),
        # Raw UTF-8 beside the percent-encoding (webmail forms that encode only part of the name).
        ("Content-Disposition: attachment; filename*=utf-8''%E5%B9%B4度報告.pdf".encode(), "年度報告.pdf"),
        # RFC 2047 in a quoted name: against the standard, sent by Outlook, Gmail and most others.
        (
            b'Content-Type: application/pdf; name="=?utf-8?B?5bm05bqm5aCx?= =?utf-8?B?5ZGK5pu4LnBkZg==?="\r\n'
            b'Content-Disposition: attachment; filename="=?utf-8?B?5bm05bqm5aCx?= =?utf-8?B?5ZGK5pu4LnBkZg==?="',
            "年度報告書.pdf",
        ),
        (
            b'Content-Type: application/pdf; name="'
            + b_word("iso-2022-jp", "山田花子".encode("iso-2022-jp"))
            + b'.pdf"',
            "山田花子.pdf",
        ),
        (b'Content-Type: text/plain; name="=?iso-8859-1?Q?Fr=F6sche_und_Hasen?=.txt"', "Frösche und Hasen.txt"),
        ('Content-Disposition: attachment; filename="Smörgåsbord.txt"'.encode(), "Smörgåsbord.txt"),  # raw UTF-8
        ('Content-Disposition: attachment; filename="Smörgåsbord.txt"'.encode("latin-1"), "Smörgåsbord.txt"),
        # The name only in Content-Type (Apple Mail, many scanners), the disposition bare.
        (b'Content-Type: image/jpeg; name="IMG_0042.JPG"\r\nContent-Disposition: attachment', "IMG_0042.JPG"),
        (b'Content-Type: image/jpeg; name="IMG_0042.JPG"\r\nContent-Disposition: inline', "IMG_0042.JPG"),
    ],
)
def test_attachment_names_keep_their_characters(part_headers, name):
    assert filename_of(part_headers) == name


@pytest.mark.parametrize(
    ("written", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\win.ini", "win.ini"),
        ("report\x00.pdf\x01.exe", "report.pdf.exe"),  # NUL and controls dropped, nothing hidden behind them
        ("...hidden", "hidden"),
        ("..", ""),
        ("C:\\", ""),
        ('Q1: plan <draft> | "final"?.docx', "Q1_ plan _draft_ _ _final_.docx"),
        ("  name  with\ttabs .pdf. ", "name with tabs .pdf"),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),  # cut in the middle, the extension kept
        ("ü" * 300, "ü" * 255),
        ("Résumé – Jürgen (2026).pdf", "Résumé – Jürgen (2026).pdf"),
        ("\u200fگزارش\u200cها\xa0۱۴۰۵.pdf", "\u200fگزارش\u200cها ۱۴۰۵.pdf"),  # marks and joiners are text
        (
            "family \U0001f468\u200d\U0001f469\u200d\U0001f467.jpg",
            "family \U0001f468\u200d\U0001f469\u200d\U0001f467.jpg",
        ),
        ("bad\x7f\x85\x9bname.txt", "badname.txt"),
        ("_config.yml", "_config.yml"),
    ],
)
def test_unsafe_names_are_made_safe_keeping_the_readable_part(written, safe):
    assert safe_filename(written) == safe


def test_attachment_name_with_nothing_readable_gets_a_generated_one():
    assert filename_of(b'Content-Type: application/pdf; name="C:\\..\\"') == "attachment-1.pdf"


# --- where users see them -----------------------------------------------------------------

REAL_LOOKING = (
    "Return-Path: <kasse@verein.example.de>\r\n"
    "From: =?iso-8859-1?Q?J=FCrgen_?=\r\n =?iso-8859-1?Q?M=FCller?= <kasse@verein.example.de>\r\n"
    "To : =?utf-8?B?5byg?= =?utf-8?B?5LiJ?= <zhang@example.test>\r\n"
    "Subject : =?iso-8859-1?Q?Die_Hasen_und_die_Frösche?=\r\n"
    "Date: Sat, 05 Dec 2026 18:02:11 +0100\r\n"
    "Message-ID: <4711.frosch@verein.example.de>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="----=_NextPart_000_0012"\r\n'
    "\r\n"
    "------=_NextPart_000_0012\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Anbei das Protokoll der Jahreshauptversammlung.\r\n"
    "------=_NextPart_000_0012\r\n"
    'Content-Type: application/msword; name="C:\\TEMP\\Protokoll Jahreshauptversammlung.doc"\r\n'
    "Content-Transfer-Encoding: base64\r\n"
    'Content-Disposition: attachment; filename="C:\\TEMP\\Protokoll Jahreshauptversammlung.doc"\r\n'
    "\r\n"
    "0M8R4KGxGuEAAAAAAAAAAAAAAAAAAAAA\r\n"
    "------=_NextPart_000_0012--\r\n"
).encode()


@pytest.mark.django_db
def test_decoded_values_reach_the_list_the_conversation_search_downloads_and_the_api(alice):
    (item,) = deliver(REAL_LOOKING, alice)
    message = item.message
    attachment = Attachment.objects.get(message=message)

    assert read_blob(message.blob) == REAL_LOOKING  # the exact bytes are kept
    assert (message.subject, message.from_name) == ("Die Hasen und die Frösche", "Jürgen Müller")
    assert message.to == [{"name": "张三", "address": "zhang@example.test"}]
    assert attachment.filename == "Protokoll Jahreshauptversammlung.doc"

    web = Client()
    web.force_login(alice)
    listing = web.get(reverse("mailboxes:inbox")).content.decode()
    assert "Die Hasen und die Frösche" in listing and "Jürgen Müller" in listing
    thread = web.get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()
    assert "Die Hasen und die Frösche" in thread
    link = re.search(r'<a href="(/mail/a/[^"]+)" download>Protokoll Jahreshauptversammlung.doc', thread).group(1)
    assert 'filename="Protokoll Jahreshauptversammlung.doc"' in web.get(link)["Content-Disposition"]

    index_items([item.pk])
    assert [hit.item_id for hit in search(alice, "Frösche").hits] == [item.pk]
    assert [hit.item_id for hit in search(alice, "Jahreshauptversammlung").hits] == [item.pk]

    _, token = create_api_token(user=alice, name="tests")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    email = api.get(f"/api/emails/{item.pk}").json()
    assert email["subject"] == "Die Hasen und die Frösche"
    assert [a["filename"] for a in email["attachments"]] == ["Protokoll Jahreshauptversammlung.doc"]
    download = api.get(email["attachments"][0]["download_url"])
    assert 'filename="Protokoll Jahreshauptversammlung.doc"' in download["Content-Disposition"]
