"""Reads of inbound records for the webmail, scoped to the user who asks."""

from inbound.filters.explanations import explain
from inbound.models import InboundMessage


def spam_checks_for_user(*, user, message_ids) -> dict[int, dict]:
    """What the spam filter said when these messages reached ``user``: message id -> ``explain()``'s dict.

    Only ``user``'s own verdicts, of messages in ``user``'s mailbox; messages that did not come
    in through the inbound pipeline (local delivery, sent mail) have none. One query.
    """
    rows = InboundMessage.objects.filter(message_id__in=list(message_ids), message__items__user=user).values_list(
        "message_id", "spam_verdict"
    )
    checks = {}
    for message_id, verdicts in rows:
        verdict = verdicts.get(user.username) if isinstance(verdicts, dict) else None
        if isinstance(verdict, dict):
            checks[message_id] = explain(verdict)
    return checks
