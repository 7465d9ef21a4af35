"""Processing accepted mail, on the inbound queue.

For each ``InboundMessage``: claim it (idempotent: a job runs once even if its
task is delivered twice), then

1. mail to a VERP return address is a bounce or complaint report: it becomes
   delivery events and suppressions, and is never placed in a mailbox; mail to a
   DMARC report address (``DMARC_REPORT_ADDRESSES``) has its aggregate reports
   stored, and is placed only if a mailbox has that address too;
2. otherwise SPF, DKIM and DMARC are evaluated and recorded as an
   Authentication-Results header on the stored view (trace headers + the
   exact bytes received);
3. the virus scanner runs: an infected message is quarantined, never delivered;
   a risky attachment (a program, macros) is held back and a script is flagged,
   and the message delivered, each such attachment marked with why;
4. per recipient, the spam filter decides inbox or spam (a DMARC policy of
   quarantine or reject also sends it to spam: we accepted it already), and
   the message is placed and threaded; placement records the new-mail change
   that search indexing and notifications follow.

A failure is retried a few times, then the job is dead-lettered for an admin.
"""

import logging
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Model, Q
from django.utils import timezone

from accounts.selectors import resolve_hosted_address, resolve_hosted_addresses
from core.heartbeat import Heartbeat, extend_held_leases
from core.metrics import INBOUND_PIPELINE_DURATION, INBOX_WRITE_DURATION
from delivery import verp
from inbound.auth import authenticate
from inbound.bounces import handle_report
from inbound.dmarc_reports.services import handle_report_mail as handle_dmarc_report_mail
from inbound.dmarc_reports.services import is_report_address as is_dmarc_report_address
from inbound.filters.spam import get_spam_filter
from inbound.filters.virus import BLOCK, WARN, VirusVerdict, get_virus_scanner
from inbound.metrics import count_authentication, count_placement_on_commit, count_spam_verdict, count_virus_verdict
from inbound.models import InboundMessage
from inbound.services.reception import dispatch_processing
from inbound.unsubscribes import handle_unsubscribe_mail, is_unsubscribe_address
from mailboxes.blobstore import read_blob, write_blob_files
from mailboxes.models import Attachment, Folder
from mailboxes.parsing import ParsedMessage, parse_message
from mailboxes.services.placement import Delivery, lock_mailboxes, place_for_users, place_message
from mailboxes.services.store import delete_orphan_messages, store_message, store_messages
from observability.logs import log_context
from rules.arrival import Arrival, Rulebooks, apply_placed, decide_safely

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class VirusScanUnavailable(Exception):
    pass


class LeaseLost(Exception):
    """The job's lease ran out and another worker reclaimed it: this worker's work on it must not count."""


# Jobs one task takes on at most: those it was given, then the oldest fresh ones waiting.
BATCH_MAX = 100


def _now() -> datetime:
    """The clock of leases and retries (tests replace it)."""
    return timezone.now()


def _lease() -> timedelta:
    return timedelta(seconds=settings.INBOUND_LEASE_SECONDS)


def process_inbound_messages(*, job_ids: list[int]) -> dict[int, str]:
    """Claim the given jobs (those nobody else holds) and process each; returns their final statuses.

    When other fresh jobs are waiting, the claim takes the oldest of them too,
    up to ``BATCH_MAX`` in all (their own tasks then find nothing to do): a
    deep queue drains in big batches. One claim for the batch, one commit for
    its placements; a message that fails is rolled back, retried or
    dead-lettered alone and never holds back or loses the others. A job whose
    lease was lost to another worker meanwhile is left out of the result.
    """
    claimed = _claim(job_ids)
    if claimed is None:
        return {}
    token, job_ids = claimed
    with LeaseHeartbeat(token=token, job_ids=job_ids):
        return _process_claimed(token, job_ids)


