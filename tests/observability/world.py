"""Real traffic for the dashboard's tests: sends through the loopback SMTP server, mail through the inbound pipeline."""

from delivery.services import run_delivery, send_message
from inbound.services.pipeline import process_inbound_messages
from inbound.services.reception import accept_message
from tests.inbound.test_mx import message_bytes
from tests.inbound.test_spam import spammy_mail


def send_some(user, smtp_server):
    """One message to four recipients of remote.example: two sent, one hard bounce, one deferred (452)."""
    smtp_server.handler.script("busy@remote.example", ["452 4.2.2 mailbox over quota, try later"])
    message = send_message(
        user=user, to=["ok1@remote.example", "ok2@remote.example", "unknown@remote.example", "busy@remote.example"],
        text="Hello",
    )  # fmt: skip
    run_delivery(message_id=message.pk)
    return message


def receive(raw: bytes, *recipients: str):
    job = accept_message(
        raw=raw, mail_from="sam@sender.example", rcpt_tos=list(recipients), client_ip="192.0.2.7", helo="mx.example"
    )
    process_inbound_messages(job_ids=[job.pk])
    job.refresh_from_db()
    return job


ALICE, BOB = "alice@example.test", "bob@example.test"


def receive_some():
    """Three messages in: one to alice and bob (two inbox copies), one to bob, one spam to alice: 4 copies, 1 spam."""
    receive(message_bytes(to=f"{ALICE}, {BOB}"), ALICE, BOB)
    receive(message_bytes(to=BOB, subject="Lunch?"), BOB)
    receive(spammy_mail(), ALICE)
