"""Sender limits: quotas per user and per sending domain, counted in the database, refused with a clear 429."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import Domain
from delivery.services.reconcile import reconcile_outbox
from delivery.services.submission import send_message
from mailboxes.models import Folder, MailboxItem, Message
from mailboxes.services.undo import send_due_messages
from reputation.models import SenderLimit, SendQuotaCount, SubmissionCount
from reputation.services.limits import (
    RateLimited,
    TooManyRecipients,
    check_and_count,
    forget_old_quota_counts,
)
from tests.api.conftest import assert_error, client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# A round hour, so the slots (5 s, 1 min, 15 min) all start at T.
T = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _only_the_limit_under_test(settings):
    """Every quota off; each test turns on the one it is about."""
    for name in ("PER_MINUTE", "PER_HOUR", "PER_DAY", "RECIPIENTS_PER_MESSAGE", "RECIPIENTS_PER_DAY"):
        setattr(settings, f"SEND_LIMIT_{name}", 0)
        setattr(settings, f"SEND_LIMIT_DOMAIN_{name}", 0)


def submit(user, at: datetime, *, recipients: int = 1, domain: str = "example.test") -> None:
    check_and_count(user=user, from_domain=domain, recipient_count=recipients, now=at)


def counted(**filters) -> int:
    return SendQuotaCount.objects.filter(**filters).aggregate(total=Sum("count"))["total"] or 0


def refusal(user, at: datetime, **kwargs) -> RateLimited:
    with pytest.raises(RateLimited) as caught:
        submit(user, at, **kwargs)
    assert (caught.value.code, caught.value.status) == ("rate_limited", 429)
    return caught.value


# --- the windows, with the clock passed in ------------------------------------------------------


def test_per_minute_refuses_until_the_oldest_send_leaves_the_window(settings, alice):
    settings.SEND_LIMIT_PER_MINUTE = 2
    submit(alice, T)
    submit(alice, T + timedelta(seconds=10))

    error = refusal(alice, T + timedelta(seconds=20))
    # The 5-second slot holding T leaves the window at T + 65 s: 45 seconds from now.
    assert error.retry_after == 45
    assert error.message == "You can send 2 messages per minute; try again in 45 seconds."
    refusal(alice, T + timedelta(seconds=64))

    submit(alice, T + timedelta(seconds=65))
    assert counted(kind="user", metric="messages", span=5) == 3


def test_per_hour(settings, alice):
    settings.SEND_LIMIT_PER_HOUR = 3
    for minutes in (0, 10, 20):
        submit(alice, T + timedelta(minutes=minutes))

    error = refusal(alice, T + timedelta(minutes=30))
    assert error.retry_after == 31 * 60
    assert error.message == "You can send 3 messages per hour; try again in 31 minutes."

    submit(alice, T + timedelta(minutes=61))
    refusal(alice, T + timedelta(minutes=62))  # the sends at 10 and 20 minutes are still in the hour


def test_per_day(settings, alice):
    settings.SEND_LIMIT_PER_DAY = 2
    submit(alice, T)
    submit(alice, T + timedelta(hours=1))

    error = refusal(alice, T + timedelta(hours=2))
    assert error.retry_after == 22 * 3600 + 15 * 60  # the 15-minute slot holding T leaves at T + 24 h 15 min
    assert error.message == "You can send 2 messages per day; try again in 23 hours."

    submit(alice, T + timedelta(hours=24, minutes=15))


def test_recipients_per_message_is_refused_without_counting(settings, alice):
    settings.SEND_LIMIT_PER_MINUTE = 10
    settings.SEND_LIMIT_RECIPIENTS_PER_MESSAGE = 3
    submit(alice, T, recipients=3)

    with pytest.raises(TooManyRecipients) as caught:
        submit(alice, T, recipients=4)
    assert (caught.value.status, caught.value.field) == (400, "to")
    assert caught.value.message == "A message can have at most 3 recipients; remove some recipients."
    assert counted(metric="messages") == 1


def test_recipients_per_day_counts_every_recipient(settings, alice):
    settings.SEND_LIMIT_RECIPIENTS_PER_DAY = 10
    submit(alice, T, recipients=6)
    submit(alice, T + timedelta(hours=1), recipients=4)

    error = refusal(alice, T + timedelta(hours=2), recipients=1)
    assert error.message.startswith("You can send to 10 recipients per day;")
    assert counted(kind="user", metric="recipients") == 10
    with pytest.raises(TooManyRecipients):  # more than a whole day allows: no point in waiting
        submit(alice, T + timedelta(hours=2), recipients=11)


def test_the_longest_wait_is_named(settings, alice):
    settings.SEND_LIMIT_PER_MINUTE = 1
    settings.SEND_LIMIT_PER_HOUR = 1
    submit(alice, T)
    error = refusal(alice, T + timedelta(seconds=30))
    assert "per hour" in error.message and error.retry_after == 3630


# --- overrides and domains ----------------------------------------------------------------------


def test_the_message_speaks_the_users_language(settings, alice):
    settings.SEND_LIMIT_PER_MINUTE = 1
    submit(alice, T)
    with translation.override("zh-hans"):
        assert refusal(alice, T).message == "您每分钟最多可发送 1 封邮件，请 65 秒后再试。"


def test_a_per_user_override_raises_or_lowers_the_default(settings, alice, bob, carol):
    settings.SEND_LIMIT_PER_MINUTE = 2
    SenderLimit.objects.create(user=alice, per_minute=4, note="Sends the team's invoices")
    SenderLimit.objects.create(user=bob, per_minute=1)
    SenderLimit.objects.create(user=carol, per_minute=0)  # 0: no limit

    for _ in range(4):
        submit(alice, T)
    refusal(alice, T)
    submit(bob, T)
    assert refusal(bob, T).message.startswith("You can send 1 messages per minute")
    for _ in range(10):
        submit(carol, T)


def test_an_override_left_blank_keeps_the_default(settings, alice):
    settings.SEND_LIMIT_PER_MINUTE = 1
    SenderLimit.objects.create(user=alice, per_hour=100)
    submit(alice, T)
    refusal(alice, T)


def test_a_domain_wide_limit_counts_every_user_of_the_domain(settings, alice, bob):
    settings.SEND_LIMIT_PER_MINUTE = 10
    settings.SEND_LIMIT_DOMAIN_PER_MINUTE = 3
    submit(alice, T)
    submit(alice, T)
    submit(bob, T)

    error = refusal(bob, T + timedelta(seconds=7))
    assert error.message == "example.test can send 3 messages per minute; try again in 58 seconds."
    assert counted(kind="user", key=str(bob.pk)) == 1  # bob's refused send is counted nowhere
    assert counted(kind="domain", key="example.test") == 3

    other = UserFactory(address="dave@other.test")
    submit(other, T, domain="other.test")  # another domain has its own count


def test_a_domain_override(settings, alice, bob):
    settings.SEND_LIMIT_DOMAIN_PER_DAY = 100
    SenderLimit.objects.create(domain=Domain.objects.get(name="example.test"), per_day=2)
    submit(alice, T)
    submit(bob, T)
    assert refusal(alice, T).message.startswith("example.test can send 2 messages per day")


def test_a_domain_name_is_counted_in_lower_case(settings, alice):
    settings.SEND_LIMIT_DOMAIN_PER_MINUTE = 1
    submit(alice, T, domain="Example.TEST")
    refusal(alice, T, domain="example.test")


def test_old_slots_are_forgotten_by_the_reconciler(settings, alice):
    settings.SEND_LIMIT_PER_MINUTE = settings.SEND_LIMIT_PER_DAY = 100
    submit(alice, T)
    assert forget_old_quota_counts(now=T + timedelta(hours=24)) == 0  # the day window still reaches T
    assert forget_old_quota_counts(now=T + timedelta(hours=24, minutes=15)) == 2
    submit(alice, datetime(2020, 1, 1, tzinfo=UTC))
    reconcile_outbox()
    assert not SendQuotaCount.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_never_exceed_a_limit(settings):
    """Workers with their own database connections, all at once: exactly the limit gets through."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: there is no race to lose")
    settings.SEND_LIMIT_PER_MINUTE = 5
    user = UserFactory(address="busy@example.test")
    start = threading.Barrier(12)
    outcomes = []

    def worker():
        try:
            start.wait()
            submit(user, T)
            outcomes.append("sent")
        except RateLimited:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["sent"] * 5
    assert counted(kind="user", key=str(user.pk)) == 5


