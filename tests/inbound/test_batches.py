"""A processing task claims a batch of jobs; each message is processed and committed on its own."""

import threading
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from inbound.models import InboundMessage, SpamTrainingCount
from inbound.services import pipeline
from inbound.services.pipeline import process_inbound_messages
from inbound.services.reception import Arrival, accept_messages
from mailboxes.models import MailboxItem, Message, Thread
from tests.inbound.test_mx import EICAR, message_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def queued(*raws: bytes) -> list[int]:
    """Jobs committed as the MX does, with nobody processing them yet."""
    with mock.patch("inbound.services.reception.dispatch_processing"):
        jobs = accept_messages(
            [Arrival(raw, "sam@sender.example", ["alice@example.test"], "127.0.0.1", "mail.sender.example")
             for raw in raws]
        )  # fmt: skip
    return [job.pk for job in jobs]


def subjects(user) -> list[str]:
    return sorted(MailboxItem.objects.filter(user=user).values_list("message__subject", flat=True))


def test_a_batch_is_placed_message_by_message(alice):
    ids = queued(*(message_bytes(subject=f"Batch {n}") for n in range(5)))

    outcomes = process_inbound_messages(job_ids=ids)

    assert outcomes == dict.fromkeys(ids, InboundMessage.Status.DELIVERED)
    assert subjects(alice) == [f"Batch {n}" for n in range(5)]
    assert all(job.message_id for job in InboundMessage.objects.all())


@pytest.mark.parametrize("step", ["authenticate", "place_message"])
def test_a_message_that_fails_in_a_batch_does_not_block_or_lose_the_others(alice, step):
    ids = queued(*(message_bytes(subject=s) for s in ["First", "Breaks", "Last"]))
    real = getattr(pipeline, step)

    def breaks_on_one(**kwargs):
        raw = kwargs.get("raw") or kwargs["message"].subject.encode()
        if b"Breaks" in raw:
            raise RuntimeError("boom")
        return real(**kwargs)

    real_together = pipeline.place_for_users

    def breaks_with_it(deliveries_by_user):  # placing the batch together breaks too when the broken message is in it
        deliveries = [d for ds in deliveries_by_user.values() for d in ds]
        if step == "place_message" and any(d.message.subject == "Breaks" for d in deliveries):
            raise RuntimeError("boom")
        return real_together(deliveries_by_user)

    with (
        mock.patch.object(pipeline, step, side_effect=breaks_on_one),
        mock.patch.object(pipeline, "place_for_users", side_effect=breaks_with_it),
        mock.patch.object(pipeline, "dispatch_processing") as retry,
    ):
        outcomes = process_inbound_messages(job_ids=ids)

    first, broken, last = (InboundMessage.objects.get(pk=pk) for pk in ids)
    assert outcomes[first.pk] == outcomes[last.pk] == InboundMessage.Status.DELIVERED
    assert subjects(alice) == ["First", "Last"]
    assert broken.status == InboundMessage.Status.QUEUED  # retried later, alone
    assert "boom" in broken.error and broken.lease_token == ""
    retry.assert_called_once_with(job_ids=[broken.pk], countdown=60)


def test_a_quarantined_message_in_a_batch_is_kept_out_and_the_others_are_placed(alice):
    ids = queued(message_bytes(subject="Clean"), message_bytes(subject="Infected", body=EICAR.decode()))

    outcomes = process_inbound_messages(job_ids=ids)

    assert outcomes == {ids[0]: InboundMessage.Status.DELIVERED, ids[1]: InboundMessage.Status.QUARANTINED}
    assert subjects(alice) == ["Clean"]


def test_a_batch_processed_twice_is_processed_once(alice):
    ids = queued(message_bytes(subject="Once"), message_bytes(subject="Only once"))

    process_inbound_messages(job_ids=ids)
    assert process_inbound_messages(job_ids=ids) == {}

    assert subjects(alice) == ["Once", "Only once"]


def test_jobs_another_worker_holds_are_left_to_it(alice):
    held, free = queued(message_bytes(subject="Held"), message_bytes(subject="Free"))
    with mock.patch.object(pipeline, "BATCH_MAX", 1):
        pipeline._claim([held])  # another worker claimed it first (only it)

    outcomes = process_inbound_messages(job_ids=[held, free])

    assert outcomes == {free: InboundMessage.Status.DELIVERED}
    assert InboundMessage.objects.get(pk=held).status == InboundMessage.Status.PROCESSING
    assert subjects(alice) == ["Free"]


def test_a_batch_that_cannot_commit_is_placed_message_by_message(alice):
    ids = queued(*(message_bytes(subject=f"Retry {n}") for n in range(3)))
    real = pipeline._place_or_fail
    calls = []

    def batch_transaction_breaks(analysis, token):
        calls.append(analysis.job.pk)
        if len(calls) == 2:  # inside the batch transaction: as if the connection broke
            raise RuntimeError("connection lost")
        return real(analysis, token)

    with (
        mock.patch.object(pipeline, "_place_together", side_effect=RuntimeError("a message breaks the batch")),
        mock.patch.object(pipeline, "_place_or_fail", side_effect=batch_transaction_breaks),
    ):
        outcomes = process_inbound_messages(job_ids=ids)

    assert outcomes == dict.fromkeys(ids, InboundMessage.Status.DELIVERED)
    assert subjects(alice) == ["Retry 0", "Retry 1", "Retry 2"]  # the first one's rollback lost nothing
    assert MailboxItem.objects.filter(user=alice).count() == 3


