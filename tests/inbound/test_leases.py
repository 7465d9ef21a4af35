"""A worker's claim on inbound jobs is a lease: renewed while it lives, taken back soon after it dies.

The clock of leases is ``pipeline._now``, replaced here: nothing waits for real time to pass.
"""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from inbound.models import InboundMessage
from inbound.services import pipeline
from inbound.services.pipeline import LeaseHeartbeat, process_inbound_messages, reconcile_inbound
from mailboxes.models import MailboxItem, Message
from tests.inbound.test_batches import queued, subjects
from tests.inbound.test_mx import message_bytes

pytestmark = pytest.mark.django_db(transaction=True)

T0 = timezone.now().replace(microsecond=0) + timedelta(days=1)  # after the jobs' arrival, as a claim is


@pytest.fixture
def clock(monkeypatch):
    clock = {"now": T0}
    monkeypatch.setattr(pipeline, "_now", lambda: clock["now"])
    return clock


def no_message_id(subject: str) -> bytes:
    """Mail without a Message-ID: nothing but the job's lease keeps it from being placed twice."""
    return f"From: sam@sender.example\r\nTo: alice@example.test\r\nSubject: {subject}\r\n\r\nhi\r\n".encode()


def test_a_dead_workers_jobs_are_taken_back_by_the_reconciler_once_the_lease_expires(alice, settings, clock):
    settings.INBOUND_LEASE_SECONDS = 60
    ids = queued(message_bytes(subject="One"), message_bytes(subject="Two"))
    token, claimed = pipeline._claim(ids)  # a worker claims them, then dies
    assert sorted(claimed) == ids
    assert {job.lease_expires_at for job in InboundMessage.objects.all()} == {T0 + timedelta(seconds=60)}

    clock["now"] = T0 + timedelta(seconds=59)
    assert reconcile_inbound() == {"redispatched": 0, "dead_lettered": 0}
    clock["now"] = T0 + timedelta(seconds=61)
    assert reconcile_inbound() == {"redispatched": 2, "dead_lettered": 0}  # and processed at once (tasks run inline)

    assert subjects(alice) == ["One", "Two"]
    assert {(job.status, job.attempts) for job in InboundMessage.objects.all()} == {
        (InboundMessage.Status.DELIVERED, 2)
    }


def test_the_heartbeat_extends_the_lease_of_the_jobs_still_held_and_no_others(alice, settings, clock):
    settings.INBOUND_LEASE_SECONDS = 60
    mine, reclaimed, other = queued(*(message_bytes(subject=s) for s in ["Mine", "Reclaimed", "Other"]))
    token, _ = pipeline._claim([mine, reclaimed, other])
    clock["now"] = T0 + timedelta(seconds=61)
    InboundMessage.objects.filter(pk=other).update(lease_token="someone-else")  # not among this worker's jobs
    pipeline._claim([reclaimed])  # its lease ran out: another worker took it
    held_by_other = InboundMessage.objects.get(pk=reclaimed).lease_expires_at

    clock["now"] = T0 + timedelta(seconds=80)
    assert LeaseHeartbeat(token=token, job_ids=[mine, reclaimed]).beat() == 1

    expiry = dict(InboundMessage.objects.values_list("pk", "lease_expires_at"))
    assert expiry[mine] == T0 + timedelta(seconds=140)
    assert expiry[reclaimed] == held_by_other
    assert expiry[other] == T0 + timedelta(seconds=60)


def test_a_worker_renews_its_lease_while_it_is_busy_with_a_slow_message(alice, settings, clock, monkeypatch):
    settings.INBOUND_LEASE_SECONDS = 60
    [job_id] = queued(message_bytes(subject="Slow"))
    # The heartbeat's thread beats only when the test allows it, and the test reads only between
    # beats: SQLite's in-memory test database refuses two connections using a table at once.
    allowed, beaten, seen_enough = threading.Event(), threading.Event(), threading.Event()

    class BeatingOnRequest(LeaseHeartbeat):
        interval = 0  # the test's own: whenever the test allows, rather than every 15 s

        def beat(self):
            if seen_enough.is_set():  # no more beats: wait for the work to end
                self._heartbeat.stopped.wait()
                return 0
            assert allowed.wait(30)
            allowed.clear()
            if seen_enough.is_set():
                return 0
            renewed = super().beat()
            beaten.set()
            return renewed

    monkeypatch.setattr(pipeline, "LeaseHeartbeat", BeatingOnRequest)
    real_authenticate = pipeline.authenticate
    lease_seen = []

    def slow_authenticate(**kwargs):  # the message takes longer than the lease, the worker lives on
        clock["now"] = T0 + timedelta(seconds=100)
        allowed.set()
        assert beaten.wait(30)
        lease_seen.append(InboundMessage.objects.get(pk=job_id).lease_expires_at)
        seen_enough.set()
        allowed.set()  # the beat waiting for its turn renews nothing more
        assert reconcile_inbound() == {"redispatched": 0, "dead_lettered": 0}  # not taken from a live worker
        return real_authenticate(**kwargs)

    monkeypatch.setattr(pipeline, "authenticate", slow_authenticate)

    assert process_inbound_messages(job_ids=[job_id]) == {job_id: InboundMessage.Status.DELIVERED}
    assert lease_seen[-1] == T0 + timedelta(seconds=160)
    assert subjects(alice) == ["Slow"]


