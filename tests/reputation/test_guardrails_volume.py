"""Under the minimum volume the guardrails judge nothing: deliveries that keep a subject under it read no
figures, and the commit that brings it to the minimum is judged, whoever added the bounces before.

Another worker is a process whose memory of the subject is its own: the tests put back this process's
memory after a commit "another worker" made, so only the counters know of it.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reputation.services import guardrails
from reputation.services.holds import open_hold_for
from tests.reputation.test_guardrails_batches import NOW, commit_batch, figure_reads, recipients


@pytest.fixture(autouse=True)
def _small_volume(settings):
    settings.REPUTATION_MIN_VOLUME = 20


def reads_of(capture, outcomes, **kwargs) -> int:
    with CaptureQueriesContext(connection) as queries:
        commit_batch(capture, outcomes, **kwargs)
    return len(figure_reads(queries.captured_queries))


@pytest.mark.django_db
def test_deliveries_that_keep_a_sender_under_the_minimum_volume_read_no_figures(
    alice, django_capture_on_commit_callbacks
):
    batch = recipients(alice, 19)
    capture = django_capture_on_commit_callbacks

    reads = [reads_of(capture, [(r, "sent")]) for r in batch]

    # The first commit reads (this process knows nothing of the sender yet); the next 18 stay under 20.
    assert reads == [1] + [0] * 18


@pytest.mark.django_db
def test_the_delivery_that_reaches_the_minimum_is_judged_with_another_workers_bounces(
    alice, django_capture_on_commit_callbacks
):
    batch = recipients(alice, 20)
    capture = django_capture_on_commit_callbacks
    commit_batch(capture, [(r, "sent") for r in batch[:10]])  # read: 10, under 20
    ours = dict(guardrails._below)
    commit_batch(capture, [(r, "bounced") for r in batch[10:13]])  # another worker: 3 bounces, judged under 20
    guardrails._below.clear()
    guardrails._below.update(ours)  # this worker does not know of them

    assert reads_of(capture, [(r, "sent") for r in batch[13:19]]) == 0  # 19 outcomes: still nothing to judge
    assert open_hold_for("user", alice.pk) is None
    assert reads_of(capture, [(batch[19], "sent")]) == 1  # the 20th: judged, bounces included

    assert "(3 of 20) reached the 10 % pause threshold" in open_hold_for("user", alice.pk).reason


@pytest.mark.django_db
def test_a_read_in_the_first_minutes_of_an_hour_is_not_relied_on(alice, django_capture_on_commit_callbacks):
    batch = recipients(alice, 3)
    capture = django_capture_on_commit_callbacks
    early = NOW.replace(minute=0, second=30)

    reads = [reads_of(capture, [(r, "sent")], at=early + timedelta(seconds=n)) for n, r in enumerate(batch)]

    assert reads == [1, 1, 1]
