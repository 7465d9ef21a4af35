"""The system under test, assembled for one scenario, with its clients and its exact counts.

``Platform`` owns the run's private PostgreSQL cluster, Redis broker, loopback
DNS and counting sink; each scenario gets a fresh database and starts the
processes it needs (gunicorn, runsmtpd, Celery workers and beat). This
process talks to the same database through Django to set up users and to
count, and decides nothing by timing: it waits, bounded, until the queues in
the database are empty, then counts.
"""

import contextlib
import datetime
import http.client
import json
import os
import smtplib
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage

from chaos.infra import (
    PostgresCluster,
    RedisBroker,
    Stack,
    celery_beat,
    celery_worker,
    django_env,
    free_port,
    gunicorn,
    runsmtpd,
    start_and_wait_for_port,
    wait_until,
)
from chaos.sink import CountingSink

HOSTED_DOMAIN = "chaos.test"
SENDER = f"sender@{HOSTED_DOMAIN}"
REMOTE_DOMAINS = [f"remote{i}.example" for i in range(4)]
CLIENT_ATTEMPTS = 600  # a client's tries per message, each after a short pause: bounded, and past any outage here


@dataclass
class Tally:
    """One scenario's outcome. Keys are (Message-ID, recipient) pairs, so every figure is exact."""

    scenario: str
    sent: int = 0
    acknowledged: int = 0
    delivered_once: int = 0
    duplicated: int = 0
    lost: int = 0
    recovery_seconds: float | None = None
    notes: dict = field(default_factory=dict)

    def add_counts(self, acknowledged: set, copies: Counter, *, accounted_otherwise: set = frozenset()) -> None:
        """``copies``: how many times each key arrived; ``accounted_otherwise``: keys given a permanent 5xx."""
        self.acknowledged += len(acknowledged)
        for key in acknowledged:
            n = copies.get(key, 0)
            if n == 1:
                self.delivered_once += 1
            elif n > 1:
                self.duplicated += 1
            elif key not in accounted_otherwise:
                self.lost += 1


