"""Filters: a search query and what to do with mail matching it, on arrival and, on request, to mail already here."""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from mailboxes.models import Folder, Label, MailboxItem
from mailboxes.search.query import MATCH_ALL, Node, QuerySyntaxError, parse_query
from mailboxes.selectors import parse_pk
from mailboxes.services.actions import add_labels, archive_items, mark_read, set_starred, trash_items
from mailboxes.services.labels import create_label
from rules.exceptions import ForwardingNotVerified, InvalidCriteria, InvalidFilter
from rules.models import Filter, ForwardingAddress
from rules.selectors import get_filter_for_user

logger = logging.getLogger(__name__)

BACKFILL_PAGE = 200  # items per search page (the search service's maximum) and per write transaction


@dataclass(frozen=True)
class FilterActions:
    """What a filter does; ``label_id`` names one of the user's labels, ``new_label`` one to create."""

    label_id: int | str | None = None
    new_label: str = ""
    skip_inbox: bool = False
    mark_read: bool = False
    star: bool = False
    trash: bool = False
    never_spam: bool = False
    forward_to_id: int | str | None = None


def parse_criteria(query: str) -> Node:
    """The syntax tree of a filter's criteria; ``InvalidCriteria`` (with the position) when it is not one."""
    query = (query or "").strip()
    try:
        node = parse_query(query)
    except QuerySyntaxError as exc:
        raise InvalidCriteria(exc.message, position=exc.position) from exc
    if node == MATCH_ALL:
        raise InvalidCriteria(_("A filter needs something to match, like from:someone@example.com."), position=0)
    return node


def _resolve_actions(user, actions: FilterActions) -> dict:
    """The model fields of the actions, the label created if it is new; errors name the field at fault."""
    label = None
    if actions.new_label.strip():
        existing = Label.objects.filter(user=user, name__iexact=" ".join(actions.new_label.split())).first()
        label = existing or create_label(user=user, name=actions.new_label)
    elif actions.label_id not in (None, ""):
        label = Label.objects.filter(user=user, pk=parse_pk(actions.label_id)).first()
        if label is None:
            raise InvalidFilter(_("No such label."), field="label")
    forward_to = None
    if actions.forward_to_id not in (None, ""):
        forward_to = ForwardingAddress.objects.filter(user=user, pk=parse_pk(actions.forward_to_id)).first()
        if forward_to is None:
            raise InvalidFilter(_("No such forwarding address."), field="forward_to")
        if not forward_to.is_verified:
            raise ForwardingNotVerified(
                _("Mail can only be forwarded to an address that was verified."), field="forward_to"
            )
    fields = {
        "label": label,
        "skip_inbox": bool(actions.skip_inbox),
        "mark_read": bool(actions.mark_read),
        "star": bool(actions.star),
        "trash": bool(actions.trash),
        "never_spam": bool(actions.never_spam),
        "forward_to": forward_to,
    }
    if not any(fields.values()):
        raise InvalidFilter(_("Choose at least one thing for the filter to do."), field="actions")
    return fields


def create_filter(*, user, query: str, actions: FilterActions, apply_to_existing: bool = False) -> Filter:
    """A new filter, last in the user's order; with ``apply_to_existing`` it is also applied to mail already here."""
    parse_criteria(query)
    with transaction.atomic():
        fields = _resolve_actions(user, actions)
        last = Filter.objects.filter(user=user).order_by("-position").values_list("position", flat=True).first()
        created = Filter.objects.create(
            user=user, query=query.strip(), position=0 if last is None else last + 1, **fields
        )
        if apply_to_existing:
            start_backfill(created)
    return created


def update_filter(*, user, filter_id, query: str, actions: FilterActions, apply_to_existing: bool = False) -> Filter:
    parse_criteria(query)
    with transaction.atomic():
        found = get_filter_for_user(user=user, filter_id=filter_id)
        found = Filter.objects.select_for_update().get(pk=found.pk)
        for name, value in _resolve_actions(user, actions).items():
            setattr(found, name, value)
        found.query = query.strip()
        found.save()
        if apply_to_existing:
            start_backfill(found)
    return found


