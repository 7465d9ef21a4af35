"""``python -m chaos [--short] [SCENARIO ...]``: run the fault scenarios and print what became of every message.

See docs/RELIABILITY.md for what each scenario does and the results.
"""

import argparse
import json
import sys
import time

from chaos.infra import Stack, exit_cleanly_on_sigterm
from chaos.platform import Platform, Tally
from chaos.scenarios import broker_down, disk_full, mx_kill, postgres_down, smtp_storm, worker_kill

SCENARIOS = {
    "kill-worker-1": lambda p, **kw: worker_kill.run(p, recipients=1, **kw),
    "kill-worker-100": lambda p, **kw: worker_kill.run(p, recipients=100, **kw),
    "kill-mx": mx_kill.run,
    "broker-down": broker_down.run,
    "postgres-down": postgres_down.run,
    "smtp-storm": smtp_storm.run,
    "disk-full": disk_full.run,
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], metavar="SCENARIO",
                        help=f"some of: {', '.join(SCENARIOS)} (default: all)")  # fmt: skip
    parser.add_argument("--short", action="store_true", help="small versions (a few minutes in all)")
    parser.add_argument("--lease-seconds", type=int, default=None,
                        help="OUTBOUND_LEASE_SECONDS for the kill scenarios (default: the code's default)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=300, help="bound on each wait for traffic, seconds")
    parser.add_argument("--recovery-bound", type=float, default=240,
                        help="bound on the wait for the queues to empty after a fault, seconds")  # fmt: skip
    parser.add_argument("--seed", type=int, default=12, help="the SMTP storm's fault plan")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, databases)")
    return parser.parse_args(argv)


def print_table(tallies: list[Tally]) -> None:
    header = f"{'scenario':46} {'sent':>6} {'acked':>6} {'once':>6} {'dup':>5} {'lost':>5} {'recovery':>9}"
    print("\n" + header + "\n" + "-" * len(header))
    for t in tallies:
        recovery = "never" if t.recovery_seconds is None else f"{t.recovery_seconds:.1f} s"
        print(f"{t.scenario:46} {t.sent:6} {t.acknowledged:6} {t.delivered_once:6} {t.duplicated:5} {t.lost:5} "
              f"{recovery:>9}")  # fmt: skip
        if t.notes:
            print(f"    {json.dumps(t.notes, default=str)}")


def main(argv=None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_sigterm()
    names = args.scenarios or list(SCENARIOS)
    tallies = []
    with Stack(keep=args.keep) as stack:
        print(f"chaos: working in {stack.folder}", flush=True)
        platform = Platform(stack)
        for name in names:
            started = time.monotonic()
            print(f"chaos: {name} ...", flush=True)
            try:
                tally = SCENARIOS[name](platform, short=args.short, options=args)
            except Exception as exc:  # one broken scenario still lets the others report
                tally = Tally(name, notes={"error": f"{type(exc).__name__}: {exc}"})
            tally.notes["wall_seconds"] = round(time.monotonic() - started)
            tallies.append(tally)
            print_table([tally])
    print_table(tallies)
    if args.json:
        with open(args.json, "w") as out:
            json.dump([t.__dict__ for t in tallies], out, indent=2, default=str)
    return 0 if all(t.lost == 0 and "error" not in t.notes for t in tallies) else 1


if __name__ == "__main__":
    sys.exit(main())
