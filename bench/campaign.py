#!/usr/bin/env python
"""Campaign benchmark: one campaign rendered, signed and delivered per recipient by real Celery workers, with
transactional mail sent meanwhile, and Postfix relaying the same number of messages to the same sink, in one run.

    python bench/campaign.py                                # 100,000 recipients on 200 domains, PostgreSQL
    python bench/campaign.py --recipients 2000 --db sqlite  # a quick run
    python bench/campaign.py --help

What it does, everything on loopback and in a temporary folder that is removed
at the end (the pieces it shares with ``bench/outbound.py`` come from there):

1. starts Postfix's ``smtp-sink`` (the receiving side for everybody), a
   loopback DNS server with MX records for ``--domains`` domains
   (``d{i}.bench.test`` -> 127.0.0.1) and a private RabbitMQ virtual host;
2. migrates a throwaway database (a new PostgreSQL database, or a SQLite
   file) and builds the world: a hosted sender domain with a DKIM key, a
   marketer, ``--recipients`` opted-in contacts spread over the domains
   (bulk inserts), a list holding them, a segment of that list, a MARKETING
   template with a few variables and an unsubscribe link, and a campaign;
3. starts real Celery workers (``celery -A webmail worker``): one for the
   ``bulk`` queue (``--bulk-concurrency`` processes) and one for
   ``transactional``, and ``celery -A webmail beat``, whose schedule runs the
   campaign's start and release task;
4. schedules the campaign to send now and times it from its start (the
   pacer's task starting it, which freezes its audience) until the last
   recipient is recorded sent (the wait for the beat's tick shown apart); meanwhile, every ``--probe-every`` seconds, a
   transactional message goes through ``delivery.services.send_message`` to
   a sink address and its latency (submitted -> recorded sent) is measured;
   the CPU time and peak RSS (``VmHWM``) of every worker process (and the CPU
   of their PostgreSQL backends) are sampled;
5. **peer**: private Postfix instances relay ``--recipients`` copies of one
   of the campaign's messages as our workers sent it (rendered and
   DKIM-signed), one recipient per message, to the same sink: "queue -> sink"
   (injected on hold, released, timed until the queue is empty) and "live"
   (``smtp-source`` injecting while Postfix relays).

Throttling is set out of the way as in bench/outbound.py (the campaign sends
as fast as it can). A benchmark, not a test: it asserts no timing; it fails
only if mail is lost.
"""

import argparse
import contextlib
import json
import os
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import outbound  # noqa: E402
from bench.outbound import (  # noqa: E402
    SENDER_DOMAIN,
    OtherLoad,
    Sink,
    become_subreaper,
    close_django,
    cpu_seconds,
    descendants,
    django_env,
    interrupt,
    key_bits,
    log,
    mb,
    mem_total_kib,
    reap_children,
    rss_kib,
    run,
    run_postfix,
    start_dns,
    which,
)
from bench.throwaway import ThrowawayDatabase  # noqa: E402

