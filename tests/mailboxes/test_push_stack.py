"""Push through the real web stack: gunicorn, uvicorn's worker, the ASGI app (tests/support/stack.py).

What runs in production (and under ``make run``): a message placed by another process
reaches an open event stream, static files and the operators' endpoints are served.
"""

import http.client
import json

import pytest
from django.db import connection

from tests.support.stack import WebStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = WebStack(tmp_path_factory.mktemp("stack"))
    stack.create_user("alice@example.test", "Alice Liddell")
    stack.create_user("bob@example.test", "Bob Builder")
    yield stack
    stack.stop()


def open_stream(stack, address, *, last_event_id=None):
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    headers = {"Cookie": f"sessionid={stack.session(address)}", "Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    connection.request("GET", "/mail/events/", headers=headers)
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.getheader("X-Accel-Buffering") == "no"
    assert response.readline().startswith(b"retry: ")  # subscribed: what is delivered now is pushed
    response.readline()
    return connection, response


def next_event(response) -> dict:
    fields = {}
    while True:
        line = response.readline().decode().rstrip("\n")
        if line == "" and fields.get("event") == "mail":
            return {"id": fields["id"], **json.loads(fields["data"])}
        if line == "":
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


def test_a_message_placed_by_another_process_reaches_the_open_stream(stack):
    connection, response = open_stream(stack, "alice@example.test")
    bob_connection, bob_response = open_stream(stack, "bob@example.test")
    stack.deliver("bob@example.test", "Only for Bob")
    change = stack.deliver("alice@example.test", "Through gunicorn and uvicorn")
    event = next_event(response)
    assert event["id"] == f"{change}.{change}"
    assert event["message"] == {"from": "Sam Sender", "subject": "Through gunicorn and uvicorn"}
    assert next_event(bob_response)["message"]["subject"] == "Only for Bob"
    connection.close()
    bob_connection.close()


def test_the_stack_serves_static_files_health_and_metrics(stack):
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    for path, expected in [("/static/js/push.js", b"EventSource"), ("/healthz", b"ok"), ("/metrics", b"# HELP")]:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status)
        assert expected in body, path
    connection.close()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the ASGI processes pool connections on PostgreSQL only")
def test_open_streams_hold_no_pooled_connection(tmp_path):
    """More streams than the pool has connections, each refreshing its session's "last seen" (a
    session save after the view): each must give its request's connection back, or the next
    streams and every page of the process wait for the pool until they fail."""
    stack = WebStack(
        tmp_path,
        settings_env={"DATABASE_POOL_MIN_SIZE": "1", "DATABASE_POOL_MAX_SIZE": "2", "DATABASE_POOL_TIMEOUT": "3"},
    )
    try:
        addresses = [f"reader{n}@example.test" for n in range(5)]
        for address in addresses:
            stack.create_user(address)
        streams = [open_stream(stack, address) for address in addresses]  # fresh sessions: each is saved
        page = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
        page.request("GET", "/mail/", headers={"Cookie": f"sessionid={stack.session(addresses[0])}"})
        answer = page.getresponse()
        answer.read()
        assert answer.status == 200
        page.close()
        for address, (_, response) in zip(addresses, streams, strict=True):
            change = stack.deliver(address, f"For {address}")
            assert next_event(response)["id"] == f"{change}.{change}"
        for stream_connection, _ in streams:
            stream_connection.close()
    finally:
        stack.stop()
