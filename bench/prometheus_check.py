"""The issue's "Done when", end to end: a real Prometheus scrapes every process and shows each metric.

    python bench/prometheus_check.py [--messages 40] [--keep]

Starts, with the fault harness' machinery (chaos/, a private PostgreSQL and Redis): gunicorn (2 workers),
the MX (runsmtpd), Celery workers for the outbound and inbound queues, and beat, all sharing one
METRICS_DIR; sends real mail through the API (to a loopback remote MX) and through the MX (to local
mailboxes); then starts Debian's Prometheus on a free loopback port scraping gunicorn's /metrics with
the bearer token, and prints which metric of core.metrics (and of the database collectors) Prometheus
holds, with its total. Exits 1 if one is missing. Also runs ``promtool check metrics`` on one scrape.
See docs/ALERTS.md.
"""

import argparse
import contextlib
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOKEN = "bench-scrape-token"  # noqa: S105 - a throwaway token for a private run


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40, help="messages sent each way")
    parser.add_argument("--timeout", type=float, default=180, help="bound on each wait, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, Prometheus data)")
    return parser.parse_args(argv)


def expected_series():
    """Metric name -> the name of one series Prometheus stores for it."""
    from prometheus_client.metrics import MetricWrapperBase

    from core import metrics
    from tests.support.prometheus import DATABASE_GAUGES

    names = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            names[value._name] = value._name + {"counter": "_total", "histogram": "_count"}.get(value._type, "")
    names.update({gauge: gauge for gauge in DATABASE_GAUGES})
    return names


def _pause_between_tries(left: float) -> None:
    """This script's scrapes land in other processes, so there is no event to wait on: a short pause between tries."""
    time.sleep(min(0.2, left))


def main(argv=None) -> int:
    args = parse_args(argv)
    from chaos.infra import Stack, exit_cleanly_on_sigterm, wait_until
    from chaos.platform import Clients, api_send, inbound_jobs, outbound_jobs, smtp_send
    from chaos.sink import CountingSink
    from tests.support.prometheus import PrometheusServer, require

    exit_cleanly_on_sigterm()
    with Stack(keep=args.keep) as stack:
        from chaos.platform import Platform

        platform = Platform(stack)
        env = platform.prepare("prometheus-check", sink=CountingSink(), METRICS_TOKEN=TOKEN)
        print(f"METRICS_DIR shared by every process: {env['VAR_DIR']}/metrics")
        web_port = platform.start_web()
        mx_port = platform.start_mx()
        platform.start_worker("delivery", queues="transactional,bulk,default", concurrency=2)
        platform.start_worker("inbound", queues="inbound,search,default", concurrency=2)
        platform.start_beat()

        api = Clients(count=2).run(outbound_jobs(args.messages), api_send(web_port, platform.api_token))
        smtp = Clients(count=2).run(inbound_jobs(args.messages), smtp_send(mx_port))
        api.join(args.timeout)
        smtp.join(args.timeout)
        quiet = platform.wait_quiescent(timeout=args.timeout, outbound=True, inbound=True)
        print(f"sent: {len(api.acknowledged)} by the API, {len(smtp.acknowledged)} to the MX; queues empty: {quiet}")

        scrape = Path(stack.folder) / "scrape.txt"
        request = urllib.request.Request(
            f"http://127.0.0.1:{web_port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            scrape.write_bytes(response.read())
        check = subprocess.run(  # noqa: S603 - a fixed binary and arguments
            [require("promtool"), "check", "metrics"], stdin=scrape.open("rb"), capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        print(f"promtool check metrics: {'ok' if check.returncode == 0 else 'FAILED'}")
        if check.stdout.strip() or check.stderr.strip():
            print(check.stdout + check.stderr)

        with PrometheusServer(
            stack.folder / "prometheus", {"webmail": [f"127.0.0.1:{web_port}"]}, token=TOKEN, wait=_pause_between_tries
        ) as prometheus:
            prometheus.wait_until_up("webmail")
            wanted = expected_series()
            with contextlib.suppress(TimeoutError):  # the table shows which are missing
                wait_until(lambda: set(wanted.values()) <= prometheus.metric_names(), timeout=30,
                           what="every metric in Prometheus")  # fmt: skip
            seen = prometheus.metric_names()
            missing = []
            print(f"\n{'metric':48} {'in Prometheus':>14} {'total':>12}")
            for name, series in sorted(wanted.items()):
                total = prometheus.query(f"sum({series})")
                value = f"{total[0][1]:g}" if total else "-"
                present = series in seen
                if not present:
                    missing.append(name)
                print(f"{name:48} {'yes' if present else 'MISSING':>14} {value:>12}")
            alerts = prometheus.api("alerts")["alerts"]
            states = ", ".join(f"{a['labels']['alertname']} ({a['state']})" for a in alerts) or "none"
            print(f"\nalerts of deploy/prometheus/alerts.yml pending or firing: {states}")
        if missing:
            print(f"\nmissing: {', '.join(missing)} (no process produced a sample of it during this run)")
        return 1 if missing or check.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
