"""Reads of a user's mail rules, scoped: another user's ids are not found, exactly like missing ones."""

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from mailboxes.selectors import parse_pk
from rules.exceptions import BlockedSenderNotFound, FilterNotFound, ForwardingAddressNotFound
from rules.models import AutoForward, BlockedSender, Filter, ForwardingAddress, VacationReply


def filters_of(*, user) -> QuerySet[Filter]:
    return Filter.objects.filter(user=user).select_related("label", "forward_to").order_by("position", "pk")


def get_filter_for_user(*, user, filter_id) -> Filter:
    found = filters_of(user=user).filter(pk=parse_pk(filter_id)).first()
    if found is None:
        raise FilterNotFound(_("No such filter."))
    return found


def blocked_senders_of(*, user) -> QuerySet[BlockedSender]:
    return BlockedSender.objects.filter(user=user).order_by("kind", "value")


def get_blocked_sender_for_user(*, user, blocked_id) -> BlockedSender:
    found = blocked_senders_of(user=user).filter(pk=parse_pk(blocked_id)).first()
    if found is None:
        raise BlockedSenderNotFound(_("No such blocked sender."))
    return found


def forwarding_addresses_of(*, user) -> QuerySet[ForwardingAddress]:
    return ForwardingAddress.objects.filter(user=user).order_by("address")


def verified_forwarding_addresses_of(*, user) -> QuerySet[ForwardingAddress]:
    return forwarding_addresses_of(user=user).filter(verified_at__isnull=False)


def get_forwarding_address_for_user(*, user, address_id) -> ForwardingAddress:
    found = forwarding_addresses_of(user=user).filter(pk=parse_pk(address_id)).first()
    if found is None:
        raise ForwardingAddressNotFound(_("No such forwarding address."))
    return found


def vacation_reply_of(*, user) -> VacationReply:
    """The user's vacation reply; an unsaved, disabled one when they never set it."""
    return VacationReply.objects.filter(user=user).first() or VacationReply(user=user)


def auto_forward_of(*, user) -> AutoForward:
    return AutoForward.objects.filter(user=user).select_related("address").first() or AutoForward(user=user)
