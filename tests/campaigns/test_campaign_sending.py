"""A campaign's fan-out through the real delivery engine to a loopback SMTP server.

The pacer's dispatch of the bulk queue is recorded instead of run (a test
runs the engine itself, between the steps it wants to see), so what sits in
the outbox between two claims is the test's to arrange.
"""

from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from django.db.models import Value
from django.utils import timezone

from accounts.addresses import split_address
from campaigns.models import Campaign, CampaignRecipient, Contact
from campaigns.personalize import person_message
from campaigns.services import fanout
from campaigns.services.campaigns import cancel, pause, resume, schedule
from campaigns.services.fanout import release_due, start_due_campaigns
from campaigns.services.templates import create_template
from campaigns.services.unsubscribe import subscription_of, unsubscribe
from campaigns.unsubscribe import make_token, read_token
from delivery.models import DeliveryEvent, Suppression
from delivery.services import submission
from delivery.services.engine import deliver_batch, run_delivery
from delivery.services.submission import send_message
from mailboxes.models import Recipient
from tests.campaigns.campaign_world import (
    add_contacts,
    deliver_bulk,
    everyone_fixture,  # noqa: F401 - fixtures
    new_campaign,
    newsletter_fixture,  # noqa: F401
    spring_fixture,  # noqa: F401
)
from tests.campaigns.unsubscribe_world import (
    dkim_verifies,
    marketer_fixture,  # noqa: F401
    shop_fixture,  # noqa: F401
)


@pytest.fixture(autouse=True)
def _pacer_dispatch_recorded(monkeypatch):
    dispatched = []
    monkeypatch.setattr(fanout, "dispatch_due", lambda *, queue: dispatched.append(queue))
    return dispatched


def started(marketer, spring, everyone, **fields) -> Campaign:
    campaign = new_campaign(marketer, spring, everyone, **fields)
    schedule(campaign=campaign, user=marketer)
    assert start_due_campaigns() == [campaign.pk]
    return Campaign.objects.get(pk=campaign.pk)


def received_by(smtp_server) -> list[str]:
    return sorted(rcpt for message in smtp_server.messages for rcpt in message.rcpt_tos)


def test_the_audience_is_frozen_without_the_suppressed_and_opted_out(
    marketer, spring, everyone, shop, newsletter, monkeypatch
):
    add_contacts(shop, newsletter, ["ann@remote.example", "ben@remote.example"], tracking_consent=True)
    add_contacts(shop, newsletter, ["cat@remote.example", "dan@remote.example", "eve@remote.example"])
    Contact.objects.filter(address="cat@remote.example").update(consent=Contact.Consent.OPTED_OUT)
    Suppression.objects.create(address="dan@remote.example", scope=Suppression.Scope.GLOBAL, reason="complaint")

    campaign = started(marketer, spring, everyone, track_opens=True)

    people = {p.address: p for p in campaign.audience.all()}
    assert sorted(people) == ["ann@remote.example", "ben@remote.example", "eve@remote.example"]
    assert (campaign.audience_size, campaign.suppressed_count, campaign.status) == (3, 2, "sending")
    assert people["ann@remote.example"].variables == {"first_name": "Ann"}
    assert (people["ann@remote.example"].name, people["ann@remote.example"].domain) == ("Ann Example", "remote.example")
    assert [people[a].tracked for a in sorted(people)] == [True, True, False]  # consent decides, per contact
    assert campaign.message.stream == "bulk" and campaign.message.send_scope.campaign_id == campaign.pk
    assert campaign.message.subject == "Spring for Ann"  # the sample "show original" shows
    # A contact changed after the start changes nothing of what the campaign sends them.
    Contact.objects.filter(address="ann@remote.example").update(attributes={"first_name": "Annabel"})
    assert CampaignRecipient.objects.get(campaign=campaign, address="ann@remote.example").variables == {
        "first_name": "Ann"
    }


