"""The mailbox simulator: each address's outcome through the real pipeline, and nothing leaving the machine.

Mail goes in through ``send_message`` (and the API and the webmail), out
through the delivery engine; the complaint and the auto-reply come back through
the inbound path the MX uses. No server listens on the delivery port and the
test DNS server knows no simulator name: a socket or a query would show.
"""

import socket

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import Domain
from accounts.services import DomainReserved, create_domain
from core.bounce_reasons import Reason
from core.providers import Provider, provider_for_domain
from core.simulator import Outcome, outcome_of
from delivery import simulator
from delivery.models import DeliveryEvent, Suppression
from delivery.services import run_delivery, send_message
from inbound.models import InboundMessage
from mailboxes.blobstore import read_blob
from mailboxes.models import Folder, MailboxItem, Message, Recipient
from tests.api.conftest import client_for
from tests.campaigns.campaign_world import everyone_fixture, newsletter_fixture, spring_fixture  # noqa: F401
from tests.campaigns.unsubscribe_world import marketer_fixture, shop_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

SIM = "simulator.invalid"


@pytest.fixture
def network(monkeypatch, dns_server):
    """Every outbound socket operation attempted in this test (connect or send to an address), and the DNS
    queries the test server saw: both must stay empty."""
    attempts = []
    real_connect, real_connect_ex, real_sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto

    def connect(sock, address):
        attempts.append(("connect", address))
        return real_connect(sock, address)

    def connect_ex(sock, address):
        attempts.append(("connect_ex", address))
        return real_connect_ex(sock, address)

    def sendto(sock, data, *args):
        attempts.append(("sendto", args[-1]))
        return real_sendto(sock, data, *args)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", sendto)
    dns_server.resolver.queries.clear()
    return {"sockets": attempts, "dns": dns_server.resolver.queries}


def deliver(message: Message, capture) -> None:
    """Run the outbox as a worker does; what it queues after commit (the follow-ups, the inbound jobs) runs too."""
    with capture(execute=True):
        run_delivery(message_id=message.pk)


def recipient(message: Message, address: str) -> Recipient:
    return message.recipients.get(address=address)


def events(recipient: Recipient) -> list[DeliveryEvent]:
    return list(recipient.events.order_by("timestamp", "pk"))


def outcome(recipient: Recipient) -> DeliveryEvent:
    """The event the engine recorded for the delivery attempt."""
    return recipient.events.exclude(event_type="queued").order_by("timestamp", "pk").first()


def assert_nothing_left(network) -> None:
    assert network["sockets"] == []
    assert network["dns"] == []


# --- each address -------------------------------------------------------------------------------------


def test_success_is_accepted_by_the_simulator_without_a_socket_or_a_lookup(
    alice, network, django_capture_on_commit_callbacks
):
    message = send_message(user=alice, to=[f"success@{SIM}"], subject="Hello", text="Hi.")
    deliver(message, django_capture_on_commit_callbacks)

    target = recipient(message, f"success@{SIM}")
    assert target.status == Recipient.Status.SENT
    event = outcome(target)
    assert (event.event_type, event.transport) == ("sent", "simulator")
    assert event.metadata["smtp_code"] == 250 and event.mta_response.startswith("250 2.0.0 ")
    assert not InboundMessage.objects.exists()  # success has no follow-up
    assert_nothing_left(network)  # and the delivery port (SMTP_DELIVERY_PORT) has no server: none was needed


def test_bounce_is_a_hard_bounce_read_by_the_real_classifier_and_never_suppressed(
    alice, network, django_capture_on_commit_callbacks
):
    message = send_message(user=alice, to=[f"bounce@{SIM}"], subject="Hello", text="Hi.")
    deliver(message, django_capture_on_commit_callbacks)

    target = recipient(message, f"bounce@{SIM}")
    assert target.status == Recipient.Status.BOUNCED
    event = outcome(target)
    assert (event.event_type, event.transport, event.reason, event.reject_reason) == (
        "bounced", "simulator", Reason.USER_UNKNOWN, "invalid",
    )  # fmt: skip
    assert event.mta_response.startswith("550 5.1.1 ")
    assert not Suppression.objects.exists()  # the address keeps bouncing for the next test
    # The sender hears of it as of any bounce: a notice in their inbox.
    assert MailboxItem.objects.filter(user=alice, folder=Folder.INBOX).exists()
    assert_nothing_left(network)


