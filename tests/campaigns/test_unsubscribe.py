"""RFC 8058 one-click unsubscribe, end to end, and the suppression scopes it feeds at send time.

Real pieces throughout: mail goes through the delivery engine to an SMTP sink
on loopback, its DKIM signature is verified with dkimpy against keys on a
loopback DNS server, and the List-Unsubscribe URL is read from the delivered
bytes and POSTed as a mailbox provider would: no cookie, no CSRF token.
"""

import re
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import pytest
from django.test import Client

from campaigns.models import Contact, ListMembership
from campaigns.unsubscribe import list_unsubscribe_headers, make_token
from delivery.models import SendScope, Suppression
from delivery.services import run_delivery, send_message, suppress_address
from mailboxes.models import Message, Recipient
from tests.campaigns.unsubscribe_world import (  # noqa: F401 - fixtures
    READER,
    dkim_verifies,
    marketer_fixture,
    newsletter_fixture,
    offers_fixture,
    other_marketer_fixture,
    other_shop_fixture,
    reader_fixture,
    shop_fixture,
)

pytestmark = pytest.mark.django_db


def send_marketing(user, domain, contact_list, *, to=READER, subject="News"):
    return send_message(
        user=user, to=[to], subject=subject, text="Our news.", stream=Message.Stream.BULK,
        headers=list_unsubscribe_headers(domain=domain, address=to, contact_list=contact_list),
        contact_list_id=contact_list.pk if contact_list else None,
    )  # fmt: skip


def send_receipt(user, *, to=READER):
    return send_message(user=user, to=[to], subject="Your receipt", text="Paid.", stream=Message.Stream.TRANSACTIONAL)


def outcome(message) -> Recipient:
    return message.recipients.get()


def one_click(path: str):
    """What a mailbox provider sends: a bare POST, no cookie, no CSRF token (CSRF checks on, as in production)."""
    return Client(enforce_csrf_checks=True).post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )


def https_path(list_unsubscribe: str) -> str:
    [url] = re.findall(r"<(https?://[^>]+)>", list_unsubscribe)
    return urlsplit(url).path


