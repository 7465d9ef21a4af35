"""Outbound content: API, service and bulk mail is scored by the inbound spam filter and its links checked
before it leaves; a person's webmail mail is only noted. Everything through the real API, the real
services and the admin."""

from datetime import timedelta

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.services.campaigns import CampaignInvalid, preflight, schedule
from campaigns.services.templates import create_template
from delivery.services import send_message
from mailboxes.models import Message
from reputation import links
from reputation.models import ContentFlag, LinkBlocklistEntry, SignInNetwork, SubmissionCount
from reputation.services.compromise import record_sign_in
from reputation.services.content import ContentRefused, block_link_domain, link_findings
from tests.api.conftest import assert_error, client_for
from tests.campaigns.campaign_world import (
    NOW,
    add_contacts,
    new_campaign,
)
from tests.campaigns.template_factories import make_template
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RECEIPT_VALUES = {"orderId": "12345", "amount": 99, "items": [{"name": "Tea", "qty": 2}], "shipped": "2026-12-01"}
SPAM_SUBJECT = "CLAIM YOUR PRIZE TODAY!!!"
SPAM_BODY = (
    "Dear friend, you are a winner! Claim your prize now: act now, it is 100% free, a limited time offer. "
    "Send the wire transfer fee today!!! Order now!!!"
)


def send(api, **fields):
    return api.post("/api/emails/send", {"to": ["bob@remote.example"], "subject": "Hello", **fields}, format="json")


# --- the links ---------------------------------------------------------------------------------------


def test_links_are_found_in_text_and_html_with_entities_decoded():
    found = links.links_in(
        "See https://example.org/a, and (https://example.org/b).",
        '<a href="https://shop.example/p?a=1&amp;b=2">shop</a> https://example.org/a',
    )

    assert found == ["https://example.org/a", "https://example.org/b", "https://shop.example/p?a=1&b=2"]


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://www.google.com/url?q=https://evil.example/login", "evil.example"),
        ("https://l.facebook.com/l.php?u=https%3A%2F%2Fevil.example%2F", "evil.example"),
        ("https://news.example/redirect?url=http://evil.example", "evil.example"),
        ("https://news.example/out/https://evil.example/x", "evil.example"),
        ("https://news.example/out/https%3A%2F%2Fevil.example%2Fx", "evil.example"),
    ],
)
def test_open_redirects_are_recognised_by_the_destination_they_carry(url, target):
    assert links.redirect_of(url).target_host == target


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example/article?id=7&q=weather",  # a query that is not a URL
        "https://news.example/login?next=/inbox",  # a path on the same site
        "https://news.example/go?url=https://www.news.example/a",  # the same registrable domain
    ],
)
def test_ordinary_links_are_not_redirects(url):
    assert links.redirect_of(url) is None


def test_a_blocked_domain_blocks_its_subdomains_and_a_redirect_to_it(db):
    block_link_domain(domain="https://Evil.Example/whatever", reason="phishing kit")

    assert LinkBlocklistEntry.objects.get().domain == "evil.example"
    kinds = {
        f.detail: f.kind
        for f in link_findings(
            ["https://login.evil.example/x", "https://news.example/r?url=https://evil.example", "https://ok.example/"]
        )
    }
    assert kinds == {
        "https://login.evil.example/x": "blocked_link",
        "https://news.example/r?url=https://evil.example": "blocked_link",
    }


def test_links_to_this_platform_are_neither_shorteners_nor_redirects(settings, alice):
    settings.WEBMAIL_BASE_URL = "https://mail.example.test"
    own = [
        "https://mail.example.test/t/click?url=https://shop.example/",  # click tracking
        "https://example.test/go?next=https://elsewhere.example/",  # a hosted domain
    ]

    assert link_findings(own) == []


# --- API mail is refused, with the reason ----------------------------------------------------------


def test_spam_scored_api_mail_is_refused_with_the_score_and_counted_as_evidence(alice):
    api = client_for(alice)

    response = send(api, subject=SPAM_SUBJECT, body=SPAM_BODY)

    error = assert_error(response, 422, "content_refused")
    assert error["message"].startswith("This message was not sent. The spam filter scores this message ")
    assert "(mail scoring 5.0 or more is not sent)" in error["message"]
    assert not Message.objects.filter(sender=alice).exists()
    flag = ContentFlag.objects.get(user=alice)
    assert (flag.finding, flag.source, flag.refused, flag.subject) == ("spam", "api", True, SPAM_SUBJECT)
    assert "SPAM_PHRASES" in flag.detail
    assert SubmissionCount.objects.get(user=alice).flagged == 1