def test_the_same_message_twice_in_a_batch_is_placed_once(alice):
    raw = message_bytes(subject="Sent twice")
    ids = queued(raw, raw)

    outcomes = process_inbound_messages(job_ids=ids)

    assert outcomes == dict.fromkeys(ids, InboundMessage.Status.DELIVERED)
    assert subjects(alice) == ["Sent twice"]
    first, again = (InboundMessage.objects.get(pk=pk) for pk in ids)
    assert first.message_id and again.message_id is None  # the second copy's message was dropped
    assert Message.objects.count() == 1


def test_a_forged_copy_of_a_message_id_sent_first_does_not_suppress_the_real_message(alice, caplog):
    real = message_bytes(subject="Invoice 42", body="Please pay to the usual account.")
    forged = real.replace(b"Please pay to the usual account.", b"Our bank changed: pay to XX00 1234.")
    process_inbound_messages(job_ids=queued(forged))
    process_inbound_messages(job_ids=queued(real))
    again = queued(real)  # the real message, retried by its sender
    with caplog.at_level("INFO", logger="inbound.services.pipeline"):
        process_inbound_messages(job_ids=again)

    snippets = sorted(MailboxItem.objects.filter(user=alice).values_list("message__snippet", flat=True))
    assert snippets == ["Our bank changed: pay to XX00 1234.", "Please pay to the usual account."]
    assert f"inbound message {again[0]} is a copy" in caplog.text


def test_a_reply_and_its_parent_in_one_batch_end_in_one_thread(alice):
    parent = message_bytes(subject="Plan")
    parent_id = parent.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()
    reply = message_bytes(subject="Re: Plan").replace(
        b"Message-ID:", f"In-Reply-To: {parent_id}\r\nReferences: {parent_id}\r\nMessage-ID:".encode()
    )
    ids = queued(reply, parent)

    process_inbound_messages(job_ids=ids)

    items = MailboxItem.objects.filter(user=alice)
    assert items.count() == 2 and len({item.thread_id for item in items}) == 1
    assert Thread.objects.get(user=alice).message_count == 2


def test_a_batch_records_each_jobs_outcome_with_its_placement(alice):
    ids = queued(message_bytes(subject="One"), message_bytes(subject="Two"))

    process_inbound_messages(job_ids=ids)

    for job in InboundMessage.objects.filter(pk__in=ids).select_related("message"):
        assert job.status == InboundMessage.Status.DELIVERED and job.lease_token == "" and job.error == ""
        assert job.processed_at is not None and job.lease_expires_at is None
        assert job.authentication_results.startswith(settings.MAIL_HOSTNAME)
        assert job.auth["spf"] and job.virus_verdict["infected"] is False
        assert job.spam_verdict[alice.username]["score"] == job.spam_score
        assert job.message.items.get().user == alice


def test_a_task_also_takes_fresh_jobs_waiting_for_other_tasks(alice):
    mine, waiting = queued(message_bytes(subject="Mine")), queued(message_bytes(subject="Waiting"))

    outcomes = process_inbound_messages(job_ids=mine)

    assert outcomes == dict.fromkeys(mine + waiting, InboundMessage.Status.DELIVERED)
    assert process_inbound_messages(job_ids=waiting) == {}  # its own task then has nothing left to do
    assert subjects(alice) == ["Mine", "Waiting"]


def test_a_task_leaves_a_job_waiting_for_its_retry_alone(alice):
    [retry] = queued(message_bytes(subject="Retry later"))
    InboundMessage.objects.filter(pk=retry).update(attempts=1, error="RuntimeError: boom")
    mine = queued(message_bytes(subject="Mine"))

    outcomes = process_inbound_messages(job_ids=mine)

    assert outcomes == dict.fromkeys(mine, InboundMessage.Status.DELIVERED)
    assert InboundMessage.objects.get(pk=retry).status == InboundMessage.Status.QUEUED


def test_a_task_takes_at_most_batch_max_jobs(alice):
    ids = queued(*(message_bytes(subject=f"Deep {n}") for n in range(5)))

    with mock.patch.object(pipeline, "BATCH_MAX", 3):
        outcomes = process_inbound_messages(job_ids=ids[:1])

    assert list(outcomes) == ids[:3]  # the given job, then the oldest waiting


def test_a_batch_reads_the_spam_training_totals_once(alice):
    ids = queued(*(message_bytes(subject=f"Scored {n}") for n in range(3)))

    with CaptureQueriesContext(connection) as queries:
        process_inbound_messages(job_ids=ids)

    table = SpamTrainingCount._meta.db_table
    assert sum(table in query["sql"] for query in queries.captured_queries) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only")
def test_a_claim_skips_jobs_another_claim_holds_instead_of_waiting(alice):
    held, free = queued(message_bytes(subject="Held"), message_bytes(subject="Free"))
    locked, release = threading.Event(), threading.Event()

    def other_claim():  # another worker's claim transaction, holding the row lock of `held`
        try:
            with transaction.atomic():
                list(InboundMessage.objects.select_for_update().filter(pk=held).values_list("pk"))
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_claim)
    thread.start()
    try:
        assert locked.wait(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # waiting would fail the claim instead of hanging
        claimed = pipeline._claim([held])
    finally:
        release.set()
        thread.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert claimed is not None and claimed[1] == [free]  # the free job waiting; the held one left to its holder
    assert InboundMessage.objects.get(pk=held).status == InboundMessage.Status.QUEUED
