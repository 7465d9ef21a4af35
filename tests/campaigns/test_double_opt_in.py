"""Double opt-in end to end: the confirmation mail goes over SMTP to a loopback server, its link is
taken from the delivered bytes, a GET only shows a button and the POST subscribes."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Contact, ListMembership
from campaigns.services.contacts import add_address_to_list, create_list
from campaigns.services.double_opt_in import (
    ExpiredConfirmationLink,
    InvalidConfirmationLink,
    confirm_subscription,
    confirmation_token,
    send_confirmations,
)
from delivery.services import run_delivery
from mailboxes.models import Message
from mailboxes.parsing import parse_message
from tests.campaigns import contacts_support as support
from tests.factories import UserFactory

alice, workspace = support.alice, support.workspace

LINK = re.compile(r"https?://\S+/subscribe/confirm/[^/\s]+/")


@pytest.fixture
def newsletter(workspace):
    return create_list(workspace=workspace, name="Newsletter", double_opt_in=True)


def join(django_capture_on_commit_callbacks, *, workspace, newsletter, alice, address="ok-reader@remote.example"):
    with django_capture_on_commit_callbacks(execute=True):
        membership = add_address_to_list(
            workspace=workspace, list_id=newsletter.pk, address=address, name="Reader", added_by=alice
        )
    run_delivery()
    return membership


def delivered_link(smtp_server) -> str:
    [received] = smtp_server.messages
    text = parse_message(received.content).text
    return LINK.search(text).group(0)


def test_the_confirmation_link_from_the_delivered_mail_subscribes_on_post_only(
    alice, workspace, newsletter, remote_domain, smtp_server, client, django_capture_on_commit_callbacks
):
    membership = join(django_capture_on_commit_callbacks, workspace=workspace, newsletter=newsletter, alice=alice)
    assert membership.status == ListMembership.Status.PENDING

    [received] = smtp_server.messages
    assert received.rcpt_tos == ["ok-reader@remote.example"]
    parsed = parse_message(received.content)
    assert parsed.subject == "Please confirm your subscription to Newsletter"
    assert Message.objects.get(message_id=parsed.message_id).stream == Message.Stream.TRANSACTIONAL
    path = delivered_link(smtp_server).split("://", 1)[1].partition("/")[2]

    page = client.get("/" + path)  # what a link scanner does
    assert page.status_code == 200
    assert "Yes, subscribe me" in page.content.decode()
    membership.refresh_from_db()
    assert membership.status == ListMembership.Status.PENDING

    done = client.post("/" + path, HTTP_USER_AGENT="Mozilla/5.0 (Reader)", REMOTE_ADDR="192.0.2.7")
    assert done.status_code == 200
    assert "You are subscribed" in done.content.decode()
    membership.refresh_from_db()
    contact = Contact.objects.get(pk=membership.contact_id)
    assert membership.status == ListMembership.Status.SUBSCRIBED
    assert membership.subscribed_at is not None
    assert (contact.consent, contact.consent_source) == (Contact.Consent.OPTED_IN, "double opt-in")
    assert (contact.consent_ip, contact.consent_user_agent) == ("192.0.2.7", "Mozilla/5.0 (Reader)")

    again = client.post("/" + path, REMOTE_ADDR="198.51.100.1")  # idempotent: the first evidence stays
    assert again.status_code == 200
    assert "You had confirmed already" in again.content.decode()
    contact.refresh_from_db()
    assert contact.consent_ip == "192.0.2.7"


def test_adding_someone_twice_sends_one_confirmation(
    alice, workspace, newsletter, remote_domain, smtp_server, django_capture_on_commit_callbacks
):
    join(django_capture_on_commit_callbacks, workspace=workspace, newsletter=newsletter, alice=alice)
    join(django_capture_on_commit_callbacks, workspace=workspace, newsletter=newsletter, alice=alice)
    membership = ListMembership.objects.get()
    assert send_confirmations(membership_ids=[membership.pk], added_by_id=alice.pk) == 0

    assert len(smtp_server.messages) == 1


def test_the_mail_comes_from_the_workspace_noreply_address_when_there_is_one(
    alice, workspace, newsletter, remote_domain, smtp_server, django_capture_on_commit_callbacks
):
    UserFactory(address="noreply@shop.test", display_name="Shop")
    join(django_capture_on_commit_callbacks, workspace=workspace, newsletter=newsletter, alice=alice)

    [received] = smtp_server.messages
    assert parse_message(received.content).from_address == "noreply@shop.test"


def test_without_a_noreply_address_the_mail_comes_from_the_marketer_who_added_them(
    alice, workspace, newsletter, remote_domain, smtp_server, django_capture_on_commit_callbacks
):
    join(django_capture_on_commit_callbacks, workspace=workspace, newsletter=newsletter, alice=alice)

    [received] = smtp_server.messages
    assert parse_message(received.content).from_address == "alice@shop.test"


def test_a_contact_with_a_chinese_locale_gets_the_mail_in_chinese(
    alice, workspace, newsletter, remote_domain, smtp_server, django_capture_on_commit_callbacks
):
    Contact.objects.create(domain=workspace, address="ok-li@remote.example", locale="zh-hans")
    join(
        django_capture_on_commit_callbacks, workspace=workspace, newsletter=newsletter, alice=alice,
        address="ok-li@remote.example",
    )  # fmt: skip

    [received] = smtp_server.messages
    assert parse_message(received.content).subject == "请确认订阅 Newsletter"


def test_a_tampered_link_is_refused_with_a_clear_page(
    alice, workspace, newsletter, remote_domain, smtp_server, client, django_capture_on_commit_callbacks
):
    join(django_capture_on_commit_callbacks, workspace=workspace, newsletter=newsletter, alice=alice)
    link = delivered_link(smtp_server)
    token = link.rstrip("/").rsplit("/", 1)[1]
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")

    for response in (client.get(f"/subscribe/confirm/{forged}/"), client.post(f"/subscribe/confirm/{forged}/")):
        assert response.status_code == 400
        assert "This link does not work" in response.content.decode()
    assert ListMembership.objects.get().status == ListMembership.Status.PENDING
    with pytest.raises(InvalidConfirmationLink):
        confirm_subscription(token=forged, ip=None, user_agent="")


def test_an_expired_link_is_refused_and_confirms_nothing(alice, workspace, newsletter, client, settings):
    settings.DOUBLE_OPT_IN_MAX_AGE_DAYS = 7
    membership = add_address_to_list(
        workspace=workspace, list_id=newsletter.pk, address="late@remote.example", added_by=alice
    )
    issued = timezone.now()
    token = confirmation_token(membership=membership, now=issued)

    with pytest.raises(ExpiredConfirmationLink):
        confirm_subscription(token=token, ip=None, user_agent="", now=issued + timedelta(days=7, seconds=1))
    confirm_subscription(token=token, ip=None, user_agent="", now=issued + timedelta(days=6, hours=23))  # still fine
    membership.refresh_from_db()
    assert membership.status == ListMembership.Status.SUBSCRIBED

    old_token = confirmation_token(membership=membership, now=issued - timedelta(days=8))
    response = client.post(f"/subscribe/confirm/{old_token}/")
    assert response.status_code == 400
    assert "expired" in response.content.decode()


def test_a_link_of_someone_who_unsubscribed_since_does_not_resubscribe_them(alice, workspace, newsletter):
    membership = add_address_to_list(
        workspace=workspace, list_id=newsletter.pk, address="gone@remote.example", added_by=alice
    )
    token = confirmation_token(membership=membership, now=timezone.now())
    ListMembership.objects.filter(pk=membership.pk).update(status=ListMembership.Status.UNSUBSCRIBED)

    with pytest.raises(Exception, match="You left this list"):
        confirm_subscription(token=token, ip=None, user_agent="")
    membership.refresh_from_db()
    assert membership.status == ListMembership.Status.UNSUBSCRIBED


def test_an_import_into_a_double_opt_in_list_makes_pending_members_who_get_the_mail(
    alice, workspace, newsletter, remote_domain, smtp_server, django_capture_on_commit_callbacks
):
    content = "email,name\nok-one@remote.example,One\nok-two@remote.example,Two\n"
    result = support.run_import(
        django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content, contact_list=newsletter
    )
    run_delivery()

    assert result.report["counts"]["pending"] == 2
    assert set(newsletter.memberships.values_list("status", flat=True)) == {ListMembership.Status.PENDING}
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == ["ok-one@remote.example", "ok-two@remote.example"]
