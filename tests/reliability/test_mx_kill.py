"""kill -9 of the MX while twenty sessions are sending: every message it answered 250 for is stored.

A real ``manage.py runsmtpd`` subprocess on the test database takes mail from
twenty concurrent SMTP sessions (so its group commit stores several sessions'
messages together); once some have been acknowledged, its process group gets
SIGKILL in the middle of the traffic. Every acknowledged queue id must then
have its job row and its blob file with the exact bytes of that message; the
sessions cut off get no 250 and their clients keep the message.
PostgreSQL only: the subprocess needs the test database on a server.
"""

import shutil
import smtplib
import threading
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.db import connection

from chaos.infra import RedisBroker, Stack, django_env, free_port, runsmtpd, start_and_wait_for_port, wait_until
from inbound.models import InboundMessage

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (the broker)"),
]

SESSIONS = 20
KILL_AFTER = 40  # acknowledged messages


@pytest.fixture
def postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("the MX kill test runs on PostgreSQL (DATABASE_URL=postgres://...)")


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _message(session: int, n: int) -> bytes:
    message = EmailMessage()
    message["From"] = "sam@sender.example"
    message["To"] = "alice@example.test"
    message["Subject"] = f"Session {session} message {n}"
    message.set_content(f"Body of session {session} message {n}.\n" * 20)
    return message.as_bytes().replace(b"\n", b"\r\n")


def test_every_message_the_mx_acknowledged_is_stored_after_kill_9(postgres_only, alice, dns_server, tmp_path):
    acknowledged: dict[int, bytes] = {}  # queue id -> the bytes sent
    lock, enough, stop = threading.Lock(), threading.Event(), threading.Event()
    with Stack() as stack:
        env = django_env(
            database_url=_database_url(), broker_url=RedisBroker(stack).start().url, dns=dns_server.nameserver,
            smtp_port=free_port(), folder=tmp_path, DATABASE_CONN_MAX_AGE="60",
        )  # fmt: skip
        port = free_port()
        mx = start_and_wait_for_port(runsmtpd(stack, env, port=port), port)

        def session(number: int) -> None:
            n = 0
            while not stop.is_set():
                raw = _message(number, n)
                n += 1
                try:
                    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                        client.ehlo("mail.sender.example")
                        client.mail("sam@sender.example")
                        client.rcpt("alice@example.test")
                        code, reply = client.data(raw)
                except (OSError, smtplib.SMTPException):
                    return  # the MX is gone: what was not acknowledged stays with the client
                if code == 250:
                    with lock:
                        acknowledged[int(reply.rsplit(b" ", 1)[1])] = raw
                        if len(acknowledged) >= KILL_AFTER:
                            enough.set()

        threads = [threading.Thread(target=session, args=(i,)) for i in range(SESSIONS)]
        for thread in threads:
            thread.start()
        try:
            wait_until(enough.is_set, timeout=120, what=f"{KILL_AFTER} acknowledged messages\n{mx.tail()}")
            mx.kill9()
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)

    with lock:
        acked = dict(acknowledged)
    assert len(acked) >= KILL_AFTER
    jobs = {job.pk: job for job in InboundMessage.objects.filter(pk__in=acked).select_related("blob")}
    assert set(jobs) == set(acked), "acknowledged but not stored: " + repr(sorted(set(acked) - set(jobs)))
    mailstore = Path(tmp_path) / "mailstore"
    for pk, raw in acked.items():
        stored = (mailstore / jobs[pk].blob.storage_key).read_bytes()
        assert stored == raw, f"job {pk}: the stored bytes differ from those acknowledged"
        assert jobs[pk].rcpt_tos == ["alice@example.test"]
