"""A claim's lease: renewed while its worker lives, taken back soon after it dies, never shared.

Workers "die" inside the transport (a BaseException, as a kill would stop
them: nothing after it runs) against the real loopback SMTP server; the
clock is the test's (``clock``), so leases run out when the test says so.
"""

import threading
from datetime import timedelta

import pytest

from delivery.services import run_delivery, send_message
from delivery.services.engine import LeaseHeartbeat, RunReport, claim_due_recipients
from delivery.services.reconcile import reconcile_outbox, release_expired_leases
from delivery.transports import smtp
from mailboxes.models import Message, Recipient

ADDRESSES = [f"ok{n}@remote.example" for n in range(1, 6)]


class WorkerKilled(BaseException):
    """Like kill -9 for the code under test: no ``except Exception`` stops it, nothing after it is recorded."""


def events_of(recipient):
    return list(recipient.events.order_by("pk").values_list("event_type", flat=True))


def before_transaction(monkeypatch, number: int, action) -> None:
    """Run ``action`` once, just before the ``number``-th SMTP transaction (counting from 1)."""
    real_send, started = smtp.send_envelope, []

    def send_envelope(connection, envelope):
        started.append(envelope)
        if len(started) == number:
            action()
        return real_send(connection, envelope)

    monkeypatch.setattr(smtp, "send_envelope", send_envelope)


def kill():
    raise WorkerKilled


def test_a_worker_killed_mid_claim_leaves_what_it_sent_recorded_and_only_the_rest_is_sent_again(
    alice, remote_domain, smtp_server, settings, clock, monkeypatch
):
    claimed_at = clock.now
    message = send_message(user=alice, to=ADDRESSES, text="x")
    before_transaction(monkeypatch, 3, kill)  # dies after two transactions

    with pytest.raises(WorkerKilled):
        run_delivery()

    first = sorted(m.rcpt_tos[0] for m in smtp_server.messages)
    assert len(first) == 2
    rest = sorted(set(ADDRESSES) - set(first))
    assert dict(message.recipients.values_list("address", "status")) == {
        **dict.fromkeys(first, "sent"),
        **dict.fromkeys(rest, "sending"),
    }

    clock.now = claimed_at + timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS - 1)
    assert reconcile_outbox()["released"] == 0  # the lease still holds: nobody else may send them
    clock.now = claimed_at + timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS + 1)
    assert reconcile_outbox()["released"] == len(rest)  # its dispatch runs the delivery inline

    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == first + rest  # each exactly once
    for recipient in message.recipients.all():
        expected = ["queued", "sent"] if recipient.address in first else ["queued", "deferred", "sent"]
        assert (recipient.status, events_of(recipient)) == ("sent", expected)
    message.refresh_from_db()
    assert message.status == Message.Status.SENT


def test_outcomes_recorded_in_pairs_send_again_at_most_the_unrecorded_pair(
    alice, remote_domain, smtp_server, settings, clock, monkeypatch
):
    settings.OUTBOUND_RECORD_EVERY = 2
    claimed_at = clock.now
    message = send_message(user=alice, to=ADDRESSES, text="x")
    before_transaction(monkeypatch, 4, kill)  # dies after three transactions: the third is not recorded yet

    with pytest.raises(WorkerKilled):
        run_delivery()

    first = [m.rcpt_tos[0] for m in smtp_server.messages]
    assert len(first) == 3
    assert sorted(message.recipients.filter(status="sent").values_list("address", flat=True)) == sorted(first[:2])

    clock.now = claimed_at + timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS + 1)
    assert reconcile_outbox()["released"] == 3

    delivered = [m.rcpt_tos[0] for m in smtp_server.messages]
    assert sorted(set(delivered)) == sorted(ADDRESSES)  # none lost
    assert [a for a in ADDRESSES if delivered.count(a) > 1] == [first[2]]  # the unrecorded one, once more
    assert set(message.recipients.values_list("status", flat=True)) == {"sent"}


def test_the_bulk_queue_records_outcomes_by_its_own_setting(alice, remote_domain, smtp_server, settings, monkeypatch):
    settings.OUTBOUND_RECORD_EVERY, settings.OUTBOUND_RECORD_EVERY_BULK = 1, 2
    message = send_message(user=alice, to=ADDRESSES, text="x", queue=Recipient.Queue.BULK)
    before_transaction(monkeypatch, 4, kill)  # dies after three transactions: the third is not recorded yet

    with pytest.raises(WorkerKilled):
        run_delivery(queue=Recipient.Queue.BULK)

    first = [m.rcpt_tos[0] for m in smtp_server.messages]
    assert sorted(message.recipients.filter(status="sent").values_list("address", flat=True)) == sorted(first[:2])