def test_one_click_from_the_delivered_message_stops_that_lists_mail_but_not_receipts(
    marketer, shop, newsletter, reader, remote_domain, smtp_server
):
    send_marketing(marketer, shop, newsletter)
    run_delivery()

    [received] = smtp_server.messages
    assert dkim_verifies(received.content)
    signature = message_from_bytes(received.content, policy=policy.default)["DKIM-Signature"]
    signed = {name.lower() for name in re.search(r"h=([^;]+)", re.sub(r"\s", "", signature)).group(1).split(":")}
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= signed
    delivered = message_from_bytes(received.content, policy=policy.default)
    assert delivered["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<mailto:unsubscribe@shop.example?subject=unsubscribe%20" in str(delivered["List-Unsubscribe"])

    response = one_click(https_path(str(delivered["List-Unsubscribe"])))

    assert response.status_code == 200
    entry = Suppression.objects.get(address=READER)  # written within the request
    assert (entry.scope, entry.contact_list, entry.reason) == ("list", newsletter, "unsubscribe")
    assert entry.source == Suppression.Source.ONE_CLICK
    assert reader.memberships.get(contact_list=newsletter).status == ListMembership.Status.UNSUBSCRIBED
    reader.refresh_from_db()
    assert reader.consent == Contact.Consent.OPTED_IN  # left one list, not all marketing

    again = send_marketing(marketer, shop, newsletter, subject="More news")
    receipt = send_receipt(marketer)
    run_delivery()

    assert outcome(again).status == Recipient.Status.SUPPRESSED
    event = outcome(again).events.get(event_type="rejected")
    assert "unsubscribed from the list Newsletter" in event.description
    assert event.metadata["suppression"]["scope"] == "list"
    assert outcome(receipt).status == Recipient.Status.SENT
    assert [m.content for m in smtp_server.messages[1:]] and len(smtp_server.messages) == 2
    assert b"Your receipt" in smtp_server.messages[1].content


def test_a_list_entry_refuses_only_that_lists_messages(
    marketer, shop, newsletter, offers, reader, remote_domain, smtp_server
):
    suppress_address(
        address=READER, reason=Suppression.Reason.UNSUBSCRIBE, scope=Suppression.Scope.LIST, contact_list=newsletter
    )
    from_newsletter = send_marketing(marketer, shop, newsletter)
    from_offers = send_marketing(marketer, shop, offers, subject="Offers")
    run_delivery()

    assert outcome(from_newsletter).status == Recipient.Status.SUPPRESSED
    assert outcome(from_offers).status == Recipient.Status.SENT


def test_a_global_hard_bounce_refuses_transactional_and_marketing_mail(
    marketer, shop, newsletter, remote_domain, smtp_server
):
    suppress_address(address=READER, reason=Suppression.Reason.HARD_BOUNCE, detail="550 5.1.1 gone")
    marketing = send_marketing(marketer, shop, newsletter)
    receipt = send_receipt(marketer)
    personal = send_message(user=marketer, to=[READER], subject="Hello", text="Me, writing.")
    run_delivery()

    assert outcome(marketing).status == outcome(receipt).status == Recipient.Status.SUPPRESSED
    assert "is suppressed for all mail" in outcome(receipt).events.get(event_type="rejected").description
    assert outcome(personal).status == Recipient.Status.SENT  # a person's own mail is tried (warned at compose)


def test_unsubscribing_from_all_marketing_refuses_every_list_and_mail_without_a_list_but_not_receipts(
    marketer, shop, newsletter, offers, reader, remote_domain, smtp_server
):
    token = make_token(domain_id=shop.pk, address=READER)  # a token without a list: all marketing mail

    assert one_click(f"/u/{token}/").status_code == 200

    entry = Suppression.objects.get(address=READER)
    assert (entry.scope, entry.domain, entry.stream) == ("stream", shop, "bulk")
    reader.refresh_from_db()
    assert reader.consent == Contact.Consent.OPTED_OUT
    messages = [send_marketing(marketer, shop, newsletter), send_marketing(marketer, shop, None, subject="Promo")]
    receipt = send_receipt(marketer)
    run_delivery()
    assert [outcome(m).status for m in messages] == [Recipient.Status.SUPPRESSED] * 2
    assert "unsubscribed from all marketing mail from shop.example" in outcome(messages[1]).events.last().description
    assert outcome(receipt).status == Recipient.Status.SENT


def test_another_workspaces_marketing_is_not_affected_by_an_unsubscribe_from_this_one(
    marketer, shop, newsletter, other_marketer, other_shop, remote_domain, smtp_server
):
    assert one_click(f"/u/{make_token(domain_id=shop.pk, address=READER)}/").status_code == 200

    theirs = send_marketing(other_marketer, other_shop, None)
    run_delivery()

    assert outcome(theirs).status == Recipient.Status.SENT
    assert SendScope.objects.get(message=theirs).domain == other_shop


def test_a_transactional_stream_entry_refuses_receipts_of_that_workspace_only(
    marketer, shop, other_marketer, other_shop, remote_domain, smtp_server
):
    suppress_address(
        address=READER, reason=Suppression.Reason.MANUAL, scope=Suppression.Scope.STREAM, domain=shop,
        stream="transactional",
    )  # fmt: skip
    ours, theirs = send_receipt(marketer), send_receipt(other_marketer)
    run_delivery()

    assert outcome(ours).status == Recipient.Status.SUPPRESSED
    assert outcome(theirs).status == Recipient.Status.SENT


def test_repeated_one_click_posts_are_idempotent(marketer, shop, newsletter, reader):
    path = f"/u/{make_token(domain_id=shop.pk, address=READER, contact_list_id=newsletter.pk)}/"

    responses = [one_click(path) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert Suppression.objects.filter(address=READER).count() == 1


def test_a_post_without_the_one_click_body_changes_nothing(marketer, shop, newsletter, reader):
    path = f"/u/{make_token(domain_id=shop.pk, address=READER, contact_list_id=newsletter.pk)}/"

    response = Client(enforce_csrf_checks=True).post(path, data={})

    assert response.status_code == 400
    assert not Suppression.objects.exists()


def test_a_tampered_token_is_refused_with_a_clear_page(marketer, shop, newsletter):
    token = make_token(domain_id=shop.pk, address=READER, contact_list_id=newsletter.pk)
    payload, signature = token.split(":")
    forged = make_token(domain_id=shop.pk, address="someone-else@remote.example").split(":")[0] + ":" + signature

    for bad in (forged, token[:-2] + "xx", "garbage"):
        response = one_click(f"/u/{bad}/")
        assert response.status_code == 400
        assert "not valid" in response.content.decode()
    assert Client().get(f"/u/{forged}/").status_code == 400
    assert not Suppression.objects.exists()


def test_bad_tokens_from_one_client_are_throttled(marketer, shop, newsletter, reader, monkeypatch):
    from campaigns.views import unsubscribe as views
    from core import ratelimit

    monkeypatch.setattr(views, "BAD_TOKEN_LIMIT", ratelimit.Limit("unsubscribe-test", max_failures=3, window=600))
    monkeypatch.setattr(ratelimit, "clock", lambda: 1_000_000.0)
    good = f"/u/{make_token(domain_id=shop.pk, address=READER, contact_list_id=newsletter.pk)}/"

    assert [one_click(f"/u/probe{i}:x/").status_code for i in range(3)] == [400, 400, 400]
    throttled = one_click(good)

    assert throttled.status_code == 429 and throttled["Retry-After"]
    assert not Suppression.objects.exists()
    monkeypatch.setattr(ratelimit, "clock", lambda: 1_000_600.0)  # the next window
    assert one_click(good).status_code == 200


def test_a_token_of_a_deleted_list_unsubscribes_from_the_workspaces_marketing(marketer, shop, newsletter, reader):
    token = make_token(domain_id=shop.pk, address=READER, contact_list_id=newsletter.pk)
    newsletter.delete()

    assert one_click(f"/u/{token}/").status_code == 200

    entry = Suppression.objects.get(address=READER)
    assert (entry.scope, entry.domain, entry.stream) == ("stream", shop, "bulk")


def test_extra_headers_are_refused_unless_allow_listed_and_single_line(marketer, shop):
    from mailboxes.exceptions import HeaderInjection

    for name, value in [
        ("Bcc", "x@remote.example"),
        ("List-Unsubscribe", "<https://x.example/>\r\nBcc: x@remote.example"),
        ("List-Unsübscribe", "x"),
        ("List-Id", "Nouvelles <news.shop.example> é"),
    ]:
        with pytest.raises(HeaderInjection):
            send_message(user=marketer, to=[READER], text="x", stream=Message.Stream.BULK, headers=[(name, value)])
    with pytest.raises(HeaderInjection):
        send_message(user=marketer, to=[READER], text="x", headers=[("List-Id", "<a.example>"), ("list-id", "<b>")])
    assert not Message.objects.exists()
