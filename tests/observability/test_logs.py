"""Structured logs that follow a message (docs/LOGS.md): a real API submission delivered over SMTP on
loopback, a real MX delivery placed in a mailbox, each followed by ONE grep of its id in JSON lines."""

import io
import json
import logging
import re
import smtplib

import pytest

from inbound.models import InboundMessage
from mailboxes.models import Folder, MailboxItem, Message, Recipient
from observability.logs import (
    ContextFilter,
    JsonFormatter,
    PlainFormatter,
    RedactingFilter,
    _publishing,
    current_context,
    log_context,
)
from tests.api.conftest import client_for
from tests.inbound.test_mx import message_bytes


class Captured:
    """Everything logged while the fixture is active, as the production console handler writes it."""

    def __init__(self, stream: io.StringIO):
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines()]

    def grep(self, pattern: str) -> list[dict]:
        """What ``grep -E pattern`` on the log file gives, each line parsed."""
        return [json.loads(line) for line in self.text.splitlines() if re.search(pattern, line)]


def _handler(formatter: logging.Formatter) -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter)
    return handler, stream


@pytest.fixture
def json_logs():
    """LOG_FORMAT=json's handler (observability.logs.logging_config) on a StringIO, the root at INFO."""
    handler, stream = _handler(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield Captured(stream)
    root.removeHandler(handler)
    root.setLevel(level)


def _messages(lines: list[dict]) -> str:
    return "\n".join(line["message"] for line in lines)


# --- outbound: API submission to the remote server's reply -----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_one_grep_of_the_message_id_follows_an_api_submission_to_its_recorded_smtp_reply(
    alice, remote_domain, smtp_server, json_logs
):
    api = client_for(alice)

    response = api.post(
        "/api/emails/send",
        {"to": ["ok@remote.example"], "subject": "Invoice 42", "body": "Secret body text 7f3a"},
        format="json",
        HTTP_X_REQUEST_ID="req-4711",
    )

    assert response.status_code == 202, response.content
    assert response["X-Request-ID"] == "req-4711"
    message = Message.objects.get(sender=alice, recipients__address="ok@remote.example")
    recipient = message.recipients.get()
    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.SENT  # delivered by the task the commit dispatched
    assert len(smtp_server.messages) == 1

    lines = json_logs.lines()  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert all(line["time"].endswith("+00:00") for line in lines)

    followed = json_logs.grep(f'"message_id": {message.pk}[,}}]')
    steps = _messages(followed)
    assert f"message {message.pk} submitted (api) by user {alice.pk}: Message-ID <{message.message_id}>" in steps
    assert f"message {message.pk} queued for delivery on the transactional queue" in steps
    assert f"claimed recipient {recipient.pk} of message {message.pk} (attempt 1" in steps
    assert f"SMTP transaction for recipient {recipient.pk} with mx.remote.example: 250" in steps
    assert f"recorded sent for recipient {recipient.pk} of message {message.pk} (smtp via mx.remote.example" in steps
    # In that order, each step once: no flood of per-command lines.
    order = ["submitted", "queued for delivery", "claimed recipient", "SMTP transaction", "recorded sent"]
    positions = [next(i for i, line in enumerate(followed) if step in line["message"]) for step in order]
    assert positions == sorted(positions)
    assert all(sum(step in line["message"] for line in followed) == 1 for step in order)

    # Every line that names the message carries its id; all of them the request's id, and the worker's the
    # task's and the recipient's.
    about = [line for line in lines if f"message {message.pk}" in line["message"]]
    assert about and all(line.get("message_id") == message.pk for line in about)
    assert all(line["request_id"] == "req-4711" for line in followed)
    worker_lines = [line for line in followed if line["logger"] == "delivery.services.engine"]
    assert worker_lines and all(line["task_id"] and line["recipient_id"] == recipient.pk for line in worker_lines)
    assert all(line["queue_id"] == "transactional" for line in followed)
    assert "Secret body text 7f3a" not in json_logs.text  # bodies never reach a log line


@pytest.mark.django_db
def test_a_request_without_a_usable_request_id_gets_one_of_its_own(alice, json_logs):
    api = client_for(alice)

    given = api.get("/api/emails/drafts", HTTP_X_REQUEST_ID="two words\r\nInjected: yes")
    absent = api.get("/api/emails/drafts")

    for response in (given, absent):  # whatever the answer (here 405): every response names its request
        assert len(response["X-Request-ID"]) == 32
    assert given["X-Request-ID"] != absent["X-Request-ID"]