def test_the_heartbeat_keeps_a_live_claim_past_its_lease_and_a_dead_one_is_taken_back(alice, settings, clock):
    lease = timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS)
    claimed_at = clock.now
    send_message(user=alice, to=["a@remote.example", "b@remote.example"], text="x")
    claim = claim_due_recipients(message_id=None, queue=None, limit=10, report=RunReport())
    heartbeat = LeaseHeartbeat(claim, clock=lambda: clock.now)

    clock.now = claimed_at + lease * 0.9
    assert heartbeat.beat() == 2
    clock.now = claimed_at + lease * 1.5  # past the first lease, within the renewed one
    assert release_expired_leases() == 0
    assert Recipient.objects.filter(lease_token=claim.token, status="sending").count() == 2

    clock.now = claimed_at + lease * 0.9 + lease + timedelta(seconds=1)  # no beat since: the worker died
    assert release_expired_leases() == 2
    assert heartbeat.beat() == 0  # a lease once taken back is never renewed
    assert not Recipient.objects.filter(lease_token=claim.token).exists()


def test_a_renewed_claim_still_counts_against_the_domains_concurrency(alice, settings, clock):
    settings.OUTBOUND_DOMAIN_CONCURRENCY = 1
    lease = timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS)
    claimed_at = clock.now
    send_message(user=alice, to=["a@remote.example", "b@remote.example"], text="x")
    first = claim_due_recipients(message_id=None, queue=None, limit=1, report=RunReport())
    clock.now = claimed_at + lease * 0.9
    LeaseHeartbeat(first, clock=lambda: clock.now).beat()
    clock.now = claimed_at + lease * 1.5

    report = RunReport()
    second = claim_due_recipients(message_id=None, queue=None, limit=10, report=report)

    assert (len(second.recipients), report.throttled) == (0, 1)  # the first worker is still at it


def test_a_worker_that_stalled_past_its_lease_records_nothing_and_stops_once_its_claim_was_taken_back(
    alice, remote_domain, smtp_server, settings, clock, monkeypatch
):
    message = send_message(user=alice, to=ADDRESSES[:3], text="x")

    def stall():  # frozen past its lease (no heartbeat either), meanwhile the reconciler ran
        clock.now += timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS + 1)
        assert release_expired_leases() == 2

    before_transaction(monkeypatch, 2, stall)

    report = run_delivery(max_batches=1)

    assert report.sent == 1  # only the transaction recorded before the stall
    # The one in flight when it stalled went out again (unavoidable); once its outcome found
    # the lease gone, the worker stopped: the third is left to whoever claims it now.
    assert [m.rcpt_tos[0] for m in smtp_server.messages] == ADDRESSES[:2]
    statuses = sorted(message.recipients.values_list("status", flat=True))
    assert statuses == ["deferred", "deferred", "sent"]
    for recipient in message.recipients.filter(status="deferred"):
        assert events_of(recipient) == ["queued", "deferred"]  # the reconciler's, none from the slow worker
        assert (recipient.lease_token, recipient.next_attempt_at) == ("", clock.now)


@pytest.mark.django_db(transaction=True)  # the heartbeat's thread has a connection of its own: data must be committed
def test_the_heartbeat_renews_the_lease_while_an_smtp_transaction_blocks(
    alice, remote_domain, smtp_server, settings, monkeypatch
):
    settings.OUTBOUND_LEASE_SECONDS = 0.03  # a beat every 10 ms
    renewed = threading.Event()
    real_beat = LeaseHeartbeat.beat

    def beat_once(self):  # one renewal is the proof; more would only race the test's own writes
        if not renewed.is_set():
            assert real_beat(self) == 1  # the claim's one recipient, still unrecorded
            renewed.set()

    monkeypatch.setattr(LeaseHeartbeat, "beat", beat_once)
    before_transaction(monkeypatch, 1, lambda: renewed.wait(30))  # blocks until the heartbeat's thread has beaten

    message = send_message(user=alice, to=["ok@remote.example"], text="x")  # delivered on commit (tasks run inline)

    assert renewed.is_set()
    assert message.recipients.get().status == "sent"
    assert len(smtp_server.messages) == 1