def test_suppressed_is_refused_as_an_address_on_the_suppression_list(
    alice, network, django_capture_on_commit_callbacks
):
    message = send_message(user=alice, to=[f"suppressed@{SIM}"], subject="Hello", text="Hi.")
    deliver(message, django_capture_on_commit_callbacks)

    event = outcome(recipient(message, f"suppressed@{SIM}"))
    assert (event.event_type, event.reason, event.reject_reason) == ("bounced", Reason.USER_UNKNOWN, "invalid")
    assert event.mta_response.startswith("550 5.1.1 ") and "suppression list" in event.mta_response
    assert not Suppression.objects.exists()
    assert_nothing_left(network)


def test_complaint_is_accepted_then_reported_by_arf_to_the_verp_address_through_the_inbound_path(
    alice, network, django_capture_on_commit_callbacks
):
    message = send_message(user=alice, to=[f"complaint@{SIM}"], subject="Weekly offers", text="Buy.")
    deliver(message, django_capture_on_commit_callbacks)

    target = recipient(message, f"complaint@{SIM}")
    assert [e.event_type for e in events(target)] == ["queued", "sent", "complained"]
    complaint = events(target)[-1]
    assert (complaint.transport, complaint.reason, complaint.reject_reason) == ("report:arf", Reason.FEEDBACK, "spam")
    assert complaint.metadata["feedback_type"] == "abuse"
    assert complaint.metadata["original_message_id"].strip("<>") == message.message_id.strip("<>")
    # It came in as the MX takes mail: a stored inbound job to our VERP return path, read as a report.
    job = InboundMessage.objects.get()
    assert (job.source, job.mail_from, job.status) == ("simulator", "", InboundMessage.Status.REPORT)
    assert job.rcpt_tos == [simulator.return_path_of(target)]
    assert job.rcpt_tos[0].startswith("bounces+") and job.rcpt_tos[0].endswith("@example.test")
    target.refresh_from_db()
    assert target.status == Recipient.Status.SENT  # a complaint does not change the delivery status
    assert not Suppression.objects.exists()  # unlike a real complainant, the simulator stays reachable
    assert_nothing_left(network)


def test_ooto_is_accepted_then_an_auto_reply_lands_in_the_senders_inbox_and_is_no_bounce(
    alice, network, django_capture_on_commit_callbacks
):
    message = send_message(user=alice, to=[f"ooto@{SIM}"], subject="Meeting", text="Tomorrow?")
    deliver(message, django_capture_on_commit_callbacks)

    target = recipient(message, f"ooto@{SIM}")
    assert [e.event_type for e in events(target)] == ["queued", "sent"]  # no bounce, no complaint
    target.refresh_from_db()
    assert target.status == Recipient.Status.SENT
    job = InboundMessage.objects.get()
    assert (job.source, job.mail_from, job.rcpt_tos) == ("simulator", "", ["alice@example.test"])
    reply = MailboxItem.objects.get(user=alice, folder=Folder.INBOX)
    assert reply.message.subject == "Auto: Meeting"
    assert reply.message.from_address == f"ooto@{SIM}"
    assert reply.message.in_reply_to.strip("<>") == message.message_id.strip("<>")
    assert reply.message.headers["auto-submitted"] == "auto-replied"  # RFC 3834: no responder answers it
    sent = MailboxItem.objects.get(user=alice, folder=Folder.SENT)
    assert reply.thread_id == sent.thread_id  # the reply joins the conversation
    assert not DeliveryEvent.objects.filter(event_type__in=["bounced", "complained"]).exists()
    assert_nothing_left(network)


def test_an_auto_reply_to_a_sender_we_do_not_host_is_not_made(alice, django_capture_on_commit_callbacks):
    message = send_message(user=alice, to=[f"ooto@{SIM}"], subject="Meeting", text="Tomorrow?")
    Message.objects.filter(pk=message.pk).update(from_address="someone@elsewhere.example")
    deliver(message, django_capture_on_commit_callbacks)

    assert recipient(message, f"ooto@{SIM}").status == Recipient.Status.SENT
    assert not InboundMessage.objects.exists()  # it would have had to leave the machine


# --- tags, unknown addresses, reuse -------------------------------------------------------------------


