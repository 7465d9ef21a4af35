"""The Elasticsearch backend against a loopback HTTP server speaking just enough of the REST API.

No cluster can be installed here; this checks the requests that reach the
wire (index creation with the mapping, routed bulk indexing, routed and
scoped searches). The same contract tests as the database backends run
against a real cluster when ELASTICSEARCH_URL is set.
"""

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mailboxes.models import MailboxItem
from mailboxes.search import parse_query
from mailboxes.search.backends import IndexDocument, reset_search_backends
from mailboxes.search.backends.elasticsearch import MAPPING, ElasticsearchBackend
from mailboxes.search.indexing import index_changes
from mailboxes.services import add_labels, create_label, delete_forever, mark_read, save_draft, trash_items

_OPS = {"index", "create", "update", "delete"}


class _Cluster(BaseHTTPRequestHandler):
    requests: list

    def _answer(self, status: int, payload=None):
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.requests.append((self.command, self.path, body))
        if self.command == "HEAD":
            return self._answer(404 if not self.server.index_exists else 200)
        if "_bulk" in self.path:
            lines = [json.loads(line) for line in body.strip().splitlines()]
            items = []
            for line in lines:
                ((op, meta),) = line.items() if len(line) == 1 and next(iter(line)) in _OPS else ((None, None),)
                if op is None:
                    continue  # a source or a partial doc
                status = 404 if op == "update" and str(meta["_id"]) in self.server.missing else 200
                items.append({op: {"_id": str(meta["_id"]), "status": status}})
            return self._answer(200, {"errors": any(i[next(iter(i))]["status"] >= 300 for i in items), "items": items})
        if "_search" in self.path:
            return self._answer(200, {"hits": {"hits": self.server.hits}})
        if self.command == "PUT":
            self.server.index_exists = True
        return self._answer(200, {"acknowledged": True})

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def log_message(self, *args):
        pass


@pytest.fixture
def cluster():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Cluster)
    server.requests, server.hits, server.index_exists, server.missing = [], [], False, set()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def backend(cluster):
    return ElasticsearchBackend(url=f"http://127.0.0.1:{cluster.server_port}", index="mail")


def _document(**fields) -> IndexDocument:
    values = {"item_id": 11, "user_id": 4, "thread_id": 2, "received_at": datetime(2025, 1, 2, tzinfo=UTC)}
    values |= {"subject": "Crème", "sender": "Zoë <z@example.test>", "to": "", "cc": "", "body": "北京大学"}
    return IndexDocument(**(values | fields))


def test_first_write_creates_the_index_with_the_mapping_then_bulk_indexes_routed(backend, cluster):
    backend.index([_document()])
    (method, path, body), *rest = cluster.requests[1:]
    assert (method, path) == ("PUT", "/mail")
    assert json.loads(body)["mappings"] == MAPPING
    ((method, path, body),) = rest
    assert method in ("PUT", "POST") and path.startswith("/_bulk")
    action, source = (json.loads(line) for line in body.strip().splitlines())
    assert action == {"index": {"_id": 11, "_index": "mail", "routing": "4"}}
    assert source["subject"] == "creme" and source["body"] == "北京 京大 大学 学"


@pytest.mark.django_db
def test_search_is_routed_and_scoped_to_the_user(backend, cluster, alice):
    cluster.hits = []
    backend.search(
        parse_query("budget"),
        MailboxItem.objects.filter(user=alice),
        user_id=alice.pk,
        order="date",
        limit=5,
        after=None,
    )
    method, path, body = cluster.requests[-1]
    assert path == f"/mail/_search?routing={alice.pk}"
    request = json.loads(body)
    assert request["query"]["bool"]["filter"][0] == {"term": {"user_id": alice.pk}}
    assert request["size"] == 6 and request["track_total_hits"] is False


def test_delete_and_clear(backend, cluster):
    backend.delete([1, 2])
    backend.clear()
    paths = [(method, path.split("?")[0]) for method, path, _ in cluster.requests]
    assert ("POST", "/mail/_delete_by_query") in paths
    assert ("DELETE", "/mail") in paths
    assert paths[-1] == ("PUT", "/mail")


# --- Following the change feed -------------------------------------------------


@pytest.fixture
def configured(cluster, settings):
    """The fake cluster as the configured search backend, its index already there."""
    url = f"http://127.0.0.1:{cluster.server_port}"
    settings.SEARCH_BACKENDS = {
        "default": {"BACKEND": f"{ElasticsearchBackend.__module__}.ElasticsearchBackend", "URL": url, "INDEX": "mail"}
    }
    reset_search_backends()
    cluster.index_exists = True
    yield cluster
    reset_search_backends()


def _indexed_all(cluster) -> None:
    """The cluster now answers that every item has a document (what the sweep asks)."""
    cluster.hits = [{"_source": {"item_id": pk}} for pk in MailboxItem.objects.values_list("pk", flat=True)]
    cluster.requests.clear()


def _bulk_lines(cluster) -> list[dict]:
    return [
        json.loads(line) for _, path, body in cluster.requests if "_bulk" in path for line in body.strip().splitlines()
    ]


@pytest.mark.django_db
def test_state_changes_reach_the_documents_as_one_bulk_partial_update(configured, alice, mail):
    items = [mail(subject=f"state {n}") for n in range(2)]
    index_changes()
    _indexed_all(configured)
    label = create_label(user=alice, name="Travel")
    mark_read(user=alice, item_ids=[item.pk for item in items])
    add_labels(user=alice, item_ids=[item.pk for item in items], label_ids=[label.pk])
    assert index_changes() == 0  # nothing re-read from the message store
    bulks = [path for _, path, _ in configured.requests if "_bulk" in path]
    assert len(bulks) == 1
    lines = _bulk_lines(configured)
    assert [line["update"]["_id"] for line in lines[::2]] == [items[0].pk, items[1].pk]
    assert lines[0]["update"]["routing"] == str(alice.pk)
    assert lines[1] == {"doc": {"folder": "inbox", "labels": ["travel"], "is_read": True, "is_starred": False}}


@pytest.mark.django_db
def test_a_state_change_of_an_item_not_indexed_yet_indexes_it_whole(configured, alice, mail):
    item = mail(subject="Not yet")
    index_changes()
    _indexed_all(configured)
    configured.missing = {str(item.pk)}
    mark_read(user=alice, item_ids=[item.pk])
    assert index_changes() == 1
    ops = [next(iter(line)) for line in _bulk_lines(configured) if len(line) == 1 and "doc" not in line]
    assert ops == ["update", "index"]


@pytest.mark.django_db
def test_an_edited_draft_is_indexed_again(configured, alice):
    draft = save_draft(user=alice, subject="Menu", text="soup")
    index_changes()
    _indexed_all(configured)
    save_draft(user=alice, draft_id=draft.pk, subject="Menu", text="salad")
    assert index_changes() == 1
    action, source = _bulk_lines(configured)
    assert action["index"]["_id"] == draft.pk and source["body"].startswith("salad")


@pytest.mark.django_db
def test_deleted_items_are_removed_from_the_index(configured, alice, mail):
    item = mail(subject="Gone soon")
    index_changes()
    _indexed_all(configured)
    trash_items(user=alice, item_ids=[item.pk])
    delete_forever(user=alice, item_ids=[item.pk])
    _indexed_all(configured)
    index_changes()
    ((method, path, body),) = [r for r in configured.requests if "_delete_by_query" in r[1]]
    assert json.loads(body)["query"] == {"terms": {"item_id": [item.pk]}}
    assert not any("_bulk" in path for _, path, _ in configured.requests)
