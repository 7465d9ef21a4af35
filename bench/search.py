#!/usr/bin/env python
"""Search benchmark: query latency and indexing rate, with notmuch on the same messages as the peer.

    python bench/search.py                              # 10,000 messages, SQLite
    python bench/search.py --db postgres --messages 100000
    python bench/search.py --messages 1000000 --db postgres --no-notmuch
    python bench/search.py --db postgres --users 1000 --messages 1000000   # many users, see below
    python bench/search.py --help

What it does, in a temporary folder removed at the end (``--keep`` keeps it):

1. migrates a throwaway database (a SQLite file, or a new PostgreSQL database
   ``bench_search_*`` on ``--postgres-url``, dropped afterwards);
2. builds alice's mailbox of ``--messages`` messages (and bob's of a tenth as
   many, so the index is not single-tenant) with bulk inserts: real RFC 5322
   bytes in the blob store, Message/Thread/MailboxItem/Attachment/label rows
   and a ``MailboxChange`` per received message, as delivery leaves them.
   Text is Zipf-distributed words with planted markers of known frequency,
   5 % of messages carry a Chinese sentence, 40 % are replies in threads,
   15 % have an attachment, 10 % a label; dates span three years;
3. **indexing**: runs ``index_changes()`` (the indexing task's body, batches of
   ``--batch-size``) until the feed and the sweep are caught up: messages/s,
   which includes reading and parsing every message from the blob store;
4. **queries**: runs each representative query ``--runs`` times through
   ``mailboxes.search.services.search`` (parse, backend, snippets; first page
   of 50, newest first) after ``--warmup`` untimed runs: p50/p95/p99 in ms;
5. **peer**: writes alice's messages as a Maildir, times ``notmuch new`` and
   the same queries through ``notmuch search --output=messages --limit=50``
   (the command's start-up cost is measured alone and reported beside it).

With ``--users U`` (PostgreSQL): ``--messages`` are spread over U users, one
user's share being messages / U. ``--sample-users`` of them (alice first) get
their share built and indexed as above (the indexing rate is theirs, into the
full-size table); the other users' search documents are written straight into
``search_document`` by ``COPY`` (no message rows: only the index is shared
between users), drawn from a pool of generated documents with the same word
statistics and markers. The table is then rewritten in arrival order
(``CLUSTER`` on ``received_at``), so that each user's documents are spread
through it as delivery leaves them. Queries are timed as each sampled user
(figures pooled over them); notmuch indexes alice's share only (the peer is
notmuch on one user's mail). ``--explain`` prints EXPLAIN (ANALYZE, BUFFERS)
of the SQL of a few queries as alice.
"""

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.throwaway import ThrowawayDatabase, setup_django  # noqa: E402

DOMAIN = "bench.test"
START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)


def _words(text: str) -> list[str]:
    return text.split()


COMMON = _words(
    "the of and to a in is it you that he was for on are with as his they be at one have this from or had by "
    "not word but what some we can out other were all there when up use your how said an each she which do "
    "their time if will way about many then them write would like so these her long make thing see him two "
    "has look more day could go come did number sound no most people my over know water than call first who "
    "may down side been now find any new work part take get place made live where after back little only "
    "round man year came show every good me give our under name very through just form sentence great think "
    "say help low line differ turn cause much mean before move right boy old too same tell does set three "
    "want air well also play small end put home read hand port large spell add even land here must big high "
    "such follow act why ask men change went light kind off need house picture try us again animal point "
    "mother world near build self earth father head stand own page should country found answer school grow "
    "study still learn plant cover food sun four between state keep eye never last let thought city tree "
    "cross farm hard start might story saw far sea draw left late run while press close night real life few "
    "north open seem together next white children begin got walk example ease paper group always music those "
    "both mark often letter until mile river car feet care second book carry took science eat room friend "
    "began idea fish mountain stop once base hear horse cut sure watch color face wood main enough plain girl "
    "usual young ready above ever red list though feel talk bird soon body dog family direct pose leave song "
    "measure door product black short numeral class wind question happen complete ship area half rock order "
    "fire south problem piece told knew pass since top whole king space heard best hour better true during "
    "hundred five remember step early hold west ground interest reach fast verb sing listen six table travel "
    "less morning ten simple several vowel toward war lay against pattern slow center love person money serve "
    "appear road map rain rule govern pull cold notice voice unit power town fine certain fly fall lead cry "
    "dark machine note wait plan figure star box noun field rest correct able pound done beauty drive stood "
    "contain front teach week final gave green quick develop ocean warm free minute strong special mind behind "
    "clear tail produce fact street inch multiply nothing course stay wheel full force blue object decide "
    "surface deep moon island foot system busy test record boat common gold possible plane stead dry wonder "
    "laugh thousand ago ran check game shape equate miss brought heat snow tire bring yes distant fill east "
    "paint language among budget invoice meeting schedule deadline review client contract shipment delivery"
)
SYLLABLES = _words("ka lo mi ne ru ta shi po ve da gri zen mor tal ben fi qua sto lin dre har vu xo pel")
CHINESE = "我们明天在北京大学开会请准时参加项目进度报告客户合同发票会议时间地点确认谢谢收到附件邮件问题讨论方案预算"
FIRST = _words(
    "Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy Rupert Sybil Trent Victor"
)
LAST = _words("Smith Jones Brown Müller García Dubois Rossi Novak Kowalski Tanaka Wang Li Chen Ólafsson Zoë")
LABELS = ["Work", "Family", "Travel", "Receipts", "Newsletters"]
RARE_MARKER = "quokkanomics"  # planted in 0.01 % of messages
COMMON_MARKER = "project"  # planted in 30 %
PHRASE = "quarterly report"  # planted as a phrase in 1 %, each word alone in 5 % more
FROM_MARKER = "dana.scully@fbi.example"  # sends 1 %