def test_tagged_addresses_keep_their_tag_and_get_their_outcome(alice, network, django_capture_on_commit_callbacks):
    to = [f"bounce+42@{SIM}", f"Success+Order-7@{SIM}", f"complaint+a@{SIM}", f"complaint+b@{SIM}"]
    message = send_message(user=alice, to=to, subject="Tagged", text="Hi.")
    deliver(message, django_capture_on_commit_callbacks)

    by_address = {r.address: r for r in message.recipients.all()}
    assert outcome(by_address[f"bounce+42@{SIM}"]).event_type == "bounced"
    assert outcome(by_address[f"Success+Order-7@{SIM}"]).event_type == "sent"
    for address in (f"complaint+a@{SIM}", f"complaint+b@{SIM}"):  # each its own report, to its own VERP address
        assert [e.event_type for e in events(by_address[address])] == ["queued", "sent", "complained"]
    assert InboundMessage.objects.count() == 2
    assert_nothing_left(network)


def test_an_unknown_simulator_address_bounces_naming_the_ones_that_exist(alice, django_capture_on_commit_callbacks):
    message = send_message(user=alice, to=[f"nobody@{SIM}"], subject="Hello", text="Hi.")
    deliver(message, django_capture_on_commit_callbacks)

    event = outcome(recipient(message, f"nobody@{SIM}"))
    assert (event.event_type, event.transport, event.reason) == ("bounced", "simulator", Reason.USER_UNKNOWN)
    assert "success, bounce, complaint, ooto or suppressed" in event.mta_response


def test_a_simulator_address_that_bounced_and_complained_is_still_sent_to_next_time(
    alice, django_capture_on_commit_callbacks
):
    # Transactional mail is refused to suppressed addresses: the second round shows they were not suppressed.
    rounds = []
    for _ in range(2):
        message = send_message(
            user=alice, to=[f"bounce@{SIM}", f"complaint@{SIM}"], subject="Receipt", text="Paid.",
            stream=Message.Stream.TRANSACTIONAL,
        )  # fmt: skip
        deliver(message, django_capture_on_commit_callbacks)
        rounds.append({r.address: outcome(r).event_type for r in message.recipients.all()})
    assert rounds == [{f"bounce@{SIM}": "bounced", f"complaint@{SIM}": "sent"}] * 2
    assert DeliveryEvent.objects.filter(event_type="complained").count() == 2
    assert not DeliveryEvent.objects.filter(event_type="rejected").exists()


def test_a_follow_up_run_twice_records_the_complaint_once(alice, django_capture_on_commit_callbacks):
    message = send_message(user=alice, to=[f"complaint@{SIM}"], subject="Offers", text="Buy.")
    deliver(message, django_capture_on_commit_callbacks)
    target = recipient(message, f"complaint@{SIM}")

    with django_capture_on_commit_callbacks(execute=True):  # a task delivered twice by the broker
        simulator.follow_up([target.pk])
    assert target.events.filter(event_type="complained").count() == 1


# --- the ways in: API and webmail ---------------------------------------------------------------------


def test_api_sends_reach_the_simulator(alice, network, django_capture_on_commit_callbacks):
    api = client_for(alice)
    response = api.post(
        "/api/emails/send",
        {"to": [f"bounce+api@{SIM}", f"complaint+api@{SIM}"], "subject": "From the API", "body": "Hi."},
        format="json",
    )
    assert response.status_code == 202, response.content
    message = MailboxItem.objects.get(pk=response.json()["id"]).message
    deliver(message, django_capture_on_commit_callbacks)

    delivery = api.get(response.json()["delivery_url"]).json()
    statuses = {r["address"]: r["status"] for r in delivery["recipients"]}
    assert statuses == {f"bounce+api@{SIM}": "bounced", f"complaint+api@{SIM}": "sent"}
    assert [e.event_type for e in events(recipient(message, f"complaint+api@{SIM}"))][-1] == "complained"
    assert_nothing_left(network)


