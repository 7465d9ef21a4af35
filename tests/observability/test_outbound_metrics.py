"""The sending side's Prometheus counters move by exactly what happened (docs/METRICS-SENDING.md).

Real submissions (REST API, webmail with its undo window, templates, a
campaign's release) and real deliveries to the loopback SMTP server, which
answers by local part: ``ok…`` 250, ``unknown…`` 550 5.1.1, ``temp…`` 451.
Counters are process-global: each test reads them before and after
(``prometheus_client.REGISTRY``). Counts of stored records are added on
commit, so the steps whose records must count run inside
``django_capture_on_commit_callbacks(execute=True)``.
"""

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from prometheus_client import REGISTRY

from campaigns.services import fanout
from campaigns.services.campaigns import schedule
from campaigns.services.fanout import release_due, start_due_campaigns
from delivery.models import DeliveryEvent
from delivery.services import record_delivery_event, run_delivery, send_message
from delivery.services.engine import RunReport, apply_result, claim_due_recipients
from delivery.services.metrics import event_label
from delivery.transports.base import Outcome, Result
from mailboxes.models import Folder, MailboxItem, Recipient
from mailboxes.services.drafts import save_draft
from mailboxes.services.undo import cancel_send, schedule_send
from reputation.models import SenderLimit, SendingHold
from reputation.services.holds import place_hold
from tests.api.conftest import client_for
from tests.campaigns.campaign_world import (
    add_contacts,
    everyone_fixture,  # noqa: F401 - fixtures
    new_campaign,
    newsletter_fixture,  # noqa: F401
    spring_fixture,  # noqa: F401
)
from tests.campaigns.template_factories import make_template
from tests.campaigns.unsubscribe_world import marketer_fixture, shop_fixture  # noqa: F401 - fixtures

SEND = "webmail_send_requests_total"
ATTEMPTS = "webmail_delivery_attempts_total"
EVENTS = "webmail_delivery_events_total"
SMTP_COUNT = "webmail_smtp_transaction_duration_seconds_count"
TEMPLATE_URL = "/api/emails/send-template"
BATCH_URL = "/api/emails/send-template/batch"
VALUES = {"orderId": "12345", "amount": 99, "items": [{"name": "Tea", "qty": 2}], "shipped": "2026-12-01"}


class Moves:
    """Counter values read at the start; ``of(name, **labels)`` is how far one moved since."""

    def __init__(self):
        self.start = self._read()

    @staticmethod
    def _read() -> dict[tuple, float]:
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for metric in REGISTRY.collect()
            for sample in metric.samples
        }

    def of(self, name: str, **labels) -> float:
        key = (name, tuple(sorted(labels.items())))
        return self._read().get(key, 0.0) - self.start.get(key, 0.0)

    def moved(self, name: str) -> dict[tuple, float]:
        """Every label set of ``name`` that moved, with how far: nothing else moved than what a test names."""
        return {
            tuple(value for _, value in labels): value_now - self.start.get((sample, labels), 0.0)
            for (sample, labels), value_now in self._read().items()
            if sample == name and value_now != self.start.get((sample, labels), 0.0)
        }


@pytest.fixture
def moves():
    return Moves()


@pytest.fixture
def api(alice):
    client = client_for(alice)
    client.default_format = "json"
    return client


def _post_send(api, to):
    return api.post("/api/emails/send", {"to": to, "subject": "Hi", "body": "Hello."})


# --- the REST API, the engine and the SMTP transport ----------------------------------------------------


def test_an_api_send_counts_one_accepted_request_and_each_outcome_by_provider(
    api, bob, remote_domain, smtp_server, moves, django_capture_on_commit_callbacks
):
    to = ["ok@remote.example", "unknown@remote.example", "temp@remote.example", "bob@example.test"]

    response = _post_send(api, to)
    with django_capture_on_commit_callbacks(execute=True):
        report = run_delivery()

    assert response.status_code == 202, response.content
    assert (report.sent, report.bounced, report.deferred, report.delivered) == (1, 1, 1, 1)
    assert moves.moved(SEND) == {("api", "accepted"): 1}
    assert moves.moved(ATTEMPTS) == {
        ("sent", "other"): 1, ("bounced", "other"): 1, ("deferred", "other"): 1, ("sent", "local"): 1,
    }  # fmt: skip
    assert moves.moved(EVENTS) == {("delivered",): 2, ("bounced_hard",): 1, ("deferred",): 1}
    assert moves.of(SMTP_COUNT, provider="other") == 3  # one SMTP transaction per remote recipient
    assert moves.of(SMTP_COUNT, provider="local") == 0  # a hosted mailbox is no SMTP transaction


