"""A dependency stopped for a while under inbound and outbound load: what the broker and PostgreSQL scenarios share.

Four API clients and four SMTP clients send throughout. When a third of all
messages are acknowledged, ``stop()`` runs; ``outage`` seconds later,
``start()``. Clients retry what was not acknowledged (the API with the same
Idempotency-Key). Every 202 must reach the sink once, every 250 one mailbox.
"""

import time

from chaos.infra import wait_until
from chaos.platform import Clients, Tally, api_send, expand_api_keys, inbound_jobs, now_utc, outbound_jobs, smtp_send
from chaos.sink import CountingSink


def run_with_outage(platform, *, name: str, title: str, count: int, outage: float, stop, start, options) -> Tally:
    sink = CountingSink()
    platform.prepare(name, sink=sink)
    platform.start_web()
    mx_port = platform.start_mx()
    platform.start_worker("delivery", queues="transactional", concurrency=2)
    platform.start_worker("inbound", queues="inbound,default", concurrency=2)
    platform.start_beat()
    api = Clients(count=4).run(outbound_jobs(count), api_send(platform.api_port, platform.api_token))
    smtp = Clients(count=4).run(inbound_jobs(count), smtp_send(mx_port))
    tally = Tally(title, sent=2 * count)
    wait_until(lambda: len(api.acknowledged) + len(smtp.acknowledged) >= 2 * count // 3,
               timeout=options.timeout, what="a third acknowledged")  # fmt: skip
    stop()
    time.sleep(outage)  # the fault itself lasts this long
    start()
    restarted, restarted_at = time.monotonic(), now_utc()
    api.join(options.timeout)
    smtp.join(options.timeout)
    quiet = platform.wait_quiescent(timeout=options.recovery_bound, outbound=True, inbound=True)
    tally.add_counts(expand_api_keys(api.acknowledged), sink.deliveries)
    tally.add_counts(smtp.acknowledged, platform.inbound_copies())
    if quiet:
        # Recovery: until everything acknowledged before the restart had arrived. The clients go on
        # sending the rest of the load afterwards; when that is through too is the drain time.
        acked_before = expand_api_keys({key for key, at in api.acknowledged_at.items() if at < restarted})
        ends = [sink.first_delivered_at.get(key, restarted) - restarted for key in acked_before]
        last_in = platform.last_inbound_processed(received_before=restarted_at)
        if last_in:
            ends.append((last_in - restarted_at).total_seconds())
        tally.recovery_seconds = max(0.0, *ends)
        drained = [sink.last_delivery - restarted]
        if drained_in := platform.last_inbound_processed():
            drained.append((drained_in - restarted_at).total_seconds())
        tally.notes["drained_seconds"] = round(max(0.0, *drained), 1)
    tally.notes.update(
        api_refused=api.refusals, api_errors=dict(api.failures), smtp_refused=smtp.refusals,
        smtp_errors=dict(smtp.failures),
        pending_out=platform.outbound_pending(), pending_in=platform.inbound_pending(),
    )  # fmt: skip
    return tally
