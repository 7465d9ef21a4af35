"""The broker (redis-server, no persistence) stopped for two minutes (short: 15 s), then started empty.

Every task that was queued is gone with it: the outbox and inbound
reconcilers (Celery beat) must find the work in the database.
"""

from chaos.scenarios.outage import run_with_outage


def run(platform, *, short: bool, options):
    outage = 15 if short else 120
    return run_with_outage(
        platform, name="broker-down", title=f"broker stopped {outage} s (API + SMTP)",
        count=150 if short else 1000, outage=outage, stop=platform.broker.stop, start=platform.broker.start,
        options=options,
    )  # fmt: skip