PLANS = ("free", "pro", "team")
CITIES = ("Paris", "Lyon", "Berlin", "Madrid", "Shanghai", "Osaka", "Toronto", "Lima")
VARIABLES = [
    {"name": "name", "type": "string", "default": "there", "example": "Dana"},
    {"name": "plan", "type": "string", "default": "free", "example": "pro"},
    {"name": "city", "type": "string", "default": "", "example": "Paris"},
    # Declared: the campaign's renderer puts each person's own link here (else it appends a footer).
    {"name": "unsubscribe_url", "type": "string", "default": "", "example": "https://shop.bench.test/u/x/"},
]
SUBJECT = "{{ name }}, what is new in your {{ plan }} plan"
HTML = """<!doctype html><html><head><style>
body { font-family: Arial, sans-serif; color: #1f2937; margin: 0; }
.wrap { max-width: 600px; margin: 0 auto; padding: 16px; }
h1 { font-size: 22px; color: #1d4ed8; }
.article { margin: 12px 0; padding: 8px; border-left: 3px solid #93c5fd; }
.button { display: inline-block; padding: 8px 14px; background: #1d4ed8; color: #fff; text-decoration: none; }
.footer { font-size: 12px; color: #6b7280; }
@media (max-width: 600px) { .wrap { padding: 8px; } h1 { font-size: 18px; } }
</style></head><body><div class="wrap">
<h1>Hello {{ name }},</h1>
<p>Here is what changed this month for everyone on the <b>{{ plan }}</b> plan{% if city %} in {{ city }}{% endif %}.</p>
<div class="article"><h2>Faster search</h2><p>Search now answers in a fraction of the time it took, across every
folder, with the same query language you already know.</p></div>
<div class="article"><h2>Templates in two languages</h2><p>Every template can now have a variant per language,
picked from each reader's preference, with a preview of both.</p></div>
<div class="article"><h2>Better reports</h2><p>See who opened and clicked, per campaign and per link, with
bounces and complaints counted against the sending domain.</p></div>
<p><a class="button" href="https://shop.bench.test/whats-new?plan={{ plan }}">Read more</a></p>
<p class="footer">You receive this because you subscribed to our newsletter.
<a href="{{ unsubscribe_url }}">Unsubscribe</a>.</p>
</div></body></html>"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=100_000, help="contacts in the campaign's segment")
    parser.add_argument("--domains", type=int, default=200, help="recipient domains (each with its own MX)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres", help="throwaway database kind")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server for --db postgres; a database bench_campaign_* is created there and dropped",
    )
    parser.add_argument(
        "--broker",
        default=os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672"),
        help="RabbitMQ server; a virtual host bench_campaign_* is made there (rabbitmqctl) and deleted",
    )
    parser.add_argument("--bulk-concurrency", type=int, default=os.cpu_count() or 2, help="bulk worker processes")
    parser.add_argument("--transactional-concurrency", type=int, default=1, help="transactional worker processes")
    parser.add_argument("--batch-size", type=int, default=None, help="OUTBOUND_BATCH_SIZE (default: the setting's)")
    parser.add_argument(
        "--release-window", type=int, default=None,
        help="CAMPAIGN_RELEASE_WINDOW: released people a campaign may have in the outbox (default: the setting's)",
    )  # fmt: skip
    parser.add_argument("--probe-every", type=float, default=1.0, help="seconds between transactional probes")
    parser.add_argument(
        "--stop-after", type=float, default=None, metavar="SECONDS",
        help="cancel the campaign SECONDS after it was scheduled and report the rate of what it sent until then "
        "(for a slow machine; Postfix still relays --recipients messages)",
    )  # fmt: skip
    parser.add_argument("--no-postfix", action="store_true", help="skip the Postfix peer")
    parser.add_argument("--timeout", type=float, default=3600, help="upper bound in seconds for each phase")
    parser.add_argument(
        "--wait-quiet", type=float, default=0, metavar="SECONDS",
        help="first wait up to SECONDS for other processes to leave the CPUs alone (the run reports their load)",
    )  # fmt: skip
    parser.add_argument("--profile", metavar="DIR", help="run the bulk worker's processes under cProfile, into DIR")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines, only the final table")
    # Internal: a Celery worker whose pool processes run under cProfile (--profile).
    parser.add_argument("--role", choices=("profiled-worker",), help=argparse.SUPPRESS)
    parser.add_argument("celery_argv", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.recipients, args.domains, args.bulk_concurrency, args.transactional_concurrency) < 1:
        parser.error("counts must be at least 1")
    return args


# --- the broker ----------------------------------------------------------------------------------


class PrivateVhost:
    """A RabbitMQ virtual host of our own: the run's queues start empty and nobody else's tasks reach our workers."""

    def __init__(self, server_url: str):
        self.name = f"bench_campaign_{os.urandom(4).hex()}"
        if not which("rabbitmqctl"):
            raise RuntimeError("rabbitmqctl not found: a private RabbitMQ virtual host cannot be made")
        for cmd in (["add_vhost", self.name], ["set_permissions", "-p", self.name, "guest", ".*", ".*", ".*"]):
            done = run([which("rabbitmqctl"), *cmd])
            if done.returncode:
                raise RuntimeError(f"rabbitmqctl {' '.join(cmd)} failed: {done.stdout}{done.stderr}")
        self.url = f"{server_url.rstrip('/')}/{self.name}"

    def delete(self) -> None:
        run([which("rabbitmqctl"), "delete_vhost", self.name])


# --- processes and what they use ----------------------------------------------------------------


class Meter:
    """CPU time and peak RSS of the processes of named groups (a process and its descendants, or a predicate).

    Sampled by ``sample()``; CPU counts from ``start()`` (a process born later
    from zero); a process that ends keeps what it was last seen using.
    """

    def __init__(self):
        self.roots: dict[str, int] = {}
        self.matchers: dict[str, Callable[[int], bool]] = {}
        self.baseline: dict[int, float] = {}
        self.cpu: dict[int, float] = {}
        self.hwm_kib: dict[int, int] = {}
        self.group_of: dict[int, str] = {}
        self.ignored: set[int] = set()
        self.started = False

    def add_tree(self, name: str, pid: int) -> None:
        self.roots[name] = pid

    def add_matching(self, name: str, predicate) -> None:
        self.matchers[name] = predicate

    def ignore(self, pid: int) -> None:
        """Not part of any group (the bench's own database connection)."""
        self.ignored.add(pid)

    def start(self) -> None:
        self.sample()
        self.baseline = dict(self.cpu)
        self.started = True

    def sample(self) -> None:
        for name, root in self.roots.items():
            for pid in descendants(root) if Path(f"/proc/{root}").exists() else ():
                self._read(name, pid)
        if self.matchers:
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    for name, predicate in self.matchers.items():
                        if predicate(int(entry.name)):
                            self._read(name, int(entry.name))

    def _read(self, group: str, pid: int) -> None:
        if pid in self.ignored:
            return
        used = cpu_seconds(pid)
        if used == 0.0 and pid in self.cpu:
            return  # ended between listing and reading: keep the last figure
        self.group_of[pid] = group
        self.cpu[pid] = used
        self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), rss_kib(pid, "VmHWM"))
        if self.started and pid not in self.baseline:
            self.baseline[pid] = 0.0

    def cpu_of(self, group: str) -> float:
        return sum(self.cpu[p] - self.baseline.get(p, self.cpu[p]) for p, g in self.group_of.items() if g == group)

    def peaks_of(self, group: str) -> list[int]:
        return sorted((self.hwm_kib[p] for p, g in self.group_of.items() if g == group), reverse=True)


