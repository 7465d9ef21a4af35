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
from mailboxes.search.backends import IndexDocument
from mailboxes.search.backends.elasticsearch import MAPPING, ElasticsearchBackend


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
            return self._answer(200, {"errors": False, "items": [{"index": {"status": 201}}]})
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
    server.requests, server.hits, server.index_exists = [], [], False
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