def test_webmail_sends_reach_the_simulator(alice, settings, network, django_capture_on_commit_callbacks):
    settings.WEBMAIL_UNDO_SECONDS = 0  # no undo window: the send task, then delivery, run on commit
    client = Client()
    client.force_login(alice)
    form = {"to": f"ooto+web@{SIM}", "cc": "", "bcc": "", "subject": "From the webmail", "body": "Hi."}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mailboxes:send"), form | {"draft_id": "", "in_reply_to": ""})
    assert response.status_code == 302
    item = MailboxItem.objects.get(user=alice, folder=Folder.SENT)

    assert recipient(item.message, f"ooto+web@{SIM}").status == Recipient.Status.SENT
    assert MailboxItem.objects.get(user=alice, folder=Folder.INBOX).message.subject == "Auto: From the webmail"
    assert_nothing_left(network)


# --- the domain ---------------------------------------------------------------------------------------


def test_the_simulator_domain_cannot_be_hosted(db):
    with pytest.raises(DomainReserved):
        create_domain(name=SIM.upper())
    with pytest.raises(DomainReserved):
        create_domain(name=f"mail.{SIM}")
    with pytest.raises(CommandError):
        call_command("createdomain", SIM)
    assert not Domain.objects.filter(name__endswith=SIM).exists()


def test_the_admin_refuses_to_host_the_simulator_domain(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(address="root@example.test", display_name="Operator", admin=True))
    response = client.post(reverse("admin:accounts_domain_add"), {"name": SIM})

    assert response.status_code == 200  # the form again, with the error on the name
    assert "reserved for the mailbox simulator" in response.content.decode()
    assert not Domain.objects.filter(name=SIM).exists()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (f"success@{SIM}", Outcome.SUCCESS),
        (f"Bounce+Order-42@{SIM.upper()}", Outcome.BOUNCE),
        (f"<complaint+x@{SIM}.>", Outcome.COMPLAINT),
        (f"ooto+@{SIM}", Outcome.OOTO),
        (f"suppressed@{SIM}", Outcome.SUPPRESSED),
        (f"nobody@{SIM}", None),
        (f"bounce@mail.{SIM}", None),  # routed to the simulator, but no address it knows
        ("bounce@example.test", None),
        (f"bounce@x{SIM}", None),
    ],
)
def test_what_each_address_stands_for(address, expected):
    assert outcome_of(address) == expected


def test_the_simulator_domain_is_provider_other_without_an_mx_lookup(network):
    assert provider_for_domain(SIM) == Provider.OTHER
    assert network["dns"] == []


def test_an_empty_setting_turns_the_simulator_off(alice, settings, network, django_capture_on_commit_callbacks):
    settings.MAILBOX_SIMULATOR_DOMAIN = ""
    message = send_message(user=alice, to=[f"success@{SIM}"], subject="Hello", text="Hi.")
    deliver(message, django_capture_on_commit_callbacks)

    event = outcome(recipient(message, f"success@{SIM}"))
    assert event.transport != "simulator"  # an ordinary remote domain, which the test DNS does not know
    assert event.event_type in ("deferred", "bounced")
    # What the other tests would have seen had anything gone out: the MX lookup, over a socket.
    assert (SIM + ".", "MX") in [(name.lower(), rtype) for name, rtype in network["dns"]]
    assert any(kind == "sendto" for kind, _ in network["sockets"])
    create_domain(name=SIM)  # and the name is no longer reserved


def test_another_simulator_domain_can_be_configured(alice, settings, django_capture_on_commit_callbacks):
    settings.MAILBOX_SIMULATOR_DOMAIN = "Sim.Example.Test."
    message = send_message(user=alice, to=["bounce@sim.example.test"], subject="Hello", text="Hi.")
    deliver(message, django_capture_on_commit_callbacks)

    event = outcome(recipient(message, "bounce@sim.example.test"))
    assert (event.event_type, event.transport) == ("bounced", "simulator")


# --- other ways out: a campaign, a relay -------------------------------------------------------------