def postgres_backend_of(database: str):
    """A predicate: is ``pid`` a PostgreSQL backend serving ``database`` (its title names the database)?"""
    needle = f" {database} ".encode()

    def matches(pid: int) -> bool:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return False
        return title.startswith(b"postgres:") and needle in title

    return matches


class Celery:
    """``celery -A webmail worker`` (or ``beat``) in the temporary folder's log, stopped warmly at the end."""

    def __init__(self, name: str, argv: list[str], env: dict, tmp: Path, *, profile: str | None = None):
        self.name = name
        if profile:
            cmd = [sys.executable, __file__, "--role", "profiled-worker", "--profile", profile, "--", *argv]
        else:
            cmd = [sys.executable, "-m", "celery", "-A", "webmail", *argv]
        self.log_path = tmp / f"celery-{name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)  # noqa: S603

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"celery {self.name} exited ({self.proc.returncode}); its log:\n{self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self, timeout: float = 60) -> None:
        """Warm shutdown (the pool processes finish their task and, profiled, write their statistics)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in reversed(descendants(self.proc.pid)):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


def worker_argv(queue: str, concurrency: int) -> list[str]:
    return [
        "worker", "-Q", queue, "-c", str(concurrency), "-n", f"{queue}@{socket.gethostname()}", "-l", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip


def wait_for_workers(names: list[str], timeout: float) -> None:
    """Until every worker answers a ping on the broker (they consume from then on)."""
    from webmail.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answered = {name for reply in app.control.ping(timeout=1.0) or [] for name in reply}
        if all(any(a.startswith(n + "@") for a in answered) for n in names):
            return
    raise TimeoutError(f"the Celery workers {names} did not come up")


def wait_for_beat(schedule: Path, beat: Celery, timeout: float) -> None:
    """Until the beat has opened its schedule file: it is ticking (so the campaign waits one interval at most)."""
    deadline = time.monotonic() + timeout
    while not any(schedule.parent.glob(schedule.name + "*")):
        beat.check()
        if time.monotonic() > deadline:
            raise TimeoutError("celery beat did not start")
        time.sleep(0.1)


def profiled_worker_main(args) -> None:
    """``celery -A webmail worker`` whose pool processes each profile themselves from fork to shutdown."""
    import cProfile

    from celery.signals import worker_process_init, worker_process_shutdown

    profiler = cProfile.Profile()

    @worker_process_init.connect(weak=False)
    def enable(**kwargs):
        profiler.enable()

    @worker_process_shutdown.connect(weak=False)
    def dump(**kwargs):
        profiler.disable()
        profiler.dump_stats(str(Path(args.profile) / f"bulk-{os.getpid()}.pstats"))

    from webmail.celery import app

    app.worker_main(argv=args.celery_argv)


# --- the world -----------------------------------------------------------------------------------


def build_world(args) -> dict:
    """Sender domain and DKIM key, marketer, contacts (bulk inserts), list, segment, template and campaign."""
    from django.utils import timezone

    from accounts.services import create_domain, create_mail_user, ensure_dkim_key
    from campaigns.models import Contact, ListMembership, Template
    from campaigns.services.campaigns import create_campaign
    from campaigns.services.contacts import create_list
    from campaigns.services.segments import create_segment
    from campaigns.services.templates import create_template
    from core.bulk import insert_rows

    started = time.monotonic()
    workspace = create_domain(name=SENDER_DOMAIN)
    workspace, _ = ensure_dkim_key(domain_name=SENDER_DOMAIN)
    marketer = create_mail_user(
        address=f"news@{SENDER_DOMAIN}", password=None, display_name="Bench News", marketer=True
    )
    prober = create_mail_user(address=f"alerts@{SENDER_DOMAIN}", password=None, display_name="Bench Alerts")
    newsletter = create_list(workspace=workspace, name="Newsletter")
    now = timezone.now()
    for first in range(0, args.recipients, 10_000):
        contact_ids = insert_rows(
            Contact,
            [
                {
                    "domain_id": workspace.pk,
                    "address": f"reader{i}@d{i % args.domains}.bench.test",
                    "name": f"Reader {i}",
                    "attributes": {"plan": PLANS[i % 3], "city": CITIES[i % len(CITIES)]},
                    "consent": Contact.Consent.OPTED_IN,
                    "consent_source": "bench",
                    "consent_at": now,
                }
                for i in range(first, min(first + 10_000, args.recipients))
            ],
        )
        insert_rows(
            ListMembership,
            [
                {
                    "contact_list_id": newsletter.pk,
                    "contact_id": contact_id,
                    "status": ListMembership.Status.SUBSCRIBED,
                    "source": "bench",
                    "subscribed_at": now,
                }
                for contact_id in contact_ids
            ],
        )
    segment = create_segment(
        workspace=workspace, name="Newsletter readers", definition={"lists": [newsletter.pk]}, created_by=marketer
    )
    template = create_template(
        user=marketer, key="whats_new", name="What's new", stream=Template.Stream.MARKETING,
        subject=SUBJECT, html=HTML, variables=VARIABLES,
    )  # fmt: skip
    campaign = create_campaign(
        user=marketer, name="What's new, bench", template=template, segment=segment,
        from_address=f"news@{SENDER_DOMAIN}",
    )  # fmt: skip
    return {
        "campaign": campaign,
        "marketer": marketer,
        "prober": prober,
        "setup_seconds": time.monotonic() - started,
        "dkim_key_bits": key_bits(workspace.dkim_private_key),
    }


# --- the run -------------------------------------------------------------------------------------


class Probe:
    """A transactional message ``every`` seconds after the last, to a sink address of its own, timed submit -> sent."""

    def __init__(self, user, domains: int, every: float):
        self.user, self.domains, self.every = user, domains, every
        self.submitted: dict[str, datetime] = {}  # address -> when send_message was called
        self.next_at = time.monotonic()

    def tick(self) -> None:
        if time.monotonic() < self.next_at:
            return
        from delivery.services import send_message

        self.next_at = time.monotonic() + self.every
        number = len(self.submitted)
        address = f"probe{number}@d{number % self.domains}.bench.test"
        self.submitted[address] = datetime.now(UTC)
        send_message(
            user=self.user, to=[address], subject=f"Your code is {number:06d}", sent_copy=False,
            text=f"Your sign-in code is {number:06d}. It expires in ten minutes.\n",
        )  # fmt: skip

    def latencies(self) -> tuple[list[float], int]:
        """Seconds from submission to the recorded "sent" of each probe, and how many were not sent."""
        from delivery.models import DeliveryEvent

        sent = dict(
            DeliveryEvent.objects.filter(recipient__address__in=list(self.submitted), event_type="sent").values_list(
                "recipient__address", "timestamp"
            )
        )
        seconds = [(sent[a] - at).total_seconds() for a, at in self.submitted.items() if a in sent]
        return seconds, len(self.submitted) - len(seconds)

    def all_sent(self) -> bool:
        _, unsent = self.latencies()
        return unsent == 0


def run_campaign(args, world: dict, env: dict, tmp: Path, meter: Meter, results: dict) -> None:
    from django.db import connection
    from django.db.models import Count, Max, Min

    from campaigns.models import Campaign
    from campaigns.services.campaigns import cancel, schedule
    from mailboxes.models import Recipient

    campaign, marketer = world["campaign"], world["marketer"]
    workers = []
    try:
        profile = str(Path(args.profile).resolve()) if args.profile else None
        workers.append(Celery("bulk", worker_argv("bulk", args.bulk_concurrency), env, tmp, profile=profile))
        workers.append(Celery("transactional", worker_argv("transactional", args.transactional_concurrency), env, tmp))
        workers.append(Celery("beat", ["beat", "-s", str(tmp / "beat-schedule"), "-l", "WARNING"], env, tmp))
        wait_for_workers(["bulk", "transactional"], 120)
        wait_for_beat(tmp / "beat-schedule", workers[-1], 120)
        for worker in workers:
            meter.add_tree(worker.name, worker.pid)
        if connection.vendor == "postgresql":  # our polling and probes are not the workers' database work
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                meter.ignore(cursor.fetchone()[0])
        meter.start()
        probe = Probe(world["prober"], args.domains, args.probe_every)
        load_mark = outbound.other_load_mark()
        log(args, f"· campaign of {args.recipients} recipients: scheduled to send now …")
        scheduled_at = datetime.now(UTC)
        started = time.monotonic()
        schedule(campaign=campaign, user=marketer)
        deadline = started + args.timeout
        last_progress, next_poll, done, stopped = started, started, 0, False
        campaign_recipients = Recipient.objects.none()
        while True:
            probe.tick()
            if time.monotonic() < next_poll:
                time.sleep(0.1)
                continue
            next_poll = time.monotonic() + 1  # VmHWM is a peak already: a sample a second loses nothing of it
            meter.sample()
            for worker in workers:
                worker.check()
            campaign.refresh_from_db(fields=["status", "message", "audience_size", "released_count"])
            if campaign.message_id:
                campaign_recipients = Recipient.objects.filter(message_id=campaign.message_id)
                done = campaign_recipients.filter(status__in=Recipient.FINAL_STATUSES).count()
                if campaign.audience_size and done >= campaign.audience_size:
                    break
            if campaign.status == Campaign.Status.CANCELLED:
                raise RuntimeError("the campaign was cancelled")
            if args.stop_after and time.monotonic() - started >= args.stop_after:
                stopped = True
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the campaign did not finish within {args.timeout:.0f} s ({done} done)")
            if time.monotonic() - last_progress >= 10:
                last_progress = time.monotonic()
                log(
                    args,
                    f"  {last_progress - started:5.0f} s: {campaign.status}, {campaign.released_count} released, "
                    f"{done} done, {len(probe.submitted)} probes",
                )
        if stopped:
            log(args, f"· stopping the campaign after {args.stop_after:.0f} s ({done} done): cancelled …")
            cancel(campaign=campaign, user=marketer)
            in_flight = campaign_recipients.filter(status=Recipient.Status.SENDING)
            while in_flight.exists() and time.monotonic() < deadline:  # claims under way finish (and are counted)
                time.sleep(1)
        log(args, "· campaign done; waiting for the last probes …")
        probe_deadline = time.monotonic() + 60
        while not probe.all_sent() and time.monotonic() < probe_deadline:
            meter.sample()
            time.sleep(1)
        meter.sample()
        other_load = outbound.other_load_since(load_mark)
        # CPU read now, before the workers' shutdown adds theirs.
        cpu = {name: meter.cpu_of(name) for name in ("bulk", "transactional", "beat", "postgres")}
    finally:
        for worker in workers:
            worker.stop()
    campaign.refresh_from_db()
    times = campaign_recipients.filter(status=Recipient.Status.SENT).aggregate(
        first=Min("last_attempt_at"), last=Max("updated_at")
    )
    statuses = dict(campaign_recipients.values_list("status").annotate(n=Count("pk")).order_by())
    sent = statuses.get(Recipient.Status.SENT, 0)
    latencies, unsent = probe.latencies()
    if not (times["last"] and campaign.started_at):
        raise RuntimeError(f"the campaign sent nothing: {statuses}")
    results["ours"] = {
        # From the campaign's start (the pacer's task began freezing its audience) to its last recorded "sent".
        "seconds": (times["last"] - campaign.started_at).total_seconds(),
        "scheduled_to_last_sent_seconds": (times["last"] - scheduled_at).total_seconds(),
        "started_after_seconds": (campaign.started_at - scheduled_at).total_seconds(),
        "first_attempt_after_seconds": (times["first"] - campaign.started_at).total_seconds(),
        "recipients": campaign.audience_size,
        "sent": sent,
        "stopped_after_seconds": args.stop_after if stopped else None,
        "recipient_statuses": statuses,
        "campaign_status": campaign.status,
        "other_load_cores": other_load,
        "cpu_s": cpu,
        "peak_rss_kib": {name: meter.peaks_of(name) for name in ("bulk", "transactional", "beat")},
        "probe": {
            "sent": len(latencies),
            "unsent": unsent,
            "every_seconds": args.probe_every,
            "latencies_s": sorted(round(s, 3) for s in latencies),
        },
    }
    if sent != args.recipients and not stopped:
        raise RuntimeError(f"not every recipient was sent: {statuses} (worker logs in {tmp})")


def sample_message(campaign) -> bytes:
    """One recipient's message as the bulk worker sent it: rendered for them, then DKIM-signed."""
    from accounts.models import Domain
    from delivery import dkim, personalization
    from mailboxes.models import Recipient

    recipient = (
        Recipient.objects.select_related("message__blob", "message__send_scope")
        .filter(message_id=campaign.message_id)
        .order_by("pk")
        .first()
    )
    raw = personalization.renderer().render([recipient])[recipient.pk]
    return dkim.sign(raw, domain=Domain.objects.get(name=SENDER_DOMAIN))