# --- through submission, the API and the webmail ------------------------------------------------
# These use the wall clock (submission reads it) with a daily limit: the day cannot run out mid-test.


def test_a_refused_submission_stores_nothing_and_counts_nothing(settings, alice, bob):
    settings.SEND_LIMIT_PER_DAY = 1
    send_message(user=alice, to=["bob@example.test"], subject="First", text="1")
    messages, items = Message.objects.count(), MailboxItem.objects.count()

    with pytest.raises(RateLimited):
        send_message(user=alice, to=["bob@example.test"], subject="Second", text="2")
    assert (Message.objects.count(), MailboxItem.objects.count()) == (messages, items)
    assert counted(kind="user", metric="messages") == 1


def test_a_submission_that_fails_while_being_stored_is_not_counted(settings, alice, bob):
    """The counts commit with the message (issue 19): a store that fails after admission rolls them back too."""
    settings.SEND_LIMIT_PER_DAY = 5

    def fail(message):
        raise RuntimeError("the store failed")

    with pytest.raises(RuntimeError):
        send_message(user=alice, to=["bob@example.test"], subject="Lost", text="1", on_stored=fail)

    assert not Message.objects.exists()
    assert counted(kind="user", metric="messages") == 0
    assert not SubmissionCount.objects.filter(user=alice).exists()
    send_message(user=alice, to=["bob@example.test"], subject="Kept", text="2")
    assert counted(kind="user", metric="messages") == 1
    assert SubmissionCount.objects.get(user=alice).submissions == 1