def delete_filter(*, user, filter_id) -> None:
    with transaction.atomic():
        get_filter_for_user(user=user, filter_id=filter_id).delete()


def move_filter(*, user, filter_id, up: bool) -> list[int]:
    """Swap the filter with the one before (``up``) or after it; the user's filter ids in their new order."""
    with transaction.atomic():
        target = get_filter_for_user(user=user, filter_id=filter_id)
        ordered = list(Filter.objects.select_for_update().filter(user=user).order_by("position", "pk"))
        index = next(i for i, f in enumerate(ordered) if f.pk == target.pk)
        other = index - 1 if up else index + 1
        if 0 <= other < len(ordered):
            ordered[index], ordered[other] = ordered[other], ordered[index]
        for position, each in enumerate(ordered):  # renumbered: positions stay dense, whatever came before
            if each.position != position:
                each.position = position
                each.save(update_fields=["position", "updated_at"])
    return [f.pk for f in ordered]


# --- Applying a filter to mail already in the mailbox ------------------------------------------------


def start_backfill(found: Filter) -> None:
    """Mark the filter's backfill as running and hand it to a worker once the transaction commits."""
    Filter.objects.filter(pk=found.pk).update(backfill_status=Filter.Backfill.RUNNING, backfill_count=0)
    found.backfill_status, found.backfill_count = Filter.Backfill.RUNNING, 0

    def dispatch():
        from rules.tasks import apply_filter_to_existing

        try:
            apply_filter_to_existing.delay(found.pk)
        except Exception:  # the broker is away: the page says it failed, and saving again retries
            logger.warning("could not dispatch the backfill of filter %s", found.pk, exc_info=True)
            Filter.objects.filter(pk=found.pk).update(backfill_status=Filter.Backfill.FAILED)

    transaction.on_commit(dispatch)


def apply_filter_to_existing(*, filter_id: int) -> int:
    """Apply the filter's actions to the mail its query finds (through search), a page at a time; how many.

    Progress is written to the filter after each page (``backfill_count``), which the filters page shows.
    Forwarding is never applied to old mail (as Gmail); "never send to spam" has nothing to do (search
    leaves Spam and Trash out). Mail that arrived since the search index last caught up is covered by
    the arrival path instead.
    """
    from mailboxes.search.services import search

    found = Filter.objects.select_related("user", "label").filter(pk=filter_id).first()
    if found is None or found.backfill_status != Filter.Backfill.RUNNING:
        return 0
    user, done, cursor = found.user, 0, None
    try:
        while True:
            page = search(user, found.query, limit=BACKFILL_PAGE, cursor=cursor)
            done += _apply_to_items(found, [hit.item_id for hit in page.hits])
            Filter.objects.filter(pk=found.pk).update(backfill_count=done)
            cursor = page.next_cursor
            if not cursor or not page.hits:
                break
    except Exception:
        logger.exception("applying filter %s to existing mail failed after %d messages", found.pk, done)
        Filter.objects.filter(pk=found.pk).update(backfill_status=Filter.Backfill.FAILED, backfill_count=done)
        raise
    Filter.objects.filter(pk=found.pk).update(backfill_status=Filter.Backfill.DONE, backfill_count=done)
    return done


def _apply_to_items(found: Filter, item_ids: list[int]) -> int:
    """The filter's actions on these items of its user (those since deleted left out), in one transaction."""
    user = found.user
    with transaction.atomic():
        rows = list(MailboxItem.objects.filter(user=user, pk__in=item_ids).values_list("pk", "folder"))
        ids = [pk for pk, _ in rows]
        if not ids:
            return 0
        if found.label_id:
            add_labels(user=user, item_ids=ids, label_ids=[found.label_id])
        if found.mark_read:
            mark_read(user=user, item_ids=ids)
        if found.star:
            set_starred(user=user, item_ids=ids)
        if found.trash:
            trash_items(user=user, item_ids=ids)
        elif found.skip_inbox:
            in_inbox = [pk for pk, folder in rows if folder == Folder.INBOX]
            if in_inbox:
                archive_items(user=user, item_ids=in_inbox)
    return len(ids)