@pytest.mark.parametrize("address", ["ann@remote.example", '"a@b"@Remote.Example', "no-at-sign", "x@"])
def test_the_frozen_domain_is_what_follows_the_last_at_sign_lower_cased(shop, newsletter, address):
    contact = add_contacts(shop, newsletter, ["someone@remote.example"])[0]
    domain = Contact.objects.filter(pk=contact.pk).values_list(fanout._DomainOf(Value(address)), flat=True).get()
    assert domain == split_address(address)[1].lower()


def test_each_person_gets_their_own_signed_message_through_the_engine(
    marketer, spring, everyone, shop, newsletter, remote_domain, smtp_server
):
    add_contacts(shop, newsletter, ["ann@remote.example", "grey-ben@remote.example", "gone@remote.example"])
    smtp_server.handler.script("grey-ben@remote.example", ["451 4.2.0 Greylisted, try later"])
    smtp_server.handler.script("gone@remote.example", ["550 5.1.1 No such user"])
    campaign = started(marketer, spring, everyone)

    assert release_due() == 3
    deliver_bulk()

    assert received_by(smtp_server) == ["ann@remote.example"]
    statuses = dict(Recipient.objects.filter(message=campaign.message).values_list("address", "status"))
    assert statuses == {"ann@remote.example": "sent", "grey-ben@remote.example": "deferred",
                        "gone@remote.example": "bounced"}  # fmt: skip
    assert Suppression.objects.filter(address="gone@remote.example").exists()  # a hard bounce is suppressed
    # The greylisting server takes the retry.
    Recipient.objects.filter(address="grey-ben@remote.example").update(next_attempt_at=timezone.now())
    deliver_bulk()
    assert received_by(smtp_server) == ["ann@remote.example", "grey-ben@remote.example"]
    # The bulk delivery tops the outbox up before each claim, which also finishes a campaign that is done.
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT

    ann = next(m for m in smtp_server.messages if m.rcpt_tos == ["ann@remote.example"])
    parsed = message_from_bytes(ann.content, policy=default_policy)
    assert parsed["Subject"] == "Spring for Ann"
    assert parsed["To"] == "Ann Example <ann@remote.example>"
    assert "Hello Ann!" in parsed.get_body(("html",)).get_content()
    person = CampaignRecipient.objects.select_related("campaign__domain").get(address="ann@remote.example")
    # Her link names her place in the campaign, so her unsubscribe counts in its results.
    token = make_token(domain_id=shop.pk, address="ann@remote.example", recipient_id=person.pk)
    assert token in parsed["List-Unsubscribe"] and parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert token in parsed.get_body(("plain",)).get_content()  # the footer's link: the template has none
    assert parsed["X-Campaign-ID"] == str(campaign.pk)
    assert ann.mail_from.startswith("bounces+") and ann.mail_from.endswith("@shop.example")  # VERP
    assert dkim_verifies(ann.content)
    # Nothing rendered was stored: the snapshot and the pinned version give the very bytes that were sent.
    assert ann.content.endswith(person_message(person.campaign, campaign.version, person))
    assert ann.content.startswith(b"DKIM-Signature:")


def test_pause_sends_nothing_more_and_resume_sends_everyone_exactly_once(
    marketer, spring, everyone, shop, newsletter, remote_domain, smtp_server, settings
):
    settings.CAMPAIGN_RELEASE_WINDOW = 2
    addresses = [f"p{i}@remote.example" for i in range(7)]
    add_contacts(shop, newsletter, addresses)
    campaign = started(marketer, spring, everyone)
    assert release_due() == 2
    deliver_batch(queue=Recipient.Queue.BULK)  # one claim: a whole run would top the window up as it goes
    assert release_due() == 2  # the first two went out: the window has room again

    pause(campaign=campaign, user=marketer)
    deliver_bulk()  # the two released ones were parked: nothing is sent
    assert release_due() == 0

    assert len(received_by(smtp_server)) == 2
    parked = Recipient.objects.filter(message=campaign.message, status="queued")
    assert parked.count() == 2 and not parked.exclude(next_attempt_at=None).exists()
    resume(campaign=campaign, user=marketer)
    for _ in range(4):
        release_due()
        deliver_bulk()
    assert received_by(smtp_server) == sorted(addresses)  # everyone, once
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT
    assert Campaign.objects.get(pk=campaign.pk).released_count == 7


