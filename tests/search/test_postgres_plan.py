"""PostgreSQL: the plan is chosen by a capped GIN probe, and both plans give the same answers."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailboxes.search import search
from mailboxes.search.backends import reset_search_backends
from mailboxes.search.backends.database import DatabaseBackend, forget_common_words

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _postgres_with_small_caps(settings, db):
    if connection.vendor != "postgresql":
        pytest.skip("the planned search is PostgreSQL's")
    backend = f"{DatabaseBackend.__module__}.DatabaseBackend"
    settings.SEARCH_BACKENDS = {"default": {"BACKEND": backend, "CANDIDATE_CAP": 3, "RANK_CAP": 3}}
    reset_search_backends()
    forget_common_words()
    yield
    reset_search_backends()
    forget_common_words()


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
    items = _dated(mail, 6, subject="common project")
    mail.index()
    first = search(alice, "project", limit=4)
    second = search(alice, "project", limit=4, cursor=first.next_cursor)
    assert [h.item_id for h in first.hits + second.hits] == [item.pk for item in items]


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
    items = _dated(mail, 6, subject="common project")
    mail.index()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE search_document")
    with CaptureQueriesContext(connection) as queries:
        assert hits(alice, "project") == [item.pk for item in items]
    assert not any("LIMIT 4" in q["sql"] and "search_document WHERE user_id" in q["sql"] for q in queries)
    with CaptureQueriesContext(connection) as queries:
        hits(alice, "quokka")  # not in the statistics: probed
    assert any("search_document WHERE user_id" in q["sql"] for q in queries)
