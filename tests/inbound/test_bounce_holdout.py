"""The held-out bounce collection (tests/samples/bounces/holdout) and the evaluator that scores it (bench/bounces.py).

The held-out set measures the readers on mail they were not written against;
its labels are NOT asserted here (that would make it one more target to tune
to). What is checked: every sample reads without crashing, the negatives are
not taken for bounces, the labels are well-formed, and the evaluator's
arithmetic, so that the figures it prints can be trusted.
"""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from core.bounce_reasons import HARD_REASONS, HARD_WHEN_PERMANENT, NOT_FAILURES, Reason
from inbound.bounces import parse_report

ROOT = Path(__file__).resolve().parent.parent.parent
HOLDOUT = ROOT / "tests" / "samples" / "bounces" / "holdout"


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_bounces", ROOT / "bench" / "bounces.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_bench()
CASES = bench.load_cases(HOLDOUT)


def _case_id(case):
    return f"{case.family}/{case.name}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_sample_reads_without_crashing(case):
    report = parse_report(case.path.read_bytes())
    if report is not None:
        assert report.kind in {"dsn", "arf"}
        for recipient in report.recipients:
            assert isinstance(recipient.address, str)
            assert recipient.reason in set(Reason)


@pytest.mark.parametrize("case", [c for c in CASES if c.expected is None], ids=_case_id)
def test_negative_is_not_a_bounce(case):
    report = parse_report(case.path.read_bytes())
    failed = [r for r in (report.recipients if report else []) if r.reason not in NOT_FAILURES]
    assert failed == [], f"{case.name} is not a bounce, but read as failed for {failed}"


def test_collection_is_big_and_varied_enough_to_measure():
    positives = [c for c in CASES if c.expected is not None]
    assert len(positives) >= 120
    assert len(CASES) - len(positives) >= 20
    assert len({c.family for c in positives}) >= 30


def test_every_sample_has_a_well_formed_label():
    listed = {(c.family, c.name) for c in CASES}
    on_disk = {(p.parent.name, p.name) for p in HOLDOUT.glob("*/*.eml")}
    assert on_disk == listed
    for case in CASES:
        for wanted in case.expected or []:
            assert set(wanted) == {"address", "action", "status", "reason", "hard"}, case.name
            assert wanted["reason"] in set(Reason), case.name
            assert wanted["status"] == "" or re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", wanted["status"]), case.name
            assert wanted["action"] in {"failed", "delayed", ""}, case.name  # "" for a complaint (ARF)
            hard = wanted["reason"] in HARD_REASONS or (
                wanted["reason"] in HARD_WHEN_PERMANENT and wanted["status"].startswith("5")
            )
            assert wanted["hard"] == hard, f"{case.name}: hard/soft must follow the reason"


# ------------------------------------------------------------------ the evaluator's arithmetic


@pytest.fixture
def tiny_collection(tmp_path):
    """Two bounces (three failed recipients) and one negative, in two folders."""
    (tmp_path / "mta").mkdir()
    (tmp_path / "negatives").mkdir()
    (tmp_path / "mta" / "one.eml").write_bytes(b"Subject: x\r\n\r\n550 5.1.1 a@x.example unknown\r\n")
    (tmp_path / "mta" / "two.eml").write_bytes(b"Subject: y\n\nboth full\n")
    (tmp_path / "negatives" / "away.eml").write_bytes(b"Subject: away\n\nback soon\n")
    recipient = {"action": "failed", "hard": False}
    (tmp_path / "mta" / "expected.json").write_text(
        json.dumps(
            {
                "one.eml": {
                    "kind": "dsn",
                    "recipients": [
                        {
                            **recipient,
                            "address": "A@x.example",
                            "status": "5.1.1",
                            "reason": "user_unknown",
                            "hard": True,
                        }
                    ],
                },
                "two.eml": {
                    "kind": "dsn",
                    "recipients": [
                        {**recipient, "address": "b@y.example", "status": "5.2.2", "reason": "mailbox_full"},
                        {**recipient, "address": "c@y.example", "status": "5.2.2", "reason": "mailbox_full"},
                    ],
                },
            }
        )
    )
    (tmp_path / "negatives" / "expected.json").write_text(json.dumps({"away.eml": None}))
    return tmp_path