def test_ordinary_api_mail_is_sent(alice):
    response = send(client_for(alice), body="Your order 1042 has shipped: https://shop.example/orders/1042")

    assert response.status_code == 202, response.content
    assert not ContentFlag.objects.exists()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "Your parcel: https://bit.ly/3xYzAbc",
            "The message links through the URL shortener bit.ly, which hides where the link goes: "
            "link to the destination itself.",
        ),
        (
            "Sign in: https://www.google.com/url?q=https://evil.example/login",
            "The message links through an open redirect on www.google.com to evil.example: "
            "link to the destination itself.",
        ),
    ],
)
def test_api_mail_through_a_shortener_or_an_open_redirect_is_refused(alice, body, expected):
    error = assert_error(send(client_for(alice), body=body), 422, "content_refused")

    assert error["message"] == f"This message was not sent. {expected}"
    assert ContentFlag.objects.get(user=alice).refused


def test_the_admins_blocklist_refuses_api_mail_until_the_domain_is_removed(alice, client):
    operator = UserFactory(address="root@example.test", admin=True)
    client.force_login(operator)
    add = reverse("admin:reputation_linkblocklistentry_add")

    response = client.post(add, {"domain": " Casino-Bonus.Example. ", "reason": "spam runs"})

    assert response.status_code == 302, response.content
    entry = LinkBlocklistEntry.objects.get()
    assert (entry.domain, entry.reason, entry.created_by) == ("casino-bonus.example", "spam runs", operator)
    api = client_for(alice)
    html = '<p>Hi! <a href="https://www.casino-bonus.example/welcome">Your bonus</a></p>'
    error = assert_error(send(api, html=html), 422, "content_refused")
    assert error["message"] == (
        "This message was not sent. The message links to casino-bonus.example, which is on this server's link "
        "blocklist (spam runs)."
    )

    changelist = reverse("admin:reputation_linkblocklistentry_changelist")
    response = client.post(changelist, {"action": "remove_selected", "_selected_action": [entry.pk]})

    assert response.status_code == 302
    assert not LinkBlocklistEntry.objects.exists()
    assert send(api, html=html).status_code == 202


def test_service_mail_sent_through_the_services_is_refused_too(alice):
    with pytest.raises(ContentRefused):
        send_message(
            user=alice, to=["bob@remote.example"], subject="Receipt", text="Track it: https://tinyurl.com/abc123",
            stream=Message.Stream.TRANSACTIONAL,
        )  # fmt: skip

    assert ContentFlag.objects.get(user=alice).source == "service"


# --- a person's webmail mail is noted, not refused ---------------------------------------------------


def test_a_persons_spammy_webmail_mail_is_sent_and_noted_as_evidence(alice):
    message = send_message(user=alice, to=["bob@remote.example"], subject=SPAM_SUBJECT, text=SPAM_BODY)

    assert message.status == Message.Status.QUEUED
    flag = ContentFlag.objects.get(user=alice)
    assert (flag.finding, flag.source, flag.refused) == ("spam", "webmail", False)
    assert SubmissionCount.objects.get(user=alice).flagged == 1


def test_scoring_a_persons_mail_can_be_turned_off(alice, settings):
    settings.REPUTATION_CONTENT_SCAN_PERSONAL = False

    send_message(user=alice, to=["bob@remote.example"], subject=SPAM_SUBJECT, text=SPAM_BODY)

    assert not ContentFlag.objects.exists()


# --- a campaign's sample, at preflight --------------------------------------------------------------


@pytest.fixture(name="shortened")
def shortened_fixture(marketer, shop, everyone, newsletter):
    template = create_template(
        user=marketer, key="shortened", stream="marketing", subject="Spring news for {{ first_name }}",
        html='<p>Hello {{ first_name }}, see <a href="https://bit.ly/spring-sale">our sale</a>.</p>'
             '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
        variables=[{"name": "first_name", "type": "string", "default": "there"},
                   {"name": "unsubscribe_url", "type": "string"}],
    )  # fmt: skip
    add_contacts(shop, newsletter, ["ann@remote.example", "ben@remote.example"])
    return new_campaign(marketer, template, everyone, send_at=NOW + timedelta(hours=1))


