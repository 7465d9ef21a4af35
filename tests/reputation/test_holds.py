"""Holds: a held user's or domain's mail is parked (nothing lost, nothing sent), its submissions are refused,
and an admin's release requeues the parked mail, which then goes out through the real engine."""

from datetime import UTC, datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.services import fanout
from campaigns.services.campaigns import CampaignHeld, pause, resume, schedule
from campaigns.services.fanout import release_due, start_due_campaigns
from delivery.services import submission
from delivery.services.engine import run_delivery
from delivery.services.submission import send_message
from mailboxes.models import Folder, MailboxItem, Recipient
from reputation.models import ReputationAlert, SendingHold
from reputation.services.holds import (
    SendingSuspended,
    open_hold_for,
    open_holds,
    place_hold,
    release_hold,
)
from tests.api.conftest import assert_error, client_for
from tests.campaigns.campaign_world import (
    add_contacts,
    deliver_bulk,
    new_campaign,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def dispatched(monkeypatch):
    """Submissions are stored but not delivered at once: the test runs the engine itself."""
    calls = []
    monkeypatch.setattr(submission, "dispatch_delivery", lambda *, message_id, queue=None: calls.append(message_id))
    return calls


@pytest.fixture
def admin_user(db):
    return UserFactory(address="root@example.test", display_name="Root", admin=True)


def received_by(smtp_server) -> list[str]:
    return sorted(rcpt for message in smtp_server.messages for rcpt in message.rcpt_tos)


def hold_user(user, **fields):
    values = {"cause": "compromised", "reason": "Sent 5,000 messages in an hour.", "evidence": {"sent": 5000}}
    return place_hold(kind="user", key=user.pk, **(values | fields))


def test_placing_a_hold_twice_returns_the_open_one(alice):
    first = hold_user(alice, now=NOW)
    again = hold_user(alice, cause="guardrail", reason="Other words.")
    assert again.pk == first.pk and again.cause == "compromised"
    assert SendingHold.objects.count() == 1
    assert list(open_holds()) == [first] and open_hold_for("user", alice.pk) == first
    # Released, a new hold is a new row.
    release_hold(hold=first, by=None, note="secured")
    assert open_hold_for("user", alice.pk) is None
    assert hold_user(alice).pk != first.pk


def test_a_domain_key_is_stored_lower_case(alice):
    hold = place_hold(kind="domain", key="Example.TEST", cause="admin", reason="Checking.", evidence={})
    assert hold.key == "example.test"
    assert open_hold_for("domain", "EXAMPLE.test") == hold


def test_a_held_users_waiting_mail_is_parked_and_release_sends_it(
    alice, bob, remote_domain, smtp_server, dispatched, django_capture_on_commit_callbacks
):
    message = send_message(user=alice, to=["x@remote.example", "y@remote.example"], subject="Hi", text="Hello")
    bob_message = send_message(user=bob, to=["z@remote.example"], subject="Hi", text="Hello")

    hold = hold_user(alice)

    waiting = Recipient.objects.filter(message=message)
    assert waiting.count() == 2 and not waiting.exclude(next_attempt_at=None).exists()  # parked, not lost
    run_delivery()
    assert received_by(smtp_server) == ["z@remote.example"]  # bob's mail is not held
    assert set(waiting.values_list("status", flat=True)) == {"queued"}
    assert Recipient.objects.get(message=bob_message).status == "sent"

    admin = UserFactory(address="root@example.test", admin=True)
    with django_capture_on_commit_callbacks(execute=True):  # its dispatch runs the engine (eager tasks)
        release_hold(hold=hold, by=admin, note="Password reset, 2FA on.")

    assert received_by(smtp_server) == ["x@remote.example", "y@remote.example", "z@remote.example"]
    assert set(waiting.values_list("status", flat=True)) == {"sent"}
    hold.refresh_from_db()
    assert (hold.resolved_by, hold.resolution_note) == (admin, "Password reset, 2FA on.")
    told = MailboxItem.objects.get(user=alice, message__subject__startswith="Sending resumed")
    assert told.message.subject == "Sending resumed: the account alice@example.test"


def test_the_engine_parks_what_becomes_due_while_the_hold_is_open(alice, remote_domain, smtp_server, dispatched):
    """A row in flight when the hold came (and deferred since) is parked by the claim that finds it."""
    message = send_message(user=alice, to=["x@remote.example"], subject="Hi", text="Hello")
    hold_user(alice)
    Recipient.objects.filter(message=message).update(status="deferred", next_attempt_at=NOW)

    report = run_delivery()

    assert report.claimed == 0 and smtp_server.messages == []
    recipient = Recipient.objects.get(message=message)
    assert (recipient.status, recipient.next_attempt_at) == ("deferred", None)


def test_a_held_domain_parks_mail_from_its_addresses_only(
    alice, remote_domain, smtp_server, dispatched, django_capture_on_commit_callbacks
):
    dave = UserFactory(address="dave@elsewhere.test")
    held = send_message(user=alice, to=["x@remote.example"], subject="Hi", text="Hello")
    free = send_message(user=dave, to=["y@remote.example"], subject="Hi", text="Hello")

    hold = place_hold(kind="domain", key="example.test", cause="guardrail", reason="Bounces.", evidence={})
    run_delivery()

    assert received_by(smtp_server) == ["y@remote.example"]
    assert Recipient.objects.get(message=held).next_attempt_at is None
    assert Recipient.objects.get(message=free).status == "sent"
    with django_capture_on_commit_callbacks(execute=True):
        release_hold(hold=hold, by=None)
    assert received_by(smtp_server) == ["x@remote.example", "y@remote.example"]


def test_a_held_user_cannot_submit_and_is_told_why(alice, bob):
    hold_user(alice)
    with pytest.raises(SendingSuspended) as refused:
        send_message(user=alice, to=["bob@example.test"], subject="Hi", text="Hello")
    assert refused.value.status == 403 and refused.value.code == "sending_suspended"
    assert "Sent 5,000 messages in an hour." in refused.value.message
    assert "administrator" in refused.value.message
    assert not MailboxItem.objects.filter(user=bob).exists()


def test_a_held_from_domain_refuses_everyone_sending_from_it(alice, bob):
    place_hold(kind="domain", key="example.test", cause="guardrail", reason="Bounce rate 12 %.", evidence={})
    with pytest.raises(SendingSuspended, match="example.test is suspended: Bounce rate 12 %."):
        send_message(user=bob, to=["alice@example.test"], subject="Hi", text="Hello")


def test_the_api_answers_403_sending_suspended(alice, bob):
    api = client_for(alice)
    hold_user(alice)
    response = api.post("/api/emails/send", {"to": ["bob@example.test"], "subject": "Hi", "body": "x"}, format="json")
    error = assert_error(response, 403, "sending_suspended")
    assert "suspended" in error["message"] and "5,000" in error["message"]
    assert not MailboxItem.objects.filter(user=bob).exists()


def test_the_webmail_shows_the_refusal_and_keeps_the_draft(alice):
    client = Client()
    client.force_login(alice)
    hold_user(alice)
    form = {"to": "bob@example.test", "cc": "", "bcc": "", "subject": "Keep me", "body": "Precious words",
            "draft_id": "", "in_reply_to": ""}  # fmt: skip
    response = client.post(reverse("mailboxes:send"), form)
    assert response.status_code == 403
    html = response.content.decode()
    assert 'role="alert"' in html and "Sending from your account is suspended" in html and "Precious words" in html
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    assert draft.send_at is None  # not scheduled: nothing waits to fail after the undo window


def test_the_admin_resumes_sending_with_a_note(
    alice, remote_domain, smtp_server, dispatched, admin_user, django_capture_on_commit_callbacks
):
    send_message(user=alice, to=["x@remote.example"], subject="Hi", text="Hello")
    hold = hold_user(alice)
    client = Client()
    client.force_login(admin_user)
    changelist = reverse("admin:reputation_sendinghold_changelist")

    listing = client.get(changelist + "?open=yes").content.decode()
    assert "Sent 5,000 messages in an hour." in listing
    asked = client.post(changelist, {"action": "resume_sending", ACTION_CHECKBOX_NAME: [hold.pk]})
    assert asked.status_code == 200 and 'name="note"' in asked.content.decode()  # a note is asked for
    assert open_hold_for("user", alice.pk) is not None

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(changelist, {"action": "resume_sending", ACTION_CHECKBOX_NAME: [hold.pk], "apply": "1",
                                        "note": "Owner confirmed the sends."})  # fmt: skip
    assert done.status_code == 302
    hold.refresh_from_db()
    assert hold.resolved_by == admin_user and hold.resolution_note == "Owner confirmed the sends."
    assert received_by(smtp_server) == ["x@remote.example"]


def test_only_a_superuser_may_resume(alice):
    staff = UserFactory(address="staff@example.test")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_sendinghold"))
    hold = hold_user(alice)
    client = Client()
    client.force_login(staff)
    changelist = reverse("admin:reputation_sendinghold_changelist")
    client.post(changelist, {"action": "resume_sending", ACTION_CHECKBOX_NAME: [hold.pk], "apply": "1", "note": "x"})
    assert open_hold_for("user", alice.pk) is not None


# --- campaigns ---------------------------------------------------------------------------------


@pytest.fixture
def sending_campaign(marketer, spring, everyone, shop, newsletter, remote_domain, smtp_server, settings, monkeypatch):
    """Sending, its first two people released; the test runs the engine itself (the pacer dispatches nothing)."""
    monkeypatch.setattr(fanout, "dispatch_due", lambda *, queue: None)
    settings.CAMPAIGN_RELEASE_WINDOW = 2
    add_contacts(shop, newsletter, [f"p{i}@remote.example" for i in range(6)])
    campaign = new_campaign(marketer, spring, everyone)
    schedule(campaign=campaign, user=marketer)
    start_due_campaigns()
    release_due()
    return Campaign.objects.get(pk=campaign.pk)


def test_a_campaign_hold_pauses_it_with_a_reason_only_an_admin_lifts(
    sending_campaign, marketer, smtp_server, django_capture_on_commit_callbacks
):
    reason = "Paused by a reputation guardrail: bounce rate 40 % over the campaign so far (8 of 20)."
    hold = place_hold(kind="campaign", key=sending_campaign.pk, cause="guardrail", reason=reason, evidence={})

    campaign = Campaign.objects.get(pk=sending_campaign.pk)
    assert (campaign.status, campaign.hold_reason) == ("paused", reason)
    waiting = Recipient.objects.filter(message=campaign.message, status="queued")
    assert waiting.count() == 2 and not waiting.exclude(next_attempt_at=None).exists()  # parked
    deliver_bulk()
    assert smtp_server.messages == []

    with pytest.raises(CampaignHeld, match="Only an administrator can resume it"):
        resume(campaign=campaign, user=marketer)
    client = Client()
    client.force_login(marketer)
    page = client.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()
    assert "data-held" in page and "bounce rate 40 %" in page
    assert 'data-action="resume"' not in page and 'data-action="cancel"' in page
    refused = client.post(reverse("campaigns:campaign_transition", args=[campaign.pk, "resume"]))
    assert Campaign.objects.get(pk=campaign.pk).status == "paused", refused

    with django_capture_on_commit_callbacks(execute=True):
        release_hold(hold=hold, by=None, note="List cleaned.")
    campaign.refresh_from_db()
    assert (campaign.status, campaign.hold_reason) == ("sending", "")
    for _ in range(4):
        release_due()
        deliver_bulk()
    assert len(smtp_server.messages) == 6  # everyone, once
    assert Campaign.objects.get(pk=campaign.pk).status == "sent"


def test_a_campaign_the_marketer_paused_keeps_its_queue_and_now_needs_an_admin(sending_campaign, marketer):
    pause(campaign=sending_campaign, user=marketer)
    place_hold(kind="campaign", key=sending_campaign.pk, cause="admin", reason="Under review.", evidence={})
    campaign = Campaign.objects.get(pk=sending_campaign.pk)
    assert (campaign.status, campaign.hold_reason) == ("paused", "Under review.")
    with pytest.raises(CampaignHeld):
        resume(campaign=campaign, user=marketer)


def test_the_api_shows_the_hold_reason_and_refuses_the_marketers_resume(sending_campaign, marketer):
    place_hold(kind="campaign", key=sending_campaign.pk, cause="guardrail", reason="Bounces.", evidence={})
    api = client_for(marketer)
    assert api.get(f"/api/campaigns/{sending_campaign.pk}").json()["hold_reason"] == "Bounces."
    assert_error(api.post(f"/api/campaigns/{sending_campaign.pk}/resume"), 403, "campaign_held")


def test_a_held_scheduled_campaign_does_not_start_until_released(marketer, spring, everyone, shop, newsletter):
    add_contacts(shop, newsletter, ["p1@remote.example"])
    campaign = new_campaign(marketer, spring, everyone)
    schedule(campaign=campaign, user=marketer)
    hold = place_hold(kind="campaign", key=campaign.pk, cause="admin", reason="Checking the list first.", evidence={})
    assert start_due_campaigns() == []
    assert Campaign.objects.get(pk=campaign.pk).status == "scheduled"
    release_hold(hold=hold, by=None)
    assert start_due_campaigns() == [campaign.pk]


def test_the_hold_and_alert_pages_render_read_only(alice, admin_user):
    hold = hold_user(alice)
    alert = ReputationAlert.objects.create(
        kind="user", key=str(alice.pk), level="pause", metric="bounce_rate", rate=0.125, threshold=0.1,
        volume=200, window="day", hold=hold,
    )  # fmt: skip
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("admin:reputation_sendinghold_change", args=[hold.pk])).content.decode()
    assert "Sent 5,000 messages in an hour." in page and "bounce_rate" in page
    alerts = client.get(reverse("admin:reputation_reputationalert_changelist") + "?level=pause").content.decode()
    assert "12.50%" in alerts and "10.00%" in alerts
    assert client.get(reverse("admin:reputation_reputationalert_change", args=[alert.pk])).status_code == 200
    assert client.post(reverse("admin:reputation_sendinghold_delete", args=[hold.pk])).status_code == 403


def test_an_admin_holds_a_user_by_hand(alice, admin_user, remote_domain, smtp_server, dispatched):
    message = send_message(user=alice, to=["x@remote.example"], subject="Hi", text="Hello")
    client = Client()
    client.force_login(admin_user)
    added = client.post(
        reverse("admin:reputation_sendinghold_add"),
        {"kind": "user", "key": str(alice.pk), "reason": "Reported by a recipient's abuse desk."},
    )
    assert added.status_code == 302, added.content.decode()
    hold = open_hold_for("user", alice.pk)
    assert (hold.cause, hold.evidence) == ("admin", {"held_by": admin_user.username})
    assert Recipient.objects.get(message=message).next_attempt_at is None  # parked through place_hold
    with pytest.raises(SendingSuspended, match="abuse desk"):
        send_message(user=alice, to=["x@remote.example"], subject="Again", text="Hello")
