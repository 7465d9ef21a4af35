"""The search page against the search interface (``mailboxes.search.services``).

Most tests stand in a small fake for the search module so the page is tested on its own; the
last one runs the real search once it exists.
"""

import sys
import types
from dataclasses import dataclass

import pytest
from django.urls import reverse

from tests.factories import deliver, raw_email

pytestmark = pytest.mark.django_db


@dataclass
class Hit:
    item_id: int
    thread_id: int
    snippet: str
    score: float = 1.0


@dataclass
class Page:
    hits: list
    next_cursor: str | None = None


class QuerySyntaxError(Exception):
    def __init__(self, message, position):
        super().__init__(message)
        self.message = message
        self.position = position


@pytest.fixture
def fake_search(monkeypatch):
    calls = []
    results = {}

    def search(user, query, *, limit=50, cursor=None, order="date"):
        calls.append((user, query, limit, cursor))
        if query.startswith("from:("):
            raise QuerySyntaxError("Unclosed parenthesis", 5)
        return results.get(query, Page(hits=[]))

    services = types.ModuleType("mailboxes.search.services")
    services.search = search
    services.QuerySyntaxError = QuerySyntaxError
    package = types.ModuleType("mailboxes.search")
    package.services = services
    monkeypatch.setitem(sys.modules, "mailboxes.search", package)
    monkeypatch.setitem(sys.modules, "mailboxes.search.services", services)
    return types.SimpleNamespace(calls=calls, results=results)


def test_results_are_listed_as_conversations_with_highlighted_snippets(alice_client, alice, fake_search):
    item = deliver(raw_email(subject="Quokka sightings", to="alice@example.test"), alice)[0]
    fake_search.results["quokka"] = Page(
        hits=[Hit(item.pk, item.thread_id, "we saw a <mark>quokka</mark> &amp; more")], next_cursor="abc"
    )
    response = alice_client.get(reverse("mailboxes:search"), {"q": "quokka"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Quokka sightings" in html and "<mark>quokka</mark> &amp; more" in html
    assert 'value="quokka"' in html  # the query stays in the box
    assert "after=abc" in html
    assert fake_search.calls[0][0] == alice


def test_next_page_passes_the_cursor(alice_client, fake_search):
    alice_client.get(reverse("mailboxes:search"), {"q": "x", "after": "cur-2"})
    assert fake_search.calls[0][3] == "cur-2"


def test_bad_syntax_is_explained_not_a_500(alice_client, fake_search):
    response = alice_client.get(reverse("mailboxes:search"), {"q": "from:(bob"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Unclosed parenthesis" in html and "at character 5" in html and 'role="alert"' in html


def test_a_hit_naming_someone_elses_conversation_is_dropped(mallory_client, alice, fake_search):
    item = deliver(raw_email(subject="Alice private", to="alice@example.test"), alice)[0]
    fake_search.results["private"] = Page(hits=[Hit(item.pk, item.thread_id, "private")])
    html = mallory_client.get(reverse("mailboxes:search"), {"q": "private"}).content.decode()
    assert "Alice private" not in html


def test_an_empty_query_searches_nothing(alice_client, fake_search):
    assert alice_client.get(reverse("mailboxes:search")).status_code == 200
    assert fake_search.calls == []


def test_without_the_search_module_the_page_says_so(alice_client, monkeypatch):
    monkeypatch.setitem(sys.modules, "mailboxes.search.services", None)
    html = alice_client.get(reverse("mailboxes:search"), {"q": "hello"}).content.decode()
    assert "Search is not available yet." in html


def test_the_real_search_finds_a_message(alice_client, alice):
    pytest.importorskip("mailboxes.search.services")
    deliver(raw_email(subject="Wombat census", body="wombats everywhere", to="alice@example.test"), alice)
    from django.core.management import call_command

    call_command("reindex")
    html = alice_client.get(reverse("mailboxes:search"), {"q": "wombat"}).content.decode()
    assert "Wombat census" in html


def test_a_snippet_cannot_carry_markup_other_than_mark(alice_client, alice, fake_search):
    item = deliver(raw_email(subject="Snippety", to="alice@example.test"), alice)[0]
    fake_search.results["x"] = Page(hits=[Hit(item.pk, item.thread_id, '<mark>x</mark><img src=x onerror="alert(1)">')])
    html = alice_client.get(reverse("mailboxes:search"), {"q": "x"}).content.decode()
    assert "<mark>x</mark>" in html and "onerror" not in html and "<img src=x" not in html
