#!/usr/bin/env python
"""How the bounce reader does on the team's own corpus (tests/samples/bounces/corpus), folder by folder.

    python bench/bounce_corpus.py              # a table per folder and the totals
    python bench/bounce_corpus.py --misses     # and every sample that is not read exactly as labelled

For each sample labelled a bounce: recognised (a report of the right kind),
recipients found (addresses and actions as labelled), status exact, reason
right, hard/soft right (all per recipient); for each negative (auto-replies,
read receipts…): not read as a bounce. These are the samples the readers were
written against, so the figures say what the code does on known formats;
the held-out collection measures it on mail it was not tuned on.
"""

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "samples" / "bounces" / "corpus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the samples not read exactly as labelled")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")
    import django

    django.setup()
    from inbound.bounces import parse_report

    totals: Counter = Counter()
    misses = []
    print(f"{'folder':<18}{'samples':>8}{'recognised':>12}{'recipients':>12}{'status':>8}{'reason':>8}{'hard':>6}")
    for expected_file in sorted(CORPUS.glob("*/expected.json")):
        counts: Counter = Counter()
        for name, expected in json.loads(expected_file.read_text()).items():
            report = parse_report((expected_file.parent / name).read_bytes())
            tag = f"{expected_file.parent.name}/{name}"
            counts["samples"] += 1
            if expected is None:
                counts["negatives"] += 1
                counts["negatives right"] += report is None
                if report is not None:
                    misses.append(f"{tag}: read as a bounce")
                continue
            counts["bounces"] += 1
            if report is None or report.kind != expected["kind"]:
                misses.append(f"{tag}: not recognised")
                counts["recipients"] += len(expected["recipients"])
                continue
            counts["recognised"] += 1
            found = {r.address.lower(): r for r in report.recipients}
            for wanted in expected["recipients"]:
                counts["recipients"] += 1
                got = found.get(wanted["address"].lower())
                if got is None or got.action != wanted["action"]:
                    misses.append(f"{tag}: {wanted['address']} not found as {wanted['action']}")
                    continue
                counts["recipients found"] += 1
                counts["status"] += got.status == wanted["status"]
                counts["reason"] += str(got.reason) == wanted["reason"]
                counts["hard"] += got.hard == wanted["hard"]
                if (got.status, str(got.reason), got.hard) != (wanted["status"], wanted["reason"], wanted["hard"]):
                    misses.append(
                        f"{tag}: {wanted['address']} {got.status} {got.reason} hard={got.hard}, labelled "
                        f"{wanted['status']} {wanted['reason']} hard={wanted['hard']}"
                    )
        totals.update(counts)
        _row(expected_file.parent.name, counts)
    print("-" * 72)
    _row("all", totals)
    print(f"negatives not read as bounces: {totals['negatives right']} / {totals['negatives']}")
    if args.misses:
        print("\n".join(["", *misses]) if misses else "\nevery sample reads as labelled")


def _row(name: str, counts: Counter) -> None:
    def share(key: str, of: str) -> str:
        return f"{100 * counts[key] / counts[of]:.0f}%" if counts[of] else "-"

    columns = [
        f"{name:<18}{counts['samples']:>8}",
        f"{share('recognised', 'bounces'):>12}",
        f"{share('recipients found', 'recipients'):>12}",
        f"{share('status', 'recipients'):>8}",
        f"{share('reason', 'recipients'):>8}",
        f"{share('hard', 'recipients'):>6}",
    ]
    print("".join(columns))


if __name__ == "__main__":
    main()
