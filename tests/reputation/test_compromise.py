"""Hijacked accounts: the signs, the verdict, the suspension with the mail held and the admins told.

Submissions go through the real API and submission service, delivery through the real engine to the
loopback SMTP server (``ok…`` accepts, ``unknown…`` answers 550 5.1.1), sign-ins through the real sign-in
page. Baselines are ``SubmissionCount`` rows of past hours, placed relative to an hour read once.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from delivery.services import run_delivery, send_message
from mailboxes.blobstore import read_blob
from mailboxes.models import MailboxItem, Recipient
from reputation.models import Correspondent, SendingHold, SignInNetwork, SubmissionCount
from reputation.services.compromise import (
    assess_account,
    evaluate_account,
    evaluate_recent_accounts,
    hour_of,
    network_of,
    record_sign_in,
    record_submission,
)
from reputation.services.holds import SendingSuspended, release_hold
from tests.api.conftest import assert_error, client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)  # half past: the previous hour still counts for half


@pytest.fixture
def operator(db):
    return UserFactory(address="root@example.test", display_name="Operator", admin=True)


def baseline(user, *, per_hour: int, days: int = 7, now=None, every: int = 1):
    """Past submissions: ``per_hour`` recipients every ``every`` hours over ``days`` days, up to the previous hour."""
    start = hour_of(now or timezone.now())
    SubmissionCount.objects.bulk_create(
        SubmissionCount(user=user, hour=start - timedelta(hours=hours), submissions=1, recipients=per_hour)
        for hours in range(2, days * 24 + 1, every)
    )


def addresses(prefix: str, count: int, domain: str = "remote.example") -> list[str]:
    return [f"{prefix}{index}@{domain}" for index in range(count)]


def notices(user):
    return MailboxItem.objects.filter(user=user, message__subject__startswith="Sending suspended")


def user_hold(user):
    return SendingHold.objects.filter(kind="user", key=str(user.pk)).first()


# --- the acceptance test ---------------------------------------------------------------------------


def test_an_account_that_suddenly_sends_5000_recipients_is_suspended_with_its_mail_held(
    alice, operator, remote_domain, smtp_server, monkeypatch
):
    # The submissions' clock stands still: however slow the machine, or near an hour's end, they fall in one hour.
    moment = timezone.now()
    monkeypatch.setattr("reputation.services.admission.timezone.now", lambda: moment)
    baseline(alice, per_hour=20, every=24, now=moment)  # about 20 recipients a day
    api = client_for(alice)

    answers = [
        api.post(
            "/api/emails/send",
            {"to": addresses(f"ok-{batch}-", 100), "subject": f"Invoice {batch}", "body": "Please find it below."},
            format="json",
        )
        for batch in range(50)
    ]

    accepted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code != 202]
    # Two moderate signs by the 6th submission (600 recipients, all new to her): it suspended the account
    # and was queued, and held, with the rest; the ones after it are refused with the reason.
    assert len(accepted) == 6
    assert all(a is answers[index] for index, a in enumerate(accepted))
    error = assert_error(refused[0], 403, "sending_suspended")
    assert error["message"].startswith("Sending from your account is suspended: The account looks compromised: ")
    assert len(refused) == 44

    hold = user_hold(alice)
    assert (hold.cause, hold.is_open) == ("compromised", True)
    assert hold.reason.startswith(
        "The account looks compromised: 600 recipients in the last hour against a baseline of 1.0 an hour"
    )
    signs = {sign["name"]: sign for sign in hold.evidence["signs"]}
    assert set(signs) == {"volume", "new_recipients"}
    assert signs["volume"]["figures"]["recipients_last_hour"] == 600
    assert signs["volume"]["figures"]["baseline_per_hour"] == pytest.approx(140 / 145, abs=0.02)
    assert signs["new_recipients"]["figures"]["new_recipients_last_hour"] == 600

    # Held, not lost: every accepted recipient is still queued, parked; the worker sends none of them.
    report = run_delivery()
    assert (report.sent, report.delivered) == (0, 0)
    assert smtp_server.messages == []
    held = Recipient.objects.filter(message__sender=alice)
    assert held.count() == 600
    assert set(held.values_list("status", "next_attempt_at").distinct()) == {(Recipient.Status.QUEUED, None)}

    # The admins (and the owner) are told, with the evidence.
    [notice] = notices(operator)
    assert notice.message.subject == "Sending suspended: alice@example.test looks compromised"
    body = read_blob(notice.message.blob).decode()
    assert "- 600 recipients in the last hour against a baseline of 1.0 an hour" in body
    assert notices(alice).count() == 1

    # Once an admin resumes it, the held mail goes out: nothing was lost.
    release_hold(hold=hold, by=operator, note="password reset, tokens revoked")
    assert run_delivery().sent == 600
    assert sum(len(m.rcpt_tos) for m in smtp_server.messages) == 600


def test_a_normal_busy_account_is_not_suspended(bob):
    usual = addresses("customer", 100)
    Correspondent.objects.bulk_create(Correspondent(user=bob, address=address) for address in usual)
    baseline(bob, per_hour=150)  # 3,600 a day, every day

    for batch in range(16):  # 1,600 this hour: more than usual, to people he writes to
        send_message(user=bob, to=usual, subject=f"Order update {batch}", text="Shipped.")

    assert user_hold(bob) is None
    verdict = assess_account(user=bob)
    # One moderate sign (above 10 x his average) is worth looking at, not a verdict.
    assert [(sign.name, sign.strength) for sign in verdict.signs] == [("volume", "moderate")]
    assert not verdict.compromised
    assert Recipient.objects.filter(message__sender=bob).count() == 1600


# --- sign-ins from new networks -------------------------------------------------------------------


def sign_in(client, user, remote_addr: str):
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": PASSWORD}, REMOTE_ADDR=remote_addr
    )
    assert response.status_code == 302, response.content
    client.logout()


def test_a_sign_in_from_a_new_network_followed_by_mass_sending_suspends_the_account(carol, operator, client):
    sign_in(client, carol, "198.51.100.7")  # the first one is her baseline, not a sign
    sign_in(client, carol, "198.51.100.200")  # the same /24
    sign_in(client, carol, "203.0.113.9")  # somewhere new

    networks = dict(SignInNetwork.objects.filter(user=carol).values_list("network", "is_new"))
    assert networks == {"198.51.100.0/24": False, "203.0.113.0/24": True}
    for batch in range(3):  # 300 recipients: below the volume floor, but all of them new to her
        send_message(user=carol, to=addresses(f"lead-{batch}-", 100), subject="Hello", text="An offer.")
    with pytest.raises(SendingSuspended):
        send_message(user=carol, to=addresses("lead-3-", 100), subject="Hello", text="An offer.")

    hold = user_hold(carol)
    assert hold is not None and hold.cause == "compromised"
    assert {sign["name"] for sign in hold.evidence["signs"]} == {"new_network", "new_recipients"}
    assert "a sign-in from a new network (203.0.113.0/24, " in hold.reason
    assert notices(operator).count() == 1


def test_the_same_sending_from_a_known_network_is_not_enough(carol, client):
    sign_in(client, carol, "198.51.100.7")
    sign_in(client, carol, "198.51.100.8")

    for batch in range(4):
        send_message(user=carol, to=addresses(f"lead-{batch}-", 100), subject="Hello", text="An offer.")

    assert user_hold(carol) is None
    assert [sign.name for sign in assess_account(user=carol).signs] == ["new_recipients"]


@pytest.mark.parametrize(
    ("client", "network"),
    [
        ("192.0.2.77", "192.0.2.0/24"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
        ("::ffff:192.0.2.77", "192.0.2.0/24"),
        ("not an address", ""),
    ],
)
def test_networks_are_slash_24_and_slash_48(client, network):
    assert network_of(client) == network


def test_a_repeated_sign_in_updates_its_network(carol):
    record_sign_in(user=carol, client="192.0.2.1", now=NOW)
    again = record_sign_in(user=carol, client="192.0.2.99", now=NOW + timedelta(days=1))

    assert (again.sign_ins, again.first_seen, again.last_seen, again.is_new) == (2, NOW, NOW + timedelta(days=1), False)


# --- the other signs ------------------------------------------------------------------------------


def test_a_burst_of_unknown_user_bounces_with_new_recipients_suspends_at_the_periodic_check(
    alice, settings, remote_domain, smtp_server
):
    settings.REPUTATION_COMPROMISE_UNKNOWN_USERS = 20
    settings.REPUTATION_COMPROMISE_NEW_RECIPIENTS = 50
    message = send_message(
        user=alice, to=addresses("unknown-", 30) + addresses("ok-", 30), subject="Hi", text="A list I bought."
    )
    assert user_hold(alice) is None  # at submission: new recipients only, one sign

    run_delivery(message_id=message.pk)  # 30 bounce: 550 5.1.1

    [hold] = evaluate_recent_accounts(now=timezone.now())
    assert {sign["name"] for sign in hold.evidence["signs"]} == {"unknown_users", "new_recipients"}
    [unknown] = [sign for sign in hold.evidence["signs"] if sign["name"] == "unknown_users"]
    assert unknown["figures"] == {"unknown_user": 30, "sent": 60, "rate": 0.5}


def test_the_same_burst_suspends_as_soon_as_the_outcomes_are_counted(
    alice, settings, remote_domain, smtp_server, django_capture_on_commit_callbacks
):
    settings.REPUTATION_COMPROMISE_UNKNOWN_USERS = 20
    settings.REPUTATION_COMPROMISE_NEW_RECIPIENTS = 50
    message = send_message(
        user=alice, to=addresses("unknown-", 30) + addresses("ok-", 30), subject="Hi", text="A list I bought."
    )

    with django_capture_on_commit_callbacks(execute=True):  # figures_changed goes out once the outcomes commit
        run_delivery(message_id=message.pk)

    hold = user_hold(alice)
    assert hold is not None
    assert {sign["name"] for sign in hold.evidence["signs"]} == {"unknown_users", "new_recipients"}


def test_spam_scored_webmail_mail_to_new_people_suspends_the_account(alice):
    spam = "Dear friend, you are a winner! Claim your prize: act now, 100% free, limited time offer!!! Order now!!!"
    for batch in range(3):  # sent (a person's mail is not refused), but each is evidence
        send_message(user=alice, to=addresses(f"mark-{batch}-", 100), subject="YOU ARE A WINNER!!!", text=spam)

    hold = user_hold(alice)
    assert hold is not None
    assert {sign["name"] for sign in hold.evidence["signs"]} == {"spam_content", "new_recipients"}


def test_people_she_wrote_to_or_heard_from_before_are_not_new(alice, bob, remote_domain, smtp_server):
    send_message(user=bob, to=["alice@example.test"], subject="Hi", text="From Bob.")  # delivered locally
    run_delivery()
    send_message(user=alice, to=["friend@remote.example"], subject="Hi", text="x")

    record_submission(user=alice, recipient_addresses=["bob@example.test", "friend@remote.example", "new@x.example"])

    counts = SubmissionCount.objects.get(user=alice)
    # friend@ was new the first time, new@ is: bob@ wrote to her, and friend@ she wrote to.
    assert (counts.submissions, counts.recipients, counts.new_recipients) == (2, 4, 2)


def test_the_store_is_read_for_correspondents_once_not_at_each_send_to_new_people(alice, bob, smtp_server):
    send_message(user=bob, to=["alice@example.test"], subject="Hi", text="From Bob.")  # delivered locally
    run_delivery()
    Correspondent.objects.create(user=alice, address="known@remote.example")  # seeded before

    record_submission(user=alice, recipient_addresses=["new@x.example", "other@y.example"])

    assert set(Correspondent.objects.filter(user=alice).values_list("address", flat=True)) == {
        "known@remote.example", "new@x.example", "other@y.example",
    }  # bob@ was not seeded again from her inbox  # fmt: skip
    assert SubmissionCount.objects.get(user=alice).new_recipients == 2


# --- the verdict, with an injected clock ------------------------------------------------------------


def test_the_last_hour_slides_over_the_previous_clock_hour(alice):
    SubmissionCount.objects.create(user=alice, hour=hour_of(NOW), recipients=1200)
    SubmissionCount.objects.create(user=alice, hour=hour_of(NOW) - timedelta(hours=1), recipients=1800)

    [volume] = assess_account(user=alice, now=NOW).signs

    assert volume.figures["recipients_last_hour"] == 1200 + 900  # half of the previous hour is still in it
    assert volume.strength == "strong"
    assert [s.name for s in assess_account(user=alice, now=NOW + timedelta(minutes=29)).signs] == ["volume"]
    assert assess_account(user=alice, now=NOW + timedelta(hours=2)).signs == []


def test_the_baseline_is_the_average_over_the_hours_the_account_has_sent_in_the_window(alice):
    baseline(alice, per_hour=100, days=2, now=NOW)  # a two-day-old account, 100 an hour
    SubmissionCount.objects.create(user=alice, hour=hour_of(NOW), recipients=900)

    assert assess_account(user=alice, now=NOW).signs == []  # 900 < 10 x 100

    SubmissionCount.objects.filter(user=alice, hour=hour_of(NOW)).update(recipients=1100)
    [volume] = assess_account(user=alice, now=NOW).signs
    assert (volume.strength, volume.figures["baseline_per_hour"]) == ("moderate", 100.0)


def test_a_resumed_account_is_not_suspended_again_for_the_same_burst(alice, operator):
    SubmissionCount.objects.create(user=alice, hour=hour_of(NOW), recipients=5000)
    hold = evaluate_account(user=alice, now=NOW)
    assert hold is not None and hold.cause == "compromised"
    assert evaluate_account(user=alice, now=NOW) is None  # one open hold, one notice

    release_hold(hold=hold, by=operator, note="a real mailing, approved", now=NOW + timedelta(minutes=5))

    assert evaluate_account(user=alice, now=NOW + timedelta(minutes=10)) is None
    assert notices(operator).count() == 1
    later = NOW + timedelta(hours=3)
    SubmissionCount.objects.create(user=alice, hour=hour_of(later), recipients=20000)
    assert evaluate_account(user=alice, now=later) is not None  # a new burst (over 50 x the new baseline), later


def test_detection_can_be_turned_off_for_load_harnesses(alice, settings):
    settings.REPUTATION_COMPROMISE_DETECTION = False
    SubmissionCount.objects.create(user=alice, hour=hour_of(NOW), recipients=50000)

    assert evaluate_account(user=alice, now=NOW) is None
    assert user_hold(alice) is None