# --- the profile ---------------------------------------------------------------------------------

# Where a bulk worker's time goes, by the functions that do each step (cumulative time, so a step that
# calls another includes it: the database time inside the renderer is in both).
PROFILE_STEPS = (
    ("claim (lock and read due recipients)", "delivery/services/engine.py", "claim_due_recipients"),
    ("renderer (snapshot reads, render, MIME)", "campaigns/personalize.py", "render"),
    ("  template render (render_version)", "campaigns/rendering.py", "render_version"),
    ("  MIME (mime_bytes)", "campaigns/mime.py", "mime_bytes"),
    ("DKIM signing", "delivery/dkim.py", "sign"),
    ("SMTP transactions", "delivery/transports/smtp.py", "send_envelope"),
    ("record outcomes (events, statuses)", "delivery/services/engine.py", "record_results"),
    ("campaign start and release", "campaigns/services/fanout.py", "start_due_campaigns"),
    ("", "campaigns/services/fanout.py", "release_due"),
    ("all database statements", "django/db/backends/utils.py", "_execute"),
)


def profile_summary(directory: Path, messages: int) -> dict:
    files = sorted(directory.glob("bulk-*.pstats"))
    if not files:
        return {}
    stats = pstats.Stats(*map(str, files))
    steps: dict[str, float] = {}
    label = ""
    for step, path, function in PROFILE_STEPS:
        label = step or label
        for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():
            if name == function and path in filename:
                steps[label] = steps.get(label, 0.0) + cumulative
    total = stats.total_tt
    return {
        "files": [f.name for f in files],
        "profiled_seconds": total,
        "ms_per_message": {step: round(1000 * seconds / messages, 3) for step, seconds in steps.items()},
        "total_ms_per_message": round(1000 * total / messages, 3),
    }


