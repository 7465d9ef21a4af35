"""Mail to ``unsubscribe@<hosted domain>``: the mailto: half of List-Unsubscribe (RFC 2369).

Recognised by its address, like bounces to VERP addresses (``inbound.bounces``),
before placement: it is never placed in a mailbox, whether or not a user owns
that address. Its subject carries the token of the message it answers
("unsubscribe <token>"), which unsubscribes as the one-click POST does. A
message without a valid token, or with a token of another hosted domain, is
dropped and logged: nobody is told an address exists.
"""

import logging
from email import policy
from email.parser import BytesHeaderParser

from accounts.addresses import split_address
from campaigns.services.unsubscribe import subscription_of, unsubscribe
from campaigns.unsubscribe import BadToken, is_unsubscribe_address, read_token, token_from_subject
from delivery.models import Suppression

logger = logging.getLogger(__name__)

__all__ = ["handle_unsubscribe_mail", "is_unsubscribe_address"]


def handle_unsubscribe_mail(*, raw: bytes, address: str) -> Suppression | None:
    """Unsubscribe as the token in the subject says; the entry written (or found), or None when dropped."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    try:
        subject = str(headers.get("Subject", ""))
    except (TypeError, ValueError):  # a subject Python cannot decode has no token we made
        subject = ""
    token = token_from_subject(subject)
    if token is None:
        logger.info("mail to %s without an unsubscribe token in its subject; dropped", address)
        return None
    try:
        subscription = subscription_of(read_token(token))
    except BadToken:
        logger.info("mail to %s with a token that is not valid; dropped", address)
        return None
    if subscription.domain.name.lower() != split_address(address)[1].lower():
        logger.info("mail to %s with a token of another domain; dropped", address)
        return None
    return unsubscribe(
        subscription=subscription, scope=Suppression.Scope.LIST, source=Suppression.Source.MAILTO,
        user_agent=f"mail from {str(headers.get('From', ''))[:200]}",
    )  # fmt: skip
