"""The change feed carries everything search needs: draft edits, state changes and deletions."""

import pytest

from mailboxes.models import MailboxChange
from mailboxes.search import search
from mailboxes.search.indexing import index_changes
from mailboxes.search.models import SearchDocument
from mailboxes.services import (
    add_labels,
    create_label,
    delete_forever,
    delete_label,
    discard_draft,
    mark_read,
    move_items,
    save_draft,
    set_starred,
    trash_items,
    update_label,
)

pytestmark = pytest.mark.django_db


def found(user, query) -> set[int]:
    return {hit.item_id for hit in search(user, query).hits}


def kinds(user) -> list[str]:
    return list(MailboxChange.objects.filter(user=user).order_by("pk").values_list("kind", flat=True))


def test_an_edited_draft_is_found_by_its_new_words(alice):
    draft = save_draft(user=alice, subject="Picnic", text="bring sandwiches")
    index_changes()
    assert found(alice, "sandwiches") == {draft.pk}
    save_draft(user=alice, draft_id=draft.pk, subject="Picnic", text="bring lemonade")
    assert kinds(alice) == ["updated", "updated"]
    assert index_changes() == 1
    assert found(alice, "lemonade") == {draft.pk}
    assert found(alice, "sandwiches") == set()


def test_a_discarded_draft_leaves_the_index_at_once(alice):
    draft = save_draft(user=alice, subject="Unsent thoughts", text="never mind")
    index_changes()
    discard_draft(user=alice, draft_id=draft.pk)
    assert kinds(alice)[-1] == "deleted"
    index_changes()
    assert not SearchDocument.objects.filter(item_id=draft.pk).exists()


def test_deleted_items_leave_the_index_without_a_purge(alice, mail):
    item = mail(subject="Disposable")
    index_changes()
    trash_items(user=alice, item_ids=[item.pk])
    delete_forever(user=alice, item_ids=[item.pk])
    index_changes()
    assert found(alice, "disposable in:anywhere") == set()
    assert not SearchDocument.objects.exists()


def test_bulk_actions_record_one_change_per_item(alice, mail):
    items = [mail(subject=f"bulk {n}") for n in range(3)]
    ids = [item.pk for item in items]
    before = MailboxChange.objects.count()
    mark_read(user=alice, item_ids=ids)
    set_starred(user=alice, item_ids=ids)
    move_items(user=alice, item_ids=ids, folder="archive")
    label = create_label(user=alice, name="Receipts")
    add_labels(user=alice, item_ids=ids, label_ids=[label.pk])
    assert MailboxChange.objects.count() == before + 4 * 3
    assert set(kinds(alice)[-12:]) == {"state"}
    # State changes cost the database backend nothing: it filters them live.
    index_changes()
    assert found(alice, "bulk is:starred in:archive label:receipts") == set(ids)


def test_renaming_or_deleting_a_label_is_a_state_change_of_its_items(alice, mail):
    item = mail(subject="Tagged")
    label = create_label(user=alice, name="Work")
    add_labels(user=alice, item_ids=[item.pk], label_ids=[label.pk])
    count = MailboxChange.objects.count()
    update_label(user=alice, label_id=label.pk, color="#112233")  # colour only: nothing to reindex
    assert MailboxChange.objects.count() == count
    update_label(user=alice, label_id=label.pk, name="Job")
    delete_label(user=alice, label_id=label.pk)
    assert kinds(alice)[-2:] == ["state", "state"]


def test_the_new_mail_signal_ignores_other_changes(alice, mail):
    from mailboxes.selectors import latest_change_id

    item = mail(subject="Hello")
    latest = latest_change_id(user=alice)
    mark_read(user=alice, item_ids=[item.pk])
    assert latest_change_id(user=alice) == latest


def test_a_draft_sent_after_the_undo_window_is_indexed_as_sent(alice, bob):
    from mailboxes.services.undo import schedule_send, send_due_draft

    draft = save_draft(user=alice, to=["bob@example.test"], subject="Ferry times", text="the 9:40")
    index_changes()
    assert found(alice, "ferry in:drafts") == {draft.pk}
    schedule_send(user=alice, draft_id=draft.pk, delay_seconds=0)
    assert send_due_draft(item_id=draft.pk) is not None
    index_changes()
    assert found(alice, "ferry in:sent") == {draft.pk}
    assert kinds(alice)[-1] == "updated"


def test_a_draft_sent_at_once_is_indexed_as_sent(alice, bob):
    from delivery.services.submission import send_draft

    draft = save_draft(user=alice, to=["bob@example.test"], subject="Ferry times", text="the 9:40")
    index_changes()
    assert found(alice, "ferry in:drafts") == {draft.pk}
    assert kinds(alice) == ["updated"]
    send_draft(user=alice, draft_id=draft.pk)
    assert kinds(alice) == ["updated", "updated"]
    assert index_changes() == 1
    index_changes()
    assert found(alice, "ferry in:sent") == {draft.pk}
    assert found(alice, "ferry in:drafts") == set()