# --- report --------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def print_table(args, results: dict) -> None:
    n = args.recipients
    ours = results.get("ours")
    print()
    print(
        f"Campaign benchmark: {n} recipients on {args.domains} domains, each message rendered for its recipient "
        f"(~{results.get('message_bytes', '?')} bytes) and DKIM-signed (rsa-{results.get('dkim_key_bits', '?')}); "
        f"nproc {os.cpu_count()}"
    )
    print(
        f"database {args.db}; RabbitMQ; celery workers: bulk x{args.bulk_concurrency} processes, transactional "
        f"x{args.transactional_concurrency}, beat; CAMPAIGN_RELEASE_WINDOW {results.get('release_window')}; "
        f"OUTBOUND_RECORD_EVERY_BULK {results.get('record_every_bulk')}; "
        "throttling off (OUTBOUND_*_RATE_PER_MINUTE, OUTBOUND_DOMAIN_CONCURRENCY set to 1e9)"
    )
    print()
    print(f"{'':46} {'seconds':>8} {'msg/s':>8}  memory")
    if ours:
        bulk_peak = max(ours["peak_rss_kib"]["bulk"] or [0])
        print(
            f"{'ours: campaign started -> last recorded sent':46} {ours['seconds']:8.1f} "
            f"{ours['sent'] / ours['seconds']:8.0f}  {mb(bulk_peak)} peak per bulk worker process"
        )
        if ours["stopped_after_seconds"]:
            stop = ours["stopped_after_seconds"]
            print(f"  (cancelled {stop:.0f} s after it was scheduled, by --stop-after: {ours['sent']} of {n} sent)")
    for key, label in (("postfix_queue", "Postfix: queue -> sink, 1 rcpt/message"), ("postfix_live", "Postfix: live")):
        if key in results:
            fig = results[key]
            print(
                f"{label:46} {fig['seconds']:8.1f} {n / fig['seconds']:8.0f}  "
                f"{mb(fig['peak_pss_kib_all_processes'])} PSS, {fig['peak_processes']} processes"
            )
    if "postfix_skipped" in results:
        print(f"Postfix peer skipped: {results['postfix_skipped']}")
    if not ours:
        return
    cpu = ours["cpu_s"]
    print()
    print(
        f"scheduled -> started (the beat's next tick) {ours['started_after_seconds']:.1f} s; started -> first "
        f"send attempt (audience frozen, first people released) {ours['first_attempt_after_seconds']:.1f} s; "
        f"scheduled -> last sent {ours['scheduled_to_last_sent_seconds']:.1f} s; recipients: "
        f"{ours['recipient_statuses']}"
    )
    print(
        f"CPU per message: bulk worker processes {1000 * cpu['bulk'] / ours['sent']:.2f} ms"
        f" + PostgreSQL backends {1000 * cpu['postgres'] / ours['sent']:.2f} ms"
        f" (transactional worker {cpu['transactional']:.1f} s and beat {cpu['beat']:.1f} s in all)"
    )
    peaks = ours["peak_rss_kib"]
    print(
        "peak RSS (VmHWM) per process: "
        + "; ".join(f"{name} {', '.join(mb(k) for k in kib)}" for name, kib in peaks.items() if kib)
    )
    probe = ours["probe"]
    latencies = probe["latencies_s"]
    if latencies:
        print(
            f"transactional probe (one message every {probe['every_seconds']:g} s during the campaign, submitted -> "
            f"sent): {len(latencies)} sent, p50 {statistics.median(latencies):.2f} s, "
            f"p95 {percentile(latencies, 0.95):.2f} s, max {max(latencies):.2f} s; not sent: {probe['unsent']}"
        )
    if ours.get("other_load_cores") is not None:
        print(f"other processes on the machine during the campaign: {ours['other_load_cores']:.2f} cores")
        if ours["other_load_cores"] >= 0.1:
            print("WARNING: other work was using the CPUs: these figures are skewed")
    if "profile" in results and results["profile"]:
        print()
        print(f"profile of the bulk worker processes, ms per message ({results['profile']['files']}):")
        for step, ms in results["profile"]["ms_per_message"].items():
            print(f"  {step:44} {ms:8.3f}")
        print(f"  {'everything profiled':44} {results['profile']['total_ms_per_message']:8.3f}")
    print()
    rate = ours["sent"] / ours["seconds"]
    bulk_peak = max(peaks["bulk"] or [0]) if peaks else 0
    verdicts = [f"{rate:.0f} msg/s ({'meets' if rate >= 1000 else 'below'} 1,000)"]
    if "postfix_queue" in results:
        peer = n / results["postfix_queue"]["seconds"]
        verdicts.append(f"{rate / peer:.2f}x Postfix queue -> sink ({'meets' if rate >= peer else 'below'})")
    verdicts.append(f"bulk workers {mb(bulk_peak)} ({'under' if bulk_peak < 200 * 1024 else 'over'} 200 MB)")
    if latencies:
        p95 = percentile(latencies, 0.95)
        verdicts.append(f"transactional p95 {p95:.2f} s ({'under' if p95 < 5 else 'over'} 5 s)")
    print("targets: " + "; ".join(verdicts))


