"""The MX stores the messages of concurrent sessions together (group commit), and never loses one.

No timings are asserted: what matters is that every session gets its 250 only
for a message whose row and file exist, and that one bad message fails alone.
"""

import asyncio
import smtplib
import threading

import pytest

from inbound import smtpd
from inbound.models import InboundMessage
from inbound.services.reception import Arrival
from mailboxes.blobstore import read_blob
from mailboxes.models import MailboxItem
from tests.inbound.test_mx import message_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def arrival(subject: str) -> Arrival:
    return Arrival(
        raw=message_bytes(subject=subject),
        mail_from="sam@sender.example",
        rcpt_tos=["alice@example.test"],
        client_ip="127.0.0.1",
        helo="mail.sender.example",
    )


def run_in_new_loop(coroutine):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())  # ends the database threads
        loop.close()


def test_twenty_concurrent_sessions_all_get_250_and_every_message_is_stored(mx_server, alice, monkeypatch):
    batches = []
    real = smtpd.accept_messages

    def counting(arrivals, **kwargs):
        batches.append(len(arrivals))
        return real(arrivals, **kwargs)

    monkeypatch.setattr(smtpd, "accept_messages", counting)
    replies, start = {}, threading.Barrier(20)

    def send(n):
        client = smtplib.SMTP(*mx_server, timeout=30)
        client.ehlo("mail.sender.example")
        start.wait()
        client.mail("sam@sender.example")
        client.rcpt("alice@example.test")
        replies[n] = client.data(message_bytes(subject=f"Concurrent {n}"))
        client.quit()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(replies) == list(range(20))
    assert all(code == 250 for code, _ in replies.values()), replies
    queued_as = {int(reply.rsplit(b" ", 1)[1]) for _, reply in replies.values()}
    assert queued_as == set(InboundMessage.objects.values_list("pk", flat=True))
    assert sum(batches) == 20
    subjects = set(MailboxItem.objects.filter(user=alice).values_list("message__subject", flat=True))
    assert subjects == {f"Concurrent {n}" for n in range(20)}


def test_messages_ready_together_are_committed_in_one_transaction(alice, monkeypatch):
    batches = []
    real = smtpd.accept_messages

    def counting(arrivals, **kwargs):
        batches.append(len(arrivals))
        return real(arrivals, **kwargs)

    monkeypatch.setattr(smtpd, "accept_messages", counting)
    committer = smtpd.GroupCommit()
    arrivals = [arrival(f"Together {n}") for n in range(10)]

    async def all_at_once():
        return await asyncio.gather(*(committer.accept(a) for a in arrivals))

    jobs = run_in_new_loop(all_at_once())

    assert batches == [10]
    assert [read_blob(job.blob) for job in jobs] == [a.raw for a in arrivals]  # each session got its own job
    assert InboundMessage.objects.count() == 10
    assert MailboxItem.objects.filter(user=alice).count() == 10  # processed after commit (tasks run inline)


def test_jobs_of_several_commits_are_queued_in_one_task_when_the_dispatch_timer_fires(alice, monkeypatch):
    """With a real broker, the MX gathers what it stored for ``dispatch_delay`` into one dispatch.

    The messages come one after another from one session, each as soon as
    the last got its answer: that used to find the finished flusher still
    registered (one batch in flight, as on SQLite) and wait forever. The
    timer is the test's: it fires only when told, however slow the machine.
    """
    from webmail.celery import app as celery_app

    dispatched, dispatch_done = [], threading.Event()

    def dispatch(*, job_ids):
        dispatched.append(job_ids)
        dispatch_done.set()

    monkeypatch.setattr(smtpd, "dispatch_processing", dispatch)
    timers = []  # (delay asked for, event that fires it)

    async def timer(delay):
        fire = asyncio.Event()
        timers.append((delay, fire))
        await fire.wait()

    committer = smtpd.GroupCommit(max_batch=2, in_flight=1, sleep=timer)

    async def one_after_another():
        jobs = [await committer.accept(arrival(f"Gathered {n}")) for n in range(3)]
        assert dispatched == []  # stored and answered, not queued yet
        assert [delay for delay, _ in timers] == [committer.dispatch_delay]  # one timer for all three
        timers[0][1].set()
        await asyncio.get_running_loop().run_in_executor(None, dispatch_done.wait, 30)
        return jobs

    celery_app.conf.task_always_eager = False
    try:
        jobs = run_in_new_loop(asyncio.wait_for(one_after_another(), 30))
    finally:
        celery_app.conf.task_always_eager = True

    assert dispatched == [[job.pk for job in jobs]]
    assert MailboxItem.objects.filter(user=alice).count() == 0  # the (fake) broker has them; nothing ran inline


