"""The renderer the delivery engine asks for campaign messages: held campaigns, each person's bytes, in few queries."""

from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from campaigns.models import Campaign, CampaignRecipient
from campaigns.personalize import CampaignRenderer, render_person
from campaigns.services import fanout
from campaigns.services.campaigns import schedule
from campaigns.services.fanout import release_due, start_due_campaigns
from campaigns.services.templates import create_template
from campaigns.tasks import start_and_release
from campaigns.unsubscribe import make_token, unsubscribe_url
from delivery import personalization
from mailboxes.models import Recipient
from tests.campaigns.campaign_world import (
    add_contacts,
    everyone_fixture,  # noqa: F401 - fixtures
    new_campaign,
    newsletter_fixture,  # noqa: F401
    spring_fixture,  # noqa: F401
)
from tests.campaigns.unsubscribe_world import marketer_fixture, shop_fixture  # noqa: F401


@pytest.fixture(autouse=True)
def _no_delivery(monkeypatch):
    monkeypatch.setattr(fanout, "dispatch_due", lambda *, queue: None)


def released(marketer, template, everyone, **fields) -> Campaign:
    campaign = new_campaign(marketer, template, everyone, **fields)
    schedule(campaign=campaign, user=marketer)
    start_due_campaigns()
    release_due()
    return Campaign.objects.get(pk=campaign.pk)


def test_the_app_registers_its_renderer_for_the_engine():
    assert isinstance(personalization.renderer(), CampaignRenderer)


def test_held_names_paused_and_cancelled_campaigns_in_one_query(
    marketer, spring, everyone, shop, django_assert_num_queries
):
    ids = []
    for status in ("sending", "paused", "cancelled"):
        ids.append(new_campaign(marketer, spring, everyone, name=status).pk)
        Campaign.objects.filter(pk=ids[-1]).update(status=status)

    with django_assert_num_queries(1):
        held = CampaignRenderer().held(set(ids))

    assert held == {ids[1]: "paused", ids[2]: "cancelled"}


def test_a_claims_people_are_rendered_with_one_query(
    marketer, spring, everyone, shop, newsletter, django_assert_num_queries
):
    add_contacts(shop, newsletter, [f"q{i}@remote.example" for i in range(5)])
    campaign = released(marketer, spring, everyone)
    outbox = list(Recipient.objects.filter(message=campaign.message))
    renderer = CampaignRenderer()
    renderer.render(outbox[:1])  # the version, read once per process

    with django_assert_num_queries(1):
        messages = renderer.render(outbox)

    assert set(messages) == {r.pk for r in outbox}
    subjects = {message_from_bytes(raw, policy=default_policy)["Subject"] for raw in messages.values()}
    assert subjects == {f"Spring for Q{i}" for i in range(5)}


def test_tracked_people_get_the_pixel_and_redirects_and_the_others_do_not(marketer, shop, everyone, newsletter):
    template = create_template(
        user=marketer, key="links", stream="marketing", subject="Links",
        html='<html><body><a href="https://shop.example/sale">Sale</a></body></html>', variables=[],
    )  # fmt: skip
    add_contacts(shop, newsletter, ["yes@remote.example"], tracking_consent=True)
    add_contacts(shop, newsletter, ["no@remote.example"])
    campaign = released(marketer, template, everyone, track_opens=True, track_clicks=True)
    outbox = {r.address: r for r in Recipient.objects.filter(message=campaign.message)}

    messages = CampaignRenderer().render(list(outbox.values()))

    def html_of(address):
        raw = messages[outbox[address].pk]
        return message_from_bytes(raw, policy=default_policy).get_body(("html",)).get_content()

    assert "/t/o/" in html_of("yes@remote.example") and "/t/c/" in html_of("yes@remote.example")
    assert "/t/" not in html_of("no@remote.example")
    assert 'href="https://shop.example/sale"' in html_of("no@remote.example")


def test_a_template_with_its_own_unsubscribe_link_gets_no_footer(marketer, shop):
    template = create_template(
        user=marketer, key="own-link", stream="marketing", subject="Hi",
        html='<p>Hi. <a href="{{ unsubscribe_url }}">Leave</a></p>',
        variables=[{"name": "unsubscribe_url", "type": "string", "required": True}],
    )  # fmt: skip

    rendered = render_person(
        template.active_version, domain=shop, address="a@remote.example", name="", locale="", attributes={}
    )

    link = unsubscribe_url(make_token(domain_id=shop.pk, address="a@remote.example"))
    assert rendered.html.count(link) == 1 and f'<a href="{link}">Leave</a>' in rendered.html
    assert "You receive this" not in rendered.text


def test_the_periodic_task_starts_and_releases(marketer, spring, everyone, shop, newsletter):
    add_contacts(shop, newsletter, ["t1@remote.example", "t2@remote.example"])
    campaign = new_campaign(marketer, spring, everyone)
    schedule(campaign=campaign, user=marketer)

    start_and_release.delay()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    assert CampaignRecipient.objects.filter(campaign=campaign, recipient__isnull=False).count() == 2
