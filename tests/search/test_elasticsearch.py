"""The Elasticsearch backend as data: mapping, documents and compiled queries (no cluster needed).

The contract tests in test_contract.py also run against a real cluster when ELASTICSEARCH_URL is set.
"""

from datetime import UTC, datetime, timedelta

import pytest

from mailboxes.search import parse_query
from mailboxes.search.backends import IndexDocument
from mailboxes.search.backends.elasticsearch import (
    ANYWHERE,
    MAPPING,
    SETTINGS,
    ElasticsearchBackend,
    compile_query,
    document_source,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def compiled(query: str) -> dict:
    return compile_query(parse_query(query), now=NOW).to_dict()


@pytest.fixture
def backend():
    return ElasticsearchBackend(url="http://127.0.0.1:9", index="mail")


def document(**fields) -> IndexDocument:
    values = {
        "item_id": 7,
        "user_id": 3,
        "thread_id": 5,
        "received_at": NOW,
        "subject": "Crème brûlée",
        "sender": "Zoë <zoe@example.test>",
        "to": "alice@example.test",
        "cc": "",
        "body": "我在北京大学学习",
        "filenames": ["Report.PDF"],
        "folder": "inbox",
        "labels": ["Work", "To Do"],
        "is_read": True,
        "has_attachments": True,
        "size": 1234,
    }
    return IndexDocument(**(values | fields))


def test_mapping_is_strict_and_routed_by_user():
    assert MAPPING["dynamic"] == "strict"
    assert MAPPING["_routing"] == {"required": True}
    assert SETTINGS["analysis"]["analyzer"]["terms"] == {"type": "custom", "tokenizer": "whitespace"}
    for name in ("subject", "sender", "to", "cc", "filenames", "body"):
        assert MAPPING["properties"][name] == {"type": "text", "analyzer": "terms"}
    for name in ("folder", "labels"):
        assert MAPPING["properties"][name]["type"] == "keyword"
    assert MAPPING["properties"]["body_text"]["index"] is False


def test_document_holds_folded_terms_and_cjk_bigrams():
    source = document_source(document())
    assert source["subject"] == "creme brulee"
    assert source["sender"] == "zoe zoe example test"
    assert source["body"] == "我在 在北 北京 京大 大学 学学 学习 习"
    assert source["filenames"] == "report pdf"
    assert source["labels"] == ["to do", "work"]
    assert source["body_text"] == "我在北京大学学习"
    assert source["received_at"] == "2025-06-01T12:00:00+00:00"


def test_bulk_actions_are_routed_by_user(backend):
    (action,) = backend.bulk_actions([document()])
    assert action["_id"] == 7 and action["_routing"] == "3" and action["_index"] == "mail"
    assert action["_op_type"] == "index"


def test_free_word_is_a_phrase_across_text_fields():
    assert compiled("Crème") == {"multi_match": {"query": "creme", "type": "phrase", "fields": ANYWHERE}}


def test_phrase_and_chinese_word():
    assert compiled('"quarterly report"')["multi_match"]["query"] == "quarterly report"
    assert compiled("北京大学")["multi_match"]["query"] == "北京 京大 大学"


def test_prefix_and_single_cjk_character():
    assert compiled("invoic*")["multi_match"]["type"] == "phrase_prefix"
    assert compiled("京")["multi_match"] == {"query": "京", "type": "phrase_prefix", "fields": ANYWHERE}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("from:alice", {"match_phrase": {"sender": "alice"}}),
        ("to:bob@example.test", {"match_phrase": {"to": "bob example test"}}),
        ("cc:carol", {"match_phrase": {"cc": "carol"}}),
        ('subject:"weekly sync"', {"match_phrase": {"subject": "weekly sync"}}),
        ("filename:report*", {"match_phrase_prefix": {"filenames": "report"}}),
        ("label:To-Do", {"terms": {"labels": ["to do", "to-do"]}}),
        ("in:trash", {"term": {"folder": "trash"}}),
        ("in:anywhere", {"match_all": {}}),
        ("is:unread", {"term": {"is_read": False}}),
        ("is:starred", {"term": {"is_starred": True}}),
        ("has:attachment", {"term": {"has_attachments": True}}),
        ("after:2024-01-02", {"range": {"received_at": {"gte": "2024-01-02T00:00:00+00:00"}}}),
        ("before:2024-01-02", {"range": {"received_at": {"lt": "2024-01-02T00:00:00+00:00"}}}),
        ("newer_than:2d", {"range": {"received_at": {"gte": (NOW - timedelta(days=2)).isoformat()}}}),
        ("older_than:1y", {"range": {"received_at": {"lt": (NOW - timedelta(days=365)).isoformat()}}}),
        ("larger:1M", {"range": {"size": {"gt": 1048576}}}),
        ("smaller:10K", {"range": {"size": {"lt": 10240}}}),
        ("", {"match_all": {}}),
    ],
)
def test_operators(query, expected):
    assert compiled(query) == expected


