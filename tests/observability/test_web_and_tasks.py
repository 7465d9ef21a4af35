"""Web request metrics (by URL name) and Celery task metrics (through Celery's signals, tasks run eagerly)."""

import pytest
from prometheus_client import REGISTRY

from observability.tasks_metrics import task_queue
from webmail.celery import app as celery_app


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- web ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_request_is_counted_and_timed_under_its_url_name(client):
    before = value("webmail_http_requests_total", view="accounts:login", method="GET", status="2xx")
    timed = value("webmail_http_request_duration_seconds_count", view="accounts:login", method="GET")

    assert client.get("/signin/").status_code == 200

    assert value("webmail_http_requests_total", view="accounts:login", method="GET", status="2xx") == before + 1
    assert value("webmail_http_request_duration_seconds_count", view="accounts:login", method="GET") == timed + 1


@pytest.mark.django_db
def test_a_redirect_to_sign_in_is_a_3xx_of_the_view_asked_for(client):
    before = value("webmail_http_requests_total", view="mailboxes:inbox", method="GET", status="3xx")
    client.get("/mail/")
    assert value("webmail_http_requests_total", view="mailboxes:inbox", method="GET", status="3xx") == before + 1


@pytest.mark.django_db
def test_a_path_no_url_matches_is_unmatched_never_the_path(client):
    before = value("webmail_http_requests_total", view="unmatched", method="GET", status="4xx")

    assert client.get("/no/such/page-8471").status_code == 404

    assert value("webmail_http_requests_total", view="unmatched", method="GET", status="4xx") == before + 1
    labels = {sample.labels.get("view") for metric in REGISTRY.collect() for sample in metric.samples}
    assert not any("8471" in (label or "") for label in labels)


@pytest.mark.django_db
def test_an_unknown_method_is_other(client):
    before = value("webmail_http_requests_total", view="accounts:login", method="other", status="4xx")
    client.generic("BREW", "/signin/")
    assert value("webmail_http_requests_total", view="accounts:login", method="other", status="4xx") == before + 1


@pytest.mark.django_db
def test_scrapes_of_metrics_are_not_counted(client):
    def scrapes():
        return sum(
            sample.value
            for metric in REGISTRY.collect()
            for sample in metric.samples
            if sample.name == "webmail_http_requests_total" and "metrics" in sample.labels["view"]
        )

    before = scrapes()
    client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    client.get("/metrics", REMOTE_ADDR="203.0.113.9")  # refused: not counted either
    assert scrapes() == before


# --- Celery ---------------------------------------------------------------------------------


@celery_app.task(name="tests.observability.add")
def add(a, b):
    return a + b


@celery_app.task(name="tests.observability.explode")
def explode():
    raise RuntimeError("boom")


def test_an_eager_task_is_counted_and_timed_as_succeeded():
    labels = {"queue": "eager", "task": "tests.observability.add"}
    before = value("webmail_celery_tasks_total", **labels, state="succeeded")
    timed = value("webmail_celery_task_duration_seconds_count", **labels)

    assert add.delay(2, 3).get() == 5

    assert value("webmail_celery_tasks_total", **labels, state="succeeded") == before + 1
    assert value("webmail_celery_task_duration_seconds_count", **labels) == timed + 1


def test_a_failing_task_is_counted_as_failed():
    labels = {"queue": "eager", "task": "tests.observability.explode"}
    before = value("webmail_celery_tasks_total", **labels, state="failed")

    result = explode.apply()

    assert result.failed()
    assert value("webmail_celery_tasks_total", **labels, state="failed") == before + 1
    assert value("webmail_celery_tasks_total", **labels, state="succeeded") == 0


def test_a_task_from_a_broker_is_labelled_with_the_queue_it_came_from():
    add.push_request(delivery_info={"routing_key": "bulk", "exchange": ""}, is_eager=False)
    try:
        assert task_queue(add) == "bulk"
    finally:
        add.pop_request()
    add.push_request(is_eager=True)
    try:
        assert task_queue(add) == "eager"
    finally:
        add.pop_request()


@celery_app.task(name="tests.observability.flaky", bind=True, max_retries=1)
def flaky(self):
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "done"


def test_a_retried_task_counts_its_retry_then_its_success():
    labels = {"queue": "eager", "task": "tests.observability.flaky"}
    retried = value("webmail_celery_tasks_total", **labels, state="retried")
    succeeded = value("webmail_celery_tasks_total", **labels, state="succeeded")

    flaky.apply()

    assert value("webmail_celery_tasks_total", **labels, state="retried") == retried + 1
    assert value("webmail_celery_tasks_total", **labels, state="succeeded") == succeeded + 1