QUERIES = [
    # name, our query, notmuch query (None: no equivalent)
    ("rare word", RARE_MARKER, RARE_MARKER),
    ("common word", COMMON_MARKER, COMMON_MARKER),
    ("phrase", f'"{PHRASE}"', f'"{PHRASE}"'),
    ("from: + date range", f"from:{FROM_MARKER} after:2024-01-01 before:2024-07-01",
     f"from:{FROM_MARKER} date:2024-01-01..2024-06-30"),
    ("has:attachment", "has:attachment", "tag:attachment"),
    ("label", "label:work", "tag:work"),
    ("chinese word", "北京大学", "北京大学"),
    ("rare word, relevance", RARE_MARKER, None),
    ("common word, relevance", COMMON_MARKER, None),
    ("word -word OR label", f"{COMMON_MARKER} -budget (label:travel OR is:starred)", None),
]  # fmt: skip


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Search benchmark: latency per query and indexing rate, beside notmuch.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--messages", type=int, default=10_000, help="messages in alice's mailbox (up to 1,000,000)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per query")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per query first")
    parser.add_argument("--batch-size", type=int, default=500, help="SEARCH_INDEX_BATCH_SIZE")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-notmuch", action="store_true", help="skip the notmuch peer")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and database")
    parser.add_argument(
        "--reuse-db",
        metavar="URL",
        help="only time the queries, on a corpus kept by an earlier --keep run (its database URL); no notmuch",
    )
    parser.add_argument(
        "--lock",
        metavar="FILE",
        help="hold an exclusive flock on FILE only while queries are timed (e.g. /tmp/bench.lock), so that a "
        "long build and indexing can run beside other benchmarks and the timings cannot",
    )
    parser.add_argument(
        "--users", type=int, default=0, help="spread --messages over this many users (PostgreSQL; 0: alice and bob)"
    )
    parser.add_argument("--sample-users", type=int, default=3, help="with --users: users built, indexed and queried")
    parser.add_argument("--pool", type=int, default=20_000, help="with --users: distinct generated filler documents")
    parser.add_argument(
        "--late-messages", type=int, default=2000, help="with --users: messages indexed into the full table"
    )
    parser.add_argument("--no-cluster", action="store_true", help="with --users: leave the table in insertion order")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of some queries as alice")
    parser.add_argument("--json", help="write every figure to this file")
    return parser.parse_args(argv)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


# --- The corpus --------------------------------------------------------------


