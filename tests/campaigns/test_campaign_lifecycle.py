"""A campaign's life: drafts, the check before scheduling, scheduling, pause, resume, cancel, times in time zones."""

# ruff: noqa: DTZ001 - naive datetimes are what a marketer types, in their own time zone

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import Domain
from campaigns.models import Campaign, Contact, ListMembership
from campaigns.services.campaigns import (
    CampaignInvalid,
    InvalidTransition,
    cancel,
    delete_campaign,
    local_to_utc,
    pause,
    preflight,
    resume,
    schedule,
    send_test,
    unschedule,
    update_campaign,
)
from campaigns.services.fanout import start_due_campaigns
from campaigns.services.templates import create_template
from delivery.models import Suppression
from tests.campaigns.campaign_world import (
    NOW,
    add_contacts,
    everyone_fixture,  # noqa: F401 - fixtures
    new_campaign,
    newsletter_fixture,  # noqa: F401
    spring_fixture,  # noqa: F401
)
from tests.campaigns.unsubscribe_world import (
    marketer_fixture,  # noqa: F401
    other_marketer_fixture,  # noqa: F401
    other_shop_fixture,  # noqa: F401
    shop_fixture,  # noqa: F401
)
from webmail.errors import NotFound


@pytest.fixture(name="draft")
def draft_fixture(marketer, spring, everyone, shop, newsletter):
    add_contacts(shop, newsletter, ["ann@remote.example", "ben@remote.example"])
    return new_campaign(marketer, spring, everyone, send_at=NOW + timedelta(hours=1))


def test_a_ready_draft_has_no_problems_and_schedules(draft, marketer):
    assert preflight(draft, now=NOW) == []

    scheduled = schedule(campaign=draft, user=marketer, now=NOW)

    assert scheduled.status == Campaign.Status.SCHEDULED


def test_the_preflight_lists_every_problem_at_once(marketer, shop, everyone):
    broken = create_template(
        user=marketer, key="broken", stream="marketing", subject="Hi {{ first_name }}",
        html="<p>{{ first_name }} {{ unsubscribe_url if false }}</p>",
        variables=[{"name": "first_name", "type": "string", "required": True},
                   {"name": "unsubscribe_url", "type": "string"}],
    )  # fmt: skip

    nameless = Contact.objects.create(domain=shop, address="nameless@remote.example", consent="opted_in")
    ListMembership.objects.create(contact_list_id=everyone.definition["lists"][0], contact=nameless)
    named = Contact.objects.create(
        domain=shop, address="named@remote.example", consent="opted_in", attributes={"first_name": "Ned"}
    )
    ListMembership.objects.create(contact_list_id=everyone.definition["lists"][0], contact=named)
    Domain.objects.create(name="elsewhere.example")
    campaign = new_campaign(
        marketer, broken, everyone, from_address="nobody@elsewhere.example",
        send_at=NOW - timedelta(minutes=5), finish_by=NOW - timedelta(minutes=10),
    )  # fmt: skip

    problems = preflight(campaign, now=NOW)

    text = "\n".join(f"{p.field}: {p.message}" for p in problems)
    assert "template: The template does not render for nameless@remote.example" in text
    assert "named@remote.example shows no unsubscribe link" in text
    assert "from_address: nobody@elsewhere.example is not an address the campaign may send as." in text
    assert "elsewhere.example has no DKIM key" in text
    assert "send_at: The send time is in the past." in text
    assert "finish_by: The deadline must come after the send time." in text
    with pytest.raises(CampaignInvalid) as raised:
        schedule(campaign=campaign, user=marketer, now=NOW)
    assert set(raised.value.errors) == {"template", "from_address", "send_at", "finish_by"}
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT


def test_an_empty_segment_and_a_missing_template_are_problems(marketer, shop, everyone, newsletter):
    add_contacts(shop, newsletter, ["gone@remote.example"])
    Suppression.objects.create(address="gone@remote.example", scope=Suppression.Scope.GLOBAL, reason="complaint")
    campaign = new_campaign(marketer, None, everyone)

    fields = {(p.field, p.message) for p in preflight(campaign, now=NOW)}

    assert ("template", "Choose a template.") in fields
    assert ("segment", "Nobody in the segment can be sent to (after suppressions).") in fields


def test_a_transactional_template_or_another_workspaces_segment_is_refused(marketer, shop, everyone, other_marketer):
    receipt = create_template(
        user=marketer, key="receipt", stream="transactional", subject="Receipt", html="<p>x</p>", variables=[]
    )
    with pytest.raises(CampaignInvalid) as raised:
        new_campaign(marketer, receipt, everyone)
    assert "template" in raised.value.errors
    with pytest.raises(CampaignInvalid) as raised:
        new_campaign(other_marketer, None, everyone, from_address="mallory@other.example")
    assert raised.value.errors == {"segment": ["There is no such segment."]}