def test_a_campaign_to_simulator_addresses_counts_their_outcomes_in_its_results(
    marketer, spring, everyone, shop, newsletter, network, monkeypatch, django_capture_on_commit_callbacks
):
    from campaigns.models import CampaignTally
    from campaigns.services import fanout
    from campaigns.services.campaigns import schedule
    from campaigns.services.fanout import release_due, start_due_campaigns
    from tests.campaigns.campaign_world import add_contacts, deliver_bulk, new_campaign

    monkeypatch.setattr(fanout, "dispatch_due", lambda *, queue: None)  # the test runs the bulk worker itself
    add_contacts(shop, newsletter, [f"success@{SIM}", f"bounce+c@{SIM}", f"complaint+c@{SIM}", f"ooto+c@{SIM}"])
    campaign = new_campaign(marketer, spring, everyone)
    schedule(campaign=campaign, user=marketer)
    start_due_campaigns()
    release_due()
    with django_capture_on_commit_callbacks(execute=True):
        deliver_bulk()

    tallies = dict(CampaignTally.objects.filter(campaign=campaign, domain="").values_list("metric", "count"))
    assert (tallies.get("sent"), tallies.get("bounced"), tallies.get("complained")) == (3, 1, 1)
    complainer = Recipient.objects.get(address=f"complaint+c@{SIM}")
    assert complainer.events.filter(event_type="complained").exists()
    # The report quotes the headers of the person's own rendered message.
    job = InboundMessage.objects.get(rcpt_tos=[simulator.return_path_of(complainer)])
    assert b"Subject: Spring for Complaint+C" in read_blob(job.blob)
    # The marketer's auto-reply lands in their inbox, as a reply to the campaign.
    reply = MailboxItem.objects.get(user=marketer, folder=Folder.INBOX)
    assert reply.message.from_address == f"ooto+c@{SIM}"
    assert_nothing_left(network)


def test_the_simulator_answers_whatever_the_configured_transport(alice, settings, django_capture_on_commit_callbacks):
    settings.MAIL_TRANSPORT = {
        "BACKEND": "delivery.transports.smtp.RelayTransport",
        "OPTIONS": {"HOST": "127.0.0.1", "PORT": settings.SMTP_DELIVERY_PORT},  # nothing listens there
    }
    message = send_message(user=alice, to=[f"success@{SIM}", f"bounce@{SIM}"], subject="Hello", text="Hi.")
    deliver(message, django_capture_on_commit_callbacks)

    assert {r.address: outcome(r).event_type for r in message.recipients.all()} == {
        f"success@{SIM}": "sent", f"bounce@{SIM}": "bounced",
    }  # fmt: skip


# --- the reputation figures ---------------------------------------------------------------------------


def test_the_reputation_figures_move_with_the_simulated_outcomes(alice, network, django_capture_on_commit_callbacks):
    from django.utils import timezone

    from reputation.figures import Figures, Window
    from reputation.selectors import figures

    to = [f"success@{SIM}", f"success+2@{SIM}", f"bounce@{SIM}", f"suppressed@{SIM}", f"complaint@{SIM}"]
    message = send_message(user=alice, to=[*to, f"ooto@{SIM}"], subject="Figures", text="Hi.")
    deliver(message, django_capture_on_commit_callbacks)

    # success, success+2, complaint and ooto were accepted; bounce and suppressed are hard unknown-user
    # bounces; the complaint counts once; the auto-reply is no bounce and counts nothing.
    expected = Figures(delivered=4, bounced_hard=2, unknown_user=2, complained=1)
    now = timezone.now()  # a window that ends now holds what was just recorded
    assert figures("user", str(alice.pk), Window.HOUR, now=now) == expected
    assert figures("domain", "example.test", Window.DAY, now=now) == expected
    assert figures("provider", "other", Window.DAY, now=now) == expected
    got = figures("user", str(alice.pk), Window.HOUR, now=now)
    assert (got.sent, got.bounce_rate, got.complaint_rate) == (6, 2 / 6, 1 / 4)  # complaints per delivery
    assert_nothing_left(network)


def test_an_auto_reply_made_twice_is_placed_once(alice, django_capture_on_commit_callbacks):
    message = send_message(user=alice, to=[f"ooto@{SIM}"], subject="Meeting", text="Tomorrow?")
    deliver(message, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):  # the task delivered twice by the broker
        simulator.follow_up([recipient(message, f"ooto@{SIM}").pk])

    assert MailboxItem.objects.filter(user=alice, folder=Folder.INBOX).count() == 1


def test_an_admin_may_still_suppress_a_simulator_address_by_hand(db):
    from delivery.services import suppress_address

    assert suppress_address(address=f"bounce@{SIM}", reason=Suppression.Reason.MANUAL) is not None
    assert (
        suppress_address(
            address=f"complaint@{SIM}", reason=Suppression.Reason.COMPLAINT, source=Suppression.Source.REPORT
        )
        is None
    )
    assert list(Suppression.objects.values_list("address", flat=True)) == [f"bounce@{SIM}"]
