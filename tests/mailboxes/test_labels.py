"""A user's labels: create, rename, recolour, delete."""

import pytest

from mailboxes.exceptions import InvalidLabel, LabelExists, LabelNotFound
from mailboxes.models import Label, MailboxItem
from mailboxes.services import add_labels, create_label, delete_label, update_label
from tests.factories import deliver, raw_email

pytestmark = pytest.mark.django_db


def test_create_label_with_default_and_given_colour(alice):
    plain = create_label(user=alice, name="Work")
    red = create_label(user=alice, name="Urgent", color="#FF0000")

    assert (plain.user, plain.name, plain.color) == (alice, "Work", "#64748b")
    assert red.color == "#ff0000"


def test_label_name_whitespace_is_collapsed(alice):
    label = create_label(user=alice, name="  Side \t  projects\n")

    assert label.name == "Side projects"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bell\x07", "nul\x00", "rtl\u202eoverride"])
def test_bad_label_names_are_refused(alice, name):
    with pytest.raises(InvalidLabel) as excinfo:
        create_label(user=alice, name=name)

    assert excinfo.value.field == "name"
    assert not Label.objects.exists()


@pytest.mark.parametrize("color", ["red", "#fff", "#12345g", "ff0000", "#ff00001", ""])
def test_bad_colour_is_refused(alice, color):
    with pytest.raises(InvalidLabel) as excinfo:
        create_label(user=alice, name="Work", color=color)

    assert excinfo.value.field == "color"


def test_duplicate_name_is_refused_case_insensitively(alice):
    create_label(user=alice, name="Work")

    with pytest.raises(LabelExists) as excinfo:
        create_label(user=alice, name="WORK")

    assert excinfo.value.field == "name"
    assert Label.objects.filter(user=alice).count() == 1


def test_two_users_may_have_labels_of_the_same_name(alice, bob):
    create_label(user=alice, name="Work")

    assert create_label(user=bob, name="work").user == bob


def test_rename_and_recolour(alice):
    label = create_label(user=alice, name="Work")

    update_label(user=alice, label_id=label.pk, name="Office")
    update_label(user=alice, label_id=str(label.pk), color="#00AA00")

    label.refresh_from_db()
    assert (label.name, label.color) == ("Office", "#00aa00")


def test_changing_only_the_case_of_a_name_is_allowed(alice):
    label = create_label(user=alice, name="work")

    update_label(user=alice, label_id=label.pk, name="Work")

    label.refresh_from_db()
    assert label.name == "Work"


def test_renaming_onto_another_labels_name_is_refused(alice):
    create_label(user=alice, name="Work")
    home = create_label(user=alice, name="Home")

    with pytest.raises(LabelExists):
        update_label(user=alice, label_id=home.pk, name="work")

    home.refresh_from_db()
    assert home.name == "Home"


def test_update_validates_colour(alice):
    label = create_label(user=alice, name="Work", color="#123456")

    with pytest.raises(InvalidLabel):
        update_label(user=alice, label_id=label.pk, color="blue")

    label.refresh_from_db()
    assert label.color == "#123456"


def test_deleting_a_label_leaves_the_messages_and_their_other_labels(alice):
    [item] = deliver(raw_email(to=alice.username), alice)
    work, keep = create_label(user=alice, name="Work"), create_label(user=alice, name="Keep")
    add_labels(user=alice, item_ids=[item.pk], label_ids=[work.pk, keep.pk])

    delete_label(user=alice, label_id=work.pk)

    assert not Label.objects.filter(pk=work.pk).exists()
    item = MailboxItem.objects.get(pk=item.pk)
    assert item.folder == "inbox"
    assert list(item.labels.values_list("name", flat=True)) == ["Keep"]


@pytest.mark.parametrize("bad", [999_999, "abc", None, 10**20])
def test_unknown_label_ids_are_not_found(alice, bad):
    with pytest.raises(LabelNotFound):
        update_label(user=alice, label_id=bad, name="x")
    with pytest.raises(LabelNotFound):
        delete_label(user=alice, label_id=bad)
