"""The reputation metrics and the rates computed from them (pure: no database here).

Counted per recipient outcome (``reputation.services.figures`` keeps the counters):

- ``delivered``: accepted by the recipient's server (or placed in a local mailbox);
- ``bounced_hard``: refused for good, the address or domain will never work (suppressed);
- ``bounced_soft``: refused for another reason (policy, content, mailbox full…);
- ``expired``: given up after the queue lifetime of temporary failures; never a hard bounce;
- ``deferred``: a temporary failure (one per attempt that failed temporarily);
- ``complained``: the recipient reported the mail as spam (ARF, provider feedback loops);
- ``unknown_user``: among the bounces, the ones whose reason is user_unknown.

``sent`` is every final outcome (delivered + bounced + expired): the denominator
of the bounce rates, as the providers count them.
"""

from dataclasses import dataclass, fields
from enum import StrEnum

METRICS = ("delivered", "bounced_hard", "bounced_soft", "expired", "deferred", "complained", "unknown_user")


class Window(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


WINDOW_SECONDS = {Window.HOUR: 3600, Window.DAY: 86400, Window.WEEK: 7 * 86400, Window.MONTH: 30 * 86400}
WINDOW_LABELS = {Window.HOUR: "Last hour", Window.DAY: "Last 24 hours", Window.WEEK: "Last 7 days",
                 Window.MONTH: "Last 30 days"}  # fmt: skip


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass(frozen=True)
class Figures:
    delivered: int = 0
    bounced_hard: int = 0
    bounced_soft: int = 0
    expired: int = 0
    deferred: int = 0
    complained: int = 0
    unknown_user: int = 0

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> "Figures":
        return cls(**{name: int(counts.get(name, 0) or 0) for name in METRICS})

    def __add__(self, other: "Figures") -> "Figures":
        return Figures(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def bounced(self) -> int:
        return self.bounced_hard + self.bounced_soft

    @property
    def sent(self) -> int:
        return self.delivered + self.bounced + self.expired

    @property
    def delivery_rate(self) -> float:
        return _rate(self.delivered, self.sent)

    @property
    def bounce_rate(self) -> float:
        return _rate(self.bounced, self.sent)

    @property
    def hard_bounce_rate(self) -> float:
        return _rate(self.bounced_hard, self.sent)

    @property
    def soft_bounce_rate(self) -> float:
        return _rate(self.bounced_soft, self.sent)

    @property
    def expired_rate(self) -> float:
        return _rate(self.expired, self.sent)

    @property
    def complaint_rate(self) -> float:
        """Complaints per delivered message (what Gmail's and Yahoo's spam rate measures)."""
        return _rate(self.complained, self.delivered)

    @property
    def deferral_rate(self) -> float:
        """Temporary failures per delivery attempt."""
        return _rate(self.deferred, self.sent + self.deferred)

    @property
    def unknown_user_rate(self) -> float:
        return _rate(self.unknown_user, self.sent)