# --- the run as a whole --------------------------------------------------------------------------


def orchestrate(args) -> int:
    signal.signal(signal.SIGTERM, interrupt)  # clean up (workers, Postfix, sink, vhost, database) when stopped
    signal.signal(signal.SIGINT, interrupt)
    become_subreaper()
    outbound.OTHER_LOAD = OtherLoad()
    tmp = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    tmp.chmod(0o755)
    results: dict = {"args": {k: v for k, v in vars(args).items() if k not in ("role", "celery_argv")}}
    results["machine"] = {"nproc": os.cpu_count(), "mem_total_kib": mem_total_kib()}
    sink = dns = database = vhost = None
    status = 0
    try:
        sink = Sink(tmp)
        log(args, f"· {sink.kind} on 127.0.0.1:{sink.port}; temporary folder {tmp}")
        if args.wait_quiet:
            outbound.OTHER_LOAD.wait_quiet(args, args.wait_quiet)
        dns = start_dns(args)
        database = ThrowawayDatabase(args, tmp, prefix="bench_campaign")
        outbound.OTHER_LOAD.database = database.name
        vhost = PrivateVhost(args.broker)
        env = django_env(args, tmp, database.url, dns.nameserver, sink.port)
        env["CELERY_BROKER_URL"] = vhost.url
        if args.release_window:
            env["CAMPAIGN_RELEASE_WINDOW"] = str(args.release_window)
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0, interactive=False)
        log(args, f"· building {args.recipients} contacts, a list, a segment, a template and a campaign …")
        world = build_world(args)
        from django.conf import settings

        results["release_window"] = settings.CAMPAIGN_RELEASE_WINDOW
        results["record_every_bulk"] = settings.OUTBOUND_RECORD_EVERY_BULK
        results["setup_seconds"] = world["setup_seconds"]
        results["dkim_key_bits"] = world["dkim_key_bits"]
        connections.close_all()
        meter = Meter()
        if database.name:
            meter.add_matching("postgres", postgres_backend_of(database.name))
        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
        before = sink.count
        run_campaign(args, world, env, tmp, meter, results)
        results["sink_transactions"] = sink.count - before
        sample = sample_message(world["campaign"])
        results["message_bytes"] = len(sample)
        if args.profile:
            results["profile"] = profile_summary(Path(args.profile), results["ours"]["sent"])
        connections.close_all()
        if not args.no_postfix:
            peer = SimpleNamespace(messages=args.recipients, recipients=1, timeout=args.timeout, quiet=args.quiet)
            modes = [m for m in outbound.POSTFIX_MODES if m[0] in ("postfix_queue", "postfix_live")]
            run_postfix(peer, tmp, sink, results, sample, modes=modes)
    except (RuntimeError, TimeoutError) as exc:
        print(f"bench/campaign: {exc}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        status = 130
    finally:
        close_django()
        for resource in (sink, dns):
            if resource:
                resource.stop()
        if vhost:
            vhost.delete()
        if database:
            with contextlib.suppress(Exception):
                database.drop()
        reap_children()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_table(args, results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return status


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.role == "profiled-worker":
        profiled_worker_main(args)
        return 0
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
