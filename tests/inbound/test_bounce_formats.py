"""The MTA format readers and the generic text reader, beyond the corpus samples themselves.

Every corpus sample must read the same whatever its line endings (CRLF as it
arrives, bare LF as a maildir stores it, bare CR as old Macs and some gateways
write it, or a mix), and a truncated report must never crash the reader.
"""

import json
import re
from pathlib import Path

import pytest

from inbound.bounces import parse_report
from inbound.bounces.formats import READERS

CORPUS = Path(__file__).resolve().parent.parent / "samples" / "bounces" / "corpus"
BOUNCES = sorted(
    CORPUS / folder.name / name
    for folder in CORPUS.iterdir()
    if (folder / "expected.json").exists()
    for name, expected in json.loads((folder / "expected.json").read_text()).items()
    if expected is not None
)


def _outcome(raw: bytes):
    report = parse_report(raw)
    assert report is not None
    return [(r.address, r.action, r.status, str(r.reason)) for r in report.recipients]


def _with_line_ends(raw: bytes, end: bytes) -> bytes:
    return re.sub(rb"\r\n|\r|\n", end, raw)


@pytest.mark.parametrize("sample", BOUNCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_line_endings_do_not_change_what_a_bounce_says(sample):
    raw = sample.read_bytes()
    expected = _outcome(raw)
    for end in (b"\r\n", b"\n", b"\r"):
        assert _outcome(_with_line_ends(raw, end)) == expected, f"with {end!r} line ends"
    head, _, body = _with_line_ends(raw, b"\n").partition(b"\n\n")
    mixed = head.replace(b"\n", b"\r\n") + b"\r\n\r\n" + body  # a gateway that rewrote only the header
    assert _outcome(mixed) == expected


@pytest.mark.parametrize("sample", BOUNCES[::7], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_truncated_bounce_never_crashes(sample):
    raw = sample.read_bytes()
    for cut in (len(raw) // 5, len(raw) // 2, len(raw) - 3):
        parse_report(raw[:cut])  # may or may not be a report any more; must not raise


def test_the_mta_readers_are_listed_in_order_of_their_module():
    source = (Path(__file__).resolve().parents[2] / "inbound" / "bounces" / "formats" / "__init__.py").read_text()
    block = source.split("# --- MTAs", 1)[1].split("# --- end of MTAs", 1)[0]
    modules = re.findall(r"^\s+(\w+)\.read,", block, re.M)
    assert modules == sorted(modules)
    assert len(READERS) >= len(modules)


def _bounce(body: str, *, subject="Undelivered Mail Returned to Sender", sender="MAILER-DAEMON@mx.remote.example"):
    return (
        f"From: {sender}\r\nTo: bounces+1a-0123456789ab@example.test\r\nSubject: {subject}\r\n"
        f"Date: Tue, 14 May 2024 09:00:00 +0000\r\nMessage-ID: <b1@mx.remote.example>\r\n\r\n{body}"
    ).encode()


def test_an_explanation_given_before_the_address_is_its_diagnostic():
    report = parse_report(
        _bounce(
            "This Message was undeliverable due to the following reason:\r\n\r\n"
            "The user's mailbox is over quota.\r\n\r\n<kim@remote.example>\r\n\r\n"
            "Please reply to Postmaster@remote.example\r\n",
            subject="Mail System Error - Returned Mail",
        )
    )
    (found,) = report.recipients
    assert (found.address, found.action, found.status) == ("kim@remote.example", "failed", "5.2.2")
    assert "over quota" in found.diagnostic


def test_a_lead_in_names_the_failure_but_a_quoted_header_is_not_a_recipient():
    report = parse_report(
        _bounce(
            "Your message\r\n\r\n  To:      someone@remote.example\r\n  Subject: Hello\r\n\r\n"
            "Unknown user: nobody@remote.example\r\n",
            subject="Undeliverable Mail",
            sender="Postmaster@remote.example",
        )
    )
    assert [(r.address, r.status) for r in report.recipients] == [("nobody@remote.example", "5.1.1")]


def test_a_sendmail_transcript_names_the_recipient():
    report = parse_report(
        _bounce(
            "   ----- Transcript of session follows -----\r\n... while talking to mx.remote.example.:\r\n"
            ">>> RCPT To:<lou@remote.example>\r\n<<< 550 5.1.1 <lou@remote.example>... User unknown\r\n"
            "550 5.1.1 <lou@remote.example>... User unknown\r\n",
            subject="Returned mail: User unknown",
        )
    )
    assert [(r.address, r.action, r.status) for r in report.recipients] == [("lou@remote.example", "failed", "5.1.1")]


@pytest.mark.parametrize(
    ("said", "status"),
    [
        ("retry timeout exceeded", "4.4.7"),
        ("Connection timed out. I'm not going to try again; this message has been in the queue too long.", "4.4.7"),
        ("mailbox is full: retry timeout exceeded", "4.4.7"),  # retried, then given up: expired
        ("Unrouteable address", "5.1.2"),
        ("Sorry, I couldn't find any host named nx.example. (#5.1.2)", "5.1.2"),
        ("Domain does not exist", "5.1.2"),  # the domain's, not the user's, though it "does not exist"
        ("5.1.0 - Unknown address error 550-'5.1.1 <a@remote.example>... No such user'", "5.1.1"),
    ],
)
def test_a_text_bounce_status_comes_from_what_it_says(said, status):
    report = parse_report(
        _bounce(
            "This message was created automatically by mail delivery software.\r\n\r\n"
            "A message that you sent could not be delivered to one or more of its\r\n"
            "recipients. This is a permanent error. The following address(es) failed:\r\n\r\n"
            f"  a@remote.example\r\n    {said}\r\n",
            subject="Mail delivery failed: returning message to sender",
        )
    )
    assert [(r.address, r.status) for r in report.recipients] == [("a@remote.example", status)]


def test_exchange_2003_msexch_code_names_the_reason():
    raw = (CORPUS / "exchange" / "exchange55-msexch-ims.eml").read_bytes()
    (found,) = parse_report(raw).recipients
    assert (found.reason, found.status, found.hard) == ("user_unknown", "5.1.1", True)


def test_office_365_is_not_read_as_on_premises_exchange():
    from inbound.bounces.formats import exchange
    from inbound.bounces.reading import Letter

    raw = (CORPUS / "exchange" / "exchange2016-mailbox-full.eml").read_bytes()
    assert exchange.read(Letter.read(raw)) is not None
    cloud = raw.replace(
        b"X-MS-Exchange-Message-Is-Ndr:",
        b"X-MS-Exchange-CrossTenant-OriginalArrivalTime: x\r\nX-MS-Exchange-Message-Is-Ndr:",
        1,
    )
    assert exchange.read(Letter.read(cloud)) is None


# The MTAs whose reports their wording alone makes bounces, without the sender or subject to help
# (a gateway or forwarder may have rewritten both). The carriers' and vendors' readers are left out:
# their own headers are part of how they are known.
WORDED_FOLDERS = (
    "courier", "dma", "domino", "exim", "generic", "groupwise", "imail", "kerio", "mailmarshal", "mdaemon",
    "opensmtpd", "plaintext", "postfix", "qmail", "sendmail",
)  # fmt: skip
TEXT_BOUNCES = [p for p in BOUNCES if p.parent.name in WORDED_FOLDERS and b"delivery-status" not in p.read_bytes()]


@pytest.mark.parametrize("sample", TEXT_BOUNCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_text_bounce_is_known_by_its_wording_alone(sample):
    raw = _with_line_ends(sample.read_bytes(), b"\n")
    head, _, body = raw.partition(b"\n\n")
    head = re.sub(rb"(?im)^subject:.*(?:\n[ \t].*)*", b"Subject: Re: your mail", head, count=1)
    head = re.sub(rb"(?im)^from:.*(?:\n[ \t].*)*", b"From: Helpdesk <help@neutral.example>", head, count=1)
    neutral = [(a, action) for a, action, _, _ in _outcome(head + b"\n\n" + body)]
    assert neutral == [(a, action) for a, action, _, _ in _outcome(sample.read_bytes())]


def test_exim_x_failed_recipients_names_them_when_the_text_does_not():
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.remote.example>\r\n"
        b"To: bounces+1a-0123456789ab@example.test\r\nX-Failed-Recipients: gone@remote.example\r\n"
        b"Subject: Mail delivery failed: returning message to sender\r\n\r\n"
        b"This message was created automatically by mail delivery software.\r\n\r\n"
        b"A message that you sent could not be delivered to one or more of its\r\n"
        b"recipients. This is a permanent error. (the list was removed by a forwarder)\r\n"
    )
    assert [(r.address, r.action) for r in parse_report(raw).recipients] == [("gone@remote.example", "failed")]


def test_a_permanent_failure_quoting_retry_words_is_still_failed():
    report = parse_report(
        _bounce(
            "Hi. This is the qmail-send program at mx.remote.example.\r\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
            "This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
            "<ann@remote.example>:\r\nRemote host said: 550 5.1.1 unknown user, mail will not be retried\r\n",
            subject="failure notice",
        )
    )
    assert [(r.address, r.action, r.status) for r in report.recipients] == [("ann@remote.example", "failed", "5.1.1")]


def test_an_exchange_2003_report_without_its_headers_is_still_read_from_its_text():
    raw = (CORPUS / "exchange" / "exchange2003-unknown.eml").read_bytes()
    forwarded = re.sub(rb"(?im)^(?:x-ms-embedded-report|x-mimeole|x-mailer):.*\r\n", b"", raw)
    (found,) = parse_report(forwarded).recipients
    assert (found.address, found.action, found.status) == ("pdupont@remote.example", "failed", "5.1.1")
