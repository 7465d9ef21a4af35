"""kill -9 of a delivery worker in the middle of a claim, with 1 and with 100 recipients per message.

The sink holds the Nth SMTP transaction (the final dot read, no reply): at that
moment the worker is inside a claim, with earlier transactions of the same
claim already answered 250. The harness kills the worker's whole process group
with SIGKILL, starts a replacement (as a supervisor would) and lets the held
transaction go; the reconciler (Celery beat) must hand the dead claim's
recipients back. The dead worker had one SMTP transaction in flight (the held
one, never counted as delivered), so duplicates beyond it are the claim's
already-sent recipients sent again.
"""

import time

from chaos.platform import Clients, Tally, api_send, expand_api_keys, outbound_jobs
from chaos.sink import CountingSink

SIZES = {  # recipients per message -> messages (short, full)
    1: (40, 400),
    100: (3, 20),
}


def run(platform, *, short: bool, options, recipients: int) -> Tally:
    messages = SIZES[recipients][0 if short else 1]
    total = messages * recipients
    # Inside the first claims: half way through the first batch of a 100-recipient message,
    # or the 11th one-recipient message.
    hold_at = 50 if recipients == 100 else 11
    sink = CountingSink(hold_at=hold_at)
    settings = {"OUTBOUND_LEASE_SECONDS": options.lease_seconds} if options.lease_seconds else {}
    platform.prepare(f"kill-worker-{recipients}", sink=sink, **settings)
    platform.start_web()
    platform.start_worker("delivery", queues="transactional", concurrency=1)
    platform.start_beat()
    clients = Clients(count=4).run(
        outbound_jobs(messages, recipients=recipients), api_send(platform.api_port, platform.api_token)
    )
    tally = Tally(f"kill -9 delivery worker mid-claim ({recipients} rcpt/msg)", sent=total)
    if not sink.reached.wait(options.timeout):
        tally.notes["error"] = f"the sink's transaction {hold_at} never came"
        return tally
    platform.services["delivery"].kill9()
    killed_at = time.monotonic()
    sink.release()
    platform.start_worker("delivery", queues="transactional", concurrency=1)
    clients.join(options.timeout)
    quiet = platform.wait_quiescent(timeout=options.recovery_bound)
    tally.add_counts(expand_api_keys(clients.acknowledged), sink.deliveries)
    tally.recovery_seconds = max(0.0, sink.last_delivery - killed_at) if quiet else None
    tally.notes.update(in_flight=1, pending_at_end=platform.outbound_pending(), statuses=platform.outbound_statuses())
    return tally