def test_another_workspace_cannot_touch_a_campaign(draft, other_marketer, other_shop):
    for action in (pause, resume, cancel, schedule):
        with pytest.raises(NotFound):
            action(campaign=draft, user=other_marketer)
    with pytest.raises(NotFound):
        update_campaign(campaign=draft, user=other_marketer, name="mine now")


def test_only_drafts_change_and_a_scheduled_one_is_unscheduled_first(draft, marketer):
    update_campaign(campaign=draft, user=marketer, name="Spring, again", max_per_hour=600)
    schedule(campaign=draft, user=marketer, now=NOW)

    with pytest.raises(InvalidTransition):
        update_campaign(campaign=draft, user=marketer, name="too late")
    with pytest.raises(InvalidTransition):
        delete_campaign(campaign=draft, user=marketer)
    unschedule(campaign=draft, user=marketer)
    changed = update_campaign(campaign=draft, user=marketer, name="Spring, third time")

    assert (changed.status, changed.name, changed.max_per_hour) == ("draft", "Spring, third time", 600)
    delete_campaign(campaign=draft, user=marketer)
    assert not Campaign.objects.filter(pk=draft.pk).exists()


def test_pause_resume_and_cancel_follow_the_life_and_refuse_the_rest(draft, marketer):
    with pytest.raises(InvalidTransition, match="Only a sending campaign can be paused. It is Draft."):
        pause(campaign=draft, user=marketer, now=NOW)
    with pytest.raises(InvalidTransition):
        resume(campaign=draft, user=marketer, now=NOW)
    schedule(campaign=draft, user=marketer, now=NOW)
    start_due_campaigns(now=NOW + timedelta(hours=1))

    paused = pause(campaign=draft, user=marketer, now=NOW + timedelta(hours=2))
    assert (paused.status, paused.paused_at) == ("paused", NOW + timedelta(hours=2))
    with pytest.raises(InvalidTransition):
        pause(campaign=draft, user=marketer, now=NOW)
    resumed = resume(campaign=draft, user=marketer, now=NOW + timedelta(hours=3))
    assert (resumed.status, resumed.paused_at) == ("sending", None)
    cancelled = cancel(campaign=draft, user=marketer, now=NOW + timedelta(hours=4))
    assert (cancelled.status, cancelled.cancelled_at) == ("cancelled", NOW + timedelta(hours=4))
    with pytest.raises(InvalidTransition, match="already finished"):
        cancel(campaign=draft, user=marketer, now=NOW)


def test_a_scheduled_campaign_starts_only_when_its_time_comes(draft, marketer):
    schedule(campaign=draft, user=marketer, now=NOW)

    assert start_due_campaigns(now=NOW + timedelta(minutes=59)) == []
    assert start_due_campaigns(now=NOW + timedelta(hours=1)) == [draft.pk]
    assert start_due_campaigns(now=NOW + timedelta(hours=1)) == []  # started once
    started = Campaign.objects.get(pk=draft.pk)
    assert (started.status, started.started_at, started.audience_size) == ("sending", NOW + timedelta(hours=1), 2)
    assert started.version_id == started.template.active_version_id


def test_local_times_become_utc_instants_across_dst():
    # Paris: CET (+1) in winter, CEST (+2) after the last Sunday of March.
    assert local_to_utc(datetime(2026, 3, 28, 18, 0), "Europe/Paris") == datetime(2026, 3, 28, 17, 0, tzinfo=UTC)
    assert local_to_utc(datetime(2026, 3, 29, 18, 0), "Europe/Paris") == datetime(2026, 3, 29, 16, 0, tzinfo=UTC)
    # 02:30 on 29 March 2026 never happens in Paris: the clocks jump from 02:00 to 03:00.
    with pytest.raises(Exception, match="does not exist in Europe/Paris"):
        local_to_utc(datetime(2026, 3, 29, 2, 30), "Europe/Paris")
    # 02:30 on 25 October 2026 happens twice: the first (still CEST) is meant.
    assert local_to_utc(datetime(2026, 10, 25, 2, 30), "Europe/Paris") == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    with pytest.raises(CampaignInvalid):
        local_to_utc(datetime(2026, 1, 1), "Mars/Olympus")


def test_a_test_send_renders_for_a_real_contact_and_is_marked(draft, marketer, shop):
    message = send_test(campaign=draft, user=marketer, to=["alice@shop.example"], now=NOW)

    assert message.subject == "[Test] Spring for Ann"
    assert Campaign.objects.get(pk=draft.pk).message_id is None  # not the campaign's: not in its results
    with pytest.raises(CampaignInvalid):
        send_test(campaign=draft, user=marketer, to=[f"a{i}@remote.example" for i in range(11)], now=NOW)
