"""DMARC's shortcuts (the From domain read without the email package, records parsed once) change nothing."""

import dataclasses
import random

import pytest

from inbound.auth import dmarc

PIECES = [
    "alice", "Alice", "al.ice", "a..b", ".a", "a.", "a+tag", "o'brien", "=?utf-8?q?J=C3=B6rg?=", "=?x", "?=",
    "@", "@@", "a.example", "A.EXAMPLE", "b.example", "xn--bcher-kva.example", "b_c.example", "a.example.",
    "[192.0.2.1]", "<", ">", "<>", ",", ";", ":", "\"", "\"Doe, John\"", "\"a\\\"b\"", "\"<x@evil.example>\"",
    "(comment)", "(a@evil.example)", "\\", " ", "  ", "\t", "Jörg", "é", "\x00", "\x7f", "group:", "a@b", "-",
]  # fmt: skip


def random_values(count: int, seed: int):
    rnd = random.Random(seed)
    shapes = [
        "{w}@{d}",
        "<{w}@{d}>",
        "{n} <{w}@{d}>",
        "{n} {n} <{w}@{d}>",
        "{n}<{w}@{d}>",
        "{n} <{w}@{d}>, {n} <{w}@{d}>",
        "{p}{p}{p}",
        "{p} {n} {p}<{w}@{d}>{p}",
        " {n} <{w}@{d}> ",
        "{w}@{d}{p}",
    ]
    for _ in range(count):
        shape = rnd.choice(shapes)
        yield shape.format_map(_Random(rnd))


class _Random(dict):
    def __init__(self, rnd):
        super().__init__()
        self.rnd = rnd

    def __missing__(self, key):
        rnd = self.rnd
        if key == "d":
            return rnd.choice(["a.example", "B.Example", "sub.a.example", "a-b.example", *rnd.sample(PIECES, 1)])
        if key == "w":
            return rnd.choice(["alice", "a.b", "x+y", "o'brien", "=?utf-8?q?x?=", *rnd.sample(PIECES, 1)])
        if key == "n":
            return rnd.choice(["Alice", "Alice Liddell", '"Liddell, Alice"', '"a <b@c.example>"', *PIECES])
        return rnd.choice(PIECES)


def strict_or_error(value: str):
    try:
        return dmarc.strict_address_domains(value)
    except Exception as exc:
        return type(exc)


def fast_or_error(value: str):
    try:
        return dmarc.address_domains(value)
    except Exception as exc:
        return type(exc)


def test_the_plain_from_shortcut_reads_the_same_domains_as_the_email_package():
    values = list(random_values(4000, seed=5322))
    plain = [value for value in values if dmarc._PLAIN_FROM.fullmatch(value)]
    assert len(plain) > 500  # the comparison below covers the shortcut on many shapes

    for value in values:
        assert fast_or_error(value) == strict_or_error(value), value


@pytest.mark.parametrize(
    ("value", "domains"),
    [
        ("Bench Sender <sender@Bench.Example>", ["bench.example"]),
        ("sender@bench.example", ["bench.example"]),
        ("<sender@bench.example>", ["bench.example"]),
        ('"Sender, Bench" <sender@bench.example>', ["bench.example"]),
        ('"x@evil.example" <sender@bench.example>', ["bench.example"]),
        ("a@evil.example <sender@bench.example>", None),  # not plain: the email package decides
        ("sender@bench.example (a@evil.example)", None),
        ("=?utf-8?q?a@evil.example?= <sender@bench.example>", None),
    ],
)
def test_the_shortcut_takes_only_plain_fields(value, domains):
    match = dmarc._PLAIN_FROM.fullmatch(value)
    assert (match is not None) == (domains is not None)
    assert dmarc.address_domains(value) == strict_or_error(value)
    if domains:
        assert dmarc.address_domains(value) == domains


@pytest.mark.parametrize(
    "value", ["a" * 2000, "a " * 1000, '"' + "a" * 2000, "<" + "a." * 1000, "a" * 1000 + "@" + "b." * 500]
)
def test_the_shortcut_gives_up_quickly_on_long_hostile_fields(value):
    assert dmarc._PLAIN_FROM.fullmatch(value) is None


def test_a_parsed_record_is_kept_and_cannot_be_changed_by_a_caller():
    text = "v=DMARC1; p=reject; pct=50; rua=mailto:d@a.example"
    first = dmarc.parse_record(text)

    with pytest.raises(dataclasses.FrozenInstanceError):
        first.p = "none"
    assert dmarc.parse_record(text) is first
    assert (first.p, first.sp, first.adkim, first.aspf, first.pct) == ("reject", "reject", "r", "r", 50)
    assert dmarc.parse_record("v=spf1 -all") is None
    assert dmarc.parse_record(text) == dmarc._parse_record.__wrapped__(text)


def test_as_dict_is_what_asdict_made():
    from dataclasses import asdict

    from inbound.auth import AuthenticationResults, DKIMResult, DMARCResult, SPFResult

    results = AuthenticationResults(
        spf=SPFResult("pass", "a.example", "mailfrom", "ip4 matched"),
        helo_spf=SPFResult("none", "mx.a.example", "helo"),
        dkim=[DKIMResult("pass", "a.example", "s1"), DKIMResult("fail", "b.example", "s2", "body hash")],
        dmarc=DMARCResult("pass", "a.example", "reject", "none", "SPF passed"),
    )

    assert results.as_dict() == {
        "spf": asdict(results.spf),
        "helo_spf": asdict(results.helo_spf),
        "dkim": [asdict(result) for result in results.dkim],
        "dmarc": asdict(results.dmarc),
        "arc": asdict(results.arc),
    }
    assert AuthenticationResults.from_dict(results.as_dict()) == results


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@a.example\r\nSubject: x\r\n\r\nHi\r\n",
        b"From: a@a.example\nSubject: x\n\nHi\n",
        b"\r\nDKIM-Signature: v=1; d=a.example; s=s1; b=abc\r\n\r\nHi\r\n",  # no header section for dkimpy
        b"From: a@a.example\r\n\r\nDKIM-Signature: v=1; d=a.example; s=s1\r\n",  # in the body
        b" folded first\r\nDKIM-Signature: v=1; d=a.example\r\n\r\nHi\r\n",
        b"From: a@a.example\r\nDKIM-Signature : v=1; d=a.example; s=s1\r\n\r\nHi\r\n",
        b"From: a@a.example\r\ndkim-signature: v=1; d=a.example; s=s1; b=\r\n\r\nHi\r\n",
        b"From a@a.example Mon Mar 2 10:00:00 2026\r\nFrom: a@a.example\r\n\r\nHi\r\n",
        b"From: a@a.example\r\nbroken header line\r\n\r\nHi\r\n",
        b"From: a@a.example\r\n\rDKIM-Signature: v=1\r\n\r\n",
        b"",
        b"no header at all",
    ],
)
def test_dkim_without_a_signature_field_is_none_as_dkimpy_found(raw, monkeypatch):
    from inbound.auth import dkim
    from inbound.auth.lookups import Lookups

    quick = dkim.verify_all(raw, Lookups())
    monkeypatch.setattr(dkim, "_may_be_signed", lambda raw: True)
    full = dkim.verify_all(raw, Lookups())
    if quick == [dkim.DKIMResult("none", "", "")]:
        assert full == quick
