"""Undo for what a user does to their mail: archive, trash, spam, move, labels, flags, snooze.

``run_undoable`` runs one of the action services and keeps, in an
``UndoableAction`` row, each field of each item that the action changed, as
``[before, after]``. ``undo_action`` puts back, item by item, only the fields
still as the action left them, so undoing after the mail changed again (a new
move, a read on another device) never overwrites the newer change.

A row rather than a signed token: an action on a few hundred items carries
far more state than a URL should, and a row is used once (deleted on undo),
belongs to one user (anyone else's id is a 404) and expires with a query.
"""

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from inbound.filters.spam import restore_spam_training, spam_training_of
from mailboxes.conversations import refresh_threads
from mailboxes.models import Label, MailboxChange, MailboxItem, UndoableAction
from mailboxes.selectors import parse_pk
from webmail.errors import NotFound, UserError

# The item fields an action may change (labels are tracked one by one, as "label:<id>").
TRACKED_FIELDS = ("folder", "previous_folder", "is_read", "is_starred", "snoozed_until")
_DATETIME_FIELDS = frozenset({"snoozed_until"})
# Actions that teach the spam filter: their undo takes the lesson back.
_TRAINING_KINDS = frozenset({"spam", "not_spam"})


class UndoNotFound(NotFound):
    code = "undo_not_found"


class UndoExpired(UserError):
    code = "undo_expired"
    status = 410


def _as_json(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _from_json(field: str, value):
    return parse_datetime(value) if field in _DATETIME_FIELDS and value else value


def _states(items: list[MailboxItem]) -> dict[int, dict]:
    """Each item's tracked fields (JSON-ready) and the set of its label ids."""
    states = {item.pk: {field: _as_json(getattr(item, field)) for field in TRACKED_FIELDS} for item in items}
    for state in states.values():
        state["labels"] = set()
    pairs = MailboxItem.labels.through.objects.filter(mailboxitem_id__in=list(states)).values_list(
        "mailboxitem_id", "label_id"
    )
    for item_id, label_id in pairs:
        states[item_id]["labels"].add(label_id)
    return states


def _diff(before: dict, after: dict) -> dict[str, list]:
    changed = {field: [before[field], after[field]] for field in TRACKED_FIELDS if before[field] != after[field]}
    for label_id in before["labels"] ^ after["labels"]:
        changed[f"label:{label_id}"] = [label_id in before["labels"], label_id in after["labels"]]
    return changed


def _locked_items(user, item_ids: Iterable) -> list[MailboxItem]:
    ids = [pk for pk in (parse_pk(value) for value in item_ids) if pk is not None]
    return list(MailboxItem.objects.select_for_update().filter(user=user, pk__in=ids).order_by("pk"))


def run_undoable(
    *, user, kind: str, item_ids: Iterable, action: Callable[[], object], now: datetime | None = None
) -> UndoableAction | None:
    """Run ``action`` (a service acting on ``item_ids``) and remember how to undo it; None when nothing changed.

    One transaction: the action, and the record of what it changed, stand or fall together.
    """
    item_ids = list(item_ids)
    with transaction.atomic():
        items = _locked_items(user, item_ids)
        before = _states(items)
        training = {}
        if kind in _TRAINING_KINDS:
            messages = {item.message_id: item.message for item in MailboxItem.objects.filter(pk__in=before)}
            training = {str(pk): spam_training_of(user=user, message=m) for pk, m in messages.items()}
        action()
        after = _states(list(MailboxItem.objects.filter(pk__in=before)))
        changes = {str(pk): diff for pk in before if pk in after and (diff := _diff(before[pk], after[pk]))}
        if not changes:
            return None
        return UndoableAction.objects.create(
            user=user, kind=kind, changes=changes, training=training, created_at=now or timezone.now()
        )


def undo_window() -> timedelta:
    return timedelta(seconds=settings.WEBMAIL_ACTION_UNDO_SECONDS)


def undo_action(*, user, action_id, now: datetime | None = None) -> tuple[UndoableAction, int]:
    """Put back what the action changed; returns it and how many items were put back.

    Someone else's action is not found, like a missing one; one past its window is refused.
    """
    now = now or timezone.now()
    with transaction.atomic():
        action = UndoableAction.objects.select_for_update().filter(user=user, pk=parse_pk(action_id)).first()
        if action is None:
            raise UndoNotFound(_("Nothing to undo."))
        if action.created_at + undo_window() < now:
            raise UndoExpired(_("Too late to undo that."))
        items = {item.pk: item for item in _locked_items(user, action.changes)}
        current = _states(list(items.values()))
        existing_labels = set(Label.objects.filter(user=user).values_list("pk", flat=True))
        put_back, moved = [], []
        add_pairs, remove_pairs = [], []
        for key, fields in action.changes.items():
            item = items.get(int(key))
            if item is None:  # deleted since
                continue
            state, changed = current[item.pk], False
            scalars = {field: pair for field, pair in fields.items() if not field.startswith("label:")}
            if scalars and all(state[field] == after for field, (_before, after) in scalars.items()):
                for field, (before, _after) in scalars.items():
                    setattr(item, field, _from_json(field, before))
                item.save(update_fields=[*scalars, "updated_at"])
                changed = True
                if "folder" in scalars:
                    moved.append(item)
            for field, (had, has) in fields.items():
                if not field.startswith("label:"):
                    continue
                label_id = int(field.removeprefix("label:"))
                if (label_id in state["labels"]) != has or label_id not in existing_labels:
                    continue
                (add_pairs if had else remove_pairs).append((item.pk, label_id))
                changed = True
            if changed:
                put_back.append(item)
        _apply_labels(add_pairs, remove_pairs)
        if put_back:
            refresh_threads({item.thread_id for item in put_back})
            MailboxChange.record(
                user_id=user.pk, item_ids=[item.pk for item in put_back], kind=MailboxChange.Kind.STATE
            )
        for item in moved:
            key = str(item.message_id)
            if key in action.training:
                restore_spam_training(user=user, message=item.message, state=action.training[key])
        action.delete()
    return action, len(put_back)


def _apply_labels(add_pairs: list[tuple[int, int]], remove_pairs: list[tuple[int, int]]) -> None:
    through = MailboxItem.labels.through
    through.objects.bulk_create(
        [through(mailboxitem_id=item_id, label_id=label_id) for item_id, label_id in add_pairs], ignore_conflicts=True
    )
    for item_id, label_id in remove_pairs:
        through.objects.filter(mailboxitem_id=item_id, label_id=label_id).delete()


def purge_undoable_actions(*, now: datetime | None = None) -> int:
    """Forget the actions whose undo window has passed (a periodic task)."""
    now = now or timezone.now()
    deleted, _count = UndoableAction.objects.filter(created_at__lt=now - undo_window()).delete()
    return deleted