class Corpus:
    """Deterministic messages: Zipf-distributed words, markers of known frequency, threads, attachments."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        rng = random.Random(seed + 1)
        invented = {"".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(60_000)}
        self.vocabulary = COMMON + sorted(invented - set(COMMON))
        self.cum_weights = list(_cumulative(1 / (rank + 1) for rank in range(len(self.vocabulary))))
        self.people = [
            (f"{first} {last}", f"{first.lower()}.{i}@{rng.choice(['acme.example', 'mail.example', 'corp.example'])}")
            for i, (first, last) in enumerate((rng.choice(FIRST), rng.choice(LAST)) for _ in range(2000))
        ]
        self.attachments = [
            (f"{name}.pdf", "application/pdf", rng.randbytes(rng.randint(3000, 9000)))
            for name in ("invoice", "report-q3", "contract-signed", "scan", "slides", "minutes")
        ]

    def words(self, n: int) -> list[str]:
        return self.rng.choices(self.vocabulary, cum_weights=self.cum_weights, k=n)

    def sentence(self, n: int) -> str:
        words = self.words(n)
        return words[0].capitalize() + " " + " ".join(words[1:]) + "."

    def body(self, index: int) -> str:
        rng = self.rng
        paragraphs = []
        for _ in range(rng.randint(1, 4)):
            paragraphs.append(" ".join(self.sentence(rng.randint(6, 18)) for _ in range(rng.randint(1, 4))))
        extra = []
        if rng.random() < 0.30:
            extra.append(f"The {COMMON_MARKER} is on track.")
        if rng.random() < 0.01:
            extra.append(f"Attached is the {PHRASE} for review.")
        if rng.random() < 0.05:
            extra.append(f"See the {PHRASE.split()[0]} numbers.")
        if rng.random() < 0.05:
            extra.append(f"The {PHRASE.split()[1]} follows.")
        if rng.random() < 0.05:
            extra.append("".join(rng.choices(CHINESE, k=rng.randint(8, 20))) + "，北京大学。")
        if index % 10_000 == 1_000 or rng.random() < 0.0001:
            extra.append(f"A note on {RARE_MARKER}.")
        paragraphs.insert(rng.randint(0, len(paragraphs)), " ".join(extra))
        return "\n\n".join(p for p in paragraphs if p)


def _cumulative(values):
    total = 0.0
    for value in values:
        total += value
        yield total


def raw_message(m: dict) -> bytes:
    to = ", ".join(f"{name} <{address}>" for name, address in m["to"])
    headers = [
        f"From: {m['from_name']} <{m['from_address']}>",
        f"To: {to}",
        f"Subject: {m['subject']}",
        f"Date: {m['date'].strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        f"Message-ID: <{m['message_id']}>",
        "MIME-Version: 1.0",
    ]
    if m["in_reply_to"]:
        headers.append(f"In-Reply-To: <{m['in_reply_to']}>")
        headers.append(f"References: <{m['in_reply_to']}>")
    body = m["body"]
    if not m["attachment"]:
        headers += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
        return ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()
    filename, content_type, data = m["attachment"]
    boundary = "b" + m["message_id"].split("@")[0]
    encoded = base64.encodebytes(data).decode().replace("\n", "\r\n")
    parts = [
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body.replace("\n", "\r\n"),
        f'--{boundary}\r\nContent-Type: {content_type}; name="{filename}"\r\n'
        f'Content-Disposition: attachment; filename="{filename}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + encoded,
    ]
    headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
    return ("\r\n".join(headers) + "\r\n\r\n" + "\r\n".join(parts) + f"\r\n--{boundary}--\r\n").encode()


def generate(corpus: Corpus, count: int, owner: str, start_index: int):
    """Message dicts for ``owner``'s mailbox, oldest first."""
    rng = corpus.rng
    threads: list[tuple[str, str]] = []  # (root key, subject) of recent threads
    for n in range(count):
        index = start_index + n
        date = START + SPAN * (n / max(count, 1)) + timedelta(seconds=rng.randint(0, 600))
        reply_to = None
        if threads and rng.random() < 0.4:
            root, subject, parent = rng.choice(threads[-200:])
            subject = subject if subject.startswith("Re: ") else "Re: " + subject
            reply_to = parent
        else:
            root, subject = f"t{index}", corpus.sentence(rng.randint(2, 7)).rstrip(".")
        message_id = f"m{index}.{rng.getrandbits(32):x}@{DOMAIN}"
        threads.append((root, subject, message_id))
        sent = rng.random() < 0.10
        sender = (owner, f"{owner.split('@')[0]}@{DOMAIN}") if sent else rng.choice(corpus.people)
        if not sent and rng.random() < 0.01:
            sender = ("Dana Scully", FROM_MARKER)
        folder = "sent" if sent else rng.choices(["inbox", "archive", "trash", "spam"], [85, 11, 2, 2])[0]
        yield {
            "index": index,
            "thread": root,
            "subject": subject,
            "from_name": sender[0],
            "from_address": sender[1],
            "to": [(owner, owner)] if not sent else [rng.choice(corpus.people)],
            "date": date,
            "message_id": message_id,
            "in_reply_to": reply_to,
            "body": corpus.body(index),
            "attachment": rng.choice(corpus.attachments) if rng.random() < 0.15 else None,
            "folder": folder,
            "origin": "sent" if sent else "received",
            "label": rng.choice(LABELS) if rng.random() < 0.10 else None,
            "is_read": rng.random() < 0.8,
            "is_starred": rng.random() < 0.03,
        }


def alice_maildir(tmp, args):
    """The empty Maildir notmuch indexes (alice's mail only), or None without notmuch."""
    if args.no_notmuch:
        return None
    maildir = tmp / "mail" / "alice"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    return maildir


