#!/usr/bin/env python
"""Spam filter evaluation: train on half of a corpus as users do, score the other half.

    python bench/spam_eval.py                                   # generated corpus, 1,000 spam + 1,000 ham, seed 2
    python bench/spam_eval.py --spam corpus/spam --ham corpus/easy_ham --ham corpus/hard_ham
    python bench/spam_eval.py --spam spam.mbox --ham ham.mbox --db postgres
    python bench/spam_eval.py --help

``--spam`` and ``--ham`` take folders of one message per file (SpamAssassin's
public corpus as unpacked: its ``cmds`` files are skipped) or mbox files, as
often as needed. Without them a synthetic corpus is generated
(``bench/spam_corpus.py``, ``--seed``): its numbers reproduce, but say
nothing about real mail.

What it does, in a temporary folder removed at the end:

1. migrates a throwaway database (SQLite, or ``--db postgres``);
2. shuffles each class with ``--split-seed`` and takes ``--train-fraction``
   of it for training: each message is delivered to one user's mailbox and
   marked as spam (from the inbox) or not spam (from Spam) through
   ``mailboxes.services.mark_spam`` / ``mark_not_spam``, the user actions
   that train the filter;
3. scores the rest with the configured spam filter (the built-in one, its
   default threshold and ``BAYES_MIN_MESSAGES``), with no SPF/DKIM/DMARC
   results (a corpus has none that can be checked offline);
4. prints precision, recall, F1 and the share of ham flagged (false
   positives) for the combined score at the threshold, for the Bayes
   classifier alone (p >= 0.5) and for the rules alone, and the signals most
   often seen in the mistakes.
"""

import argparse
import json
import mailbox
import random
import secrets
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.spam_corpus import CorpusGenerator  # noqa: E402
from bench.throwaway import ThrowawayDatabase, setup_django  # noqa: E402

SKIPPED_FILES = {"cmds"}  # SpamAssassin's corpus folders list their messages in one


def read_messages(paths: list[str]) -> list[bytes]:
    """Every message under these folders (one per file, or mbox files) and mbox files."""
    messages = []
    for path in map(Path, paths):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.name in SKIPPED_FILES:
                continue
            data = file.read_bytes()
            if data.startswith(b"From ") and b"\nFrom " in data:
                messages += [m.as_bytes() for m in mailbox.mbox(str(file), create=False)]
            elif data.strip():
                messages.append(data)
    return messages


def train(user, raws: list[bytes], *, is_spam: bool) -> None:
    """As the user would: spam reported from the inbox, ham rescued from Spam."""
    from mailboxes.models import Folder
    from mailboxes.services import mark_not_spam, mark_spam
    from mailboxes.services.placement import place_message
    from mailboxes.services.store import store_message

    for raw in raws:
        message, _ = store_message(raw=raw)
        item = place_message(user=user, message=message, folder=Folder.INBOX if is_spam else Folder.SPAM)
        (mark_spam if is_spam else mark_not_spam)(user=user, item_ids=[item.pk])


def score(user, raws: list[bytes]) -> list:
    from inbound.filters.spam import get_spam_filter
    from mailboxes.parsing import parse_message

    spam_filter = get_spam_filter()
    with spam_filter.batch():
        return [spam_filter.score(raw=raw, parsed=parse_message(raw), auth={}, user=user) for raw in raws]


def rates(flagged_spam: list[bool], flagged_ham: list[bool]) -> dict:
    tp, fn = sum(flagged_spam), len(flagged_spam) - sum(flagged_spam)
    fp = sum(flagged_ham)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    ham_fp = fp / len(flagged_ham) if flagged_ham else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "ham_fp": ham_fp, "fp": fp, "fn": fn}


# The Bayes points before issue 12 (BAYES_99 +3.5 whatever the threshold), for comparison.
PREVIOUS_BAYES_POINTS = [(0.99, 3.5), (0.95, 3.0), (0.80, 2.0), (0.60, 1.0), (0.40, 0.0), (0.20, -0.5),
                         (0.05, -1.0), (0.01, -1.5), (0.00, -2.0)]  # fmt: skip


def previous_score(verdict) -> float:
    if verdict.bayes is None:
        return rule_points(verdict)
    return rule_points(verdict) + next(points for low, points in PREVIOUS_BAYES_POINTS if verdict.bayes >= low)


def rule_points(verdict) -> float:
    return sum(s["points"] for s in verdict.signals if not s["name"].startswith("BAYES_"))


def mistakes(verdicts) -> list[tuple[str, int]]:
    return Counter(s["name"] for v in verdicts for s in v.signals).most_common(8)