def test_a_message_that_cannot_be_stored_fails_alone_and_the_others_are_stored(alice, monkeypatch):
    real = smtpd.accept_messages

    def refuse_the_poisoned(arrivals, **kw):
        if any(b"Poisoned" in a.raw for a in arrivals):
            raise OSError("disk says no")
        return real(arrivals, **kw)

    monkeypatch.setattr(smtpd, "accept_messages", refuse_the_poisoned)
    committer = smtpd.GroupCommit()
    subjects = ["Fine 1", "Poisoned", "Fine 2", "Fine 3"]

    async def all_at_once():
        return await asyncio.gather(*(committer.accept(arrival(s)) for s in subjects), return_exceptions=True)

    outcomes = run_in_new_loop(all_at_once())

    assert isinstance(outcomes[1], OSError)
    assert all(isinstance(o, InboundMessage) for i, o in enumerate(outcomes) if i != 1)
    assert InboundMessage.objects.count() == 3
    assert sorted(MailboxItem.objects.filter(user=alice).values_list("message__subject", flat=True)) == [
        "Fine 1",
        "Fine 2",
        "Fine 3",
    ]


def test_the_client_gets_451_when_storing_fails_and_nothing_is_kept(mx_server, alice, monkeypatch):
    def broken(arrivals):
        raise OSError("disk says no")

    monkeypatch.setattr(smtpd, "accept_messages", broken)
    client = smtplib.SMTP(*mx_server, timeout=60)
    client.ehlo("mail.sender.example")
    client.mail("sam@sender.example")
    client.rcpt("alice@example.test")
    code, reply = client.data(message_bytes())
    client.quit()

    assert (code, reply[:5]) == (451, b"4.3.0")
    assert not InboundMessage.objects.exists()


def test_a_known_recipient_is_looked_up_once_while_cached(mx_server, alice, monkeypatch):
    calls = []
    real = smtpd.check_recipient
    monkeypatch.setattr(smtpd, "check_recipient", lambda address: calls.append(address) or real(address))
    now = 1000.0
    monkeypatch.setattr(smtpd, "clock", lambda: now)
    client = smtplib.SMTP(*mx_server, timeout=60)
    client.ehlo("mail.sender.example")
    for seconds_later in (0, 5, 9, 11):  # the cache keeps an acceptance for 10 seconds
        now = 1000.0 + seconds_later
        client.mail("sam@sender.example")
        assert client.rcpt("alice@example.test")[0] == 250
        assert client.rcpt("nobody@example.test")[0] == 550  # refusals are not cached
        client.rset()
    client.quit()

    assert calls.count("alice@example.test") == 2  # at 0 s, then again once expired at 11 s
    assert calls.count("nobody@example.test") == 4