def send(api, key=None, subject="Invoice 42"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    body = {"to": ["Bob <bob@example.test>"], "subject": subject, "body": "Attached."}
    return api.post("/api/emails/send", body, format="json", **headers)


def test_the_api_answers_429_with_retry_after(settings, alice, bob):
    settings.SEND_LIMIT_PER_DAY = 2
    api = client_for(alice)
    assert send(api, subject="1").status_code == 202
    assert send(api, subject="2").status_code == 202

    response = send(api, subject="3")
    error = assert_error(response, 429, "rate_limited")
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= 24 * 3600 + 15 * 60
    assert error["message"].startswith("You can send 2 messages per day; try again in ")
    assert not Message.objects.filter(subject="3").exists()


def test_too_many_recipients_in_the_api_is_400_naming_the_field(settings, alice, bob):
    settings.SEND_LIMIT_RECIPIENTS_PER_MESSAGE = 1
    response = client_for(alice).post(
        "/api/emails/send", {"to": ["bob@example.test", "carol@example.test"], "subject": "Hi"}, format="json"
    )
    assert_error(response, 400, "too_many_recipients", "to")
    assert "Retry-After" not in response


def test_an_idempotent_retry_is_not_counted_twice(settings, alice, bob):
    settings.SEND_LIMIT_PER_DAY = 1
    api = client_for(alice)
    first = send(api, key="invoice-42")
    again = send(api, key="invoice-42")
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["id"] == again.json()["id"]
    assert counted(kind="user", metric="messages") == 1

    assert_error(send(api, key="invoice-43", subject="Another"), 429, "rate_limited")


@pytest.fixture
def alice_client(client, alice, settings):
    settings.STORAGES = {  # no manifest: templates resolve static URLs without collectstatic
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client.force_login(alice)
    return client


def test_the_webmail_shows_the_limit_and_keeps_the_draft(settings, alice_client, alice, bob):
    settings.SEND_LIMIT_PER_DAY = 1
    send_message(user=alice, to=["bob@example.test"], subject="Earlier", text="Sent already.")

    form = {"to": "Bob <bob@example.test>", "cc": "", "bcc": "", "subject": "Later", "body": "Precious words",
            "draft_id": "", "in_reply_to": ""}  # fmt: skip
    response = alice_client.post(reverse("mailboxes:send"), form)

    assert response.status_code == 429
    html = response.content.decode()
    assert 'role="alert"' in html and "You can send 1 messages per day; try again in" in html
    assert "Precious words" in html and 'value="Later"' in html
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    assert draft.send_at is None  # not scheduled: it waits in Drafts for the user to send later
    assert f'value="{draft.pk}"' in html
    assert counted(kind="user", metric="messages") == 1

    SenderLimit.objects.create(user=alice, per_day=5)  # an admin raised the limit: the same draft goes
    response = alice_client.post(reverse("mailboxes:send"), {**form, "draft_id": draft.pk})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.send_at is not None


def test_a_send_refused_at_the_end_of_the_undo_window_stays_a_draft(settings, alice_client, alice, bob):
    settings.SEND_LIMIT_PER_DAY = 1
    form = {"to": "bob@example.test", "cc": "", "bcc": "", "subject": "Later", "body": "Kept.", "draft_id": "",
            "in_reply_to": ""}  # fmt: skip
    assert alice_client.post(reverse("mailboxes:send"), form).status_code == 302
    send_message(user=alice, to=["bob@example.test"], subject="Meanwhile", text="Took the last one.")
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    MailboxItem.objects.filter(pk=draft.pk).update(send_at=timezone.now() - timedelta(seconds=1))

    assert send_due_messages() == 0
    draft.refresh_from_db()
    assert (draft.folder, draft.send_at, draft.message.status) == (Folder.DRAFTS, None, Message.Status.DRAFT)
    assert counted(kind="user", metric="messages") == 1


def test_the_admin_edits_a_users_limits_on_the_user_page(client, alice):
    operator = UserFactory(address="root@example.test", admin=True)
    client.force_login(operator)
    page = reverse("admin:accounts_user_change", args=[alice.pk])
    html = client.get(page).content.decode()
    assert "Sending limits" in html and "Default: 0" not in html

    form = {
        "sender_limit-TOTAL_FORMS": "1", "sender_limit-INITIAL_FORMS": "0", "sender_limit-MIN_NUM_FORMS": "0",
        "sender_limit-MAX_NUM_FORMS": "1", "sender_limit-0-per_minute": "5", "sender_limit-0-note": "A newsletter",
        "sender_limit-0-user": alice.pk,
        "addresses-TOTAL_FORMS": "0", "addresses-INITIAL_FORMS": "1", "addresses-MIN_NUM_FORMS": "0",
        "addresses-MAX_NUM_FORMS": "1000",
        "display_name": alice.display_name, "is_active": "on",
    }  # fmt: skip
    response = client.post(page, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    limit = SenderLimit.objects.get(user=alice)
    assert (limit.per_minute, limit.per_hour, limit.note) == (5, None, "A newsletter")


def test_the_admin_lists_overrides_and_shows_a_domains_defaults(client, settings, alice):
    settings.SEND_LIMIT_DOMAIN_PER_HOUR = 12345
    operator = UserFactory(address="root@example.test", admin=True)
    client.force_login(operator)
    domain = Domain.objects.get(name="example.test")
    limit = SenderLimit.objects.create(domain=domain, per_day=7, note="A shared newsletter domain")

    html = client.get(reverse("admin:accounts_domain_change", args=[domain.pk])).content.decode()
    assert "Default: 12345." in html and "A shared newsletter domain" in html
    assert client.get(reverse("admin:reputation_senderlimit_change", args=[limit.pk])).status_code == 200
    listing = client.get(reverse("admin:reputation_senderlimit_changelist"), {"q": "example.test"})
    assert "Sending limits of example.test" in listing.content.decode()