def _process_claimed(token: str, job_ids: list[int]) -> dict[int, str]:
    jobs = list(InboundMessage.objects.select_related("blob").filter(pk__in=job_ids, lease_token=token).order_by("pk"))
    users = _hosted_users(jobs)  # address -> hosted user or None, for this batch
    rulebooks = _rulebooks(users)  # each recipient's mail rules, loaded once for the batch
    outcomes, ready = {}, []
    try:
        scoring = get_spam_filter().batch()
    except Exception:  # a broken filter configuration: each message meets the error itself, and fails alone
        scoring = nullcontext()
    with scoring:
        for job in jobs:  # 1. read and judge every message: no write lock held
            with log_context(queue_id=job.pk):
                logger.info("claimed inbound message %s (attempt %s)", job.pk, job.attempts)  # counted by the claim
                try:
                    result = _analyse(job, token, users, rulebooks)
                except Exception as exc:
                    outcomes[job.pk] = _fail_logged(job, token, exc)
                    continue
            if isinstance(result, Analysis):
                ready.append(result)
            else:
                outcomes[job.pk] = result
    try:  # 2. the stored views' files, flushed to disk together
        write_blob_files([data for analysis in ready for data in analysis.files()])
    except Exception:  # each message then writes its own files in step 3, and fails alone
        logger.warning("could not write the files of a batch ahead", exc_info=True)
    if not ready:
        return outcomes
    try:  # 3. the whole batch in a few statements per mailbox, one commit
        started = time.perf_counter()
        with transaction.atomic():
            placed = _place_together(ready, token)
        _observe_write(started, len(placed))  # every message of the batch waited for the whole transaction
        outcomes.update(placed)
        _log_placed(ready)
        return outcomes
    except Exception:  # some message breaks it: a savepoint per message, so that one fails alone
        logger.warning("placing a batch of %d messages together failed; one by one", len(ready), exc_info=True)
    try:  # one commit for the batch, a savepoint per message: a failing one is rolled back alone
        with transaction.atomic():
            placed = {analysis.job.pk: _place_or_fail(analysis, token) for analysis in ready}
    except Exception:  # the batch could not commit: one transaction per message instead
        logger.warning("placing a batch of %d messages failed; placing them one by one", len(ready), exc_info=True)
        placed = {analysis.job.pk: _place_or_fail(analysis, token) for analysis in ready}
    _log_placed(ready)
    outcomes.update({pk: status for pk, status in placed.items() if status is not None})
    return outcomes


def _log_placed(ready: list["Analysis"]) -> None:
    """The last line of an inbound message's way, once its placement is committed."""
    for analysis in ready:
        if analysis.placed is None:  # lost to another worker, failed, or rolled back with the batch
            continue
        with log_context(queue_id=analysis.job.pk, message_id=analysis.placed or None):
            if analysis.placed:
                folders = sorted(set(analysis.folders.values()))
                logger.info(
                    "inbound message %s placed as message %s for %d recipients (%s)",
                    analysis.job.pk, analysis.placed, len(analysis.recipients), ", ".join(folders) or "none",
                )  # fmt: skip
            else:
                _log_not_placed(analysis.job)


class LeaseHeartbeat:
    """Renews the lease of the jobs a worker holds, every third of the lease, for as long as the worker lives.

    A thread, so that one slow message (a scanner or DNS timing out) does not
    let the lease of the whole batch run out; a dead worker renews nothing, and
    its jobs are reclaimed once their lease expires. Renewal goes by token, so
    jobs finished, or reclaimed by another worker, are left alone.
    """

    def __init__(self, *, token: str, job_ids: list[int]):
        self.token = token
        self.job_ids = list(job_ids)
        self._heartbeat = Heartbeat(lambda: self.beat(), interval=self.interval, name=f"inbound-lease-{token[:8]}")

    @property
    def interval(self) -> float:
        return _lease().total_seconds() / 3

    def __enter__(self) -> "LeaseHeartbeat":
        self._heartbeat.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._heartbeat.__exit__(*exc_info)

    def beat(self) -> int:
        """Extend the lease of the jobs still held from now; how many they are.

        One that fails (the database is away) is logged by Heartbeat; the next tries again.
        """
        return renew_leases(token=self.token, job_ids=self.job_ids, now=_now())


def renew_leases(*, token: str, job_ids: list[int], now: datetime) -> int:
    """Extend to ``now`` + the lease the jobs among ``job_ids`` still held under ``token``; how many."""
    return extend_held_leases(
        InboundMessage.objects.filter(pk__in=job_ids, lease_token=token, status=InboundMessage.Status.PROCESSING),
        until=now + _lease(),
    )


