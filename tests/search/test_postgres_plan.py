"""PostgreSQL: the plan is chosen by a capped GIN probe, and both plans give the same answers."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailboxes.models import Folder
from mailboxes.search import search
from mailboxes.search.backends import reset_search_backends
from mailboxes.search.backends.database import DatabaseBackend, forget_statistics, mailbox_size
from mailboxes.services import add_labels, create_label, trash_items

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _postgres_with_small_caps(settings, db):
    if connection.vendor != "postgresql":
        pytest.skip("the planned search is PostgreSQL's")
    backend = f"{DatabaseBackend.__module__}.DatabaseBackend"
    settings.SEARCH_BACKENDS = {"default": {"BACKEND": backend, "CANDIDATE_CAP": 3, "SORTED_CAP": 12, "RANK_CAP": 3}}
    reset_search_backends()
    forget_statistics()
    yield
    reset_search_backends()
    forget_statistics()


def hits(user, query, **kwargs) -> list[int]:
    return [hit.item_id for hit in search(user, query, **kwargs).hits]


def _dated(mail, n, **fields):
    now = timezone.now()
    return [mail(received_at=now - timedelta(days=i), **fields) for i in range(n)]


def test_few_matches_are_fetched_by_id_and_sorted_newest_first(alice, mail):
    items = _dated(mail, 2, subject="rare quokka")
    _dated(mail, 5, subject="other words")
    mail.index()
    assert hits(alice, "quokka") == [item.pk for item in items]


def test_many_matches_are_walked_newest_first_and_paged(alice, mail):
    items = _dated(mail, 14, subject="common project")
    mail.index()
    first = search(alice, "project", limit=5)
    second = search(alice, "project", limit=5, cursor=first.next_cursor)
    third = search(alice, "project", limit=5, cursor=second.next_cursor)
    assert [h.item_id for h in first.hits + second.hits + third.hits] == [item.pk for item in items]
    assert third.next_cursor is None


def test_between_the_caps_candidates_are_sorted_and_checked_chunk_by_chunk(alice, mail):
    # Newest first: 2 with the phrase, 5 with both words apart (candidates, not matches), 1 binned, 3 more.
    now = timezone.now()
    at = [now - timedelta(hours=i) for i in range(11)]
    phrase = [mail(subject="the quarterly report", received_at=at[i]) for i in (0, 1)]
    for i in range(2, 7):
        mail(subject="report for the quarterly review", received_at=at[i])
    mail(subject="quarterly report", folder=Folder.TRASH, received_at=at[7])
    phrase += [mail(subject="quarterly report, again", received_at=at[i]) for i in (8, 9, 10)]
    mail.index()

    pages, cursor = [], None
    while True:  # one hit per page: several chunks for the first page, the cursor skips candidates after
        page = search(alice, '"quarterly report"', limit=1, cursor=cursor)
        pages.append([hit.item_id for hit in page.hits])
        if not (cursor := page.next_cursor):
            break
    assert pages == [[item.pk] for item in phrase]
    assert hits(alice, '"quarterly report"') == [item.pk for item in phrase]
    assert hits(alice, '"quarterly report" in:trash') != []


def test_the_probe_ignores_positions_but_the_answer_is_the_phrase(alice, mail):
    exact = mail(subject="北京大学的图书馆")
    scattered = mail(subject="北京 京大 大学")  # every bigram, not the word
    mail.index()
    assert hits(alice, "北京大学") == [exact.pk]
    assert scattered.pk in hits(alice, "北京 大学")


def test_the_rarest_required_word_decides(alice, mail):
    wanted = mail(subject="project quokka")
    _dated(mail, 5, subject="project alone")
    mail.index()
    assert hits(alice, "project quokka") == [wanted.pk]
    assert hits(alice, "project -quokka") != [] and wanted.pk not in hits(alice, "project -quokka")


def test_relevance_on_a_common_word_ranks_only_the_newest_matches(alice, mail):
    items = _dated(mail, 6, subject="project")
    mail.index()
    ranked = hits(alice, "project", order="relevance")
    assert sorted(ranked) == sorted(item.pk for item in items[:3])
    assert len(hits(alice, "quokka OR project", order="relevance")) == 6  # no required word: not capped


def test_the_probe_leaves_the_planner_settings_as_they_were(alice, mail):
    mail(subject="quokka")
    mail.index()
    hits(alice, "quokka")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('enable_indexscan')")
        assert cursor.fetchone() == ("on", "on")


def test_a_word_the_statistics_call_common_is_walked_without_a_probe(alice, mail):
    items = _dated(mail, 14, subject="common project")  # more than the sorted cap
    mail.index()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE search_document")
    with CaptureQueriesContext(connection) as queries:
        assert hits(alice, "project") == [item.pk for item in items]
    assert not any("search_document WHERE user_id" in q["sql"] for q in queries)
    with CaptureQueriesContext(connection) as queries:
        hits(alice, "quokka")  # not in the statistics: probed
    assert any("search_document WHERE user_id" in q["sql"] for q in queries)


def test_sorted_candidates_keep_only_those_inside_the_date_bounds(alice, mail):
    items = _dated(mail, 12, subject="quarterly report")  # between the caps
    mail.index()
    # older_than:4d is received before (now - 4 days): the items of 4 days ago and older.
    assert hits(alice, '"quarterly report" older_than:4d', limit=3) == [item.pk for item in items[4:7]]
    assert hits(alice, '"quarterly report" newer_than:2d') == [item.pk for item in items[:2]]


def test_a_label_with_more_matches_than_the_first_cap_is_sorted_and_paged(alice, bob, mail):
    items = _dated(mail, 10, subject="tagged")
    others = _dated(mail, 3, subject="untagged")
    work = create_label(user=alice, name="Work")
    add_labels(user=alice, item_ids=[item.pk for item in items], label_ids=[work.pk])
    # Bob's label of the same name, on Bob's own copies: never among Alice's candidates.
    bobs = create_label(user=bob, name="work")
    theirs = _dated(mail, 4, subject="tagged", users=[bob])
    add_labels(user=bob, item_ids=[item.pk for item in theirs], label_ids=[bobs.pk])
    trash_items(user=alice, item_ids=[items[0].pk])
    mail.index()

    first = search(alice, "label:work", limit=4)
    second = search(alice, "label:work", limit=4, cursor=first.next_cursor)
    third = search(alice, "label:work", limit=4, cursor=second.next_cursor)
    assert [h.item_id for h in first.hits + second.hits + third.hits] == [item.pk for item in items[1:]]
    assert hits(alice, "label:work tagged -untagged") == [item.pk for item in items[1:]]
    assert not set(hits(alice, "-label:work")) & {item.pk for item in items}
    assert {item.pk for item in others} <= set(hits(alice, "-label:work"))


def test_the_mailbox_size_comes_from_the_statistics(alice, bob, mail):
    _dated(mail, 6, subject="one")
    _dated(mail, 2, subject="two", users=[bob])
    mail.index()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE search_document")
    forget_statistics()
    assert round(mailbox_size(alice.pk)) == 6
    assert round(mailbox_size(bob.pk)) == 2
