"""May this submission be accepted now? The checks every send runs before anything is stored.

``delivery.services.submission.send_message`` calls ``admit_submission`` once per
submission (webmail and API alike). Each check raises a ``webmail.errors.UserError``
with a clear message (and ``retry_after`` where waiting helps), so nothing is
silently dropped:

1. a sender whose sending is held (paused, suspended) is refused (``holds``);
2. an unverified sending domain may not send out (``accounts.domain_verification``);
3. the per-user and per-domain quotas (``limits``), counted only when the
   submission is admitted;
4. last, the admitted submission is counted for the compromised-account checks
   (``compromise``), which suspend the account when it looks hijacked: this
   submission is then queued and held with the rest, the next ones refused by 1.
"""

from datetime import datetime

from django.utils import timezone

from accounts.addresses import split_address
from accounts.domain_verification import check_sending_domain
from reputation.services import limits
from reputation.services.compromise import record_submission
from reputation.services.holds import refuse_if_held


def admit_submission(
    *, user, from_address: str, recipient_addresses: list[str], stream: str, now: datetime | None = None
) -> None:
    """Raise a UserError if the submission may not be accepted; count it against the quotas if it may."""
    refuse_inadmissible(user=user, from_address=from_address, recipient_addresses=recipient_addresses)
    count_submission(user=user, from_address=from_address, recipient_addresses=recipient_addresses, now=now)


def refuse_inadmissible(*, user, from_address: str, recipient_addresses: list[str]) -> None:
    """``admit_submission``'s checks that count nothing (1 and 2: holds, the sending domain); reads only."""
    refuse_if_held(user=user, from_address=from_address)
    check_sending_domain(from_address=from_address, recipient_addresses=recipient_addresses)


def count_submission(*, user, from_address: str, recipient_addresses: list[str], now: datetime | None = None) -> None:
    """``admit_submission``'s quotas (3, which may still refuse) and compromise count (4).

    Its writes lock the user's and the domain's count rows until the
    transaction around it commits: ``send_message`` calls it late in the
    transaction that stores the message (before the outbox rows), so the
    counts commit with the message (one commit per send) and the locks are
    held only for the last inserts and the commit.
    """
    now = now or timezone.now()
    limits.check_and_count(  # only an admitted submission is counted
        user=user, from_domain=split_address(from_address)[1], recipient_count=len(recipient_addresses), now=now
    )
    record_submission(user=user, recipient_addresses=recipient_addresses, now=now)  # last: counts admitted ones


def admit_batch(*, user, from_address: str, recipient_lists: list[list[str]], now: datetime | None = None) -> None:
    """``admit_submission`` for a template batch (``campaigns.services.sending``): its messages admitted at once.

    The batch counts as one message per personalization against the quotas, so
    a batch larger than a per-minute limit is refused whole (an admin raises the
    service's own limits, docs/SENDER-LIMITS.md), never half sent.
    """
    every = [address for addresses in recipient_lists for address in addresses]
    refuse_if_held(user=user, from_address=from_address)
    check_sending_domain(from_address=from_address, recipient_addresses=every)
    now = now or timezone.now()
    limits.check_and_count(
        user=user, from_domain=split_address(from_address)[1], recipient_count=len(every), now=now,
        message_count=len(recipient_lists), largest_message=max(map(len, recipient_lists), default=0),
    )  # fmt: skip
    record_submission(user=user, recipient_addresses=every, now=now)


def check_admission(
    *, user, from_address: str, recipient_addresses: list[str], stream: str, now: datetime | None = None
) -> None:
    """Raise what ``admit_submission`` would raise now, counting nothing.

    For a send that happens later: the webmail's Send, which waits out the undo
    window first, tells the user now rather than leave the draft unsent.
    """
    refuse_if_held(user=user, from_address=from_address)
    check_sending_domain(from_address=from_address, recipient_addresses=recipient_addresses)
    now = now or timezone.now()
    limits.check(
        user=user, from_domain=split_address(from_address)[1], recipient_count=len(recipient_addresses), now=now
    )