def test_a_domain_whose_mx_is_gmail_counts_under_gmail(
    api, dns_server, smtp_server, moves, django_capture_on_commit_callbacks
):
    dns_server.resolver.add("workspace.example. 300 IN MX 5 gmail-smtp-in.l.google.com.")
    dns_server.resolver.add("gmail-smtp-in.l.google.com. 300 IN A 127.0.0.1")

    response = _post_send(api, ["ok@workspace.example", "unknown@workspace.example"])
    with django_capture_on_commit_callbacks(execute=True):
        run_delivery()

    assert response.status_code == 202, response.content
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ok@workspace.example"]]
    assert moves.moved(ATTEMPTS) == {("sent", "gmail"): 1, ("bounced", "gmail"): 1}
    assert moves.of(SMTP_COUNT, provider="gmail") == 2
    assert moves.of(SMTP_COUNT, provider="other") == 0


def test_a_send_over_the_quota_counts_refused(api, alice, monkeypatch, moves):
    moment = timezone.now()  # the quota's minute stands still, however slow the machine
    monkeypatch.setattr("reputation.services.admission.timezone.now", lambda: moment)
    SenderLimit.objects.create(user=alice, per_minute=1)

    first = _post_send(api, ["ok@remote.example"])
    second = _post_send(api, ["ok@remote.example"])

    assert (first.status_code, second.status_code) == (202, 429)
    assert moves.moved(SEND) == {("api", "accepted"): 1, ("api", "refused"): 1}


def test_a_draft_sent_through_the_api_counts_under_api(api, alice, moves):
    draft = api.post("/api/emails/drafts", {"to": ["ok@remote.example"], "subject": "Draft", "body": "x"})
    assert draft.status_code == 201, draft.content

    assert api.post(f"/api/emails/drafts/{draft.json()['id']}/send").status_code == 202
    assert api.post(f"/api/emails/drafts/{draft.json()['id']}/send").status_code == 404  # sent already: refused

    assert moves.moved(SEND) == {("api", "accepted"): 1, ("api", "refused"): 1}


def test_a_lost_lease_records_nothing_and_counts_nothing(alice, remote_domain, smtp_server, moves):
    message = send_message(user=alice, to=["ok@remote.example"], text="x")
    claim = claim_due_recipients(message_id=None, queue=None, limit=10, report=RunReport())
    Recipient.objects.filter(message=message).update(lease_token="someone-else")

    late = claim.recipients[0]
    assert apply_result(claim=claim, recipient=late, result=Result(late.pk, Outcome.SENT, 250, "2.0.0")) is None

    assert moves.moved(ATTEMPTS) == {}
    assert moves.moved(EVENTS) == {}


def test_a_crash_in_delivery_counts_a_failed_attempt(
    alice, remote_domain, settings, moves, django_capture_on_commit_callbacks
):
    settings.MAIL_TRANSPORT = {"BACKEND": "tests.support.transports.CrashingTransport"}
    send_message(user=alice, to=["ok@remote.example"], text="x")

    with django_capture_on_commit_callbacks(execute=True):
        assert run_delivery().failed == 1

    assert moves.moved(ATTEMPTS) == {("failed", "other"): 1}
    assert moves.moved(EVENTS) == {("failed",): 1}


# --- the webmail and its undo window --------------------------------------------------------------------

FORM = {"cc": "", "bcc": "", "subject": "From the webmail", "body": "Hi.", "draft_id": "", "in_reply_to": ""}


def test_a_webmail_send_counts_once_when_its_undo_window_ends(
    alice, remote_domain, smtp_server, settings, moves, django_capture_on_commit_callbacks
):
    settings.WEBMAIL_UNDO_SECONDS = 0  # the send task, then the delivery, run on commit
    client = Client()
    client.force_login(alice)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mailboxes:send"), FORM | {"to": "ok@remote.example"})

    assert response.status_code == 302
    assert MailboxItem.objects.get(user=alice, folder=Folder.SENT)
    assert moves.moved(SEND) == {("webmail", "accepted"): 1}
    assert moves.moved(ATTEMPTS) == {("sent", "other"): 1}
    assert moves.moved(EVENTS) == {("delivered",): 1}


def test_an_undone_webmail_send_counts_nothing_and_a_refused_one_counts_refused(alice, moves):
    client = Client()
    client.force_login(alice)
    assert client.post(reverse("mailboxes:send"), FORM | {"to": "ok@remote.example"}).status_code == 302
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    cancel_send(user=alice, draft_id=draft.pk)
    assert moves.moved(SEND) == {}

    place_hold(kind=SendingHold.Kind.USER, key=str(alice.pk), cause=SendingHold.Cause.ADMIN, reason="Review.",
               evidence={})  # fmt: skip
    response = client.post(reverse("mailboxes:send"), FORM | {"to": "ok@remote.example", "draft_id": draft.pk})

    assert response.status_code == 403
    assert moves.moved(SEND) == {("webmail", "refused"): 1}