class Platform:
    def __init__(self, stack: Stack):
        self.stack = stack
        self.postgres = PostgresCluster(stack).init()
        self.broker = RedisBroker(stack).start()
        self.dns = _start_dns()
        stack.on_close(self.dns.stop)
        self.sink: CountingSink | None = None
        self.env: dict = {}
        self.services: dict = {}
        self._django_ready = False

    # --- one scenario's system ------------------------------------------------------------------

    def prepare(self, name: str, *, sink: CountingSink, **settings) -> dict:
        """A fresh database and broker, the sink as every remote domain's MX, and the environment of our processes."""
        for service in self.services.values():
            service.stop()
        self.services = {}
        if self.sink is not None:
            self.sink.stop()
        self.sink = sink.start()
        self.stack.on_close(sink.stop)
        import redis

        redis.Redis.from_url(self.broker.url).flushall()
        database = f"chaos_{name.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
        url = self.postgres.create_database(database)
        folder = self.stack.folder / name
        folder.mkdir(exist_ok=True)
        self.env = django_env(
            database_url=url, broker_url=self.broker.url, dns=self.dns.nameserver, smtp_port=sink.port,
            folder=folder, **settings,
        )  # fmt: skip
        self._use_database(url)
        return self.env

    def _use_database(self, url: str) -> None:
        os.environ.update({k: v for k, v in self.env.items() if k != "PYTHONPATH"})
        if not self._django_ready:
            import django

            django.setup()
            self._django_ready = True
        import dj_database_url
        from django.db import connections

        connections.close_all()
        connections["default"].settings_dict.update(dj_database_url.parse(url, conn_max_age=0))
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        from accounts.services import create_api_token, create_domain, create_mail_user

        create_domain(name=HOSTED_DOMAIN)
        sender = create_mail_user(address=SENDER, password=None, display_name="Chaos Sender")
        self.api_token = create_api_token(user=sender, name="chaos")[1]
        for i in range(8):
            create_mail_user(address=f"user{i}@{HOSTED_DOMAIN}", password=None)

    def start_web(self) -> int:
        port = free_port()
        self.services["web"] = start_and_wait_for_port(gunicorn(self.stack, self.env, port=port), port)
        self.api_port = port
        return port

    def start_mx(self, port: int | None = None) -> int:
        port = port or free_port()
        self.services["mx"] = start_and_wait_for_port(runsmtpd(self.stack, self.env, port=port), port)
        self.mx_port = port
        return port

    def start_worker(self, name: str, *, queues: str, concurrency: int = 2):
        self.services[name] = celery_worker(self.stack, name, self.env, queues=queues, concurrency=concurrency).start()
        return self.services[name]

    def start_beat(self) -> None:
        self.services["beat"] = celery_beat(self.stack, self.env).start()

    # --- waiting and counting -------------------------------------------------------------------

    def outbound_pending(self) -> int:
        from django.db import connections

        from mailboxes.models import Recipient

        try:
            return Recipient.objects.filter(status__in=Recipient.PENDING_STATUSES).count()
        finally:
            connections.close_all()

    def inbound_pending(self) -> int:
        from django.db import connections

        from inbound.models import InboundMessage

        try:
            pending = (InboundMessage.Status.QUEUED, InboundMessage.Status.PROCESSING)
            return InboundMessage.objects.filter(status__in=pending).count()
        finally:
            connections.close_all()

    def wait_quiescent(self, *, timeout: float, outbound=True, inbound=False) -> bool:
        """Until nothing is queued or in flight in the database (bounded); False if it never got there."""

        def quiet() -> bool:
            try:
                return (not outbound or self.outbound_pending() == 0) and (not inbound or self.inbound_pending() == 0)
            except Exception:  # the database may be down: that is a scenario's fault, not an answer
                return False

        try:
            wait_until(quiet, timeout=timeout, what="the queues to empty", poll=1)
        except TimeoutError:
            return False
        return True

    def inbound_copies(self) -> Counter:
        """(Message-ID, recipient address) -> mailbox items holding it."""
        from django.db import connections

        from mailboxes.models import MailboxItem

        try:
            rows = MailboxItem.objects.filter(user__username__startswith="user").values_list(
                "message__message_id", "user__username"
            )
            return Counter((mid.strip("<>"), user.lower()) for mid, user in rows)  # the username is the address
        finally:
            connections.close_all()

    def last_inbound_processed(self, *, received_before: datetime.datetime | None = None) -> datetime.datetime | None:
        """When the last inbound job (of those the MX stored before ``received_before``) was processed."""
        from django.db import connections
        from django.db.models import Max

        from inbound.models import InboundMessage

        jobs = InboundMessage.objects.all()
        if received_before is not None:
            jobs = jobs.filter(received_at__lt=received_before)
        try:
            return jobs.aggregate(last=Max("processed_at"))["last"]
        finally:
            connections.close_all()

    def settle_inbound(
        self, clients: "Clients", tally: Tally, *, since: datetime.datetime, options, backlog_only: bool = False
    ) -> None:
        """After an inbound fault: let the clients finish, wait for the queue to drain, count
        the copies, and time the recovery from ``since`` to the last message processed (with
        ``backlog_only``, the last of those the MX had stored before ``since``)."""
        clients.join(options.timeout)
        quiet = self.wait_quiescent(timeout=options.recovery_bound, outbound=False, inbound=True)
        tally.add_counts(clients.acknowledged, self.inbound_copies())
        last = self.last_inbound_processed(received_before=since if backlog_only else None)
        tally.recovery_seconds = max(0.0, (last - since).total_seconds()) if quiet and last else None

    def outbound_statuses(self) -> dict:
        from django.db import connections
        from django.db.models import Count

        from mailboxes.models import Recipient

        try:
            rows = Recipient.objects.exclude(domain=HOSTED_DOMAIN).values("status").annotate(n=Count("pk"))
            return {row["status"]: row["n"] for row in rows.order_by()}
        finally:
            connections.close_all()


def _start_dns():
    from tests.support.dns_server import LoopbackDNS

    dns = LoopbackDNS().start()
    for domain in REMOTE_DOMAINS:
        dns.resolver.add(f"{domain}. 300 IN MX 10 mx.{domain}.")
        dns.resolver.add(f"mx.{domain}. 300 IN A 127.0.0.1")
    return dns


# --- clients --------------------------------------------------------------------------------------