def test_a_worker_that_lost_its_lease_places_nothing_when_it_finishes_late(alice, monkeypatch):
    ids = queued(no_message_id("First"), no_message_id("Second"))
    real_authenticate = pipeline.authenticate
    late_worker = {"outcomes": None}

    def stalls_past_its_lease(**kwargs):
        if late_worker["outcomes"] is None:
            late_worker["outcomes"] = "stalled"
            # The lease runs out while this worker stalls; the reconciler hands the jobs to another worker.
            InboundMessage.objects.filter(pk__in=ids).update(lease_expires_at=timezone.now() - timedelta(days=1))
            late_worker["outcomes"] = process_inbound_messages(job_ids=ids)
        return real_authenticate(**kwargs)

    monkeypatch.setattr(pipeline, "authenticate", stalls_past_its_lease)

    outcomes = process_inbound_messages(job_ids=ids)  # the stalled worker, finishing late

    assert late_worker["outcomes"] == dict.fromkeys(ids, InboundMessage.Status.DELIVERED)  # the other worker's
    assert outcomes == {}
    assert subjects(alice) == ["First", "Second"]
    assert Message.objects.count() == 2
    jobs = InboundMessage.objects.all()
    assert {(job.status, job.lease_token) for job in jobs} == {(InboundMessage.Status.DELIVERED, "")}
    assert {job.message_id for job in jobs} == set(MailboxItem.objects.values_list("message_id", flat=True))


def test_a_failed_job_waits_for_its_retry_and_the_reconciler_leaves_it_until_then(alice, clock, monkeypatch):
    [job_id] = queued(message_bytes(subject="Flaky"))
    real_authenticate = pipeline.authenticate
    failures = iter([RuntimeError("DNS is away")])

    def fails_once(**kwargs):
        failure = next(failures, None)
        if failure:
            raise failure
        return real_authenticate(**kwargs)

    monkeypatch.setattr(pipeline, "authenticate", fails_once)
    monkeypatch.setattr(pipeline, "dispatch_processing", lambda **kwargs: None)  # the retry task, held back
    assert process_inbound_messages(job_ids=[job_id]) == {job_id: InboundMessage.Status.QUEUED}

    clock["now"] = T0 + timedelta(seconds=59)  # the retry is due 60 s after the first attempt
    assert reconcile_inbound() == {"redispatched": 0, "dead_lettered": 0}
    monkeypatch.undo()
    monkeypatch.setattr(pipeline, "_now", lambda: T0 + timedelta(seconds=61))
    assert reconcile_inbound() == {"redispatched": 1, "dead_lettered": 0}
    assert subjects(alice) == ["Flaky"]


def test_a_message_whose_worker_dies_on_every_attempt_is_dead_lettered_not_claimed_for_ever(alice, settings, clock):
    settings.INBOUND_LEASE_SECONDS = 60
    [job_id] = queued(message_bytes(subject="Kills workers"))
    for _ in range(pipeline.MAX_ATTEMPTS):  # a worker takes it, and dies; its lease runs out
        pipeline._claim([job_id])
        clock["now"] += timedelta(seconds=61)

    assert reconcile_inbound() == {"redispatched": 0, "dead_lettered": 1}
    job = InboundMessage.objects.get()
    assert (job.status, job.attempts, job.lease_token) == (InboundMessage.Status.FAILED, pipeline.MAX_ATTEMPTS, "")
    assert f"lost on each of its {pipeline.MAX_ATTEMPTS} attempts" in job.error
    assert subjects(alice) == []
