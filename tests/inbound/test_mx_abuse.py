"""The MX against abusive clients: endless errors in one session, and headers without end.

The delays the MX asks for are recorded instead of waited (``smtpd.pause``).
"""

import smtplib

import pytest

from inbound import smtpd
from inbound.models import InboundMessage
from mailboxes.models import MailboxItem
from tests.inbound.test_mx import message_bytes, smtp

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pauses(monkeypatch):
    """The delays the MX makes clients wait, in seconds (not waited)."""
    asked = []

    async def record(seconds):
        asked.append(seconds)

    monkeypatch.setattr(smtpd, "pause", record)
    return asked


def unknown(n: int) -> str:
    return f"nobody{n}@example.test"


# --- errors in one session ----------------------------------------------------------------------


def test_a_client_guessing_addresses_is_slowed_after_10_errors_and_cut_off_at_20(mx_server, alice, pauses):
    client = smtp(mx_server)
    client.mail("sam@sender.example")
    replies = []
    for n in range(10_000):  # the 10,000 RCPTs of a dictionary attack; it never gets far
        code, reply = client.rcpt(unknown(n) if n % 2 else "alice@example.test")
        replies.append(code)
        if code == 550 and replies.count(550) == 20:
            break

    assert replies.count(550) == 20 and len(replies) == 40
    assert pauses == [float(errors) for errors in range(11, 20)]  # 1 s per error made, beyond the soft limit
    code, reply = client.noop()  # the reply already sent after the 20th error
    assert (code, reply[:5]) == (421, b"4.7.0")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()


def test_the_error_limits_and_the_sleep_time_are_settings(mx_server, alice, pauses, settings):
    settings.SMTPD_SOFT_ERROR_LIMIT, settings.SMTPD_HARD_ERROR_LIMIT = 2, 5
    settings.SMTPD_ERROR_SLEEP_SECONDS = 0.5
    client = smtp(mx_server)
    client.mail("sam@sender.example")
    codes = [client.rcpt(unknown(n))[0] for n in range(5)]
    assert codes == [550] * 5
    assert pauses == [1.5, 2.0]  # after the 3rd and 4th errors; the 5th ends the session
    assert client.noop()[0] == 421


def test_delivering_a_message_forgives_the_errors_made_before_it(mx_server, alice, pauses, settings):
    settings.SMTPD_SOFT_ERROR_LIMIT, settings.SMTPD_HARD_ERROR_LIMIT = 2, 4
    client = smtp(mx_server)
    for round_ in range(3):  # 3 errors a message: 9 in the session, never 4 in a row
        client.mail("sam@sender.example")
        assert [client.rcpt(unknown(n))[0] for n in range(3)] == [550] * 3
        assert client.rcpt("alice@example.test")[0] == 250
        assert client.data(message_bytes(subject=f"Round {round_}"))[0] == 250
    assert client.noop()[0] == 250
    client.quit()
    assert pauses == [3.0] * 3
    assert MailboxItem.objects.filter(user=alice).count() == 3


def test_recipients_beyond_the_limit_and_our_own_failures_are_not_the_clients_errors(
    mx_server, alice, pauses, settings
):
    settings.SMTPD_MAX_RECIPIENTS, settings.SMTPD_HARD_ERROR_LIMIT = 1, 2
    client = smtp(mx_server)
    client.mail("sam@sender.example")
    assert client.rcpt("alice@example.test")[0] == 250
    assert [client.rcpt(f"alice+{n}@example.test")[0] for n in range(5)] == [452] * 5  # it sends them later
    assert client.data(message_bytes())[0] == 250
    assert pauses == []


# --- header limits ----------------------------------------------------------------------------------


def with_header_fields(count: int) -> bytes:
    """A message of ``count`` header fields (one of them folded over two lines)."""
    fields = [b"From: sam@sender.example", b"To: alice@example.test", b"Subject: many\r\n fields"]
    fields += [f"X-Filler-{n}: {n}".encode() for n in range(count - len(fields))]
    return b"\r\n".join(fields) + b"\r\n\r\nbody\r\n"


def send(mx_server, raw: bytes) -> tuple[int, bytes]:
    client = smtp(mx_server)
    client.mail("sam@sender.example")
    client.rcpt("alice@example.test")
    code, reply = client.data(raw)
    client.quit()
    return code, reply[:5]


def test_200_000_header_lines_are_refused_at_the_end_of_data_and_nothing_is_stored(mx_server, alice):
    assert send(mx_server, with_header_fields(200_000)) == (552, b"5.3.4")
    assert not InboundMessage.objects.exists()


def test_header_fields_over_the_limit_are_refused_and_up_to_it_accepted(mx_server, alice, settings):
    settings.SMTPD_MAX_HEADER_FIELDS = 50
    assert send(mx_server, with_header_fields(51)) == (552, b"5.3.4")
    assert send(mx_server, with_header_fields(50))[0] == 250
    assert InboundMessage.objects.count() == 1


def test_a_header_section_over_the_byte_limit_is_refused_however_its_lines_end(mx_server, alice, settings):
    settings.SMTPD_MAX_HEADER_BYTES = 2000
    long_header = b"From: sam@sender.example\r\nX-Long: " + b"x" * 2000 + b"\r\n\r\nbody\r\n"
    assert send(mx_server, long_header) == (552, b"5.3.4")
    headers_only = b"From: sam@sender.example\r\nX-Long: " + b"x" * 2000 + b"\r\n"  # no body, no blank line
    assert send(mx_server, headers_only) == (552, b"5.3.4")
    bare_newlines = b"From: sam@sender.example\nSubject: bare LF\n\n" + b"body line\n" * 1000  # a big body is fine
    assert send(mx_server, bare_newlines)[0] == 250
    assert InboundMessage.objects.count() == 1


@pytest.mark.parametrize(
    ("raw", "too_large"),
    [
        (b"", False),
        (b"\r\nno header, just a body", False),
        (b"Subject: a\r\n\r\n" + b"body\r\n" * 1000, False),
        (b"Subject: a\n\n" + b"X-Not-A-Header: body\n" * 1000, False),
        (b"Subject: a\r\n" + b"\tcontinued\r\n" * 12 + b"\r\nbody", False),  # one field, folded
        (b"A: b\r\n" * 11, True),
        (b"A: b\r\n" * 10, False),
        (b"A: b\n" * 10 + b"\n" + b"A: b\n" * 10, False),
        (b"Subject: " + b"x" * 200 + b"\r\n\r\n", True),
    ],
)
def test_the_header_section_is_measured_up_to_the_first_empty_line(settings, raw, too_large):
    settings.SMTPD_MAX_HEADER_FIELDS, settings.SMTPD_MAX_HEADER_BYTES = 10, 200
    assert smtpd.header_too_large(raw) is too_large