def test_the_bulk_delivery_tops_the_window_up_as_it_drains(
    marketer, spring, everyone, shop, newsletter, remote_domain, smtp_server, settings
):
    settings.CAMPAIGN_RELEASE_WINDOW = 2
    addresses = [f"w{i}@remote.example" for i in range(5)]
    add_contacts(shop, newsletter, addresses)
    campaign = started(marketer, spring, everyone)

    deliver_bulk()  # no pacer run: the delivery releases each next window itself, never more than 2 at once

    assert received_by(smtp_server) == sorted(addresses)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.released_count) == (Campaign.Status.SENT, 5)


def test_cancel_rejects_what_waits_and_sends_nothing_more(
    marketer, spring, everyone, shop, newsletter, remote_domain, smtp_server, settings
):
    settings.CAMPAIGN_RELEASE_WINDOW = 2
    add_contacts(shop, newsletter, [f"c{i}@remote.example" for i in range(6)])
    campaign = started(marketer, spring, everyone)
    release_due()
    deliver_batch(queue=Recipient.Queue.BULK)
    release_due()

    cancel(campaign=campaign, user=marketer)

    waiting = Recipient.objects.filter(message=campaign.message, status="suppressed")
    assert waiting.count() == 2
    assert (
        DeliveryEvent.objects.filter(recipient__in=waiting, event_type="rejected", metadata__cancelled=True).count()
        == 2
    )
    assert release_due() == 0
    deliver_bulk()
    assert len(received_by(smtp_server)) == 2
    assert campaign.audience.filter(released_at=None).count() == 2  # never released, never sent


def test_nobody_receives_it_after_their_unsubscribe_committed(
    marketer, spring, everyone, shop, newsletter, remote_domain, smtp_server, settings
):
    settings.OUTBOUND_BATCH_SIZE = 1
    settings.CAMPAIGN_RELEASE_WINDOW = 3
    add_contacts(shop, newsletter, ["u1@remote.example", "u2@remote.example", "u3@remote.example",
                                    "u4@remote.example"])  # fmt: skip
    campaign = started(marketer, spring, everyone)
    release_due()  # u1, u2 and u3 are in the outbox

    deliver_batch(queue=Recipient.Queue.BULK)  # one claim: u1
    for address in ("u2@remote.example", "u4@remote.example"):  # released and waiting; not yet released
        token = read_token(make_token(domain_id=shop.pk, address=address))
        unsubscribe(subscription=subscription_of(token), scope=Suppression.Scope.STREAM, source="link")
    for _ in range(3):
        release_due()
        deliver_bulk()

    assert received_by(smtp_server) == ["u1@remote.example", "u3@remote.example"]
    rejected = Recipient.objects.get(message=campaign.message, address="u2@remote.example")
    assert (rejected.status, rejected.response.startswith("Not sent: u2@remote.example")) == ("suppressed", True)
    u4 = Recipient.objects.get(message=campaign.message, address="u4@remote.example")
    assert u4.status == "suppressed"
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT


def test_a_person_missing_a_required_variable_is_left_out(marketer, spring, everyone, shop, newsletter):
    add_contacts(shop, newsletter, ["blank@remote.example", "ok@remote.example"])
    campaign = new_campaign(marketer, spring, everyone)
    schedule(campaign=campaign, user=marketer)
    # Changed between the check and the start: the check's sample cannot have seen it.
    Contact.objects.filter(address="blank@remote.example").update(attributes={})
    start_due_campaigns()
    campaign.refresh_from_db()

    assert release_due() == 1

    left_out = campaign.audience.get(address="blank@remote.example")
    assert left_out.released_at is not None and left_out.recipient_id is None
    assert campaign.message.subject == "Spring for Ada"  # the sample falls back to the example values
    assert list(Recipient.objects.filter(message=campaign.message).values_list("address", flat=True)) == [
        "ok@remote.example"
    ]


def test_a_campaign_is_released_at_its_maximum_rate(marketer, spring, everyone, shop, newsletter):
    add_contacts(shop, newsletter, [f"r{i}@remote.example" for i in range(10)])
    campaign = started(marketer, spring, everyone, max_per_hour=180)  # 3 a minute
    now = campaign.started_at

    assert release_due(now=now) == 3
    assert release_due(now=now + timedelta(seconds=30)) == 0
    assert release_due(now=now + timedelta(seconds=61)) == 3
    assert release_due(now=now + timedelta(seconds=122)) == 3
    assert release_due(now=now + timedelta(seconds=183)) == 1


def test_leaving_the_one_list_of_its_segment_during_the_send_stops_it(
    marketer, spring, everyone, shop, newsletter, remote_domain, smtp_server
):
    add_contacts(shop, newsletter, ["stay@remote.example", "leave@remote.example"])
    campaign = started(marketer, spring, everyone)
    release_due()

    token = read_token(make_token(domain_id=shop.pk, address="leave@remote.example", contact_list_id=newsletter.pk))
    unsubscribe(subscription=subscription_of(token), scope=Suppression.Scope.LIST, source="link")
    deliver_bulk()

    assert received_by(smtp_server) == ["stay@remote.example"]
    assert campaign.message.send_scope.contact_list_id == newsletter.pk


def test_a_person_whose_message_fails_to_render_is_held_and_the_others_are_sent(
    marketer, shop, everyone, newsletter, remote_domain, smtp_server
):
    template = create_template(
        user=marketer, key="city", stream="marketing", subject="Hello", html="<p>See you in {{ customer.city }}</p>",
        variables=[{"name": "customer", "type": "object", "required": True, "example": {"city": "Paris"}}],
    )  # fmt: skip
    add_contacts(shop, newsletter, ["paris@remote.example", "nowhere@remote.example"])
    Contact.objects.update(attributes={"customer": {"city": "Paris"}})
    campaign = new_campaign(marketer, template, everyone)
    schedule(campaign=campaign, user=marketer)
    # Changed after the check: a variable of the right type, without the key the template reads.
    Contact.objects.filter(address="nowhere@remote.example").update(attributes={"customer": {}})
    start_due_campaigns()
    campaign.refresh_from_db()

    release_due()
    deliver_bulk()

    assert received_by(smtp_server) == ["paris@remote.example"]
    held = Recipient.objects.get(message=campaign.message, address="nowhere@remote.example")
    assert held.status == "failed"
    assert DeliveryEvent.objects.filter(recipient=held, event_type="failed").exists()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT  # finished by the delivery's top-up


def test_transactional_mail_never_waits_behind_a_campaign(
    marketer, spring, everyone, shop, newsletter, remote_domain, smtp_server, monkeypatch
):
    add_contacts(shop, newsletter, [f"b{i}@remote.example" for i in range(5)])
    campaign = started(marketer, spring, everyone)
    release_due()  # five campaign recipients wait in the bulk queue
    monkeypatch.setattr(submission, "dispatch_delivery", lambda **kwargs: None)  # the worker runs below
    send_message(user=marketer, to=["receipt@remote.example"], subject="Your receipt", text="Thanks")

    run_delivery(queue=Recipient.Queue.TRANSACTIONAL)

    assert received_by(smtp_server) == ["receipt@remote.example"]
    assert Recipient.objects.filter(message=campaign.message, status="queued").count() == 5
