"""A filter's criteria (the search language) evaluated against one parsed message."""

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from mailboxes.parsing import parse_message
from mailboxes.search.query import parse_query
from rules.matching import Candidate, matches

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def candidate(raw: bytes, *, folder="inbox", received_at=NOW) -> Candidate:
    return Candidate.from_parsed(parse_message(raw), size=len(raw), folder=folder, received_at=received_at)


def message(*, sender="Shop <Receipts@Shop.Example>", to="Alice <alice@example.test>", cc="", subject="Your receipt",
            body="Thank you for your order.", attachments=()) -> bytes:  # fmt: skip
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if cc:
        msg["Cc"] = cc
    msg.set_content(body)
    for filename, content in attachments:
        msg.add_attachment(content, maintype="application", subtype="pdf", filename=filename)
    return msg.as_bytes()


def check(query: str, raw: bytes, **kwargs) -> bool:
    return matches(parse_query(query), candidate(raw, **kwargs), now=NOW)


RECEIPT = message(attachments=[("invoice-2026.pdf", b"%PDF-1.4 " + b"x" * 2000)])
PLAIN = message(sender="Bob <bob@friends.example>", subject="Lunch?", body="Shall we meet at noon?")


@pytest.mark.parametrize(
    ("query", "receipt", "plain"),
    [
        ("from:receipts@shop.example", True, False),
        ("from:shop.example", True, False),  # a part of the address, as the index splits it
        ("from:SHOP", True, False),  # case-folded
        ("from:bob", False, True),
        ("to:alice", True, True),
        ("cc:alice", False, False),
        ("subject:receipt", True, False),
        ("subject:lunch", False, True),
        ("has:attachment", True, False),
        ("-has:attachment", False, True),
        ("filename:invoice", True, False),
        ("filename:pdf", True, False),
        ("invoice", True, False),  # free text also looks at file names
        ("noon", False, True),  # and at the body
        ('"meet at noon"', False, True),  # a phrase: adjacent words in order
        ('"noon at meet"', False, False),
        ("ord*", True, False),  # a prefix
        ("from:shop has:attachment", True, False),
        ("from:shop OR from:bob", True, True),
        ("from:shop -subject:receipt", False, False),
        ("(from:shop OR from:bob) subject:lunch", False, True),
        ("larger:1K", True, False),
        ("smaller:1K", False, True),
        ("in:inbox", True, True),
        ("in:spam", False, False),
        ("in:anywhere", True, True),
        ("is:unread", True, True),
        ("is:starred", False, False),
        ("label:receipts", False, False),
        ("newer_than:1d", True, True),
        ("older_than:1d", False, False),
        ("after:2026-12-01", True, True),
        ("before:2026-12-01", False, False),
    ],
)
def test_each_criterion(query, receipt, plain):
    assert check(query, RECEIPT) is receipt
    assert check(query, PLAIN) is plain


def test_non_latin_text_is_matched_as_the_index_matches_it():
    raw = message(sender="Zoë <zoe@café.example>", subject="Crème brûlée", body="会议在明天下午三点")
    assert check("subject:creme", raw)
    assert check("from:zoe", raw)
    assert check("会议", raw)  # a CJK word inside a sentence without spaces
    assert check("明天下午", raw)
    assert not check("后天", raw)


def test_encoded_headers_and_messy_addresses_are_read_decoded():
    raw = (
        b"From: =?utf-8?q?J=C3=BCrgen?= <JUERGEN@Example.COM>\r\n"
        b"To: undisclosed-recipients:;\r\n"
        b"Subject: =?iso-8859-1?q?R=E9sum=E9?= attached\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Please find <b>my r\xc3\xa9sum\xc3\xa9</b></p>\r\n"
    )
    assert check("from:jurgen", raw)
    assert check("from:juergen@example.com", raw)
    assert check("subject:resume", raw)
    assert check('"my resume"', raw)  # HTML read as text
    assert not check("to:alice", raw)


def test_a_message_without_headers_or_body_matches_only_what_it_lacks():
    raw = b"\r\n"
    assert not check("from:anyone", raw)
    assert check("-from:anyone", raw)
    assert not check("has:attachment", raw)


def test_labels_given_by_earlier_filters_count():
    found = candidate(PLAIN)
    found.labels.add("friends")
    assert matches(parse_query("label:friends"), found, now=NOW)


def test_the_spam_folder_is_what_the_spam_filter_decided():
    assert check("in:spam", PLAIN, folder="spam")
    assert not check("in:inbox", PLAIN, folder="spam")


def test_relative_ages_follow_the_clock_given():
    old = candidate(PLAIN, received_at=NOW - timedelta(days=10))
    assert matches(parse_query("older_than:1w"), old, now=NOW)
    assert not matches(parse_query("older_than:1w"), old, now=NOW - timedelta(days=5))
