"""What a delivery worker spends per message, and what it must not skip while saving it.

A message's task claims once when its claim took everything due; it claims
again when the claim was full or handed recipients back. SMTP sessions stay
open in the worker process from one task to the next, per server address.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from delivery.services import engine, run_delivery, send_message
from delivery.tasks import deliver_message
from delivery.transports import reset_transport
from mailboxes.models import Message
from tests.support.smtp_server import FaultySMTPServer


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


def test_a_message_task_takes_other_due_mail_of_its_queue_into_its_claim(alice, remote_domain, smtp_server, claims):
    first = send_message(user=alice, to=["ok1@remote.example"], text="one")
    second = send_message(user=alice, to=["ok2@remote.example", "ok3@remote.example"], text="two")

    deliver_message(first.pk)

    assert len(claims) == 1
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [f"ok{n}@remote.example" for n in (1, 2, 3)]
    assert run_delivery(message_id=second.pk, with_queue=True).claimed == 0  # its task finds them sent
    second.refresh_from_db()
    assert second.status == Message.Status.SENT


def test_a_message_task_takes_its_own_recipients_first_and_no_other_queues_mail(
    alice, remote_domain, smtp_server, settings
):
    settings.OUTBOUND_BATCH_SIZE = 2
    bulk = send_message(user=alice, to=["ok0@remote.example"], text="bulk")
    bulk.recipients.update(queue="bulk")
    others = [send_message(user=alice, to=[f"ok{n}@remote.example"], text=str(n)) for n in (1, 2)]
    mine = send_message(user=alice, to=["ok3@remote.example"], text="mine")

    report = run_delivery(message_id=mine.pk, with_queue=True)

    assert (report.batches, report.claimed) == (2, 2)  # a full claim, then one that finds none of mine
    assert [m.rcpt_tos[0] for m in smtp_server.messages] == ["ok3@remote.example", "ok1@remote.example"]
    assert others[1].recipients.get().status == "queued"
    assert bulk.recipients.get().status == "queued"


# --- SMTP sessions kept per worker process ------------------------------------------------------


@pytest.fixture
def two_domains_one_server(dns_server, smtp_server):
    """``a.example`` and ``b.example``, each with an MX of its own name, both at the loopback SMTP server."""
    for name in ("a", "b"):
        dns_server.resolver.add(f"{name}.example. 300 IN MX 10 mx.{name}.example.")
        dns_server.resolver.add(f"mx.{name}.example. 300 IN A 127.0.0.1")
    return smtp_server


def test_two_tasks_for_domains_whose_mx_share_an_address_use_one_session(alice, two_domains_one_server):
    server = two_domains_one_server
    first = send_message(user=alice, to=["ok@a.example"], text="one")
    second = send_message(user=alice, to=["ok@b.example"], text="two")

    assert run_delivery(message_id=first.pk).sent == 1
    assert run_delivery(message_id=second.pk).sent == 1

    assert [m.rcpt_tos for m in server.messages] == [["ok@a.example"], ["ok@b.example"]]
    assert server.handler.connections == 2  # one session: EHLO before and after STARTTLS
    assert second.recipients.get().remote_host == "mx.b.example"  # named after its own MX all the same


def test_a_session_the_server_closed_while_idle_is_replaced_and_the_mail_still_goes(alice, remote_domain, settings):
    server = FaultySMTPServer().start()
    settings.SMTP_DELIVERY_PORT = server.port
    try:
        first = send_message(user=alice, to=["ok1@remote.example"], text="one")
        assert run_delivery(message_id=first.pk).sent == 1
        server.stop()  # the server goes away, and the session the worker keeps with it
        server = FaultySMTPServer(port=server.port).start()
        second = send_message(user=alice, to=["ok2@remote.example"], text="two")

        report = run_delivery(message_id=second.pk)

        assert (report.sent, report.deferred) == (1, 0)
        assert [m.rcpt_tos for m in server.messages] == [["ok2@remote.example"]]
        assert list(second.recipients.get().events.values_list("event_type", flat=True)) == ["queued", "sent"]
    finally:
        reset_transport()
        server.stop()


def test_a_claim_reads_the_provider_profiles_once_for_all_its_domains(alice, two_domains_one_server):
    message = send_message(user=alice, to=["ok@a.example", "ok@b.example"], text="x")

    with CaptureQueriesContext(connection) as queries:
        assert run_delivery(message_id=message.pk).sent == 2

    assert sum("providerprofile" in q["sql"].lower() for q in queries.captured_queries) == 1