def build_mailbox(user, count: int, corpus: Corpus, start_index: int, maildir: Path | None, chunk: int = 2000):
    """Bulk-inserts ``count`` messages into ``user``'s mailbox; returns the Maildir message ids per label."""
    from django.db import transaction

    from mailboxes.blobstore import mailstore
    from mailboxes.models import Attachment, Blob, Label, MailboxChange, MailboxItem, Message, Thread
    from mailboxes.text import make_snippet

    storage_root = Path(mailstore().location)
    labels = {name: Label.objects.get_or_create(user=user, name=name)[0] for name in LABELS}
    attachment_blobs = {}
    for filename, _, data in corpus.attachments:
        sha = hashlib.sha256(data).hexdigest()
        attachment_blobs[filename] = Blob.objects.get_or_create(sha256=sha, defaults={"size": len(data)})[0]
        _write_blob(storage_root, sha, data)
    thread_ids: dict[str, int] = {}
    labelled: dict[str, list[str]] = {}
    batch: list[dict] = []

    def flush():
        blobs, messages = [], []
        for m in batch:
            raw = raw_message(m)
            sha = hashlib.sha256(raw).hexdigest()
            _write_blob(storage_root, sha, raw)
            if maildir is not None:
                (maildir / "cur" / f"{m['index']}.bench:2,S").write_bytes(raw)
            blobs.append(Blob(sha256=sha, size=len(raw)))
            messages.append(
                Message(
                    blob_id=sha,
                    status="sent" if m["origin"] == "sent" else "received",
                    message_id=m["message_id"],
                    in_reply_to=m["in_reply_to"] or "",
                    references=[m["in_reply_to"]] if m["in_reply_to"] else [],
                    subject=m["subject"],
                    from_name=m["from_name"],
                    from_address=m["from_address"],
                    to=[{"name": n, "address": a} for n, a in m["to"]],
                    date=m["date"],
                    size=len(raw),
                    snippet=make_snippet(m["body"]),
                    has_attachments=bool(m["attachment"]),
                    created_at=m["date"],
                )
            )
            if m["label"]:
                labelled.setdefault(m["label"], []).append(m["message_id"])
        with transaction.atomic():
            Blob.objects.bulk_create(blobs, ignore_conflicts=True)
            Message.objects.bulk_create(messages)
            new_threads = []
            for m in batch:
                if m["thread"] not in thread_ids:
                    new_threads.append(
                        Thread(user=user, subject=m["subject"], latest_at=m["date"], message_count=1, snippet="")
                    )
                    thread_ids[m["thread"]] = -1
            created = Thread.objects.bulk_create(new_threads)
            pending = iter(created)
            for m in batch:
                if thread_ids[m["thread"]] == -1:
                    thread_ids[m["thread"]] = next(pending).pk
            items = MailboxItem.objects.bulk_create(
                [
                    MailboxItem(
                        user=user,
                        message=message,
                        thread_id=thread_ids[m["thread"]],
                        origin=m["origin"],
                        folder=m["folder"],
                        is_read=m["is_read"],
                        is_starred=m["is_starred"],
                        received_at=m["date"],
                    )
                    for m, message in zip(batch, messages, strict=True)
                ]
            )
            Attachment.objects.bulk_create(
                [
                    Attachment(
                        message=message,
                        blob=attachment_blobs[m["attachment"][0]],
                        position=0,
                        filename=m["attachment"][0],
                        content_type=m["attachment"][1],
                        size=len(m["attachment"][2]),
                    )
                    for m, message in zip(batch, messages, strict=True)
                    if m["attachment"]
                ]
            )
            through = MailboxItem.labels.through
            through.objects.bulk_create(
                [
                    through(mailboxitem_id=item.pk, label_id=labels[m["label"]].pk)
                    for m, item in zip(batch, items, strict=True)
                    if m["label"]
                ]
            )
            MailboxChange.objects.bulk_create(
                [
                    MailboxChange(user=user, item_id=item.pk, kind="new")
                    for m, item in zip(batch, items, strict=True)
                    if m["origin"] == "received"
                ]
            )
        batch.clear()

    started = time.monotonic()
    for n, m in enumerate(generate(corpus, count, user.username, start_index), 1):
        batch.append(m)
        if len(batch) >= chunk:
            flush()
        if n % 50_000 == 0:
            log(f"  {n}/{count} messages stored ({n / (time.monotonic() - started):.0f}/s)")
    if batch:
        flush()
    return labelled


def _write_blob(root: Path, sha: str, data: bytes) -> None:
    path = root / "blobs" / sha[:2] / sha[2:4] / sha
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# --- Measuring -----------------------------------------------------------------


def run_indexing(batch_size: int) -> dict:
    from django.db import connection

    from bench.search_indexing import backend_cpu
    from mailboxes.search.indexing import index_changes, indexing_lag
    from mailboxes.search.models import SearchDocument

    pending = indexing_lag().pending_changes
    with connection.cursor() as cursor:
        db_cpu = backend_cpu(cursor)
    load = round(os.getloadavg()[0], 2)
    cpu, started = time.process_time(), time.monotonic()
    total = 0
    while True:
        count = index_changes(batch_size=batch_size, max_batches=20)
        total += count
        if count == 0:
            break
        elapsed = time.monotonic() - started
        log(f"  indexed {total} ({total / elapsed:.0f} msg/s)")
    elapsed = time.monotonic() - started
    cpu = time.process_time() - cpu
    with connection.cursor() as cursor:
        db_cpu = None if db_cpu is None else backend_cpu(cursor) - db_cpu
    return {
        "pending_changes_at_start": pending,
        "indexed": total,
        "documents": SearchDocument.objects.count(),
        "seconds": round(elapsed, 2),
        "messages_per_second": round(total / elapsed, 1) if elapsed else None,
        # CPU of this process and of its database backend: the rate follows the machine's load, these less.
        "python_cpu_ms_per_message": round(1000 * cpu / total, 3) if total else None,
        "database_cpu_ms_per_message": round(1000 * db_cpu / total, 3) if total and db_cpu is not None else None,
        "load_average": [load, round(os.getloadavg()[0], 2)],
    }


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")


