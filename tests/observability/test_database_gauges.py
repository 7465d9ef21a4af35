"""The database's figures: real submissions, deliveries over SMTP on loopback, failures and arrivals move them."""

from datetime import UTC, datetime, timedelta

import pytest

from delivery.services import run_delivery, send_message
from inbound.services.reception import accept_message
from mailboxes.models import MailboxChange, Recipient
from mailboxes.search.indexing import index_changes
from observability.collectors import DatabaseCollector
from tests.factories import deliver, raw_email

pytestmark = pytest.mark.django_db

# A moment before any test's rows: nothing is due yet, nothing is late.
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def gauges(now) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in DatabaseCollector(now=lambda: now).collect()
        for sample in family.samples
    }


def depth(samples, queue, status):
    return samples[("webmail_outbound_queue_depth", (("queue", queue), ("status", status)))]


def by_queue(samples, name, queue):
    return samples[(name, (("queue", queue),))]


def test_an_empty_platform_reports_zeros_for_every_queue(alice):
    samples = gauges(now=EPOCH)
    assert samples[("webmail_metrics_database_up", ())] == 1
    for queue in ("transactional", "bulk"):
        for status in ("queued", "deferred", "sending"):
            assert depth(samples, queue, status) == 0
        assert by_queue(samples, "webmail_outbound_due_recipients", queue) == 0
        assert by_queue(samples, "webmail_outbound_oldest_due_seconds", queue) == 0
        assert by_queue(samples, "webmail_outbound_dead_letters", queue) == 0
    assert samples[("webmail_search_indexing_lag_seconds", ())] == 0
    assert samples[("webmail_inbound_queue_depth", (("status", "queued"),))] == 0


def test_submissions_fill_the_queue_and_are_due_from_their_next_attempt_time(alice):
    send_message(user=alice, to=["ok@remote.example", "temp@remote.example"], text="x")
    send_message(user=alice, to=["ok2@remote.example"], text="x", queue=Recipient.Queue.BULK)
    submitted = Recipient.objects.filter(queue=Recipient.Queue.TRANSACTIONAL).earliest("next_attempt_at")

    before_due = gauges(now=submitted.next_attempt_at - timedelta(seconds=1))
    later = gauges(now=submitted.next_attempt_at + timedelta(seconds=90))

    assert depth(later, "transactional", "queued") == 2
    assert depth(later, "bulk", "queued") == 1
    assert by_queue(before_due, "webmail_outbound_due_recipients", "transactional") == 0
    assert by_queue(before_due, "webmail_outbound_oldest_due_seconds", "transactional") == 0
    assert by_queue(later, "webmail_outbound_due_recipients", "transactional") == 2
    assert by_queue(later, "webmail_outbound_oldest_due_seconds", "transactional") == 90
    assert by_queue(later, "webmail_outbound_due_recipients", "bulk") == 1


def test_a_temporary_failure_leaves_one_deferred_and_the_sent_one_leaves_the_queue(alice, remote_domain):
    send_message(user=alice, to=["ok@remote.example", "temp@remote.example"], text="x")

    run_delivery()

    deferred = Recipient.objects.get(status=Recipient.Status.DEFERRED)
    waiting = gauges(now=deferred.next_attempt_at - timedelta(seconds=1))
    due_again = gauges(now=deferred.next_attempt_at + timedelta(seconds=5))
    assert depth(waiting, "transactional", "queued") == 0
    assert depth(waiting, "transactional", "deferred") == 1
    assert by_queue(waiting, "webmail_outbound_due_recipients", "transactional") == 0
    assert by_queue(due_again, "webmail_outbound_due_recipients", "transactional") == 1
    assert by_queue(due_again, "webmail_outbound_oldest_due_seconds", "transactional") == 5


def test_a_crash_in_delivery_is_a_dead_letter(alice, remote_domain, settings):
    settings.MAIL_TRANSPORT = {"BACKEND": "tests.support.transports.CrashingTransport"}
    send_message(user=alice, to=["ok@remote.example", "ok2@remote.example"], text="x")

    run_delivery()

    samples = gauges(now=EPOCH)
    assert by_queue(samples, "webmail_outbound_dead_letters", "transactional") == 2
    assert by_queue(samples, "webmail_outbound_dead_letters", "bulk") == 0
    assert depth(samples, "transactional", "queued") == 0


def test_search_lag_is_the_age_of_the_oldest_change_not_indexed(alice):
    deliver(raw_email(subject="first"), alice)
    deliver(raw_email(subject="second"), alice)
    oldest = MailboxChange.objects.earliest("pk").created_at

    assert gauges(now=oldest + timedelta(seconds=42))[("webmail_search_indexing_lag_seconds", ())] == 42

    index_changes()

    assert gauges(now=oldest + timedelta(seconds=42))[("webmail_search_indexing_lag_seconds", ())] == 0


def test_accepted_mail_not_yet_placed_is_the_inbound_backlog(alice):
    job = accept_message(
        raw=raw_email(to="alice@example.test"), mail_from="x@remote.example", rcpt_tos=["alice@example.test"],
        client_ip="192.0.2.1", helo="remote.example",
    )  # fmt: skip

    samples = gauges(now=job.received_at + timedelta(seconds=30))

    assert samples[("webmail_inbound_queue_depth", (("status", "queued"),))] == 1
    assert samples[("webmail_inbound_oldest_queued_seconds", ())] == 30
    assert samples[("webmail_inbound_dead_letters", ())] == 0
