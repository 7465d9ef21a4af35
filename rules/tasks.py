"""Background jobs of the mail rules: thin, each named after the service it calls."""

from celery import shared_task


@shared_task(name="rules.apply_filter_to_existing", ignore_result=True)
def apply_filter_to_existing(filter_id: int) -> int:
    """Apply a filter to the mail already in its user's mailbox (progress on the filter row)."""
    from rules.services.filters import apply_filter_to_existing as apply

    return apply(filter_id=filter_id)


@shared_task(name="rules.forward_message", ignore_result=True)
def forward_message(user_id: int, item_id: int, address: str, chain: list[str]) -> None:
    from rules.services.forwarding import forward_message as forward

    forward(user_id=user_id, item_id=item_id, address=address, chain=chain)


@shared_task(name="rules.send_vacation_reply", ignore_result=True)
def send_vacation_reply(user_id: int, item_id: int, to: str, from_address: str) -> None:
    from rules.services.vacation import send_vacation_reply as reply

    reply(user_id=user_id, item_id=item_id, to=to, from_address=from_address)
