"""Reading the reputation figures: sums of a few counter buckets per subject and window.

CONTRACT (issue 16): the ``figures`` helper implements these; the guardrails, the
abuse checks and the admin page call them. Keys: user id as str, domain name,
stream name, campaign id as str, ``core.providers.Provider`` value.
"""

from datetime import datetime

from reputation.figures import Figures, Window


def figures(kind: str, key: str, window: Window, *, now: datetime | None = None) -> Figures:
    """One subject's figures over the window ending ``now``."""
    return figures_many(kind, [key], window, now=now).get(key, Figures())


def figures_many(kind: str, keys, window: Window, *, now: datetime | None = None) -> dict[str, Figures]:
    """Several subjects' figures in one query; ``keys=None``: every subject of that kind with counts."""
    raise NotImplementedError("implemented by the figures part of issue 16")


def series(kind: str, key: str, window: Window, *, now: datetime | None = None) -> list[tuple[datetime, Figures]]:
    """The window cut into buckets (5 minutes for an hour, hours for a day, days for a week or month), in order."""
    raise NotImplementedError("implemented by the figures part of issue 16")