def time_queries(user, runs: int, warmup: int, *, raw: bool = False) -> list[dict]:
    from mailboxes.search.services import search

    results = []
    for name, query, _ in QUERIES:
        order = "relevance" if name.endswith("relevance") else "date"
        for _ in range(warmup):
            page = search(user, query, limit=50, order=order)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            page = search(user, query, limit=50, order=order)
            times.append((time.perf_counter() - started) * 1000)
        results.append(
            {
                "name": name,
                "query": query,
                "order": order,
                "hits_on_first_page": len(page.hits),
                "p50_ms": round(percentile(times, 50), 2),
                "p95_ms": round(percentile(times, 95), 2),
                "p99_ms": round(percentile(times, 99), 2),
            }
            | ({"times": times} if raw else {})
        )
        log(f"  {name}: p50 {results[-1]['p50_ms']} ms, p95 {results[-1]['p95_ms']} ms")
    return results


def matching_counts(user) -> dict[str, int]:
    """How many of alice's messages each query matches in all (not timed), to read the latencies by."""
    from mailboxes.models import MailboxItem
    from mailboxes.search.backends import get_search_backend
    from mailboxes.search.query import And, InFolder, Not, names_folder, parse_query

    backend = get_search_backend()
    counts = {}
    for name, query, _ in QUERIES:
        node = parse_query(query)
        if not names_folder(node):
            node = And((node, Not(InFolder("trash")), Not(InFolder("spam"))))
        counts[name] = MailboxItem.objects.filter(user=user).filter(backend.compile(node)).count()
    return counts


@contextlib.contextmanager
def timing_lock(path: str | None):
    """An exclusive flock on ``path`` (if given) for a timing phase; yields the load average as it starts."""
    if not path:
        yield round(os.getloadavg()[0], 2)
        return
    with open(path, "a") as handle:
        log(f"waiting for the lock on {path}")
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield round(os.getloadavg()[0], 2)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_notmuch(
    tmp: Path, maildir: Path, labelled: dict[str, list[str]], runs: int, warmup: int, lock: str | None = None
) -> dict:
    notmuch = shutil.which("notmuch")
    if not notmuch:
        return {"skipped": "notmuch is not installed (apt-get install notmuch)"}
    config = tmp / "notmuch-config"
    config.write_text(
        f"[database]\npath={maildir.parent}\n[new]\ntags=inbox;\nignore=\n[search]\nexclude_tags=\n"
        "[maildir]\nsynchronize_flags=false\n"
    )
    env = dict(os.environ, NOTMUCH_CONFIG=str(config))

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(  # noqa: S603 - our own arguments
            [notmuch, *args], env=env, input=stdin, capture_output=True, text=True, check=True, timeout=24 * 3600
        )
        return done.stdout.strip()

    started = time.monotonic()
    run("new", "--quiet")
    index_seconds = time.monotonic() - started
    count = int(run("count", "*"))
    run("tag", "--batch", stdin="\n".join(f"+{n.lower()} -- id:{mid}" for n, mids in labelled.items() for mid in mids))

    def timed(*args: str) -> list[float]:
        for _ in range(warmup):
            run(*args)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            run(*args)
            times.append((time.perf_counter() - started) * 1000)
        return times

    queries = []
    with timing_lock(lock) as load:
        baseline = timed("count", "id:does-not-exist")
        for name, _, query in QUERIES:
            if query is None:
                continue
            times = timed("search", "--output=messages", "--sort=newest-first", "--limit=50", query)
            total = int(run("count", query))
            queries.append(
                {
                    "name": name,
                    "query": query,
                    "matches": total,
                    "p50_ms": round(percentile(times, 50), 2),
                    "p95_ms": round(percentile(times, 95), 2),
                    "p99_ms": round(percentile(times, 99), 2),
                }
            )
            log(f"  notmuch {name}: p50 {queries[-1]['p50_ms']} ms, p95 {queries[-1]['p95_ms']} ms")
    version = run("--version")
    return {
        "version": version,
        "messages": count,
        "index_seconds": round(index_seconds, 2),
        "messages_per_second": round(count / index_seconds, 1),
        "startup_p50_ms": round(percentile(baseline, 50), 2),
        "load_average": load,
        "queries": queries,
    }


