"""An SMTP fault storm: the remote MX misbehaves on a fifth of 10,000 transactions (short: 300 sends).

Faults, per transaction, from a seeded plan: 421 at MAIL (and the line
closed), 450/451/452 and 550 at RCPT, 554 after DATA, a stall at RCPT past the
client's timeout, a drop in the middle of DATA, a drop after the final dot.
Settings changed from the defaults, so that retries come in minutes rather
than hours: SMTP_TIMEOUT=5, OUTBOUND_RETRY_BASE_SECONDS=1,
OUTBOUND_RETRY_MAX_SECONDS=5. A recipient given a 5xx is accounted for
(bounced, as it should be), not lost. A drop after the dot may leave one
duplicate each (the remote kept the message; the client never heard so).
"""

import time

from chaos.platform import Clients, Tally, api_send, expand_api_keys, outbound_jobs
from chaos.sink import CountingSink, FaultPlan

FAULT_WEIGHTS = {"421": 2, "450": 2, "451": 2, "452": 2, "550": 1, "554": 1,
                 "stall": 0.3, "drop-mid-data": 2, "drop-after-dot": 1}  # fmt: skip


def run(platform, *, short: bool, options) -> Tally:
    count = 300 if short else 10_000
    sink = CountingSink(faults=FaultPlan(rate=0.2, kinds=FAULT_WEIGHTS, seed=options.seed), stall_seconds=8)
    platform.prepare("smtp-storm", sink=sink, SMTP_TIMEOUT=5, OUTBOUND_RETRY_BASE_SECONDS=1,
                     OUTBOUND_RETRY_MAX_SECONDS=5)  # fmt: skip
    platform.start_web()
    platform.start_worker("delivery-a", queues="transactional", concurrency=2)
    platform.start_worker("delivery-b", queues="transactional", concurrency=2)
    platform.start_beat()
    clients = Clients(count=8).run(outbound_jobs(count), api_send(platform.api_port, platform.api_token))
    tally = Tally(f"SMTP fault storm ({count} sends, 20% faulty)", sent=count)
    clients.join(options.timeout * 4)
    last_ack = time.monotonic()
    quiet = platform.wait_quiescent(timeout=options.recovery_bound * 4)
    rejected = {key for key in expand_api_keys(clients.acknowledged) if key[1] in sink.rejected}
    tally.add_counts(expand_api_keys(clients.acknowledged), sink.deliveries, accounted_otherwise=rejected)
    tally.recovery_seconds = max(0.0, sink.last_delivery - last_ack) if quiet else None
    tally.notes.update(
        bounced_by_5xx=len(rejected), drops_after_dot=sink.dropped_after_dot, statuses=platform.outbound_statuses(),
        recovery="from the last 202 to the last delivery (the faults never end)",
    )  # fmt: skip
    return tally