def test_a_scheduled_draft_refused_when_its_window_ends_counts_refused(alice, moves):
    draft = save_draft(user=alice, to=["ok@remote.example"], subject="Later", text="x")
    schedule_send(user=alice, draft_id=draft.pk, delay_seconds=0)
    place_hold(kind=SendingHold.Kind.USER, key=str(alice.pk), cause=SendingHold.Cause.ADMIN, reason="Review.",
               evidence={})  # fmt: skip

    client = Client()
    client.force_login(alice)
    assert client.post(reverse("mailboxes:send_now", args=[draft.pk])).json() == {"sent": False}

    assert moves.moved(SEND) == {("webmail", "refused"): 1}


# --- templates and campaigns ----------------------------------------------------------------------------


def test_template_sends_and_batches_count_one_request_each(alice, moves):
    make_template()
    api = client_for(alice)
    api.default_format = "json"

    one = api.post(TEMPLATE_URL, {"templateId": "order_receipt", "to": ["bob@remote.example"], "variables": VALUES})
    unknown = api.post(TEMPLATE_URL, {"templateId": "nope", "to": ["bob@remote.example"], "variables": VALUES})
    batch = api.post(
        BATCH_URL,
        {
            "templateId": "order_receipt",
            "personalizations": [{"to": [f"p{n}@remote.example"], "variables": VALUES} for n in range(3)],
        },
    )

    assert (one.status_code, unknown.status_code, batch.status_code) == (202, 400, 202)
    assert moves.moved(SEND) == {("template", "accepted"): 1, ("template", "refused"): 1, ("batch", "accepted"): 1}


def test_a_campaign_counts_each_person_released(
    marketer, spring, everyone, shop, newsletter, monkeypatch, moves, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(fanout, "dispatch_due", lambda *, queue: None)  # the engine is not this test's
    add_contacts(shop, newsletter, ["ann@remote.example", "ben@remote.example", "cat@remote.example"])
    campaign = new_campaign(marketer, spring, everyone)
    schedule(campaign=campaign, user=marketer)
    start_due_campaigns()

    with django_capture_on_commit_callbacks(execute=True):
        assert release_due() == 3
        assert release_due() == 0

    assert moves.moved(SEND) == {("campaign", "accepted"): 3}


# --- delivery events ------------------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_an_event_rolled_back_is_not_counted(alice, moves, django_capture_on_commit_callbacks):
    recipient = send_message(user=alice, to=["ok@remote.example"], text="x").recipients.get()

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(Boom), transaction.atomic():
            record_delivery_event(recipient=recipient, event_type="complained", transport="report:arf")
            raise Boom
        record_delivery_event(recipient=recipient, event_type="opened", transport="tracking", update_status=False)

    assert moves.moved(EVENTS) == {("opened",): 1}
    assert not DeliveryEvent.objects.filter(event_type="complained").exists()


@pytest.mark.parametrize(
    ("event", "label"),
    [
        (DeliveryEvent(event_type="sent", transport="smtp"), "delivered"),
        (DeliveryEvent(event_type="sent", transport="anymail:postmark"), None),  # its "delivered" webhook counts
        (DeliveryEvent(event_type="delivered", transport="local"), "delivered"),
        (DeliveryEvent(event_type="bounced", reject_reason="invalid", reason="user_unknown"), "bounced_hard"),
        (DeliveryEvent(event_type="bounced", reject_reason="blocked", reason="blocked"), "bounced_soft"),
        (DeliveryEvent(event_type="bounced", reject_reason="timed_out", reason="expired"), "expired"),
        (DeliveryEvent(event_type="deferred", transport="smtp"), "deferred"),
        (DeliveryEvent(event_type="deferred", transport="engine"), None),  # handed back unattempted
        (DeliveryEvent(event_type="complained", transport="report:arf"), "complained"),
        (DeliveryEvent(event_type="opened", transport="tracking"), "opened"),
        (DeliveryEvent(event_type="clicked", transport="tracking"), "clicked"),
        (DeliveryEvent(event_type="opened", transport="tracking", metadata={"machine": True}), None),
        (DeliveryEvent(event_type="clicked", transport="tracking", metadata={"machine": True}), None),
        (DeliveryEvent(event_type="unsubscribed", transport="unsubscribe"), "unsubscribed"),
        (DeliveryEvent(event_type="rejected", transport="engine"), "rejected"),
        (DeliveryEvent(event_type="failed", transport="engine"), "failed"),
        (DeliveryEvent(event_type="queued", transport="submission"), None),
    ],
)
def test_each_event_type_has_its_label(event, label):
    assert event_label(event) == label
