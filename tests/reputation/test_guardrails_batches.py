"""The guardrails after a batch of outcomes committed together (one ``record_results``): the same thresholds
trip as when they come one at a time, and a batch of deliveries costs no judging.

The events are real ``DeliveryEvent`` rows announced as the engine announces them (``events_recorded``
inside the transaction, ``figures_changed`` on its commit), so the counters, the signal and its receivers
are the real ones.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from delivery.models import DeliveryEvent
from delivery.services import send_message
from delivery.services.events import events_recorded, new_delivery_event
from reputation.models import ReputationAlert, SendingHold
from reputation.services.holds import open_hold_for

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _small_volume(settings):
    settings.REPUTATION_MIN_VOLUME = 20


def recipients(user, n: int, *, start: int = 0):
    message = send_message(user=user, to=[f"r{start + i:03}@remote.example" for i in range(n)], text="x")
    return list(message.recipients.order_by("pk"))


def commit_batch(capture, outcomes, *, at: datetime = NOW) -> None:
    """``outcomes``: (recipient, "sent" | "bounced"); stored and counted in one transaction, announced on commit."""
    with capture(execute=True), transaction.atomic():
        events = []
        for recipient, kind in outcomes:
            details = {"reason": "user_unknown", "reject_reason": "invalid"} if kind == "bounced" else {}
            event = new_delivery_event(recipient=recipient, event_type=kind, transport="smtp", **details)
            event.timestamp = at
            events.append(event)
        DeliveryEvent.objects.bulk_create(events)
        events_recorded.send(sender=DeliveryEvent, events=events)


def figure_reads(queries) -> list[str]:
    return [
        q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT") and "reputationcount" in q["sql"]
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("bounced", "paused"), [(1, False), (2, True)])
def test_one_batch_trips_the_pause_at_the_same_threshold(alice, django_capture_on_commit_callbacks, bounced, paused):
    """20 outcomes in one commit: 2 bounces (10 %) pause the sender, 1 (5 %) only warns it."""
    batch = recipients(alice, 20)
    commit_batch(
        django_capture_on_commit_callbacks,
        [(r, "bounced") for r in batch[:bounced]] + [(r, "sent") for r in batch[bounced:]],
    )

    hold = open_hold_for("user", alice.pk)
    assert (hold is not None) is paused
    if paused:
        assert "(2 of 20) reached the 10 % pause threshold" in hold.reason
    levels = set(ReputationAlert.objects.filter(kind="user").values_list("level", flat=True))
    assert levels == ({"pause"} if paused else {"warning"})


@pytest.mark.django_db
def test_bounces_after_batches_of_deliveries_still_pause(alice, django_capture_on_commit_callbacks):
    """The deliveries' clean verdict is remembered; the batch that brings bounces is judged all the same."""
    batch = recipients(alice, 30)
    commit_batch(django_capture_on_commit_callbacks, [(r, "sent") for r in batch[:20]])
    commit_batch(django_capture_on_commit_callbacks, [(r, "sent") for r in batch[20:25]])
    assert not SendingHold.objects.exists() and not ReputationAlert.objects.exists()

    commit_batch(django_capture_on_commit_callbacks, [(r, "bounced") for r in batch[25:]])  # 5 of 30: 16.7 %

    assert "(5 of 30) reached the 10 % pause threshold" in open_hold_for("user", alice.pk).reason


@pytest.mark.django_db
def test_deliveries_over_the_minimum_volume_are_judged_when_the_rates_were_bad_below_it(
    alice, django_capture_on_commit_callbacks
):
    """Bad rates under the minimum volume are not clean: the deliveries that bring the volume up are judged."""
    batch = recipients(alice, 20)
    commit_batch(django_capture_on_commit_callbacks, [(r, "bounced") for r in batch[:4]])  # 4 of 4, no signal yet
    assert open_hold_for("user", alice.pk) is None

    commit_batch(django_capture_on_commit_callbacks, [(r, "sent") for r in batch[4:]])  # 4 of 20: 20 %

    assert "(4 of 20) reached the 10 % pause threshold" in open_hold_for("user", alice.pk).reason


@pytest.mark.django_db
def test_a_new_hour_judges_clean_subjects_again(alice, django_capture_on_commit_callbacks):
    batch = recipients(alice, 30)
    commit_batch(django_capture_on_commit_callbacks, [(r, "sent") for r in batch[:20]])
    with CaptureQueriesContext(connection) as same_hour:
        commit_batch(django_capture_on_commit_callbacks, [(r, "sent") for r in batch[20:25]], at=NOW)
    with CaptureQueriesContext(connection) as next_hour:
        commit_batch(django_capture_on_commit_callbacks, [(r, "sent") for r in batch[25:]], at=NOW + timedelta(hours=1))
    assert [len(figure_reads(c.captured_queries)) for c in (same_hour, next_hour)] == [0, 1]


@pytest.mark.django_db
def test_recording_a_batch_of_deliveries_costs_the_same_queries_whatever_its_size(
    alice, django_capture_on_commit_callbacks
):
    """Storing, counting and judging N delivered outcomes in one commit, once the sender was found clean:
    the same queries for 5 as for 40 (the counters' upsert, no figures read, no compromise check)."""
    batch = recipients(alice, 65)
    commit_batch(django_capture_on_commit_callbacks, [(r, "sent") for r in batch[:20]])
    counted = []
    for part in (batch[20:25], batch[25:65]):
        with CaptureQueriesContext(connection) as queries:
            commit_batch(django_capture_on_commit_callbacks, [(r, "sent") for r in part])
        counted.append(queries.captured_queries)
    assert len(counted[0]) == len(counted[1]) <= 5, counted[0]  # savepoint, events, counters, release
    assert figure_reads(counted[0] + counted[1]) == []
