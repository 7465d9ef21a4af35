"""The Elasticsearch backend (elasticsearch-dsl), enabled by ``ELASTICSEARCH_URL``.

Documents are routed by user, so one user's search touches one shard. Text
fields hold the terms made by ``mailboxes.search.text`` (folded, CJK
bigrams) and are analysed with the plain ``whitespace`` tokenizer, so
Elasticsearch matches exactly what the database backends match, without
plugins. Folder, labels and flags are copied into the document and refreshed
by partial updates when the change feed records a state change of the item
(``update_states``), so they are as fresh as the indexer.
"""

import contextlib
from datetime import datetime

from django.utils import timezone
from elasticsearch import Elasticsearch, NotFoundError
from elasticsearch.helpers import bulk
from elasticsearch_dsl import Q, Search

from mailboxes.search.backends import IndexDocument, ItemState, Page, Row, SearchBackend
from mailboxes.search.query import (
    And,
    DateBound,
    Flag,
    HasAttachment,
    HasLabel,
    InFolder,
    Node,
    Not,
    Or,
    RelativeAge,
    SizeBound,
    Text,
)
from mailboxes.search.text import index_terms, query_terms

SNIPPET_BODY_CHARS = 20_000
_TEXT = {"type": "text", "analyzer": "terms"}
MAPPING = {
    "dynamic": "strict",
    "_routing": {"required": True},
    "properties": {
        "item_id": {"type": "long"},
        "user_id": {"type": "long"},
        "thread_id": {"type": "long"},
        "received_at": {"type": "date"},
        "subject": _TEXT,
        "sender": _TEXT,
        "to": _TEXT,
        "cc": _TEXT,
        "filenames": _TEXT,
        "body": _TEXT,
        "body_text": {"type": "text", "index": False},  # the original text, for snippets
        "folder": {"type": "keyword"},
        "labels": {"type": "keyword"},
        "is_read": {"type": "boolean"},
        "is_starred": {"type": "boolean"},
        "has_attachments": {"type": "boolean"},
        "size": {"type": "long"},
    },
}
SETTINGS = {"analysis": {"analyzer": {"terms": {"type": "custom", "tokenizer": "whitespace"}}}}
# A free word looks in every text field; a match in the subject counts most, then people.
ANYWHERE = ["subject^4", "sender^2", "to^2", "cc^2", "filenames", "body"]
_FIELDS = {"subject": "subject", "from": "sender", "to": "to", "cc": "cc", "filename": "filenames"}


def document_source(doc: IndexDocument) -> dict:
    """The Elasticsearch ``_source`` of one document."""
    return {
        "item_id": doc.item_id,
        "user_id": doc.user_id,
        "thread_id": doc.thread_id,
        "received_at": doc.received_at.isoformat(),
        "subject": " ".join(index_terms(doc.subject)),
        "sender": " ".join(index_terms(doc.sender)),
        "to": " ".join(index_terms(doc.to)),
        "cc": " ".join(index_terms(doc.cc)),
        "filenames": " ".join(index_terms(" ".join(doc.filenames))),
        "body": " ".join(index_terms(doc.body)),
        "body_text": doc.body[:SNIPPET_BODY_CHARS],
        "folder": doc.folder,
        "labels": sorted({label.lower() for label in doc.labels}),
        "is_read": doc.is_read,
        "is_starred": doc.is_starred,
        "has_attachments": doc.has_attachments,
        "size": doc.size,
    }


def state_source(state: ItemState) -> dict:
    """The part of ``_source`` that a state change replaces (a partial ``update``)."""
    return {
        "folder": state.folder,
        "labels": sorted({label.lower() for label in state.labels}),
        "is_read": state.is_read,
        "is_starred": state.is_starred,
    }


def _text_query(node: Text) -> Q:
    terms, cjk_prefix = query_terms(node.value)
    text = " ".join(terms)
    prefix = node.prefix or cjk_prefix
    if node.field is None:
        return Q("multi_match", query=text, type="phrase_prefix" if prefix else "phrase", fields=ANYWHERE)
    kind = "match_phrase_prefix" if prefix else "match_phrase"
    return Q(kind, **{_FIELDS[node.field]: text})


def compile_query(node: Node, now: datetime | None = None) -> Q:
    """The Elasticsearch query (an elasticsearch-dsl ``Q``) that matches what ``node`` matches."""
    now = now or timezone.now()
    if isinstance(node, And):
        if not node.children:
            return Q("match_all")
        return Q("bool", filter=[compile_query(child, now) for child in node.children])
    if isinstance(node, Or):
        return Q("bool", should=[compile_query(child, now) for child in node.children], minimum_should_match=1)
    if isinstance(node, Not):
        return Q("bool", must_not=[compile_query(node.child, now)])
    if isinstance(node, Text):
        return _text_query(node)
    if isinstance(node, InFolder):
        return Q("match_all") if node.folder == "anywhere" else Q("term", folder=node.folder)
    if isinstance(node, HasLabel):
        return Q("terms", labels=sorted({node.name.lower(), node.name.lower().replace("-", " ")}))
    if isinstance(node, Flag):
        return Q("term", **{node.field: node.value})
    if isinstance(node, HasAttachment):
        return Q("term", has_attachments=True)
    if isinstance(node, RelativeAge):
        node = node.resolve(now)
    if isinstance(node, DateBound):
        bound = "gte" if node.after else "lt"
        return Q("range", received_at={bound: node.at.isoformat()})
    if isinstance(node, SizeBound):
        return Q("range", size={"gt" if node.larger else "lt": node.size})
    raise TypeError(f"cannot compile {node!r}")  # pragma: no cover


