"""/healthz and /readyz against real parts: a database, broker, storage or search that refuses is named (issue 17)."""

import os
import threading

import pytest

from mailboxes.search.backends import reset_search_backends
from observability.health import describe_error, run_checks
from tests.support.broker import unreachable_broker
from tests.support.databases import unreachable_database
from tests.support.smtp_server import free_port
from webmail.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)


def by_name(body: dict) -> dict:
    return {check["name"]: check for check in body["checks"]}


def test_healthz_answers_ok_without_asking_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok"
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_200_and_lists_each_check_with_its_time(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    checks = by_name(body)
    assert set(checks) == {"database", "broker", "storage:mailstore"}  # no search: none configured
    assert all(check["ok"] and check["error"] == "" and check["seconds"] >= 0 for check in checks.values())


def test_readyz_wants_no_session_and_no_csrf_token(client):
    csrf_client = client.__class__(enforce_csrf_checks=True)

    assert csrf_client.head("/readyz").status_code == 200
    assert csrf_client.post("/readyz").status_code == 405  # a probe only reads
    assert "sessionid" not in csrf_client.cookies


@pytest.fixture
def replica_down():
    with unreachable_database("replica") as alias:
        yield alias


def test_readyz_is_503_naming_the_database_that_refuses(client, replica_down):
    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["failing"] == ["database:replica"]
    failing = by_name(body)["database:replica"]
    assert failing["ok"] is False
    assert "OperationalError" in failing["error"]
    assert by_name(body)["database"]["ok"] is True  # the default one still answers
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_naming_the_broker_when_its_port_is_closed(client):
    with unreachable_broker():
        response = client.get("/readyz")
        healthz = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert "refused" in by_name(body)["broker"]["error"].lower()
    assert healthz.status_code == 200


def unwritable_folder(tmp_path):
    """A read-only folder; as root (who writes anywhere) a folder that cannot be made: its parent is a file."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        (tmp_path / "a-file").write_text("not a folder")
        return tmp_path / "a-file" / "mailstore"
    return folder


def test_readyz_is_503_naming_the_storage_that_cannot_be_written(client, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "mailstore": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(unwritable_folder(tmp_path)), "allow_overwrite": True},
        },
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["storage:mailstore"]
    assert "Error" in by_name(body)["storage:mailstore"]["error"]
    assert client.get("/healthz").status_code == 200


def test_readyz_names_the_file_broker_when_its_folder_cannot_be_written(client, tmp_path):
    options = celery_app.conf.broker_transport_options
    assert celery_app.conf.broker_url.startswith("filesystem:")  # the embedded broker of a development install
    folder = str(unwritable_folder(tmp_path))
    celery_app.conf.broker_transport_options = {**options, "data_folder_in": folder, "data_folder_out": folder}
    try:
        response = client.get("/readyz")
    finally:
        celery_app.conf.broker_transport_options = options

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert "is not writable" in by_name(body)["broker"]["error"]


def test_readyz_asks_search_only_when_elasticsearch_is_configured_and_names_it_when_down(client, settings):
    settings.SEARCH_BACKENDS = {
        "default": {
            "BACKEND": "mailboxes.search.backends.elasticsearch.ElasticsearchBackend",
            "URL": f"http://elastic:s3cret@127.0.0.1:{free_port()}",
        }
    }
    reset_search_backends()
    try:
        response = client.get("/readyz")
    finally:
        reset_search_backends()

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["search"]
    assert "s3cret" not in response.content.decode()


def test_a_check_that_does_not_answer_in_time_fails_as_timed_out():
    release = threading.Event()
    try:
        results = run_checks({"stuck": lambda: release.wait(60), "quick": lambda: None}, timeout=0.01)
    finally:
        release.set()

    outcome = {result.name: result for result in results}
    assert outcome["quick"].ok
    assert not outcome["stuck"].ok and "no answer within" in outcome["stuck"].error


def test_errors_never_show_the_credentials_of_a_url():
    error = describe_error(ConnectionError("cannot reach amqp://guest:hunter2@10.0.0.5:5672//"))

    assert "hunter2" not in error
    assert error == "ConnectionError: cannot reach amqp://***@10.0.0.5:5672//"