def test_load_cases_knows_which_statuses_are_written(tiny_collection):
    cases = {c.name: c for c in bench.load_cases(tiny_collection)}
    assert set(cases) == {"one.eml", "two.eml", "away.eml"}
    assert cases["away.eml"].expected is None
    assert cases["one.eml"].stated == {"a@x.example"}  # "5.1.1" is in the sample
    assert cases["two.eml"].stated == frozenset()  # "5.2.2" is only implied


def test_tally_counts_each_failed_recipient(tiny_collection):
    cases = bench.load_cases(tiny_collection)
    path = {c.name: c.path for c in cases}
    found = {
        # right on everything (the address in another case, in angle brackets)
        path["one.eml"]: [bench.Found("<a@X.example>", "user_unknown", "5.1.1", True)],
        # b: found, reason in the same coarse group? no: blocked vs mailbox_full; status right, hard right
        # c: not found at all
        path["two.eml"]: [bench.Found("b@y.example", "blocked", "5.2.2", False)],
        path["away.eml"]: [],
    }
    result = bench.tally("reader", cases, found)
    total = result.total
    assert (total.recipients, total.recognised) == (3, 2)
    assert (total.reason_right, total.coarse_right, total.status_exact, total.hard_right) == (1, 1, 2, 2)
    assert (total.stated, total.stated_exact) == (1, 1)
    assert (total.negatives, total.false_positives) == (1, 0)
    assert result.families["mta"].recipients == 3
    assert result.families["negatives"].negatives == 1
    assert len(result.misses) == 2  # b wrong reason, c not recognised
    assert bench.percent(total.recognised, total.recipients).strip() == "66.7 %"


def test_tally_coarse_groups_and_false_positives(tiny_collection):
    cases = bench.load_cases(tiny_collection)
    path = {c.name: c.path for c in cases}
    found = {
        path["one.eml"]: [bench.Found("a@x.example", "has_moved", "5.1.6", True)],  # other ≠ user_unknown
        path["two.eml"]: [
            bench.Found("b@y.example", "mailbox_full", "", False),
            bench.Found("c@y.example", "mailbox_full", "5.2.2", False),
        ],
        path["away.eml"]: [bench.Found("someone@z.example", "vacation"), bench.Found("x@z.example", "undefined")],
    }
    total = bench.tally("reader", cases, found).total
    assert (total.recognised, total.reason_right, total.coarse_right, total.status_exact) == (3, 2, 2, 1)
    assert total.false_positives == 1  # "undefined" is a failure; "vacation" alone would not be


def test_a_crash_is_a_miss_and_is_listed(tiny_collection):
    cases = bench.load_cases(tiny_collection)
    found = {c.path: None for c in cases}  # the reader crashed on every file
    result = bench.tally("reader", cases, found)
    assert result.total.recognised == 0
    assert result.total.false_positives == 0
    assert sorted(result.crashes) == ["mta/one.eml", "mta/two.eml", "negatives/away.eml"]


def test_address_only_reader_counts_recognised_only(tiny_collection):
    cases = bench.load_cases(tiny_collection)
    found = {c.path: [bench.Found("a@x.example"), bench.Found("b@y.example")] for c in cases if c.expected}
    found.update({c.path: [] for c in cases if c.expected is None})
    result = bench.tally("addresses", cases, found, judges_reason=False)
    assert result.total.recognised == 3 - 1  # a in one.eml, b in two.eml; c missed
    assert result.misses == ["mta/two.eml: c@y.example not recognised (want mailbox_full 5.2.2 soft)"]


def test_sisimai_names_and_pseudo_statuses_map_to_ours():
    assert set(bench.SISIMAI_REASONS.values()) - {"vacation"} <= set(Reason)
    assert bench.sisimai_status("5.0.911") == ""
    assert bench.sisimai_status("4.0.947") == ""
    assert bench.sisimai_status("5.1.1") == "5.1.1"
    assert bench.sisimai_status("5.0.0") == "5.0.0"
