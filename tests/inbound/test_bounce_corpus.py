"""Every sample of the bounce corpus (tests/samples/bounces/corpus) reads as its expected.json says."""

import json
from pathlib import Path

import pytest

from inbound.bounces import parse_report

CORPUS = Path(__file__).resolve().parent.parent / "samples" / "bounces" / "corpus"


def _cases():
    for expected_file in sorted(CORPUS.glob("*/expected.json")):
        for name, expected in json.loads(expected_file.read_text()).items():
            yield pytest.param(expected_file.parent / name, expected, id=f"{expected_file.parent.name}/{name}")


CASES = list(_cases())


@pytest.mark.parametrize(("sample", "expected"), CASES)
def test_sample_reads_as_expected(sample, expected):
    report = parse_report(sample.read_bytes())
    if expected is None:
        assert report is None, f"{sample.name} is not a bounce, but read as {report}"
        return
    assert report is not None, f"{sample.name} was not recognised"
    assert report.kind == expected["kind"]
    found = [
        {"address": r.address.lower(), "action": r.action, "status": r.status, "reason": str(r.reason), "hard": r.hard}
        for r in report.recipients
    ]
    wanted = [{**r, "address": r["address"].lower()} for r in expected["recipients"]]
    assert found == wanted


def test_every_sample_has_an_expectation():
    listed = {(p.parent.name, p.name) for p, _ in (c.values for c in CASES)}
    on_disk = {(p.parent.name, p.name) for p in CORPUS.glob("*/*.eml")}
    assert on_disk - listed == set(), "samples without an entry in their folder's expected.json"
    assert listed - on_disk == set(), "expected.json entries without a sample"