class Clients:
    """Threads sending a fixed list of jobs; each job is retried (bounded) until acknowledged, like a real MTA or a
    well-behaved API client with an Idempotency-Key. ``acknowledged`` holds the keys of what got a 202 / 250."""

    def __init__(self, *, count: int):
        self.count = count
        self.acknowledged: set = set()
        self.acknowledged_at: dict = {}  # key -> time.monotonic() of its 202 / 250
        self.failures: Counter = Counter()  # exceptions by type (connection refused, timeouts, ...)
        self.refusals = 0  # answers that were not a 202 / 250 (4xx, 5xx)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def run(self, jobs: list, attempt) -> "Clients":
        """``attempt(job, state) -> key or None``: one try; ``state`` is the thread's connection holder."""
        shares = [jobs[i :: self.count] for i in range(self.count)]

        def work(share):
            state = {}
            for job in share:
                for _ in range(CLIENT_ATTEMPTS):
                    try:
                        key = attempt(job, state)
                    except Exception as exc:
                        key = None
                        _reset(state)
                        with self._lock:
                            self.failures[type(exc).__name__] += 1
                    else:
                        with self._lock:
                            if key is None:
                                self.refusals += 1
                            else:
                                self.acknowledged.add(key)
                                self.acknowledged_at[key] = time.monotonic()
                    if key is not None:
                        break
                    time.sleep(0.2)  # a client's pause before trying again, not a wait for an outcome
            _reset(state)

        for share in shares:
            thread = threading.Thread(target=work, args=(share,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def done(self) -> bool:
        return not any(t.is_alive() for t in self._threads)


def _reset(state: dict) -> None:
    """Close the client's connection (after an error): the next try opens a new one."""
    for value in state.values():
        close = getattr(value, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # already broken, and about to be forgotten
                close()
    state.clear()


def api_send(port: int, token: str):
    """An attempt function for ``Clients``: POST /api/emails/send with the job's Idempotency-Key."""

    def attempt(job: dict, state: dict):
        if "http" not in state:
            state["http"] = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
        conn = state["http"]
        body = json.dumps({"to": job["to"], "subject": job["subject"], "body": "chaos harness\n"})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                   "Idempotency-Key": job["key"]}  # fmt: skip
        conn.request("POST", "/api/emails/send", body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status != 202:
            _reset(state)
            return None
        message_id = json.loads(payload)["message_id"]
        return message_id, tuple(address.lower() for address in job["to"])

    return attempt


def smtp_send(port: int):
    """An attempt function for ``Clients``: one SMTP transaction to the MX; the key is (Message-ID, recipient)."""

    def attempt(job: dict, state: dict):
        if "smtp" not in state:
            smtp = smtplib.SMTP("127.0.0.1", port, timeout=60)
            smtp.ehlo("client.chaos.example")
            state["smtp"] = smtp
        smtp = state["smtp"]
        message = EmailMessage()
        message["From"] = "someone@client.chaos.example"
        message["To"] = job["to"]
        message["Subject"] = job["subject"]
        message["Message-ID"] = f"<{job['key']}@client.chaos.example>"
        message.set_content(job.get("body", "chaos harness\n"))
        try:
            smtp.send_message(message, from_addr="someone@client.chaos.example", to_addrs=[job["to"]])
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                _reset(state)
                return None
            raise
        except smtplib.SMTPRecipientsRefused:
            _reset(state)
            return None
        return f"{job['key']}@client.chaos.example", job["to"].lower()

    return attempt


def outbound_jobs(count: int, *, recipients: int = 1, prefix: str = "") -> list[dict]:
    """API sends, each to ``recipients`` distinct remote addresses (distinct, so a bounce suppresses nobody else)."""
    tag = prefix or uuid.uuid4().hex[:6]
    return [
        {
            "key": f"{tag}-{i}",
            "subject": f"chaos {tag} {i}",
            "to": [f"r{i}x{j}@{REMOTE_DOMAINS[(i + j) % len(REMOTE_DOMAINS)]}" for j in range(recipients)],
        }
        for i in range(count)
    ]


def inbound_jobs(count: int, *, prefix: str = "", body: str = "chaos harness\n") -> list[dict]:
    tag = prefix or uuid.uuid4().hex[:6]
    return [
        {"key": f"{tag}.{i}", "subject": f"chaos in {tag} {i}", "to": f"user{i % 8}@{HOSTED_DOMAIN}", "body": body}
        for i in range(count)
    ]


def expand_api_keys(acknowledged: set) -> set:
    """API keys are (Message-ID, recipients...): one (Message-ID, recipient) pair per recipient."""
    return {(mid, rcpt) for mid, rcpts in acknowledged for rcpt in rcpts}


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