def _lock_held(job_ids: list[int], token: str) -> set[int]:
    """Of ``job_ids``, those still held under ``token``, locked until the transaction ends.

    Checked before placing: a job whose lease expired and was claimed again by
    another worker is that worker's to place, or its message would be placed twice.
    """
    return set(
        InboundMessage.objects.select_for_update()
        .filter(pk__in=job_ids, lease_token=token)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _place_together(ready: list["Analysis"], token: str) -> dict[int, str]:
    """``_place`` for a whole batch: its messages, their placements and the jobs' outcomes in a few statements.

    All or nothing: it raises if anything fails, and the caller then places the messages one by one.
    """
    held = _lock_held([analysis.job.pk for analysis in ready], token)
    lost = [analysis.job.pk for analysis in ready if analysis.job.pk not in held]
    if lost:
        logger.warning("inbound jobs %s were reclaimed by another worker; not placing them", lost)
        ready = [analysis for analysis in ready if analysis.job.pk in held]
        if not ready:
            return {}
    messages = store_messages(
        [(analysis.view, analysis.parsed) for analysis in ready], [analysis.scans for analysis in ready]
    )
    recipients = {user.pk: user for analysis in ready for user in analysis.recipients}
    lock_mailboxes(recipients.values())  # all of them up front, in one order
    per_user = {}  # user pk -> [(batch position, delivery)]
    for position, (analysis, message) in enumerate(zip(ready, messages, strict=True)):
        for user in analysis.recipients:
            delivery = Delivery(message=message, folder=analysis.folders[user.pk], received_at=analysis.job.received_at)
            per_user.setdefault(user.pk, []).append((position, delivery))
    for analysis in ready:
        analysis.placed = None  # set below; None until this batch's placement commits (a retry starts afresh)
    placed = [False] * len(ready)
    items = place_for_users({recipients[pk]: [delivery for _, delivery in entries] for pk, entries in per_user.items()})
    copies = []  # the folder of each copy placed, or None where the recipient already had the message
    new_items = []  # (item, what the recipient's rules decided) for each copy placed
    for user_pk, entries in per_user.items():
        for (position, delivery), item in zip(entries, items[user_pk], strict=True):
            kept = item.message_id == delivery.message.pk
            placed[position] = placed[position] or kept
            copies.append(delivery.folder if kept else None)
            if kept:
                new_items.append((item, _arrival(ready[position], user_pk)))
    apply_placed(new_items)
    _count_copies(copies)
    _observe_visible([analysis.job for analysis, kept in zip(ready, placed, strict=True) if kept])
    orphans = [message.pk for message, kept in zip(messages, placed, strict=True) if not kept]
    for analysis, message, kept in zip(ready, messages, placed, strict=True):
        analysis.placed = message.pk if kept else 0  # 0: a copy of mail its recipients hold (logged after commit)
    if orphans:  # every recipient already had it (a re-delivery)
        delete_orphan_messages(orphans)
    now = timezone.now()
    outcomes = {
        analysis.job.pk: {**_outcome(analysis, message if kept else None), "processed_at": now}
        for analysis, message, kept in zip(ready, messages, placed, strict=True)
    }
    _update_each(outcomes, token)
    return {pk: fields["status"] for pk, fields in outcomes.items()}


def _count_copies(folders: list) -> None:
    """INBOUND_MESSAGES per recipient copy, by folder (inbox, spam), or duplicate: the recipient had it already."""
    for placement in set(folders):
        count_placement_on_commit(placement or "duplicate", folders.count(placement))


def _observe_visible(jobs: list[InboundMessage]) -> None:
    """INBOUND_PIPELINE_DURATION from each job's 250 (``received_at``) to its placement's commit."""
    if jobs:
        received = [job.received_at for job in jobs]

        def observe():
            now = _now()  # at commit: that is when the message becomes visible
            for at in received:
                INBOUND_PIPELINE_DURATION.observe(max(0.0, (now - at).total_seconds()))

        transaction.on_commit(observe)


def _observe_write(started: float, messages: int) -> None:
    """INBOX_WRITE_DURATION: the placement transaction just ended, once per message it wrote (if it commits)."""
    elapsed = time.perf_counter() - started
    if messages:
        transaction.on_commit(lambda: [INBOX_WRITE_DURATION.observe(elapsed) for _ in range(messages)])


def _update_each(fields_by_job: dict[int, dict], token: str) -> None:
    """``filter(pk=…, lease_token=token).update(**fields)`` for each job, as one statement run for all.

    ``executemany`` sends them in one go (a pipeline on PostgreSQL); ``bulk_update``'s
    ``CASE`` per column costs more to compile than the statements it saves.
    """
    meta = InboundMessage._meta
    names = list(next(iter(fields_by_job.values())))
    columns = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column.column)} = %s" for column in columns)
    pk, lease = quote(meta.pk.column), quote(meta.get_field("lease_token").column)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {pk} = %s AND {lease} = %s"  # noqa: S608 - names only
    params = [
        [column.get_db_prep_save(_value(fields[name]), connection) for name, column in zip(names, columns, strict=True)]
        + [pk, token]
        for pk, fields in fields_by_job.items()
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _value(value):
    return value.pk if isinstance(value, Model) else value


def _outcome(analysis: "Analysis", message) -> dict:
    """The job's row once its message is placed (but ``processed_at``)."""
    scores = [v["score"] for v in analysis.verdicts.values() if v.get("score") is not None]
    return {
        "status": InboundMessage.Status.DELIVERED,
        "lease_token": "",
        "lease_expires_at": None,
        "error": "",
        "spam_verdict": analysis.verdicts,
        "spam_score": max(scores) if scores else None,
        "message": message,
        **analysis.checked,
    }


def _place_or_fail(analysis: "Analysis", token: str) -> str | None:
    """``_place``, or the job failed; None if the job was lost to another worker (it places it)."""
    analysis.placed = None
    with log_context(queue_id=analysis.job.pk):
        try:
            return _place(analysis, token)
        except LeaseLost:
            logger.warning("inbound job %s was reclaimed by another worker; not placing it", analysis.job.pk)
            return None
        except Exception as exc:
            analysis.placed = None
            return _fail_logged(analysis.job, token, exc)


def _claim(job_ids: list[int]) -> tuple[str, list[int]] | None:
    """Take the jobs, and fresh waiting ones up to ``BATCH_MAX``; their lease token and ids, or None if none."""
    now = _now()
    token = uuid.uuid4().hex
    claimable = Q(status=InboundMessage.Status.QUEUED) | Q(
        status=InboundMessage.Status.PROCESSING, lease_expires_at__lt=now
    )
    job_ids = list(job_ids)
    skip_locked = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A claim lost in a crash leaves its jobs to the reconciler: no need to wait for the disk.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        if skip_locked:
            # A row another claim holds is that claim's (it may have taken our jobs as waiting ones):
            # skip it rather than wait, or two claims taking each other's jobs would deadlock.
            job_ids = list(
                InboundMessage.objects.select_for_update(skip_locked=True)
                .filter(claimable, pk__in=job_ids)
                .values_list("pk", flat=True)
            )
        if len(job_ids) < BATCH_MAX:
            # Never a job waiting for its retry (attempts > 0): it keeps its back-off.
            waiting = InboundMessage.objects.filter(status=InboundMessage.Status.QUEUED, attempts=0).exclude(
                pk__in=job_ids
            )
            if skip_locked:
                waiting = waiting.select_for_update(skip_locked=True)
            job_ids += waiting.order_by("received_at").values_list("pk", flat=True)[: BATCH_MAX - len(job_ids)]
        updated = (
            InboundMessage.objects.filter(claimable, pk__in=job_ids)
            .update(status=InboundMessage.Status.PROCESSING, lease_token=token, lease_expires_at=now + _lease(),
                    attempts=F("attempts") + 1)
        )  # fmt: skip
    return (token, job_ids) if updated else None


def _finish(job: InboundMessage, token: str, status: str, **fields) -> str:
    updated = InboundMessage.objects.filter(pk=job.pk, lease_token=token).update(
        status=status, lease_token="", lease_expires_at=None, processed_at=timezone.now(), error="", **fields
    )
    if updated:  # (not updated: another worker reclaimed the job, and counts it)
        count_placement_on_commit(status)  # report, quarantined
    return status


def _fail_logged(job: InboundMessage, token: str, exc: Exception) -> str:
    logger.error("inbound message %s failed (attempt %s)", job.pk, job.attempts, exc_info=exc)
    return _fail(job, token, exc)


def _fail(job: InboundMessage, token: str, exc: Exception) -> str:
    final = job.attempts >= MAX_ATTEMPTS  # the claim counted this attempt
    status = InboundMessage.Status.FAILED if final else InboundMessage.Status.QUEUED
    backoff = 60 * job.attempts
    updated = InboundMessage.objects.filter(pk=job.pk, lease_token=token).update(
        status=status,
        lease_token="",
        # A queued job's lease_expires_at is when its retry is due: the reconciler leaves it until then.
        lease_expires_at=None if final else _now() + timedelta(seconds=backoff),
        error=f"{exc.__class__.__name__}: {exc}"[:5000],
    )
    if updated and final:
        count_placement_on_commit(InboundMessage.Status.FAILED)  # dead-lettered
    if updated and not final:  # (not updated: another worker reclaimed the job, and retries it if need be)
        transaction.on_commit(lambda: dispatch_processing(job_ids=[job.pk], countdown=backoff))
    return status


@dataclass
class Analysis:
    """What the checks made of a message that is to be placed."""

    job: InboundMessage
    view: bytes  # the stored and shown bytes: our trace headers + the bytes received
    parsed: ParsedMessage
    checked: dict  # auth, authentication_results, virus_verdict
    recipients: list  # hosted users, one per person however many of their addresses were used
    folders: dict  # user pk -> folder
    verdicts: dict  # username -> spam verdict
    scans: dict  # attachment position -> (scan status, reason), for those held back or warned about
    # The Message it was placed as, once placing it committed (0: its recipients had it already; None: not yet).
    placed: int | None = None
    arrivals: dict = field(default_factory=dict)  # user pk -> what their mail rules decided (rules.arrival)

    def files(self) -> list[bytes]:
        return [self.view, *(part.content for part in self.parsed.attachments)]


def _hosted_users(jobs: list[InboundMessage]) -> dict:
    """The users of all the batch's recipients, in one query (``_analyse`` looks up any missing here)."""
    addresses = {address for job in jobs for address in job.rcpt_tos if not _handled_before_placement(address)}
    try:
        return resolve_hosted_addresses(addresses)
    except Exception:  # each message then looks up its own recipients, and fails alone
        logger.warning("could not look up the recipients of a batch", exc_info=True)
        return {}


def _rulebooks(users: dict) -> Rulebooks:
    """The mail rules of the batch's recipients, in a few queries for them all (``_analyse`` loads any missing)."""
    rulebooks = Rulebooks()
    try:
        rulebooks.load(users.values())
    except Exception:  # each message then loads its recipients' rules, and fails alone
        logger.warning("could not load the mail rules of a batch", exc_info=True)
    return rulebooks


def _handled_before_placement(address: str) -> bool:
    """Bounces and complaints to VERP addresses, and mailto: unsubscribes: never placed in a mailbox."""
    return verp.looks_like_verp(address) or is_unsubscribe_address(address)


def _analyse(job: InboundMessage, token: str, users: dict, rulebooks: Rulebooks | None = None) -> Analysis | str:
    """Reports, authentication, virus scan and spam scores; a final status when nothing is to be placed."""
    raw = read_blob(job.blob)
    reports = [r for r in job.rcpt_tos if verp.looks_like_verp(r)]
    unsubscribes = [r for r in job.rcpt_tos if is_unsubscribe_address(r)]
    people = [r for r in job.rcpt_tos if not _handled_before_placement(r)]
    dmarc_reports = [r for r in people if is_dmarc_report_address(r)]
    if dmarc_reports:  # read once, however many report addresses; placed too where a mailbox has the address
        handle_dmarc_report_mail(raw=raw, inbound_message=job)
        people = [r for r in people if r not in dmarc_reports or _hosted_user(r, users) is not None]
    if reports or unsubscribes or dmarc_reports:
        for address in reports:
            handle_report(raw=raw, verp_address=address)
        for address in unsubscribes:
            handle_unsubscribe_mail(raw=raw, address=address)
        if not people:
            logger.info("inbound message %s is a report or unsubscribe, handled: not placed", job.pk)
            return _finish(job, token, InboundMessage.Status.REPORT)

    results = authenticate(raw=raw, client_ip=job.client_ip or "", helo=job.helo, mail_from=job.mail_from)
    count_authentication(results)  # per evaluation: a message retried (scanner away) is evaluated again
    header = results.header_value(settings.MAIL_HOSTNAME)
    view = _trace_headers(job, header) + raw
    parsed = parse_message(view)  # once, for the scanners and the store
    virus = get_virus_scanner().scan(raw=raw, parsed=parsed)
    count_virus_verdict(virus)  # now, not at commit: a failed scan commits nothing but is what to watch
    checked = {"auth": results.as_dict(), "authentication_results": header, "virus_verdict": _verdict_dict(virus)}
    if virus.infected:
        logger.warning("quarantined inbound message %s: %s", job.pk, ", ".join(virus.names))
        return _finish(job, token, InboundMessage.Status.QUARANTINED, **checked)
    if virus.error:  # the scanner could not look (clamd down): retry rather than deliver unscanned mail
        raise VirusScanUnavailable(virus.error)
    scans = attachment_scans(virus)
    if scans:
        held = ", ".join(f"{parsed.attachments[i].filename} ({status})" for i, (status, _) in scans.items())
        logger.info("inbound message %s is delivered with attachments held back or flagged: %s", job.pk, held)

    recipients = {}
    for address in people:
        if _hosted_user(address, users) is not None:
            recipients.setdefault(users[address].pk, users[address])  # an alias and its user: one copy
    # Scored before the write transaction, so no lock is held while classifying.
    spam_filter = get_spam_filter()
    verdicts, folders = {}, {}
    quarantined_by_dmarc = results.dmarc.disposition in ("quarantine", "reject")
    for user in recipients.values():
        verdict = spam_filter.score(raw=raw, parsed=parsed, auth=checked["auth"], user=user)
        count_spam_verdict(verdict)
        # Recorded with the verdict, so that the user is told why mail the filter let through is in Spam.
        verdicts[user.username] = {**_verdict_dict(verdict), "dmarc_quarantine": quarantined_by_dmarc}
        folders[user.pk] = Folder.SPAM if verdict.is_spam or quarantined_by_dmarc else Folder.INBOX
    arrivals, terms = {}, {}  # the recipients' mail rules: blocked senders, filters, forwarding, vacation reply
    rulebooks = rulebooks or Rulebooks()
    for user in recipients.values():
        arrivals[user.pk] = decide_safely(
            rulebooks.of(user), parsed=parsed, view=view, mail_from=job.mail_from, folder=folders[user.pk],
            received_at=job.received_at, now=_now(), dmarc_quarantine=quarantined_by_dmarc, flagged=bool(scans),
            shared_terms=terms,
        )  # fmt: skip
        folders[user.pk] = arrivals[user.pk].folder
    logger.info(
        "inbound message %s checked: Message-ID <%s>, SPF %s, DKIM %s, DMARC %s; %d hosted recipients",
        job.pk, parsed.message_id, results.spf.result, ",".join(r.result for r in results.dkim) or "none",
        results.dmarc.result, len(recipients),
    )  # fmt: skip
    return Analysis(job, view, parsed, checked, list(recipients.values()), folders, verdicts, scans, arrivals=arrivals)


def _hosted_user(address: str, users: dict):
    """The user of a recipient address (None: no mailbox has it), looked up once per batch."""
    if address not in users:
        users[address] = resolve_hosted_address(address)
    return users[address]


_SCAN_STATUSES = {BLOCK: Attachment.ScanStatus.BLOCKED, WARN: Attachment.ScanStatus.WARNING}


def attachment_scans(verdict: VirusVerdict) -> dict[int, tuple[str, str]]:
    """The attachments a delivered message's scan held back or flagged, as ``store_message`` takes them."""
    return {index: (_SCAN_STATUSES[action], reason) for index, (action, reason) in verdict.attachment_actions().items()}


def _place(analysis: Analysis, token: str) -> str:
    """The message, its placements and the job's outcome: all or nothing (``LeaseLost``: nothing)."""
    job = analysis.job
    started = time.perf_counter()
    with transaction.atomic():
        if not _lock_held([job.pk], token):
            raise LeaseLost(job.pk)
        message, _ = store_message(raw=analysis.view, parsed=analysis.parsed, scans=analysis.scans)
        copies, new_items = [], []
        for user in analysis.recipients:
            folder = analysis.folders[user.pk]
            item = place_message(user=user, message=message, folder=folder, received_at=job.received_at)
            copies.append(folder if item.message_id == message.pk else None)
            if item.message_id == message.pk:
                new_items.append((item, _arrival(analysis, user.pk)))
        apply_placed(new_items)
        placed = any(copies)
        if not placed:  # every recipient already had it (a re-delivery)
            delete_orphan_messages([message.pk])
        analysis.placed = message.pk if placed else 0  # logged once committed
        fields = _outcome(analysis, message if placed else None)
        InboundMessage.objects.filter(pk=job.pk, lease_token=token).update(processed_at=timezone.now(), **fields)
        _count_copies(copies)
        if placed:
            _observe_visible([job])
    # (inside the batch's transaction this was a savepoint: observed when, and if, the batch commits)
    _observe_write(started, 1)
    return fields["status"]


def _arrival(analysis: Analysis, user_pk: int) -> Arrival:
    return analysis.arrivals.get(user_pk) or Arrival(folder=analysis.folders[user_pk])


def _log_not_placed(job: InboundMessage) -> None:
    logger.info("inbound message %s is a copy of mail its recipients already hold: delivered, not placed", job.pk)


def _trace_headers(job: InboundMessage, authentication_results: str) -> bytes:
    """The Received and Authentication-Results headers an MX prepends (RFC 5321 §4.4, RFC 8601)."""
    helo = job.helo or "unknown"
    client = f"[{job.client_ip}]" if job.client_ip else "(webhook)"
    received = (
        f"Received: from {helo} ({helo} {client})\r\n\tby {settings.MAIL_HOSTNAME} with ESMTP id {job.pk}"
        f"\r\n\tfor <{job.rcpt_tos[0] if job.rcpt_tos else ''}>; {format_datetime(job.received_at)}\r\n"
    )
    # One result per line: with several signatures the header outgrows the 998-character line limit.
    results = "Authentication-Results: " + ";\r\n\t".join(authentication_results.split("; ")) + "\r\n"
    return (results + received).encode("utf-8", "replace")


def _verdict_dict(verdict) -> dict:
    return {key: getattr(verdict, key) for key in verdict.__dataclass_fields__}


def reconcile_inbound() -> dict[str, int]:
    """Re-dispatch jobs that a lost task or a dead worker left queued or half-processed.

    A dead worker's jobs come back once their lease (``INBOUND_LEASE_SECONDS``,
    renewed while the worker lives) has expired; beat runs this every few seconds.
    A job whose worker was lost on every one of its attempts is dead-lettered.
    """
    now = _now()
    expired = Q(status=InboundMessage.Status.PROCESSING, lease_expires_at__lt=now)
    # The claim counts attempts, so a message that kills its worker (say, out of memory) would be
    # claimed again for ever: after the last attempt it goes to the dead letters, as a failure does.
    dead_lettered = InboundMessage.objects.filter(expired, attempts__gte=MAX_ATTEMPTS).update(
        status=InboundMessage.Status.FAILED,
        lease_token="",
        lease_expires_at=None,
        error=f"the worker processing it was lost on each of its {MAX_ATTEMPTS} attempts",
    )
    if dead_lettered:
        count_placement_on_commit(InboundMessage.Status.FAILED, dead_lettered)
        logger.error("dead-lettered %d inbound messages whose workers were lost on every attempt", dead_lettered)
    retry_due = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    stale = InboundMessage.objects.filter(
        Q(retry_due, status=InboundMessage.Status.QUEUED, received_at__lt=now - timedelta(minutes=1)) | expired
    ).values_list("pk", flat=True)[:1000]
    ids = list(stale)
    if ids:
        dispatch_processing(job_ids=ids)
        logger.info("re-dispatched %d inbound messages", len(ids))
    return {"redispatched": len(ids), "dead_lettered": dead_lettered}
