"""Plain address lists are read without the standard parser, to the same result (inbound parses every message)."""

import random
from email import policy

import pytest

from mailboxes import parsing

PIECES = [
    "alice", "Alice", "Liddell", "al.ice", "a..b", ".a", "a.", "a+tag", "o'brien", "=?utf-8?q?J=C3=B6rg?=", "=?x",
    "@", "a.example", "B.Example", "b_c.example", "a.example.", "[192.0.2.1]", "<", ">", "<>", ",", ", ,", ";",
    ":", "\"", '""', '" A "', '"Doe, John"', '"a\\"b"', '"<x@evil.example>"', "(comment)", "\\", " ", "  ", "\t",
    "Jörg", "\x00", "group:", "a@b", "-", "!#$%", "x@y.example",
]  # fmt: skip


class _Fill(dict):
    def __init__(self, rnd):
        super().__init__()
        self.rnd = rnd

    def __missing__(self, key):
        rnd = self.rnd
        if key == "a":
            local = rnd.choice(["alice", "a.b", "x+y", "o'brien", "=?utf-8?q?x?=", "A", *rnd.sample(PIECES, 1)])
            domain = rnd.choice(["a.example", "B.Example", "a-b.example", "x", *rnd.sample(PIECES, 1)])
            return f"{local}@{domain}"
        if key == "n":
            words = ["Alice", "Alice  Liddell", '"Liddell, Alice"', '"a <b@c.example>"', '""', '" A "', 'A "Q" B']
            return rnd.choice([*words, *PIECES])
        return rnd.choice(PIECES)


SHAPES = [
    "{a}", "<{a}>", "{n} <{a}>", "{n}<{a}>", "{n} {n} <{a}>", " {a} , {a} ", "{n} <{a}>, {n} <{a}>", "{a},",
    ",{a}", "{a},,{a}", "{p}{a}", "{a}{p}", "{n} {p} <{a}>", "{p}{p}{p}", "{n} <{a}>,{a}, <{a}>",
]  # fmt: skip


def random_values(count: int, seed: int):
    rnd = random.Random(seed)
    for _ in range(count):
        yield rnd.choice(SHAPES).format_map(_Fill(rnd))


def standard(value: str):
    try:
        addresses = policy.default.header_factory("to", value).addresses
    except Exception as exc:
        return type(exc)
    return [(a.display_name or "", a.addr_spec) for a in addresses if a.addr_spec and a.addr_spec != "<>"]


def test_plain_address_lists_read_as_the_standard_parser_reads_them():
    values = list(random_values(5000, seed=2822))
    plain = [(value, parsing._plain_addresses(value)) for value in values]
    plain = [(value, found) for value, found in plain if found is not None]
    assert len(plain) > 1000  # many shapes take the shortcut

    for value, found in plain:
        assert found == standard(value), value


@pytest.mark.parametrize(
    "value",
    [
        "Alice <alice@a.example>",
        "alice@a.example",
        "<alice@a.example>",
        '"Liddell, Alice" <alice@a.example>, bob@b.example',
        "Alice   Liddell <alice@a.example>",
        "=?utf-8?q?J=C3=B6rg?= <j@a.example>",  # not plain: the standard parser decodes the name
        "alice@a.example (Alice)",
        "undisclosed-recipients:;",
        "a@b.example,",
    ],
)
def test_parse_message_gives_the_same_addresses_either_way(value, monkeypatch):
    raw = f"From: {value}\r\nTo: {value}\r\nCc: {value}\r\nSubject: x\r\n\r\nHi\r\n".encode()
    quick = parsing.parse_message(raw)
    monkeypatch.setattr(parsing, "_plain_addresses", lambda value: None)
    slow = parsing.parse_message(raw)

    assert (quick.from_name, quick.from_address, quick.to, quick.cc) == (
        slow.from_name,
        slow.from_address,
        slow.to,
        slow.cc,
    )


@pytest.mark.parametrize("value", ["a" * 16000, "a " * 8000, '"' + "a" * 16000, ("x@y.example, " * 1300)[:16000]])
def test_the_shortcut_is_linear_on_long_fields(value):
    parsing._plain_addresses(value)  # returns (quickly: no catastrophic backtracking) whatever it finds