def test_a_campaign_linking_through_a_shortener_fails_its_preflight(shortened, marketer):
    problems = [(p.field, p.message) for p in preflight(shortened, now=NOW)]

    assert (
        "template",
        "The message links through the URL shortener bit.ly, which hides where the link goes: "
        "link to the destination itself.",
    ) in problems
    assert not ContentFlag.objects.exists()  # showing the problems is not evidence

    with pytest.raises(CampaignInvalid) as refused:
        schedule(campaign=shortened, user=marketer, now=NOW)

    assert "URL shortener bit.ly" in refused.value.errors["template"][0]
    assert Campaign.objects.get(pk=shortened.pk).status == Campaign.Status.DRAFT
    flag = ContentFlag.objects.get(user=marketer)
    assert (flag.source, flag.refused, flag.finding) == ("campaign", True, "shortener")


def test_a_spam_scored_campaign_fails_its_preflight(marketer, shop, everyone, newsletter):
    template = create_template(
        user=marketer, key="prize", stream="marketing", subject=SPAM_SUBJECT,
        html=f"<p>{SPAM_BODY}</p><p><a href=\"{{{{ unsubscribe_url }}}}\">Unsubscribe</a></p>",
        variables=[{"name": "unsubscribe_url", "type": "string"}],
    )  # fmt: skip
    add_contacts(shop, newsletter, ["ann@remote.example"])
    campaign = new_campaign(marketer, template, everyone, send_at=NOW + timedelta(hours=1))

    messages = [p.message for p in preflight(campaign, now=NOW) if p.field == "template"]

    assert len(messages) == 1
    assert messages[0].startswith("The spam filter scores this message ")


# --- template sends over the API ---------------------------------------------------------------------


@pytest.fixture(name="shortened_receipt")
def shortened_receipt_fixture(alice):
    return make_template(html='<p>Receipt {{ orderId }}: track it at <a href="https://tinyurl.com/trk42">here</a></p>')


def test_a_template_send_with_a_shortened_link_is_refused(alice, shortened_receipt):
    api = client_for(alice)

    response = api.post(
        "/api/emails/send-template",
        {"templateId": "order_receipt", "to": ["bob@remote.example"], "variables": RECEIPT_VALUES},
        format="json",
    )

    error = assert_error(response, 422, "content_refused")
    assert "URL shortener tinyurl.com" in error["message"]
    assert not Message.objects.exists()


def test_a_template_batch_is_checked_as_a_whole_and_counted(alice, shortened_receipt):
    api = client_for(alice)
    people = [{"to": [f"p{n}@remote.example"], "variables": RECEIPT_VALUES} for n in range(3)]

    response = api.post(
        "/api/emails/send-template/batch", {"templateId": "order_receipt", "personalizations": people}, format="json"
    )

    assert "URL shortener tinyurl.com" in assert_error(response, 422, "content_refused")["message"]
    assert not Message.objects.exists()
    assert ContentFlag.objects.get(user=alice).source == "service"


def test_a_clean_template_batch_is_counted_for_the_compromise_checks(alice):
    make_template()
    people = [{"to": [f"p{n}@remote.example"], "variables": RECEIPT_VALUES} for n in range(3)]

    response = client_for(alice).post(
        "/api/emails/send-template/batch", {"templateId": "order_receipt", "personalizations": people}, format="json"
    )

    assert response.status_code == 202, response.content
    counts = SubmissionCount.objects.get(user=alice)
    assert (counts.recipients, counts.new_recipients) == (3, 3)


def test_the_admin_shows_what_the_checks_recorded(alice, client):
    client.force_login(UserFactory(address="root@example.test", admin=True))
    send(client_for(alice), body="https://bit.ly/x")
    record_sign_in(user=alice, client="192.0.2.1")
    block_link_domain(domain="evil.example")

    for model in (ContentFlag, LinkBlocklistEntry, SignInNetwork, SubmissionCount):
        name = f"admin:reputation_{model._meta.model_name}"
        assert client.get(reverse(f"{name}_changelist"), {"q": "example"}).status_code == 200
        assert client.get(reverse(f"{name}_change", args=[model.objects.get().pk])).status_code == 200
