"""The harness's own PostgreSQL cluster stopped for 20 s (short: 5 s) under inbound and outbound load.

``pg_ctl stop -m fast`` cuts every connection; the API and the MX must refuse
(5xx / 4xx) rather than acknowledge what they could not store, and workers
must reconnect by themselves after ``pg_ctl start``.
"""

from chaos.scenarios.outage import run_with_outage


def run(platform, *, short: bool, options):
    outage = 5 if short else 20

    def stop():
        from django.db import connections

        connections.close_all()
        platform.postgres.stop(mode="fast")

    return run_with_outage(
        platform, name="postgres-down", title=f"PostgreSQL stopped {outage} s (in + out)",
        count=150 if short else 1000, outage=outage, stop=stop, start=platform.postgres.start, options=options,
    )  # fmt: skip