# --- inbound: the MX's 250 to placement ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_one_grep_of_the_queue_id_follows_mail_from_the_mx_to_its_placement(mx_server, alice, json_logs):
    client = smtplib.SMTP(*mx_server, timeout=60)
    client.ehlo("mail.sender.example")
    raw = message_bytes(subject="Hello", body="Inbound body text 9c1e")
    client.sendmail("sam@sender.example", ["alice@example.test"], raw)
    client.quit()

    job = InboundMessage.objects.get()
    item = MailboxItem.objects.get(user=alice, folder=Folder.INBOX)

    followed = json_logs.grep(f'"queue_id": {job.pk}[,}}]')
    steps = _messages(followed)
    assert f"MX stored inbound message {job.pk} from 127.0.0.1 (HELO mail.sender.example" in steps
    assert f"250 queued as {job.pk}" in steps
    assert f"claimed inbound message {job.pk} (attempt 1)" in steps
    assert f"inbound message {job.pk} checked: Message-ID <{item.message.message_id}>" in steps
    assert f"inbound message {job.pk} placed as message {item.message_id} for 1 recipients (inbox)" in steps
    order = ["MX stored", "claimed inbound", "checked", "placed as message"]
    positions = [next(i for i, line in enumerate(followed) if step in line["message"]) for step in order]
    assert positions == sorted(positions)
    [placed] = [line for line in followed if "placed as message" in line["message"]]
    assert placed["message_id"] == item.message_id
    assert all(line["task_id"] for line in followed if line["logger"] == "inbound.services.pipeline")
    assert "Inbound body text 9c1e" not in json_logs.text


# --- redaction and formats -----------------------------------------------------------------------------------

PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


def test_secrets_are_redacted_from_messages_arguments_and_exceptions(json_logs):
    logger = logging.getLogger("tests.observability")

    logger.info("signing in with password=%s", "hunter2-pw")
    logger.warning("request headers: %s", {"Authorization": "Bearer tok-abc123456789", "Accept": "text/html"})
    logger.info("relay at smtp://mailer:relay-pass-99@smtp.example.net:587, api_key: ak_live_555")
    logger.info("DKIM key for example.test: %s", PEM)
    logger.info('{"token": "t0k3n-value", "user": "alice"}')
    logger.info("raw message: %s", b"Subject: hi\r\n\r\nbody bytes")
    try:
        raise RuntimeError("Authorization: Basic dXNlcjpzZWNyZXQ= refused")
    except RuntimeError:
        logger.exception("relay login failed")

    text = json_logs.text
    for secret in ("hunter2-pw", "tok-abc123456789", "relay-pass-99", "ak_live_555", "MIIEvQIBADANBgkqhkiG9w0B",
                   "t0k3n-value", "dXNlcjpzZWNyZXQ=", "body bytes"):  # fmt: skip
        assert secret not in text, secret
    lines = json_logs.lines()
    assert lines[0]["message"] == "signing in with password=[REDACTED]"
    assert "'Accept': 'text/html'" in lines[1]["message"]
    assert "smtp://mailer:[REDACTED]@smtp.example.net:587" in lines[2]["message"]
    assert lines[5]["message"] == "raw message: <25 bytes>"
    assert lines[6]["level"] == "ERROR"
    assert "RuntimeError: Authorization: [REDACTED] refused" in lines[6]["exception"]


def test_plain_lines_show_the_context_compactly():
    handler, stream = _handler(PlainFormatter())
    logger = logging.getLogger("tests.observability.plain")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with log_context(request_id="r1", message_id=42):
            with log_context(recipient_id=7, queue_id="bulk"):
                logger.info("claimed")
            logger.info("after")
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    claimed, after, outside = stream.getvalue().splitlines()
    assert claimed.endswith("INFO tests.observability.plain: claimed [request_id=r1 queue_id=bulk message_id=42 "
                            "recipient_id=7]")  # fmt: skip
    assert after.endswith(": after [request_id=r1 message_id=42]")
    assert outside.endswith(": outside")


def test_log_context_refuses_fields_nobody_documented_and_restores_the_outer_one():
    with pytest.raises(ValueError, match="unknown log context fields"), log_context(address="alice@example.test"):
        pass
    with log_context(message_id=1):
        with log_context(message_id=2, recipient_id=None):
            assert current_context() == {"message_id": 2}
        assert current_context() == {"message_id": 1}
    assert current_context() == {}


def test_a_task_queued_during_a_request_carries_the_request_id_to_the_worker():
    headers = {}
    with log_context(request_id="req-9"):
        _publishing(headers=headers)
    assert headers == {"request_id": "req-9"}


def test_a_celery_worker_s_own_handlers_get_the_filters_and_the_json_format(settings):
    from observability.logs import _celery_logging_set_up

    settings.LOG_FORMAT = "json"
    stream = io.StringIO()
    logger = logging.getLogger("tests.observability.celery")
    handler = logging.StreamHandler(stream)  # as Celery's worker sets up the root logger, with its own format
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        _celery_logging_set_up(logger=logger)
        _celery_logging_set_up(logger=logger)  # both signals may reach one handler: its filters are added once
        with log_context(message_id=3):
            logger.info("token=abc123 sent")
    finally:
        logger.removeHandler(handler)
    assert len(handler.filters) == 2
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert (line["message"], line["message_id"]) == ("token=[REDACTED] sent", 3)


def test_log_format_is_plain_or_json():
    from django.core.exceptions import ImproperlyConfigured

    from observability.logs import logging_config

    assert logging_config(log_format="json", level="INFO")["handlers"]["console"]["formatter"] == "json"
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        logging_config(log_format="xml", level="INFO")