def print_report(result: dict) -> None:
    ours, peer = result["queries"], {q["name"]: q for q in result.get("notmuch", {}).get("queries", [])}
    if result.get("users"):
        print(
            f"\nSearch benchmark: {result['messages']} messages over {result['users']} users ({result['share']} each), "
            f"{result['db']}; queries as {result['sampled_users']} users, pooled; notmuch on alice's share"
        )
        fill = result["fill"]
        print(f"filler: {fill}; pool of documents built in {result['pool_seconds']} s; sizes {result['sizes']}")
        print(f"load average after our queries: {result['load_average_after']}")
        late = result["indexing_into_full_table"]
        print(
            f"indexing into the full table: {late['indexed']} items in {late['seconds']} s = "
            f"{late['messages_per_second']} msg/s; CPU per message {late['python_cpu_ms_per_message']} ms Python + "
            f"{late['database_cpu_ms_per_message']} ms PostgreSQL"
        )
    else:
        print(f"\nSearch benchmark: {result['messages']} messages in one mailbox, {result['db']}")
    print(
        f"corpus built in {result['build_seconds']} s; load average when our queries were timed: "
        f"{result['load_average']}"
    )
    idx = result["indexing"]
    if idx:
        print(f"indexing: {idx['indexed']} items in {idx['seconds']} s = {idx['messages_per_second']} msg/s")
        print(
            f"indexing CPU per message: {idx['python_cpu_ms_per_message']} ms Python + "
            f"{idx['database_cpu_ms_per_message']} ms PostgreSQL (load average {idx['load_average']})"
        )
    nm = result.get("notmuch", {})
    if "messages_per_second" in nm:
        print(f"notmuch new: {nm['messages']} messages in {nm['index_seconds']} s = {nm['messages_per_second']} msg/s")
        print(f"notmuch process start-up alone: p50 {nm['startup_p50_ms']} ms (included in its figures below)")
        print(f"load average when notmuch's queries were timed: {nm['load_average']}")
    elif nm:
        print(f"notmuch: {nm.get('skipped')}")
    print(
        f"\n{'query':<26} {'matches':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} | "
        f"{'notmuch':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    )
    for q in ours:
        other = peer.get(q["name"])
        theirs = (
            f"{other['matches']:>8} {other['p50_ms']:>8} {other['p95_ms']:>8} {other['p99_ms']:>8}"
            if other
            else f"{'-':>8} {'-':>8} {'-':>8} {'-':>8}"
        )
        matches = result["matches"].get(q["name"], "")
        print(f"{q['name']:<26} {matches:>8} {q['p50_ms']:>8} {q['p95_ms']:>8} {q['p99_ms']:>8} | {theirs}")


def retime(args, tmp: Path) -> int:
    """Times the queries again on a kept corpus (after a change to the search code, say)."""
    try:
        setup_django(args.reuse_db, tmp)
        from django.contrib.auth import get_user_model

        alice = get_user_model().objects.get(username=f"alice@{DOMAIN}")
        messages = alice.mailbox_items.count()
        result = {"messages": messages, "db": "PostgreSQL" if "postgres" in args.reuse_db else "SQLite"}
        result |= {"build_seconds": "-", "indexing": None, "matches": matching_counts(alice)}
        with timing_lock(args.lock) as load:
            log(f"timing queries (load average {load})")
            result["load_average"] = load
            result["queries"] = time_queries(alice, args.runs, args.warmup)
        if args.explain:
            explain(alice, EXPLAINED)
        print_report(result)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- Many users (PostgreSQL) ---------------------------------------------------

FILLER_ITEM_IDS = 10**12  # filler documents' item ids: no MailboxItem has them
FILLER_USER_IDS = 10**9
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_DOCUMENT_COLUMNS = (
    "item_id, user_id, received_at, size, has_attachments, subject, body, indexed_at, tsv, from_tsv, to_tsv, cc_tsv"
)


def filler_pool(corpus: Corpus, size: int) -> list[str]:
    """``size`` documents as the tail of a COPY line (size .. cc_tsv), built as the indexer builds them."""
    from mailboxes.search.backends.database import SNIPPET_BODY_CHARS, tsvector_literal
    from mailboxes.search.text import index_terms

    rng = corpus.rng
    pool = []
    for n in range(size):
        body = corpus.body(n)
        subject = corpus.sentence(rng.randint(2, 7)).rstrip(".")
        name, address = ("Dana Scully", FROM_MARKER) if rng.random() < 0.01 else rng.choice(corpus.people)
        attachment = rng.choice(corpus.attachments) if rng.random() < 0.15 else None
        sender, to = index_terms(f"{name} {address}"), index_terms("Someone someone@bench.test")
        files = index_terms(attachment[0]) if attachment else []
        tsv = tsvector_literal(
            [(index_terms(subject), "A"), (sender, "B"), (to, "B"), (files, "D"), (index_terms(body), "C")]
        )
        fields = [
            str(len(body) + 600 + (len(attachment[2]) if attachment else 0)),
            "t" if attachment else "f",
            subject,
            body[:SNIPPET_BODY_CHARS],
            "2026-12-01 00:00:00+00",
            tsv,
            tsvector_literal([(sender, "D")]),
            tsvector_literal([(to, "D")]),
            "",
        ]
        pool.append("\t".join(field.translate(_COPY_ESCAPES) for field in fields))
    return pool


def copy_filler(count: int, users: int, pool: list[str]) -> dict:
    """COPYs ``count`` filler documents, round-robin over ``users`` users, in arrival order (oldest first)."""
    from django.db import connection

    started = time.monotonic()
    connection.ensure_connection()
    chunk: list[str] = []
    copy_sql = f"COPY search_document ({_DOCUMENT_COLUMNS}) FROM STDIN"  # noqa: S608
    with connection.connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for n in range(count):
            at = START + SPAN * (n / max(count, 1))
            chunk.append(
                f"{FILLER_ITEM_IDS + n}\t{FILLER_USER_IDS + n % users}\t{at.isoformat()}\t"
                f"{pool[(n * 7919) % len(pool)]}\n"
            )
            if len(chunk) >= 5000:
                copy.write("".join(chunk))
                chunk.clear()
            if n and n % 200_000 == 0:
                log(f"  {n}/{count} filler documents ({n / (time.monotonic() - started):.0f}/s)")
        copy.write("".join(chunk))
    seconds = time.monotonic() - started
    return {"documents": count, "seconds": round(seconds, 1), "per_second": round(count / seconds)}


_USER_TERMS_INDEX = (
    "CREATE INDEX search_document_user_terms ON search_document USING gin (search_user_terms(user_id, tsv))"
)


def timed_sql(*statements: str) -> float:
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for sql in statements:
            cursor.execute(sql)
    return round(time.monotonic() - started, 1)


def sizes() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class WHERE relname IN "
            "('search_document', 'search_document_user_terms', 'search_doc_user_recent')"
        )
        return dict(cursor.fetchall())


