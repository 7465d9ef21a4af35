"""kill -9 of a real bulk worker in the middle of a campaign: after the reconciler, everyone got it exactly once,
but for at most the one SMTP transaction the worker had in flight.

The campaign starts and releases its people in this process; a real Celery
worker subprocess (a private redis-server as the broker, the chaos harness's
``Stack``) takes the bulk queue's delivery task, renders each person's message
with the campaign renderer and delivers it to the counting sink, which holds
its Nth SMTP transaction: the worker is killed there, with the transactions
before it answered 250 and the rest of its claim leased. The clock is then
moved past the lease and the reconciler runs here (its dispatch inline), and
the pacer releases and delivers the rest.

The duplicate window: the held transaction reached the final dot, so the sink
counts it as accepted when it is released, while the dead worker never
recorded it; the reconciler sends it again. That is one duplicate at most per
killed worker (per transaction in flight), and it carries the same Message-ID
(``campaign.<campaign>.<person>@…``) both times, so a receiver can tell.
PostgreSQL only: SQLite has no row locks to skip, and one writer at a time.
"""

import datetime
import shutil
from collections import Counter

import pytest
from celery import Celery
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import fanout
from campaigns.services.campaigns import pause, resume, schedule
from campaigns.services.fanout import release_due, start_due_campaigns
from chaos.infra import RedisBroker, Stack, celery_worker, django_env
from chaos.sink import CountingSink
from delivery.services import reconcile
from delivery.transports import reset_transport
from mailboxes.models import Recipient
from tests.campaigns.campaign_world import (
    add_contacts,
    deliver_bulk,
    everyone_fixture,  # noqa: F401 - fixtures
    new_campaign,
    newsletter_fixture,  # noqa: F401
    spring_fixture,  # noqa: F401
)
from tests.campaigns.unsubscribe_world import marketer_fixture, shop_fixture  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (the broker)"),
]

REMOTE = "remote.example"
PEOPLE = 40
HOLD_AT = 15


@pytest.fixture
def postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("the kill test runs on PostgreSQL (DATABASE_URL=postgres://...)")


@pytest.fixture
def stack():
    with Stack() as stack:
        yield stack


@pytest.fixture
def remote_mx(dns_server):
    dns_server.resolver.add(f"{REMOTE}. 300 IN MX 10 mx.{REMOTE}.")
    dns_server.resolver.add(f"mx.{REMOTE}. 300 IN A 127.0.0.1")
    return dns_server


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def test_a_killed_bulk_worker_leaves_everyone_with_the_campaign_once(
    postgres_only, marketer, spring, everyone, shop, newsletter, stack, remote_mx, tmp_path, settings, monkeypatch
):
    broker = RedisBroker(stack).start().url
    sink = CountingSink(hold_at=HOLD_AT).start()
    stack.on_close(sink.stop)
    env = django_env(database_url=_database_url(), broker_url=broker, dns=remote_mx.nameserver,
                     smtp_port=sink.port, folder=tmp_path)  # fmt: skip
    worker = celery_worker(stack, "bulk", env, queues="bulk", concurrency=1).start()
    remote_broker = Celery(broker=broker, set_as_current=False)
    # The pacer's dispatch goes to the real bulk worker, not inline in this process.
    monkeypatch.setattr(
        fanout, "dispatch_due",
        lambda *, queue: remote_broker.send_task("delivery.deliver_due", kwargs={"queue": queue}, queue=queue),
    )  # fmt: skip
    settings.CAMPAIGN_RELEASE_WINDOW = PEOPLE
    addresses = [f"k{i}@{REMOTE}" for i in range(PEOPLE)]
    add_contacts(shop, newsletter, addresses)
    campaign = new_campaign(marketer, spring, everyone)
    schedule(campaign=campaign, user=marketer)
    start_due_campaigns()
    assert release_due() == PEOPLE

    assert sink.reached.wait(60), f"the worker never reached transaction {HOLD_AT}:\n{worker.tail()}"
    worker.kill9()
    sink.release()
    in_flight = 1
    # The dead worker's claim is still leased to it: the rest of the campaign waits on the reconciler.
    assert Recipient.objects.filter(message=Campaign.objects.get(pk=campaign.pk).message, status="sending").exists()

    later = timezone.now() + datetime.timedelta(seconds=django_settings.OUTBOUND_LEASE_SECONDS + 1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    monkeypatch.setattr(fanout, "dispatch_due", lambda *, queue: None)
    settings.SMTP_DELIVERY_PORT = sink.port
    reset_transport()
    reconcile.reconcile_outbox()
    release_due()
    deliver_bulk()
    release_due()
    sink.stop()

    assert not Recipient.objects.filter(status__in=Recipient.PENDING_STATUSES).exists()
    by_person = Counter()
    for (message_id, address), times in sink.deliveries.items():
        assert message_id.startswith(f"campaign.{campaign.pk}.")  # each person's own message
        by_person[address] += times
    assert sorted(a for a in addresses if by_person[a] == 0) == []  # nobody lost
    assert sum(n - 1 for n in by_person.values()) <= in_flight
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT


def test_pause_and_resume_under_a_real_worker_send_everyone_exactly_once(
    postgres_only, marketer, spring, everyone, shop, newsletter, stack, remote_mx, tmp_path, settings, monkeypatch
):
    broker = RedisBroker(stack).start().url
    sink = CountingSink(hold_at=HOLD_AT).start()
    stack.on_close(sink.stop)
    env = django_env(database_url=_database_url(), broker_url=broker, dns=remote_mx.nameserver,
                     smtp_port=sink.port, folder=tmp_path, OUTBOUND_BATCH_SIZE=5)  # fmt: skip
    worker = celery_worker(stack, "bulk", env, queues="bulk", concurrency=1).start()
    remote_broker = Celery(broker=broker, set_as_current=False)
    monkeypatch.setattr(
        fanout, "dispatch_due",
        lambda *, queue: remote_broker.send_task("delivery.deliver_due", kwargs={"queue": queue}, queue=queue),
    )  # fmt: skip
    settings.CAMPAIGN_RELEASE_WINDOW = PEOPLE
    addresses = [f"p{i}@{REMOTE}" for i in range(PEOPLE)]
    add_contacts(shop, newsletter, addresses)
    campaign = new_campaign(marketer, spring, everyone)
    schedule(campaign=campaign, user=marketer)
    start_due_campaigns()
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert release_due() == PEOPLE

    # The worker is held in the middle of its third claim of five: pause now.
    assert sink.reached.wait(60), f"the worker never reached transaction {HOLD_AT}:\n{worker.tail()}"
    pause(campaign=campaign, user=marketer)
    sink.release()
    outbox = Recipient.objects.filter(message=campaign.message)
    worker.finish()  # its warm shutdown ends the claim in flight (recorded) and the task; the worker exits

    delivered_while_paused = sum(sink.deliveries.values())
    assert delivered_while_paused == HOLD_AT  # the claim in flight finished; nothing after it
    assert outbox.filter(status="queued", next_attempt_at=None).count() == PEOPLE - HOLD_AT
    worker = celery_worker(stack, "bulk-resumed", env, queues="bulk", concurrency=1).start()
    resume(campaign=campaign, user=marketer)
    assert sink.wait_for_delivered(addresses, 60), f"the rest never arrived:\n{worker.tail()}"
    worker.finish()  # and with it, the recording of the last outcomes
    release_due()
    sink.stop()

    by_person = Counter(address for (_, address), times in sink.deliveries.items() for _ in range(times))
    assert sorted(by_person) == sorted(addresses)
    assert set(by_person.values()) == {1}
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT
