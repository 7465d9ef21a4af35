"""kill -9 of the MX (runsmtpd) while 8 clients send it 2,000 messages.

When half the messages are acknowledged, the MX's process group is killed
with SIGKILL and a new MX is started on the same port (a supervisor's
restart). Clients retry every message that got no 250, as a sending MTA
does. Every 250 must end in exactly one mailbox item.
"""

import time

from chaos.infra import wait_until
from chaos.platform import Clients, Tally, inbound_jobs, now_utc, smtp_send
from chaos.sink import CountingSink


def run(platform, *, short: bool, options) -> Tally:
    count = 200 if short else 2000
    platform.prepare("kill-mx", sink=CountingSink())
    port = platform.start_mx()
    platform.start_worker("inbound", queues="inbound,default", concurrency=2)
    platform.start_beat()
    clients = Clients(count=8).run(inbound_jobs(count), smtp_send(port))
    tally = Tally("kill -9 MX under load (8 clients)", sent=count)
    wait_until(lambda: len(clients.acknowledged) >= count // 2 or clients.done, timeout=options.timeout,
               what="half the messages acknowledged")  # fmt: skip
    platform.services["mx"].kill9()
    killed = time.monotonic()
    platform.start_mx(port)
    tally.notes["mx_down_seconds"] = round(time.monotonic() - killed, 1)
    restarted = now_utc()
    # Recovery: until every message stored before the restart was processed (the clients go on
    # sending the rest of the load, which is not recovery).
    platform.settle_inbound(clients, tally, since=restarted, options=options, backlog_only=True)
    tally.notes.update(
        refused=clients.refusals, client_errors=dict(clients.failures), pending_at_end=platform.inbound_pending()
    )
    return tally
