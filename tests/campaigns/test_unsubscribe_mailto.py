"""The mailto: half of List-Unsubscribe, through the real MX on loopback and the inbound pipeline."""

import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import pytest

from campaigns.models import ListMembership
from campaigns.unsubscribe import list_unsubscribe_headers, make_token
from delivery.models import Suppression
from inbound.models import InboundMessage
from mailboxes.models import MailboxItem
from tests.campaigns.unsubscribe_world import (  # noqa: F401 - fixtures
    READER,
    marketer_fixture,
    newsletter_fixture,
    offers_fixture,
    other_marketer_fixture,
    other_shop_fixture,
    reader_fixture,
    shop_fixture,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def mailto_of(headers: dict[str, str]) -> tuple[str, str]:
    """``(address, subject)`` of the List-Unsubscribe mailto: URI, as a mail client reads it."""
    uri = next(part.strip(" <>") for part in headers["List-Unsubscribe"].split(",") if "mailto:" in part)
    parts = urlsplit(uri)
    return parts.path, unquote(parts.query.removeprefix("subject="))


def mail(mx_server, *, to: str, subject: str, sender: str = READER) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content("Please take me off.")
    with smtplib.SMTP(*mx_server, timeout=60) as client:
        client.sendmail(sender, [to], msg.as_bytes())


def test_mail_to_the_mailto_address_unsubscribes_and_is_placed_nowhere(mx_server, marketer, shop, newsletter, reader):
    address, subject = mailto_of(list_unsubscribe_headers(domain=shop, address=READER, contact_list=newsletter))
    assert address == "unsubscribe@shop.example"  # accepted although no user owns it

    mail(mx_server, to=address, subject=subject)

    entry = Suppression.objects.get(address=READER)
    assert (entry.scope, entry.contact_list, entry.source) == ("list", newsletter, Suppression.Source.MAILTO)
    assert reader.memberships.get(contact_list=newsletter).status == ListMembership.Status.UNSUBSCRIBED
    assert InboundMessage.objects.get().status == InboundMessage.Status.REPORT
    assert not MailboxItem.objects.exists()


def test_mail_to_the_mailto_address_without_a_valid_token_is_dropped(mx_server, marketer, shop, newsletter, reader):
    token = make_token(domain_id=shop.pk, address=READER, contact_list_id=newsletter.pk)
    for subject in ("unsubscribe", "please unsubscribe me", f"unsubscribe {token[:-3]}abc"):
        mail(mx_server, to="unsubscribe@shop.example", subject=subject)

    assert not Suppression.objects.exists()
    assert InboundMessage.objects.filter(status=InboundMessage.Status.REPORT).count() == 3
    assert not MailboxItem.objects.exists()


def test_a_token_of_another_workspace_mailed_to_this_domain_is_dropped(
    mx_server, marketer, shop, other_marketer, other_shop
):
    theirs = make_token(domain_id=other_shop.pk, address=READER)

    mail(mx_server, to="unsubscribe@shop.example", subject=f"unsubscribe {theirs}")

    assert not Suppression.objects.exists()


def test_mail_to_the_unsubscribe_address_is_never_placed_even_if_a_user_has_that_name(mx_server, marketer, shop):
    unlucky = UserFactory(address="unsubscribe@shop.example")

    mail(mx_server, to="unsubscribe@shop.example", subject="hello")

    assert not MailboxItem.objects.filter(user=unlucky).exists()
