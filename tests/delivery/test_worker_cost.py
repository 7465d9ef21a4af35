"""What a delivery worker spends per message, and what it must not skip while saving it.

A message's task claims once when its claim took everything due; it claims
again when the claim was full or handed recipients back.
"""

import pytest

from delivery.services import engine, run_delivery, send_message
from mailboxes.models import Message


@pytest.fixture
def claims(monkeypatch):
    """How many claims the engine made (each one a transaction with a locking SELECT)."""
    made = []
    claim = engine.claim_due_recipients

    def counted(**kwargs):
        made.append(kwargs)
        return claim(**kwargs)

    monkeypatch.setattr(engine, "claim_due_recipients", counted)
    return made


def test_a_message_task_claims_once_when_its_claim_took_everything_due(alice, remote_domain, smtp_server, claims):
    message = send_message(user=alice, to=["ok1@remote.example", "ok2@remote.example"], cc=["ok3@remote.example"])

    report = run_delivery(message_id=message.pk)

    assert (report.batches, report.sent) == (1, 3)
    assert len(claims) == 1
    assert len(smtp_server.messages) == 3


def test_a_message_task_claims_again_after_a_full_claim(alice, remote_domain, smtp_server, settings):
    settings.OUTBOUND_BATCH_SIZE = 2
    message = send_message(user=alice, to=["ok1@remote.example", "ok2@remote.example", "ok3@remote.example"])

    report = run_delivery(message_id=message.pk)

    assert (report.batches, report.sent) == (2, 3)
    message.refresh_from_db()
    assert message.status == Message.Status.SENT


def test_a_message_task_claims_again_what_its_claim_handed_back(alice, remote_domain, smtp_server, settings):
    message = send_message(user=alice, to=["ok1@remote.example"], text="x")
    settings.OUTBOUND_CLAIM_SECONDS = 0  # every claim's time is up before its first domain: all handed back

    report = run_delivery(message_id=message.pk, max_batches=3)

    assert (report.batches, report.given_back, report.sent) == (3, 3, 0)
    assert smtp_server.messages == []


def test_a_queue_delivery_claims_until_a_claim_is_empty(alice, remote_domain, smtp_server, claims):
    send_message(user=alice, to=["ok1@remote.example"], text="x")

    report = run_delivery(queue="transactional")

    assert (report.batches, report.sent) == (2, 1)
    assert len(claims) == 2
