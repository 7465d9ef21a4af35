"""The chaos harness counts exactly: its arithmetic, its fault plan, its sink's copies and held transaction."""

import smtplib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from chaos.platform import Tally
from chaos.sink import CountingSink, FaultPlan


def test_each_acknowledged_pair_is_delivered_once_duplicated_bounced_or_lost():
    acknowledged = {("m1", "a@x"), ("m2", "b@x"), ("m3", "c@x"), ("m4", "d@x")}
    copies = Counter({("m1", "a@x"): 1, ("m2", "b@x"): 3, ("m9", "z@x"): 1})
    tally = Tally("t")
    tally.add_counts(acknowledged, copies, accounted_otherwise={("m3", "c@x")})
    assert (tally.acknowledged, tally.delivered_once, tally.duplicated, tally.lost) == (4, 1, 1, 1)


def test_the_fault_plan_is_the_same_for_the_same_seed():
    kinds = {"421": 1, "stall": 1, "drop-after-dot": 1}
    plan_a, plan_b = FaultPlan(rate=0.5, kinds=kinds, seed=3), FaultPlan(rate=0.5, kinds=kinds, seed=3)
    assert [plan_a.next() for _ in range(50)] == [plan_b.next() for _ in range(50)]


def _send(port: int, message_id: str, rcpt: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.sendmail("a@client.example", [rcpt], f"Message-ID: <{message_id}>\r\nSubject: x\r\n\r\nbody\r\n")


def test_the_sink_counts_every_copy_and_holds_its_nth_transaction_without_counting_it():
    sink = CountingSink(hold_at=3).start()
    try:
        _send(sink.port, "one@x", "r@remote.example")
        _send(sink.port, "one@x", "r@remote.example")
        held = ThreadPoolExecutor(1).submit(_send, sink.port, "two@x", "s@remote.example")
        assert sink.reached.wait(10)
        sink.release()
        with pytest.raises(smtplib.SMTPException):
            held.result(10)
    finally:
        sink.stop()
    assert sink.deliveries == Counter({("one@x", "r@remote.example"): 2})
