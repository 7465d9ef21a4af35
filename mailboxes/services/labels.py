"""A user's labels."""

import re

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mailboxes.exceptions import InvalidLabel, LabelExists
from mailboxes.models import Label, MailboxChange, MailboxItem
from mailboxes.selectors import get_label_for_user

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")

# The colours offered in the label form: each is readable as text on the list's white and
# light-grey rows (contrast at least 4.5:1, WCAG AA), since a chip draws its name in its colour.
PALETTE = [
    ("#64748b", gettext_lazy("Grey")),
    ("#b91c1c", gettext_lazy("Red")),
    ("#c2410c", gettext_lazy("Orange")),
    ("#a16207", gettext_lazy("Amber")),
    ("#15803d", gettext_lazy("Green")),
    ("#0f766e", gettext_lazy("Teal")),
    ("#0e7490", gettext_lazy("Cyan")),
    ("#1d4ed8", gettext_lazy("Blue")),
    ("#4338ca", gettext_lazy("Indigo")),
    ("#6d28d9", gettext_lazy("Violet")),
    ("#a21caf", gettext_lazy("Purple")),
    ("#be185d", gettext_lazy("Pink")),
]


def _clean_name(name: str) -> str:
    value = " ".join((name or "").split())
    if not value:
        raise InvalidLabel(_("A label needs a name."), field="name")
    if len(value) > 100:
        raise InvalidLabel(_("A label name has at most 100 characters."), field="name")
    if any(not ch.isprintable() for ch in value):
        raise InvalidLabel(_("A label name cannot contain control characters."), field="name")
    return value


def _clean_color(color: str) -> str:
    if not _COLOR.match(color or ""):
        raise InvalidLabel(_("A colour is written #rrggbb."), field="color")
    return color.lower()


def _save(label: Label) -> Label:
    try:
        with transaction.atomic():
            label.save()
    except IntegrityError as exc:
        raise LabelExists(_("You already have a label named %(name)r.") % {"name": label.name}, field="name") from exc
    return label


def create_label(*, user, name: str, color: str | None = None) -> Label:
    label = Label(user=user, name=_clean_name(name))
    if color is not None:
        label.color = _clean_color(color)
    return _save(label)


def update_label(*, user, label_id: int, name: str | None = None, color: str | None = None) -> Label:
    label = get_label_for_user(user=user, label_id=label_id)
    renamed = name is not None and _clean_name(name) != label.name
    if name is not None:
        label.name = _clean_name(name)
    if color is not None:
        label.color = _clean_color(color)
    with transaction.atomic():
        _save(label)
        if renamed:  # the items carrying it now match another label: name
            _record_items_of(label)
    return label


def _record_items_of(label: Label) -> None:
    """A state change for every item carrying ``label`` (the search index copies label names)."""
    item_ids = MailboxItem.labels.through.objects.filter(label=label).values_list("mailboxitem_id", flat=True)
    MailboxChange.record(user_id=label.user_id, item_ids=list(item_ids), kind=MailboxChange.Kind.STATE)


def delete_label(*, user, label_id: int) -> None:
    """Delete a label; the messages that carried it stay where they are."""
    with transaction.atomic():
        label = get_label_for_user(user=user, label_id=label_id)
        _record_items_of(label)
        label.delete()
