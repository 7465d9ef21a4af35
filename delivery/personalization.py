"""Messages whose bytes are made for each recipient (a campaign): the engine asks the app that sent them.

``delivery`` knows nothing of campaigns. A message whose ``SendScope`` names
a campaign has one ``Recipient`` row per person and a blob that is only a
sample; the app that made it registers a ``PerRecipient`` when it loads
(``campaigns.apps``), and the engine asks it, per claim, which of those
messages must not send now, and, per destination, each recipient's bytes.
"""

from typing import Protocol

from mailboxes.models import Message, Recipient


class PerRecipient(Protocol):
    def held(self, campaign_ids: set[int]) -> dict[int, str]:
        """The campaigns among ``campaign_ids`` that must not send now: id → ``"paused"`` or ``"cancelled"``."""

    def render(self, recipients: list[Recipient]) -> dict[int, bytes]:
        """Each recipient's message (unsigned bytes), by recipient id.

        A recipient left out is one whose message cannot be made (the app logs
        why): the engine holds it for an admin (a "failed" event) and sends the rest.
        """

    def top_up(self) -> int:
        """Put the next per-recipient mail that may go now into the outbox; how many recipients it added.

        The bulk queue's delivery asks before each claim, so that the outbox
        never runs dry while its workers deliver (rather than waiting for a
        scheduled task that queues behind them).
        """


class NotRendered(Exception):
    """The app that makes a recipient's message could not make it."""


PAUSED, CANCELLED = "paused", "cancelled"

_registered: PerRecipient | None = None


def register(renderer: PerRecipient) -> None:
    global _registered
    _registered = renderer


def renderer() -> PerRecipient:
    if _registered is None:
        raise RuntimeError("a per-recipient message is due but no app registered its renderer")
    return _registered


def top_up(queue: str) -> int:
    """Before a claim on ``queue``: the registered app adds what may go now (bulk queue only); how many."""
    if queue != Recipient.Queue.BULK or _registered is None:
        return 0
    return _registered.top_up()


def campaign_of(message: Message) -> int | None:
    """The campaign whose recipients each get their own bytes, if ``message`` is one's (its send scope is loaded)."""
    try:
        scope = message.send_scope
    except Message.send_scope.RelatedObjectDoesNotExist:
        return None
    return scope.campaign_id
