"""The blob store's disk fills up during inbound: the mailstore is a small tmpfs.

The MX's MAILSTORE_DIR is a tmpfs of 2 MiB (short: 1 MiB) and clients send
messages of 40 KiB, about three times what fits. The MX must answer 4xx
(never 250) to what it cannot store; clients keep retrying. Once the clients
have been refused (or cut off) 20 times, the tmpfs is grown to
256 MiB (``mount -o remount``), which ends the fault. Needs root (mount); the
scenario is recorded as not runnable otherwise.
"""

import os
import subprocess

from chaos.infra import wait_until
from chaos.platform import Clients, Tally, inbound_jobs, now_utc, smtp_send
from chaos.sink import CountingSink


def _mount(folder, size: str, *, remount: bool = False) -> None:
    options = f"remount,size={size}" if remount else f"size={size},mode=0777"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True, capture_output=True)  # noqa: S603, S607


def run(platform, *, short: bool, options) -> Tally:
    tally = Tally("blob store disk full (inbound)")
    if os.geteuid() != 0:
        tally.notes["not_runnable"] = "mounting a tmpfs needs root"
        return tally
    count = 75 if short else 150
    size = "1m" if short else "2m"
    platform.prepare("disk-full", sink=CountingSink())
    mailstore = platform.stack.folder / "disk-full" / "mailstore"
    mailstore.mkdir(parents=True, exist_ok=True)
    try:
        _mount(mailstore, size)
    except subprocess.CalledProcessError as exc:
        tally.notes["not_runnable"] = f"mount failed: {exc.stderr.decode(errors='replace').strip()}"
        return tally
    platform.stack.on_close(lambda: subprocess.run(["umount", "-l", str(mailstore)], check=False))  # noqa: S603, S607
    port = platform.start_mx()
    platform.start_worker("inbound", queues="inbound,default", concurrency=2)
    platform.start_beat()
    body = ("chaos harness filling the disk " * 40 + "\n") * 34  # about 40 KiB
    clients = Clients(count=4).run(inbound_jobs(count, body=body), smtp_send(port))
    tally.sent = count
    wait_until(lambda: sum(clients.failures.values()) + clients.refusals >= 20 or clients.done,
               timeout=options.timeout, what="the disk to fill")  # fmt: skip
    tally.notes["refused_while_full"] = clients.refusals
    tally.notes["errors_while_full"] = dict(clients.failures)
    _mount(mailstore, "256m", remount=True)
    grown = now_utc()
    platform.settle_inbound(clients, tally, since=grown, options=options)
    tally.notes["pending_at_end"] = platform.inbound_pending()
    return tally
