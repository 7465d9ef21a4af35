"""A daemon thread that calls a function at a fixed interval until stopped: the mechanics of a lease heartbeat.

Used as a context manager around the work the lease covers. A beat that raises
is logged and the next one tries again (a database hiccup must not end the
heartbeat); the thread closes its own database connections when it stops.
"""

import logging
import threading
from collections.abc import Callable

from django.db import connections, transaction
from django.db.models import QuerySet

from core.lookups import any_of

logger = logging.getLogger(__name__)


def extend_held_leases(held: QuerySet, *, until) -> int:
    """Move ``lease_expires_at`` of the rows of ``held`` (those a worker still holds) to ``until``; how many.

    Rows locked right now (being finished, recorded or given back) are skipped
    rather than waited for, so a heartbeat never deadlocks with its own worker;
    rows that left ``held`` (done, or taken back: a lease once lost is never
    renewed) are left alone.
    """
    with transaction.atomic():
        pks = list(held.select_for_update(skip_locked=True).values_list("pk", flat=True))
        if not pks:
            return 0
        return held.model.objects.filter(any_of("pk", pks)).update(lease_expires_at=until)


class Heartbeat:
    def __init__(self, beat: Callable[[], object], *, interval: float, name: str):
        self.beat = beat
        self.interval = interval
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    self.beat()
                except Exception:  # the next beat may do
                    logger.exception("heartbeat %s: a beat failed", self._thread.name)
        finally:
            connections.close_all()  # this thread's own connections
