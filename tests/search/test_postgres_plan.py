"""PostgreSQL: the plan is chosen by a capped GIN probe, and both plans give the same answers."""

import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailboxes.models import Folder
from mailboxes.search import search
from mailboxes.search.backends import reset_search_backends
from mailboxes.search.backends.database import DatabaseBackend, forget_statistics, mailbox_size, user_tsquery
from mailboxes.search.query import Text
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
    assert not any("search_user_terms(user_id, tsv) @@" in q["sql"] for q in queries)
    with CaptureQueriesContext(connection) as queries:
        hits(alice, "quokka")  # not in the statistics: probed
    assert any("search_user_terms(user_id, tsv) @@" in q["sql"] for q in queries)


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


def _explain_probe(user_id: int, query: str) -> dict:
    """The plan of the backend's probe (bitmap scans only, as it runs), as JSON."""
    from mailboxes.search.backends.database import _PG_BITMAP_ONLY, _PG_PROBE, _PG_RESTORE

    select = _PG_PROBE.split(" CURSOR FOR ", 1)[1]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_PG_BITMAP_ONLY)
        seqscan, indexscan, _, _ = cursor.fetchone()
        cursor.execute(f"EXPLAIN (FORMAT JSON) {select}", [query, 501])
        plan = cursor.fetchone()[0]
        cursor.execute(_PG_RESTORE, [seqscan, indexscan])
    return (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]


def _index_scans(plan: dict):
    if plan.get("Node Type") == "Bitmap Index Scan":
        yield plan
    for child in plan.get("Plans", []):
        yield from _index_scans(child)


def _fill_documents(user_id: int, count: int, first_id: int, tsv: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO search_document (item_id, user_id, received_at, size, has_attachments, subject, body, "
            "indexed_at, tsv, from_tsv, to_tsv, cc_tsv) SELECT %s + n, %s, now(), 0, false, '', '', now(), "
            "%s::tsvector, ''::tsvector, ''::tsvector, ''::tsvector FROM generate_series(1, %s) AS n",
            [first_id, user_id, tsv, count],
        )
        cursor.execute("ANALYZE search_document")


def test_the_probe_reads_one_users_matches_on_the_user_terms_index(alice, bob):
    # Bob has 5,000 documents with the word, alice 5,000 without it and 3 with it. The probe must
    # find alice's 3 in the index of (user, term) keys: not read bob's matches of the word, nor
    # every document of alice's on the user's btree.
    _fill_documents(bob.pk, 5000, 10_000_000, "'quokka':1C 'someone':2B")
    _fill_documents(alice.pk, 5000, 20_000_000, "'filler':1C")
    _fill_documents(alice.pk, 3, 30_000_000, "'quokka':1C 'someone':2B")
    plan = _explain_probe(alice.pk, user_tsquery(Text("quokka"), user_id=alice.pk))
    scans = list(_index_scans(plan))
    assert [scan["Index Name"] for scan in scans] == ["search_document_user_terms"]
    assert "search_user_terms(user_id, tsv)" in scans[0]["Index Cond"]


def test_the_user_terms_hold_only_the_owners_documents(alice, bob, mail):
    mine = mail(subject="quokka from Dana", sender="dana@example.com")
    mail(subject="quokka for bob", users=[bob])
    mail.index()
    assert hits(alice, "quokka") == [mine.pk]
    assert hits(alice, "from:dana@example.com") == [mine.pk]
    assert hits(alice, "subject:quok*") == [mine.pk]


def _interleaved_documents(user_ids: list[int], per_user: int, first_id: int) -> None:
    """``per_user`` documents for each user, inserted in arrival order, the users taking turns (as delivery
    leaves them): one user's documents are one row in ``len(user_ids)``, the btree's correlation gone."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO search_document (item_id, user_id, received_at, size, has_attachments, subject, body, "
            "indexed_at, tsv, from_tsv, to_tsv, cc_tsv) SELECT %s + n, (%s::bigint[])[1 + n %% %s], "
            "now() - interval '1 year' + n * interval '1 second', 0, n %% 7 = 0, '', '', now(), "
            "CASE WHEN n %% 3 = 0 THEN '''project'':1C ''filler'':2'::tsvector ELSE '''filler'':1'::tsvector END, "
            "''::tsvector, ''::tsvector, ''::tsvector FROM generate_series(0, %s) AS n",
            [first_id, user_ids, len(user_ids), len(user_ids) * per_user - 1],
        )
        cursor.execute("ANALYZE search_document")
    forget_statistics()


def _explain_page_walk(user, query: str) -> dict:
    """The plan of the query that reads the page, with the planner settings it runs with."""
    from mailboxes.search.backends.database import _PG_WALK_ONLY

    with CaptureQueriesContext(connection) as queries:
        search(user, query)
    sqls = [q["sql"] for q in queries]
    walk = next(i for i, sql in enumerate(sqls) if "set_config('enable_bitmapscan', 'off'" in sql) + 1
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('max_parallel_workers_per_gather', '0', true)")
        cursor.execute(_PG_WALK_ONLY)
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sqls[walk]}")
        plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    return (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.parametrize("query", ["project", "has:attachment"])
def test_the_walk_stays_ordered_when_users_are_interleaved(alice, bob, mail, django_user_model, query):
    # 40 users' documents taking turns in the table, 1,500 each: the planner, left alone, reads all
    # alice's rows by a bitmap and sorts them; the walk must read search_doc_user_recent newest first.
    items = _dated(mail, 14, subject="common project", attachments=[("a.txt", "text/plain", b"x")])
    mail.index()
    others = [django_user_model.objects.create_user(username=f"user{i}", password="x").pk for i in range(38)]
    _interleaved_documents([alice.pk, bob.pk, *others], 1500, 50_000_000)
    plan = _explain_page_walk(alice, query)
    nodes = list(_nodes(plan))
    types = [node["Node Type"] for node in nodes]
    assert plan["Node Type"] == "Limit"
    assert "Sort" not in types and "Incremental Sort" not in types
    assert not any(t.startswith("Bitmap") for t in types)
    scans = [node for node in nodes if node.get("Relation Name") == "search_document"]
    assert [(s["Node Type"], s["Index Name"]) for s in scans] == [("Index Scan", "search_doc_user_recent")]
    assert hits(alice, query)[:14] == [item.pk for item in items]


def test_the_walk_leaves_the_planner_settings_as_they_were(alice, mail):
    _dated(mail, 14, subject="common project")  # more than the sorted cap: walked
    mail.index()
    with CaptureQueriesContext(connection) as queries:
        assert len(hits(alice, "project")) == 14
    assert any("set_config('enable_bitmapscan', 'off'" in q["sql"] for q in queries)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_bitmapscan'), current_setting('enable_sort')")
        assert cursor.fetchone() == ("on", "on")


def test_pages_by_relevance_or_of_few_candidates_keep_the_planners_choice(alice, mail):
    _dated(mail, 14, subject="common project")
    mail(subject="rare quokka")
    mail.index()
    for query, order in (("quokka", "date"), ("project", "relevance")):
        with CaptureQueriesContext(connection) as queries:
            assert hits(alice, query, order=order)
        assert not any("enable_bitmapscan" in q["sql"] for q in queries), (query, order)
