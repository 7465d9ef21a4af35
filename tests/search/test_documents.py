"""What the indexer reads for a document, and how many statements a batch costs."""

import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mailboxes.blobstore import mailstore
from mailboxes.models import MailboxItem
from mailboxes.search import search
from mailboxes.search.documents import build_documents
from mailboxes.search.indexing import index_items
from mailboxes.services import add_labels, create_label

pytestmark = pytest.mark.django_db


def test_a_document_has_the_items_labels_by_name_and_the_messages_file_names_in_order(alice, bob, mail):
    files = [("zeta.pdf", "application/pdf", b"%PDF z"), ("alpha.txt", "text/plain", b"a")]
    mine, bobs = mail(users=[alice, bob], subject="Quarterly", body="numbers inside", attachments=files)
    labels = [create_label(user=alice, name=name).pk for name in ("work", "accounts")]
    add_labels(user=alice, item_ids=[mine.pk], label_ids=labels)

    documents = {doc.item_id: doc for doc in build_documents([bobs.pk, mine.pk, 10**9])}

    assert set(documents) == {mine.pk, bobs.pk}  # a gone id is simply absent
    doc = documents[mine.pk]
    assert (doc.user_id, doc.thread_id, doc.received_at) == (alice.pk, mine.thread_id, mine.received_at)
    assert doc.labels == ["accounts", "work"]
    assert doc.filenames == ["zeta.pdf", "alpha.txt"]
    assert doc.subject == "Quarterly" and doc.body.strip() == "numbers inside"
    assert doc.sender == "Sender sender@remote.example"
    assert "alice@example.test" in doc.to and doc.has_attachments and doc.size == mine.message.size
    assert (doc.folder, doc.is_read, doc.is_starred) == (mine.folder, mine.is_read, mine.is_starred)
    assert documents[bobs.pk].labels == [] and documents[bobs.pk].user_id == bob.pk


def test_an_unreadable_body_is_indexed_by_its_snippet(alice, mail, caplog):
    item = mail(subject="Lost bytes", body="the snippet keeps these words")
    mailstore().delete(item.message.blob.storage_key)
    with caplog.at_level(logging.WARNING, logger="mailboxes.search.documents"):
        index_items([item.pk])
    assert "cannot read the body" in caplog.text
    assert {hit.item_id for hit in search(alice, "snippet keeps").hits} == {item.pk}


def _statements(item_ids) -> int:
    with CaptureQueriesContext(connection) as queries:
        index_items(item_ids)
    return len(queries)


def test_a_batch_costs_the_same_statements_whatever_its_size(alice, bob, mail):
    """No statement per message: reading the items, their labels and files, and writing the documents."""
    few = [mail(subject=f"few {n}").pk for n in range(2)]
    many = []
    for n in range(12):
        items = mail(users=[alice, bob], subject=f"many {n}", attachments=[("f.txt", "text/plain", b"x")])
        many += [item.pk for item in items]
    label = create_label(user=alice, name="tagged").pk
    add_labels(user=alice, item_ids=many[::2], label_ids=[label])
    assert MailboxItem.objects.filter(pk__in=many).count() == 24
    assert _statements(many) == _statements(few)