EXPLAINED = ["rare word", "common word", "phrase", "from: + date range", "has:attachment", "chinese word"]


def explain(user, names: list[str]) -> None:
    """Prints EXPLAIN (ANALYZE, BUFFERS) of each SQL statement a query runs on search_document, as ``user``."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from mailboxes.search.backends.database import _PG_BITMAP_ONLY, _PG_WALK_ONLY
    from mailboxes.search.services import search

    for name, query, _ in QUERIES:
        if name not in names:
            continue
        order = "relevance" if name.endswith("relevance") else "date"
        with CaptureQueriesContext(connection) as captured:
            search(user, query, limit=50, order=order)
        print(f"\n=== {name}: {query} ===")
        walk = False  # the statement after the backend's _PG_WALK_ONLY runs without bitmap scans or sorts
        for q in captured.captured_queries:
            sql = q["sql"]
            walked, walk = walk, "set_config('enable_bitmapscan', 'off'" in sql
            probe = sql.startswith("DECLARE")
            if probe:
                sql = sql.split(" CURSOR FOR ", 1)[1]
            if "search_document" not in sql or not sql.startswith("SELECT") or "pg_stats" in sql:
                continue
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                if probe:
                    cursor.execute(_PG_BITMAP_ONLY)
                if walked:
                    cursor.execute(_PG_WALK_ONLY)
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")  # noqa: S608 - our own captured SQL
                kind = "probe" if probe else "walk (no bitmap scan, no sort)" if walked else "query"
                print(f"-- {kind} ({q['time']} s as run)")
                print("\n".join(row[0] for row in cursor.fetchall()))


def main_many_users(args, tmp: Path, database) -> dict:
    """``--users``: the messages spread over many users, queries as a few of them, notmuch on alice's share."""
    from accounts.services import create_domain, create_mail_user

    create_domain(name=DOMAIN)
    share = args.messages // args.users
    sampled = [
        create_mail_user(address=f"{name}@{DOMAIN}", password=None, display_name=name.capitalize())
        for name in ["alice", "bob", "carol", "dave", "erin", "frank"][: args.sample_users]
    ]
    maildir = alice_maildir(tmp, args)
    corpus = Corpus(args.seed)
    log(f"{args.messages} messages over {args.users} users: {share} each; building {len(sampled)} users' mailboxes")
    started = time.monotonic()
    labelled = {}
    for n, user in enumerate(sampled):
        found = build_mailbox(user, share, corpus, n * share, maildir if n == 0 else None)
        labelled = labelled or found
    build_seconds = round(time.monotonic() - started, 1)
    log(f"built in {build_seconds} s; indexing them (a table of their documents only)")
    indexing = run_indexing(args.batch_size)
    filler = args.messages - share * len(sampled)
    started = time.monotonic()
    pool = filler_pool(corpus, args.pool)
    pool_seconds = round(time.monotonic() - started, 1)
    log(
        f"pool of {args.pool} in {pool_seconds} s; copying {filler} filler documents "
        f"for {args.users - len(sampled)} users"
    )
    timed_sql("DROP INDEX search_document_user_terms")
    fill = copy_filler(filler, args.users - len(sampled), pool)
    if not args.no_cluster:
        log(f"filled: {fill}; rewriting the table in arrival order (CLUSTER on received_at)")
        fill["cluster_seconds"] = timed_sql(
            "CREATE INDEX search_document_arrival ON search_document (received_at)",
            "CLUSTER search_document USING search_document_arrival",
            "DROP INDEX search_document_arrival",
        )
    log(f"filled: {fill}; building the user-terms index")
    fill["user_terms_index_seconds"] = timed_sql(_USER_TERMS_INDEX, "ANALYZE search_document")
    # The indexing rate again, into the full table and its indexes: a late user's mail.
    late = create_mail_user(address=f"late@{DOMAIN}", password=None, display_name="Late")
    build_mailbox(late, min(share, args.late_messages), corpus, len(sampled) * share, None)
    log(f"index built in {fill['user_terms_index_seconds']} s; indexing a late user's mail into the full table")
    indexing_full = run_indexing(args.batch_size)
    analyze()
    result = {
        "messages": args.messages,
        "users": args.users,
        "share": share,
        "sampled_users": len(sampled),
        "db": "PostgreSQL",
        "build_seconds": build_seconds,
        "pool_seconds": pool_seconds,
        "fill": fill,
        "sizes": sizes(),
        "indexing": indexing,
        "indexing_into_full_table": indexing_full,
        "matches": matching_counts(sampled[0]),
    }
    with timing_lock(args.lock) as load:
        log(f"timing queries as {len(sampled)} users (load average {load})")
        result["load_average"] = load
        per_user = [time_queries(user, args.runs, args.warmup, raw=True) for user in sampled]
        result["load_average_after"] = round(os.getloadavg()[0], 2)
    result["queries"] = [
        {
            "name": first["name"],
            "query": first["query"],
            "order": first["order"],
            "hits_on_first_page": first["hits_on_first_page"],
            **_percentiles([t for user in per_user for t in user[i]["times"]]),
            "p95_per_user_ms": [user[i]["p95_ms"] for user in per_user],
        }
        for i, first in enumerate(per_user[0])
    ]
    if args.explain:
        explain(sampled[0], EXPLAINED)
    if maildir:
        log("notmuch: indexing alice's share as a Maildir")
        result["notmuch"] = run_notmuch(tmp, maildir, labelled, args.runs, args.warmup, args.lock)
    return result