def scoring_query(node: Node) -> list[Q]:
    """The text parts that are not negated: optional ``should`` clauses that only score."""
    if isinstance(node, Text):
        return [_text_query(node)]
    if isinstance(node, And | Or):
        return [q for child in node.children for q in scoring_query(child)]
    return []


class ElasticsearchBackend(SearchBackend):
    def __init__(self, *, url: str, index: str = "webmail-mail", refresh: bool = False, **options):
        super().__init__(**options)
        self.url = url
        self.index_name = index
        self.refresh = refresh
        self._client = None

    @property
    def client(self) -> Elasticsearch:
        if self._client is None:  # connect on first use, never at import
            self._client = Elasticsearch(self.url)
        return self._client

    def ensure_index(self) -> None:
        if not self.client.indices.exists(index=self.index_name):
            self.client.indices.create(index=self.index_name, settings=SETTINGS, mappings=MAPPING)

    def index(self, documents: list[IndexDocument]) -> None:
        if not documents:
            return
        self.ensure_index()
        bulk(self.client, self.bulk_actions(documents), refresh="wait_for" if self.refresh else False)

    def bulk_actions(self, documents: list[IndexDocument]) -> list[dict]:
        """One bulk ``index`` action per document, routed by its user."""
        return [
            {
                "_op_type": "index",
                "_index": self.index_name,
                "_id": doc.item_id,
                "_routing": str(doc.user_id),
                "_source": document_source(doc),
            }
            for doc in documents
        ]

    def update_states(self, states: list[ItemState]) -> set[int]:
        """Partial updates in one bulk request; a document not indexed yet is reported, not created half-empty."""
        if not states:
            return set()
        self.ensure_index()
        actions = [
            {
                "_op_type": "update",
                "_index": self.index_name,
                "_id": state.item_id,
                "_routing": str(state.user_id),
                "doc": state_source(state),
            }
            for state in states
        ]
        _, errors = bulk(self.client, actions, raise_on_error=False, refresh="wait_for" if self.refresh else False)
        missing = set()
        for error in errors:
            result = error.get("update", {})
            if result.get("status") != 404:
                raise RuntimeError(f"Elasticsearch refused a state update: {result}")
            missing.add(int(result["_id"]))
        return missing

    def delete(self, item_ids: list[int]) -> None:
        if not item_ids:
            return
        with contextlib.suppress(NotFoundError):  # no index yet: nothing to delete
            self.client.delete_by_query(
                index=self.index_name, query={"terms": {"item_id": list(item_ids)}}, refresh=self.refresh
            )

    def clear(self) -> None:
        self.client.indices.delete(index=self.index_name, ignore_unavailable=True)
        self.ensure_index()

    def indexed_ids(self, item_ids: list[int]) -> set[int]:
        if not item_ids:
            return set()
        try:
            response = self.client.search(
                index=self.index_name,
                query={"terms": {"item_id": list(item_ids)}},
                size=len(item_ids),
                source=["item_id"],
            )
        except NotFoundError:
            return set()
        return {hit["_source"]["item_id"] for hit in response["hits"]["hits"]}

    def build_search(self, node: Node, *, user_id: int, order: str, limit: int, after: tuple | None) -> Search:
        """The request for one page (public so tests can check it as data)."""
        scoring = scoring_query(node) if order == "relevance" else []
        query = Q("bool", filter=[Q("term", user_id=user_id), compile_query(node)], should=scoring)
        sort = [{"received_at": "desc"}, {"item_id": "desc"}]
        if order == "relevance":
            sort = ["_score", *sort]
        search = Search(index=self.index_name).query(query).sort(*sort)
        search = search.params(routing=str(user_id))
        search = search.source(["item_id", "thread_id", "body_text"]).extra(size=limit + 1, track_total_hits=False)
        if after is not None:
            search = search.extra(search_after=list(after))
        return search

    def search(self, node: Node, items, *, user_id: int, order: str, limit: int, after: tuple | None) -> Page:
        request = self.build_search(node, user_id=user_id, order=order, limit=limit, after=after)
        try:
            response = self.client.search(index=self.index_name, body=request.to_dict(), **request._params)
        except NotFoundError:
            return Page(rows=[], next_key=None)
        hits = response["hits"]["hits"]
        more = len(hits) > limit
        hits = hits[:limit]
        # Only ids that are in the caller's scoped queryset: never another user's, nor a deleted item.
        allowed = set(items.filter(pk__in=[hit["_source"]["item_id"] for hit in hits]).values_list("pk", flat=True))
        rows = [
            Row(
                item_id=hit["_source"]["item_id"],
                thread_id=hit["_source"].get("thread_id"),
                score=hit.get("_score") if order == "relevance" else None,
                text=hit["_source"].get("body_text", ""),
            )
            for hit in hits
            if hit["_source"]["item_id"] in allowed
        ]
        return Page(rows=rows, next_key=tuple(hits[-1]["sort"]) if more and hits else None)

    def decode_key(self, order: str, values: list) -> tuple:
        expected = 3 if order == "relevance" else 2
        if len(values) != expected or not all(isinstance(v, int | float) for v in values):
            raise ValueError("malformed position")
        return tuple(values)
