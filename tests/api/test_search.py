"""``GET /api/emails/search``: a thin layer over ``mailboxes.search.services.search``."""

import importlib.util
from io import StringIO

import pytest

from tests.api.conftest import assert_error
from tests.factories import deliver, raw_email

SEARCH_BUILT = importlib.util.find_spec("mailboxes.search") is not None


@pytest.mark.skipif(SEARCH_BUILT, reason="search exists")
def test_without_the_search_app_the_endpoint_says_so(api):
    assert_error(api.get("/api/emails/search", {"q": "invoice"}), 503, "search_unavailable")


def test_the_query_is_required(api):
    assert_error(api.get("/api/emails/search"), 400, "invalid", "q")
    assert_error(api.get("/api/emails/search", {"q": "x", "limit": 500}), 400, "invalid", "limit")


@pytest.fixture
def search_services():
    return pytest.importorskip("mailboxes.search.services")


@pytest.fixture
def fake_search(search_services, monkeypatch):
    """The search backend answering what a test says, to check the API's side of the contract."""
    calls = []

    def answer(hits, next_cursor=None, error=None):
        def search(user, query, *, limit=50, cursor=None, order="date"):
            calls.append({"user": user, "query": query, "limit": limit, "cursor": cursor, "order": order})
            if error:
                raise error
            return search_services.SearchPage(hits=hits, next_cursor=next_cursor)

        monkeypatch.setattr(search_services, "search", search)
        return calls

    return answer


def test_search_returns_the_hits_in_order(api, alice, search_services, fake_search):
    first, second = (deliver(raw_email(to="alice@example.test", subject=s), alice)[0] for s in ("A", "B"))
    hit = search_services.SearchHit
    calls = fake_search(
        [
            hit(item_id=second.pk, thread_id=second.thread_id, snippet="<b>invoice</b>", score=2.0),
            hit(item_id=first.pk, thread_id=first.thread_id, snippet="", score=1.0),
        ],
        next_cursor="next",
    )
    data = api.get("/api/emails/search", {"q": "invoice", "limit": 2, "cursor": "c"}).json()
    assert [i["id"] for i in data["items"]] == [second.pk, first.pk]
    assert data["items"][0]["match"] == "<b>invoice</b>"
    assert data["next_cursor"] == "next"
    assert calls[0]["user"] == alice and calls[0]["limit"] == 2 and calls[0]["cursor"] == "c"


def test_a_hit_outside_the_users_mailbox_is_dropped(api, mallory, search_services, fake_search):
    theirs = deliver(raw_email(to="mallory@example.test"), mallory)[0]
    fake_search([search_services.SearchHit(item_id=theirs.pk, thread_id=theirs.thread_id, snippet="", score=1)])
    assert api.get("/api/emails/search", {"q": "x"}).json()["items"] == []


def test_a_syntax_error_is_400_naming_q(api, search_services, fake_search):
    fake_search([], error=search_services.QuerySyntaxError("Unclosed quote", position=7))
    error = assert_error(api.get("/api/emails/search", {"q": 'subject:"oops'}), 400, "invalid_query", "q")
    assert "7" in error["message"]


def test_search_finds_a_delivered_message(api, alice, search_services, django_capture_on_commit_callbacks):
    from django.core.management import call_command, get_commands

    with django_capture_on_commit_callbacks(execute=True):  # indexing may follow the commit
        deliver(raw_email(to="alice@example.test", subject="Invoice 42", body="Please pay."), alice)
    if "reindex" in get_commands():
        call_command("reindex", stdout=StringIO())
    data = api.get("/api/emails/search", {"q": "invoice"}).json()
    assert [i["subject"] for i in data["items"]] == ["Invoice 42"]