ADDRESS_ARGUMENTS = [
    "<a@b.example>", "<a@b.example> SIZE=2400", " <a@b.example>  BODY=8BITMIME SMTPUTF8", "<a.b+tag@c-d.example>\tX",
    "<A@B.EXAMPLE>", "<a@b.example> ", "<>", "<a..b@c.example>", "<.a@b.example>", "<a@b..example>",
    '<"quoted local"@b.example>', "<a@[192.0.2.1]>", "<@route.example:a@b.example>", "a@b.example", "<a@b.example",
    "<a@b.example>x", "<a@b.example> (comment) SIZE=1", "<ü@b.example>", "<a@-b.example>", "<a b@c.example>", "",
]  # fmt: skip


@pytest.mark.parametrize("argument", ADDRESS_ARGUMENTS)
def test_plain_addresses_are_read_as_aiosmtpds_own_parser_reads_them(argument):
    from aiosmtpd.smtp import SMTP

    async def both():
        protocol = smtpd.protocol_factory()()
        return protocol._getaddr(argument), SMTP._getaddr(protocol, argument)

    ours, aiosmtpds = run_in_new_loop(both())
    assert ours == aiosmtpds


@pytest.mark.parametrize("reuse_port", [True, False])
def test_several_mx_processes_can_share_a_port_only_when_asked(settings, reuse_port):
    from tests.support.smtp_server import free_port

    settings.SMTPD_REUSE_PORT = reuse_port
    port = free_port()

    async def two_servers():
        first = await smtpd.serve("127.0.0.1", port)
        try:
            second = await smtpd.serve("127.0.0.1", port)
        except OSError:
            return False
        finally:
            first.close()
        second.close()
        return True

    assert run_in_new_loop(two_servers()) is reuse_port


def _unbound(method) -> tuple:
    return getattr(method, "__func__", method), getattr(method, "__self__", None)


def _introspected(protocol) -> dict:
    """What aiosmtpd's SMTP.__init__ found by introspection, and what each method is bound to."""
    return {
        "hooks": {name: _unbound(hook) for name, hook in protocol._handle_hooks.items()},
        "smtp": {name: _unbound(method) for name, method in protocol._smtp_methods.items()},
        "auth": {name: (*_unbound(attr.method), attr.is_builtin) for name, attr in protocol._auth_methods.items()},
        "ehlo": protocol._ehlo_hook_ver,
    }


def test_member_lists_per_class_give_each_connection_the_hooks_aiosmtpd_finds_itself(monkeypatch):
    """The MX lists aiosmtpd's hook and command methods once per class (a tenth of its CPU per message)."""
    import builtins
    import inspect

    import aiosmtpd.smtp

    async def handle_NOOP(server, session, envelope, arg):  # noqa: N802 - an instance's own hook counts too
        return "250 OK"

    async def build():
        factory = smtpd.protocol_factory()
        factory.handler.handle_NOOP = handle_NOOP
        monkeypatch.setattr(aiosmtpd.smtp, "inspect", inspect)
        monkeypatch.setattr(aiosmtpd.smtp, "dir", builtins.dir, raising=False)
        reference = factory()  # aiosmtpd's own introspection
        smtpd.install_member_cache()
        assert isinstance(aiosmtpd.smtp.inspect, smtpd._MembersByClass)
        return factory.handler, reference, factory(), factory()

    handler, reference, first, second = run_in_new_loop(build())
    expected, got, again = _introspected(reference), _introspected(first), _introspected(second)
    assert "NOOP" in expected["hooks"] and "DATA" in expected["hooks"]
    assert "AUTH" in expected["smtp"] and "PLAIN" in expected["auth"]
    assert expected["ehlo"] == got["ehlo"] == "new"
    for table in ("hooks", "smtp", "auth"):
        assert set(got[table]) == set(expected[table]), table
        for name, (func, owner, *rest) in got[table].items():
            ref_func, ref_owner, *ref_rest = expected[table][name]
            assert func is ref_func and rest == ref_rest, (table, name)
            # bound to this connection (or the shared handler), never to another connection
            if ref_owner is reference:
                assert owner is first and again[table][name][1] is second, (table, name)
            else:
                assert owner is ref_owner and ref_owner in (handler, None), (table, name)