def bands(verdicts) -> dict[str, int]:
    """How many messages fell in each Bayes band (``none``: the classifier did not take part)."""
    found = Counter(next((s["name"] for s in v.signals if s["name"].startswith("BAYES_")), "none") for v in verdicts)
    return dict(sorted(found.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spam", action="append", default=[], help="folder or mbox of spam (repeatable)")
    parser.add_argument("--ham", action="append", default=[], help="folder or mbox of ham (repeatable)")
    parser.add_argument("--generate", type=int, default=1000, help="without --spam/--ham: messages of each class")
    parser.add_argument("--seed", type=int, default=2, help="the generated corpus's seed")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--train-fraction", type=float, default=0.5)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()

    if bool(args.spam) != bool(args.ham):
        parser.error("give both --spam and --ham, or neither (a generated corpus)")
    if args.spam:
        spam, ham = read_messages(args.spam), read_messages(args.ham)
        corpus = f"{len(spam)} spam from {', '.join(args.spam)}; {len(ham)} ham from {', '.join(args.ham)}"
    else:
        generator = CorpusGenerator(args.seed)
        spam, ham = generator.spam(args.generate), generator.ham(args.generate)
        corpus = f"SYNTHETIC: bench/spam_corpus.py seed {args.seed}, {len(spam)} spam + {len(ham)} ham"
    split = random.Random(args.split_seed)
    split.shuffle(spam)
    split.shuffle(ham)
    cut_spam, cut_ham = int(len(spam) * args.train_fraction), int(len(ham) * args.train_fraction)

    with tempfile.TemporaryDirectory(prefix="bench-spam-") as folder:
        tmp = Path(folder)
        database = ThrowawayDatabase(args, tmp, prefix="bench_spam")
        try:
            setup_django(database.url, tmp, unset=("RSPAMD_URL",), CELERY_TASK_ALWAYS_EAGER="true")
            from django.core.management import call_command

            from accounts.models import User

            call_command("createdomain", "corp.example", verbosity=0)
            call_command("createmailuser", "eval@corp.example", "--password", secrets.token_urlsafe(12), verbosity=0)
            user = User.objects.get(username="eval@corp.example")
            print(f"corpus: {corpus}", file=sys.stderr)
            print(f"training on {cut_spam} spam and {cut_ham} ham ...", file=sys.stderr)
            train(user, spam[:cut_spam], is_spam=True)
            train(user, ham[:cut_ham], is_spam=False)
            print(f"scoring {len(spam) - cut_spam} spam and {len(ham) - cut_ham} ham ...", file=sys.stderr)
            spam_verdicts, ham_verdicts = score(user, spam[cut_spam:]), score(user, ham[cut_ham:])
        finally:
            database.drop()

    threshold = spam_verdicts[0].threshold if spam_verdicts else 0.0
    results = {
        "corpus": corpus,
        "threshold": threshold,
        "combined": rates([v.is_spam for v in spam_verdicts], [v.is_spam for v in ham_verdicts]),
        "bayes_alone": rates(
            [(v.bayes or 0) >= 0.5 for v in spam_verdicts], [(v.bayes or 0) >= 0.5 for v in ham_verdicts]
        ),
        "rules_alone": rates(
            [rule_points(v) >= threshold for v in spam_verdicts], [rule_points(v) >= threshold for v in ham_verdicts]
        ),
        "bayes_bands": {
            "spam": bands(spam_verdicts),
            "ham": bands(ham_verdicts),
        },
        "previous_calibration": rates(
            [previous_score(v) >= threshold for v in spam_verdicts],
            [previous_score(v) >= threshold for v in ham_verdicts],
        ),
        "false_positive_signals": mistakes([v for v in ham_verdicts if v.is_spam]),
        "false_negative_signals": mistakes([v for v in spam_verdicts if not v.is_spam]),
    }
    print(f"\n{corpus}; threshold {threshold}")
    print(f"{'':24} {'precision':>9} {'recall':>7} {'F1':>7} {'ham FP':>8} {'FP':>5} {'FN':>5}")
    for name in ("combined", "bayes_alone", "rules_alone", "previous_calibration"):
        r = results[name]
        print(
            f"{name.replace('_', ' '):24} {r['precision']:9.4f} {r['recall']:7.4f} {r['f1']:7.4f} "
            f"{r['ham_fp']:8.2%} {r['fp']:5d} {r['fn']:5d}"
        )
    print(f"Bayes bands, spam: {results['bayes_bands']['spam']}")
    print(f"Bayes bands, ham:  {results['bayes_bands']['ham']}")
    print(f"signals in false positives: {results['false_positive_signals']}")
    print(f"signals in false negatives: {results['false_negative_signals']}")
    if args.json:
        results["messages"] = [  # [is spam, Bayes probability, rule points] of each scored message, for tuning
            [is_spam, v.bayes, round(rule_points(v), 2)]
            for is_spam, verdicts in ((True, spam_verdicts), (False, ham_verdicts))
            for v in verdicts
        ]
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