def _percentiles(times: list[float]) -> dict:
    return {f"p{p}_ms": round(percentile(times, p), 2) for p in (50, 95, 99)}


def main(argv=None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    if args.reuse_db:
        return retime(args, tmp)
    database = ThrowawayDatabase(args, tmp, prefix="bench_search")
    try:
        setup_django(database.url, tmp)
        if args.users:
            if args.db != "postgres":
                raise SystemExit("--users needs --db postgres")
            result = main_many_users(args, tmp, database)
            print_report(result)
            if args.json:
                Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
            return 0
        from accounts.services import create_domain, create_mail_user

        create_domain(name=DOMAIN)
        alice = create_mail_user(address=f"alice@{DOMAIN}", password=None, display_name="Alice")
        bob = create_mail_user(address=f"bob@{DOMAIN}", password=None, display_name="Bob")
        maildir = alice_maildir(tmp, args)
        corpus = Corpus(args.seed)
        log(f"building {args.messages} messages for alice and {args.messages // 10} for bob")
        started = time.monotonic()
        labelled = build_mailbox(alice, args.messages, corpus, 0, maildir)
        build_mailbox(bob, args.messages // 10, corpus, args.messages, None)
        build_seconds = round(time.monotonic() - started, 1)
        log(f"built in {build_seconds} s; indexing")
        indexing = run_indexing(args.batch_size)
        analyze()
        result = {
            "messages": args.messages,
            "db": "PostgreSQL" if args.db == "postgres" else "SQLite",
            "build_seconds": build_seconds,
            "indexing": indexing,
            "matches": matching_counts(alice),
        }
        with timing_lock(args.lock) as load:
            log(f"timing queries (load average {load})")
            result["load_average"] = load
            result["queries"] = time_queries(alice, args.runs, args.warmup)
        if maildir:
            log("notmuch: indexing the same messages as a Maildir")
            result["notmuch"] = run_notmuch(tmp, maildir, labelled, args.runs, args.warmup, args.lock)
        print_report(result)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    finally:
        if not args.keep:
            from django.db import connections

            with contextlib.suppress(Exception):
                connections.close_all()
            database.drop()
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp} and database {database.name or database.url}")


if __name__ == "__main__":
    sys.exit(main())
