"""Guardrails: warn at 0.1 % complaints or 5 % bounces, pause at 0.3 % or 10 %, only over the minimum volume.

The first tests put counts in the real counters (``reputation.services.figures.add_counts``,
what the delivery events add to) at a fixed instant and judge them; the last one drives a
whole campaign through the real engine to a loopback SMTP server that refuses dead addresses.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign
from campaigns.services import fanout
from campaigns.services.campaigns import schedule
from campaigns.services.fanout import release_due, start_due_campaigns
from delivery.services.engine import deliver_batch
from mailboxes.models import MailboxItem, Recipient
from reputation.buckets import SPANS, floor
from reputation.models import ReputationAlert, SendingHold
from reputation.services import guardrails
from reputation.services.figures import add_counts
from reputation.services.guardrails import check_subjects
from reputation.services.holds import open_hold_for, release_hold
from reputation.signals import figures_changed
from tests.campaigns.campaign_world import (
    add_contacts,
    deliver_bulk,
    new_campaign,
)
from tests.factories import UserFactory

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def admin_user(db):
    return UserFactory(address="root@example.test", display_name="Root", admin=True)


@pytest.fixture(autouse=True)
def _small_volume(settings):
    settings.REPUTATION_MIN_VOLUME = 100


def count(kind: str, key, *, at: datetime = NOW - timedelta(minutes=1), **metrics: int) -> None:
    """Outcomes of one subject at ``at``, in every bucket span, as the figures part counts them."""
    buckets = [(span, int(floor(at, span).timestamp())) for span in SPANS]  # bucket starts in epoch seconds
    add_counts(
        Counter({(kind, str(key), metric, span, start): n for metric, n in metrics.items() for span, start in buckets})
    )


def notices(user) -> list[str]:
    return list(MailboxItem.objects.filter(user=user).values_list("message__subject", flat=True))


@pytest.mark.django_db
def test_a_user_over_the_complaint_pause_rate_is_paused_and_everyone_is_told(alice, admin_user):
    count("user", alice.pk, delivered=1000, complained=3)  # 0.3 % of delivered

    alerts = check_subjects({("user", str(alice.pk))}, now=NOW)

    hold = open_hold_for("user", alice.pk)
    assert (
        hold.cause == "guardrail" and "complaint rate 0.3 %" in hold.reason and "0.3 % pause threshold" in hold.reason
    )
    assert (
        hold.evidence["figures"]["complained"] == 3 and hold.evidence["thresholds"]["complaint_rate"]["pause"] == 0.003
    )
    assert [(a.level, a.metric, a.volume, a.window, a.hold) for a in alerts] == [
        ("pause", "complaint_rate", 1000, "day", hold)
    ]
    assert notices(alice) == [f"Sending paused: the account {alice.username}"]
    assert notices(admin_user) == [f"Sending paused: the account {alice.username}"]
    body = MailboxItem.objects.get(user=admin_user).message.snippet
    assert "complaint rate 0.3 %" in body
    # Judged again, nothing more: the hold is open and its people know.
    assert check_subjects({("user", str(alice.pk))}, now=NOW) == []
    assert SendingHold.objects.count() == 1 and ReputationAlert.objects.count() == 1


@pytest.mark.django_db
def test_below_the_minimum_volume_nothing_happens(alice, settings):
    count("user", alice.pk, delivered=7, bounced_hard=3)  # 30 % of 10
    count("campaign", 12, delivered=90, bounced_hard=9)  # 9 % of 99 outcomes
    assert check_subjects({("user", str(alice.pk)), ("campaign", "12")}, now=NOW) == []
    assert not SendingHold.objects.exists() and not ReputationAlert.objects.exists()

    settings.REPUTATION_MIN_VOLUME = 10
    assert [a.level for a in check_subjects({("user", str(alice.pk))}, now=NOW)] == ["pause"]


@pytest.mark.django_db
def test_warnings_at_the_warning_rates_without_pausing_once_a_day(alice):
    count("user", alice.pk, delivered=1900, complained=2, bounced_soft=100)  # 0.105 % complaints, 5 % bounces

    alerts = check_subjects({("user", str(alice.pk))}, now=NOW)

    assert sorted((a.level, a.metric, a.threshold) for a in alerts) == [
        ("warning", "bounce_rate", 0.05),
        ("warning", "complaint_rate", 0.001),
    ]
    assert not SendingHold.objects.exists()
    assert notices(alice) == [f"Reputation warning: the account {alice.username}"]
    # The same figures an hour later: no second warning; a day later: one more.
    assert check_subjects({("user", str(alice.pk))}, now=NOW + timedelta(hours=1)) == []
    count("user", alice.pk, at=NOW + timedelta(hours=24), delivered=1900, complained=2, bounced_soft=100)
    assert len(check_subjects({("user", str(alice.pk))}, now=NOW + timedelta(hours=24, minutes=2))) == 2


@pytest.mark.django_db
def test_a_campaign_is_judged_over_its_whole_life(marketer, shop, admin_user):
    campaign = Campaign.objects.create(domain=shop, name="Spring", created_by=marketer, status="sending")
    count("campaign", campaign.pk, at=NOW - timedelta(days=3), delivered=100, bounced_hard=8)
    count("campaign", campaign.pk, delivered=10, bounced_hard=5)  # 13 of 123 over its life: 10.6 %

    check_subjects({("campaign", str(campaign.pk))}, now=NOW)

    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert "bounce rate 10.57 % over the campaign so far (13 of 123)" in campaign.hold_reason
    assert notices(marketer) == notices(admin_user) == ['Sending paused: the campaign "Spring"']


@pytest.mark.django_db
def test_a_domain_is_paused_and_its_marketers_told(marketer, shop, admin_user):
    count("domain", "shop.example", delivered=180, bounced_hard=20)
    check_subjects({("domain", "shop.example")}, now=NOW)
    assert open_hold_for("domain", "shop.example").cause == "guardrail"
    assert notices(marketer) == ["Sending paused: the domain shop.example"]


@pytest.mark.django_db
def test_streams_and_providers_only_raise_alerts(admin_user):
    count("stream", "bulk", delivered=800, bounced_hard=200)
    count("provider", "gmail", delivered=990, complained=10)

    alerts = check_subjects({("stream", "bulk"), ("provider", "gmail")}, now=NOW)

    assert sorted((a.kind, a.level, a.metric) for a in alerts) == [
        ("provider", "warning", "complaint_rate"),
        ("stream", "warning", "bounce_rate"),
    ]
    assert not SendingHold.objects.exists()
    assert sorted(notices(admin_user)) == [
        "Reputation warning: the bulk stream",
        "Reputation warning: the gmail destination provider",
    ]


@pytest.mark.django_db
def test_after_an_admin_resumes_a_user_it_is_warned_not_paused_for_the_grace(alice, admin_user, settings):
    settings.REPUTATION_RESUME_GRACE_HOURS = 24
    count("user", alice.pk, delivered=180, bounced_hard=20)
    check_subjects({("user", str(alice.pk))}, now=NOW)
    release_hold(hold=open_hold_for("user", alice.pk), by=admin_user, note="Known list, cleaned.", now=NOW)

    alerts = check_subjects({("user", str(alice.pk))}, now=NOW + timedelta(minutes=5))

    assert [(a.level, a.metric) for a in alerts] == [("warning", "bounce_rate")]
    assert open_hold_for("user", alice.pk) is None
    count("user", alice.pk, at=NOW + timedelta(hours=25), delivered=90, bounced_hard=30)
    check_subjects({("user", str(alice.pk))}, now=NOW + timedelta(hours=25, minutes=1))
    assert open_hold_for("user", alice.pk) is not None  # the grace is over


@pytest.mark.django_db
def test_a_paused_campaigns_outcomes_do_not_also_pause_its_sender_and_domain(marketer, shop):
    campaign = Campaign.objects.create(
        domain=shop, name="Spring", created_by=marketer, status="sending", from_address="alice@shop.example"
    )
    bad = {"delivered": 60, "bounced_hard": 60}
    count("campaign", campaign.pk, **bad)
    count("user", marketer.pk, delivered=460, bounced_hard=60)  # 400 receipts delivered besides
    count("domain", "shop.example", delivered=460, bounced_hard=60)
    subjects = {("campaign", str(campaign.pk)), ("user", str(marketer.pk)), ("domain", "shop.example")}

    alerts = check_subjects(subjects, now=NOW)

    assert [(a.kind, a.level) for a in alerts] == [("campaign", "pause")]
    assert open_hold_for("user", marketer.pk) is None and open_hold_for("domain", "shop.example") is None
    # Its sender's own mail going bad is judged on its own.
    count("user", marketer.pk, delivered=0, bounced_hard=60)
    check_subjects({("user", str(marketer.pk))}, now=NOW)
    assert open_hold_for("user", marketer.pk) is not None


@pytest.mark.django_db
def test_a_failing_check_never_fails_the_delivery_it_follows(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(guardrails, "check_subjects", broken)
    figures_changed.send(sender=None, subjects={("user", "1")}, now=NOW)
    assert "check of 1 subjects failed" in caplog.text


@pytest.mark.django_db
def test_judging_costs_one_query_when_nothing_is_wrong(alice):
    count("user", alice.pk, delivered=500)
    count("domain", "example.test", delivered=500)
    count("stream", "transactional", delivered=500)
    subjects = {("user", str(alice.pk)), ("domain", "example.test"), ("stream", "transactional")}
    with CaptureQueriesContext(connection) as queries:
        assert check_subjects(subjects, now=NOW) == []
    assert len(queries.captured_queries) == 1  # every kind's figures in one query


# --- THE acceptance test: a campaign to a list of dead addresses pauses itself --------------------


@pytest.mark.django_db(transaction=True)
def test_a_campaign_to_dead_addresses_pauses_itself_before_its_next_batch_and_resumes_by_an_admin(
    marketer, spring, everyone, shop, newsletter, remote_domain, smtp_server, settings, monkeypatch
):
    """200 contacts, three of four dead (550 5.1.1). Outcomes commit one SMTP transaction at a time, and
    each commit runs the guardrails in this worker: at the 20th outcome (the minimum volume) the bounce rate
    is far past 10 %, and the next claim finds the campaign paused: nothing more is sent, nothing is lost."""
    monkeypatch.setattr(fanout, "dispatch_due", lambda *, queue: None)  # the test runs the engine itself
    settings.REPUTATION_MIN_VOLUME = 20
    settings.OUTBOUND_BATCH_SIZE = 10
    settings.CAMPAIGN_RELEASE_WINDOW = 30
    admin = UserFactory(address="root@example.test", display_name="Root", admin=True)
    addresses = [f"{'live' if n % 4 == 0 else 'dead'}{n:03}@remote.example" for n in range(200)]
    dead = [address for address in addresses if address.startswith("dead")]
    for address in dead:
        smtp_server.handler.script(address, ["550 5.1.1 The email account that you tried to reach does not exist"])
    add_contacts(shop, newsletter, addresses)
    campaign = new_campaign(marketer, spring, everyone)
    schedule(campaign=campaign, user=marketer)
    assert start_due_campaigns() == [campaign.pk]
    campaign.refresh_from_db()
    release_due()

    assert deliver_batch(queue=Recipient.Queue.BULK).claimed == 10  # 10 outcomes: under the minimum volume
    assert Campaign.objects.get(pk=campaign.pk).status == "sending"
    assert deliver_batch(queue=Recipient.Queue.BULK).claimed == 10  # the 20th outcome's commit pauses it

    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert campaign.hold_reason.startswith("Paused by a reputation guardrail: bounce rate 75 % over the campaign")
    assert "(15 of 20) reached the 10 % pause threshold" in campaign.hold_reason
    # The next batch finds nothing to send.
    assert deliver_batch(queue=Recipient.Queue.BULK).claimed == 0
    deliver_bulk()
    release_due()
    outbox = Recipient.objects.filter(message=campaign.message)
    attempted = outbox.filter(status__in=["sent", "bounced"])
    assert attempted.count() == 20 and len(smtp_server.messages) == 5
    parked = outbox.filter(status="queued", next_attempt_at=None)
    unreleased = campaign.audience.filter(released_at=None)
    assert parked.count() == 10 and unreleased.count() == 170  # nothing lost: 20 + 10 + 170 = 200
    assert outbox.count() + unreleased.count() == 200
    hold = open_hold_for("campaign", campaign.pk)
    assert hold.evidence["figures"]["bounced_hard"] == 15
    # Its sender and domain are not paused for its list: the campaign's pause contains it.
    assert open_hold_for("user", marketer.pk) is None and open_hold_for("domain", "shop.example") is None
    assert notices(marketer) == ['Sending paused: the campaign "Spring 2026"']
    # The admins hear of it, and of the shared subjects it dragged past the warning rates (alerts only).
    assert sorted(notices(admin)) == [
        "Reputation warning: the bulk stream",
        "Reputation warning: the other destination provider",
        'Sending paused: the campaign "Spring 2026"',
    ]

    release_hold(hold=hold, by=admin, note="Known old list; the rest must go.")
    for _ in range(20):
        release_due()
        deliver_bulk()
    campaign.refresh_from_db()
    assert campaign.status == "sent"
    assert outbox.filter(status="sent").count() == 50 and outbox.filter(status="bounced").count() == 150
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == sorted(set(addresses) - set(dead))
    assert SendingHold.objects.filter(resolved_at=None).count() == 0  # resumed by an admin: not paused again
