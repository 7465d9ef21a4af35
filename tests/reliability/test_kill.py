"""kill -9 of a real Celery delivery worker in the middle of a claim loses nothing and sends again only what was
in flight (the short, CI version of ``python -m chaos kill-worker-1 kill-worker-100``).

A real worker subprocess takes the task from a real broker (a private
redis-server) and delivers to the counting sink of the chaos harness. The sink
holds the Nth SMTP transaction, so the worker is stopped at a known point of
its claim: the transactions before it answered 250, the held one never will.
The test kills the worker's process group with SIGKILL, moves the clock past
the lease, and runs the reconciler in this process (tasks run inline here).
PostgreSQL only: SQLite has no row locks to skip, and one writer at a time.
"""

import datetime
import shutil

import pytest
from celery import Celery
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from chaos.infra import RedisBroker, Service, Stack, celery_worker, django_env
from chaos.sink import CountingSink
from delivery.services import reconcile
from delivery.transports import reset_transport
from mailboxes.models import Recipient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (the broker)"),
]

REMOTE = "remote.example"


@pytest.fixture
def postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("the kill test runs on PostgreSQL (DATABASE_URL=postgres://...)")


@pytest.fixture
def stack():
    """The harness's process manager: whatever the test starts is stopped at the end, also on failure."""
    with Stack() as stack:
        yield stack


@pytest.fixture
def broker(stack):
    return RedisBroker(stack).start().url


@pytest.fixture
def remote_mx(dns_server):
    dns_server.resolver.add(f"{REMOTE}. 300 IN MX 10 mx.{REMOTE}.")
    dns_server.resolver.add(f"mx.{REMOTE}. 300 IN A 127.0.0.1")
    return dns_server


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _worker(stack, tmp_path, *, broker: str, sink: CountingSink, dns_server) -> Service:
    """One Celery worker process with one pool process: the dead worker's in-flight transaction is the held one."""
    env = django_env(database_url=_database_url(), broker_url=broker, dns=dns_server.nameserver,
                     smtp_port=sink.port, folder=tmp_path)  # fmt: skip
    return celery_worker(stack, "doomed", env, queues="transactional", concurrency=1).start()


@pytest.mark.parametrize(
    ("messages", "recipients", "hold_at"),
    [(6, 1, 3), (1, 100, 50)],
    ids=["1-recipient-messages", "100-recipient-message"],
)
def test_killed_worker_mid_claim_loses_nothing_and_duplicates_at_most_its_in_flight_transaction(
    postgres_only, alice, stack, broker, remote_mx, tmp_path, settings, monkeypatch, messages, recipients, hold_at
):
    from delivery.services import submission

    sink = CountingSink(hold_at=hold_at).start()
    stack.on_close(sink.stop)
    worker = _worker(stack, tmp_path, broker=broker, sink=sink, dns_server=remote_mx)
    remote_broker = Celery(broker=broker, set_as_current=False)
    # The submission's task goes to the real worker, not inline in this process.
    monkeypatch.setattr(
        submission, "dispatch_delivery",
        lambda *, message_id, queue: remote_broker.send_task("delivery.deliver_message", args=[message_id],
                                                             queue=queue),
    )  # fmt: skip
    sent = []
    for i in range(messages):
        to = [f"r{i}x{j}@{REMOTE}" for j in range(recipients)]
        message = submission.send_message(user=alice, to=to, subject=f"kill {i}", text="x")
        sent += [(message.message_id.strip("<>"), address) for address in to]
    assert sink.reached.wait(60), f"the worker never reached transaction {hold_at}:\n{worker.tail()}"
    worker.kill9()
    sink.release()
    in_flight = 1  # the held transaction: the worker died waiting for its reply

    # A dead worker's claim comes back once its lease has run out: move the clock there and reconcile
    # (the reconciler's dispatch runs inline, delivering to the same sink).
    later = timezone.now() + datetime.timedelta(seconds=django_settings.OUTBOUND_LEASE_SECONDS + 1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    settings.SMTP_DELIVERY_PORT = sink.port
    reset_transport()
    reconcile.reconcile_outbox()
    sink.stop()

    assert not Recipient.objects.filter(status__in=Recipient.PENDING_STATUSES).exists()
    lost = [key for key in sent if sink.deliveries[key] == 0]
    duplicates = sum(n - 1 for n in sink.deliveries.values() if n > 1)
    assert lost == []
    assert duplicates <= in_flight