def test_negation_or_and_parentheses():
    assert compiled("-is:starred") == {"bool": {"must_not": [{"term": {"is_starred": True}}]}}
    assert compiled("is:starred OR has:attachment") == {
        "bool": {
            "should": [{"term": {"is_starred": True}}, {"term": {"has_attachments": True}}],
            "minimum_should_match": 1,
        }
    }
    assert compiled("is:read (in:inbox OR -label:x)") == {
        "bool": {
            "filter": [
                {"term": {"is_read": True}},
                {
                    "bool": {
                        "should": [
                            {"term": {"folder": "inbox"}},
                            {"bool": {"must_not": [{"terms": {"labels": ["x"]}}]}},
                        ],
                        "minimum_should_match": 1,
                    }
                },
            ]
        }
    }


def test_request_is_scoped_and_routed_to_the_user(backend):
    request = backend.build_search(parse_query("budget"), user_id=42, order="date", limit=50, after=None)
    body = request.to_dict()
    assert body["query"]["bool"]["filter"][0] == {"term": {"user_id": 42}}
    assert request._params["routing"] == "42"
    assert body["sort"] == [{"received_at": "desc"}, {"item_id": "desc"}]
    assert body["size"] == 51
    assert "search_after" not in body


def test_relevance_request_scores_positive_words_only(backend):
    request = backend.build_search(
        parse_query("budget -draft"), user_id=1, order="relevance", limit=10, after=(2.5, 1700000000000, 9)
    )
    body = request.to_dict()
    assert body["sort"][0] == "_score"
    assert body["search_after"] == [2.5, 1700000000000, 9]
    assert body["query"]["bool"]["should"] == [
        {"multi_match": {"query": "budget", "type": "phrase", "fields": ANYWHERE}}
    ]


class _FakeClient:
    """Answers a search with fixed hits, as a cluster would (to check what the backend does with them)."""

    def __init__(self, hits):
        self.hits = hits

    def search(self, **kwargs):
        return {"hits": {"hits": self.hits}}


@pytest.mark.django_db
def test_hits_outside_the_users_queryset_are_dropped(backend, alice, bob):
    from mailboxes.models import MailboxItem
    from tests.factories import deliver, raw_email

    (mine,) = deliver(raw_email(subject="mine"), alice)
    (theirs,) = deliver(raw_email(subject="theirs"), bob)
    backend._client = _FakeClient(
        [
            {"_source": {"item_id": theirs.pk, "thread_id": 1, "body_text": "x"}, "sort": [2, theirs.pk]},
            {"_source": {"item_id": mine.pk, "thread_id": 1, "body_text": "y"}, "sort": [1, mine.pk]},
        ]
    )
    page = backend.search(
        parse_query("x"), MailboxItem.objects.filter(user=alice), user_id=alice.pk, order="date", limit=5, after=None
    )
    assert [row.item_id for row in page.rows] == [mine.pk]
    assert page.next_key is None


def test_cursor_keys_are_checked(backend):
    assert backend.decode_key("date", [1700000000000, 5]) == (1700000000000, 5)
    with pytest.raises(ValueError):
        backend.decode_key("date", ["x", 5])
    with pytest.raises(ValueError):
        backend.decode_key("relevance", [1, 2])
