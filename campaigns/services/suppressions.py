"""A marketer's own entries on the suppression list: for their workspace's streams or lists, never global."""

from django.utils.translation import gettext as _

from accounts.addresses import normalize_address
from campaigns.selectors.suppressions import can_remove_suppressions, get_list_for_workspace
from delivery.models import Suppression
from delivery.services.suppression import remove_suppression_entries, suppress_address
from webmail.errors import UserError

# What the page offers as the scope of a manual entry: a stream of the workspace, or one of its lists.
STREAM_TARGETS = {"bulk": "bulk", "transactional": "transactional"}


class NotAllowed(UserError):
    code = "not_allowed"
    status = 403


def add_workspace_suppression(*, user, workspace, address: str, target: str, detail: str = "") -> Suppression:
    """Suppress ``address`` for the workspace: ``target`` is "bulk", "transactional" or "list:<id>" (its own list)."""
    address = normalize_address(address, field="address")
    source = Suppression.Source.ADMIN if user.is_superuser else Suppression.Source.MARKETER
    detail = f"{detail.strip()} ({user.primary_address})".strip()
    if target in STREAM_TARGETS:
        return suppress_address(
            address=address, reason=Suppression.Reason.MANUAL, source=source, detail=detail,
            scope=Suppression.Scope.STREAM, domain=workspace, stream=STREAM_TARGETS[target],
        )  # fmt: skip
    kind, _colon, list_id = target.partition(":")
    if kind != "list" or not list_id.isdigit():
        raise UserError(_("Choose what the address is suppressed for."), field="target")
    contact_list = get_list_for_workspace(workspace=workspace, list_id=int(list_id))
    return suppress_address(
        address=address, reason=Suppression.Reason.MANUAL, source=source, detail=detail,
        scope=Suppression.Scope.LIST, contact_list=contact_list,
    )  # fmt: skip


def remove_workspace_suppression(*, user, entry: Suppression) -> None:
    """An admin's removal of an entry the page showed them (``get_suppression_for_user``)."""
    if not can_remove_suppressions(user):
        raise NotAllowed("Only an admin can remove entries from the suppression list.")
    remove_suppression_entries(entry_ids=[entry.pk])
