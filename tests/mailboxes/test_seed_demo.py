"""manage.py seed_demo: demo accounts and lived-in mailboxes, built through the real services."""

import io
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import Domain, User
from accounts.roles import Role
from delivery.models import DeliveryEvent
from mailboxes.blobstore import read_blob
from mailboxes.demo.seed import Timeline
from mailboxes.models import Attachment, Folder, Label, MailboxItem, Message, Recipient, Thread
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db

DEMO_USERS = ("alice@demo.test", "bob@demo.test", "carol@demo.test")


def seed(*args) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = (User, Message, MailboxItem, Thread, Label, Attachment, Recipient, DeliveryEvent)
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture
def seeded():
    return seed("--password", "demo-password")


def test_creates_the_demo_accounts_with_the_given_password(seeded):
    assert Domain.objects.filter(name="demo.test").exists()
    names = dict(User.objects.values_list("username", "display_name"))
    assert names == {
        "alice@demo.test": "Alice Martin",
        "bob@demo.test": "Bob Kowalski",
        "carol@demo.test": "Carol Zhang",
        "admin@demo.test": "Demo Admin",
    }
    for user in User.objects.all():
        assert user.check_password("demo-password")
    admin = User.objects.get(username="admin@demo.test")
    assert admin.is_staff and admin.is_superuser
    assert Role.MARKETER in User.objects.get(username="carol@demo.test").roles
    assert "demo-password" in seeded
    for address in (*DEMO_USERS, "admin@demo.test"):
        assert address in seeded


def test_mailboxes_are_lived_in_with_attachments_drafts_spam_archive_and_trash(seeded):
    for username in DEMO_USERS:
        user = User.objects.get(username=username)
        items = MailboxItem.objects.filter(user=user)
        assert items.filter(folder=Folder.INBOX).count() >= 5
        assert items.filter(folder=Folder.SENT).exists()
        assert items.filter(is_read=False).exists()
        assert items.filter(is_read=True, origin=MailboxItem.Origin.RECEIVED).exists()
        assert items.filter(is_starred=True).exists()
        assert items.filter(labels__isnull=False).exists()
        threads = Thread.objects.filter(user=user)
        assert threads.filter(message_count__gte=3).count() >= 2, username
        assert threads.filter(unread_count__gt=0).exists()
        assert Label.objects.filter(user=user, name="Work").exists()

    types = set(Attachment.objects.values_list("content_type", flat=True))
    assert {"image/png", "application/pdf", "text/csv", "text/calendar"} <= types
    png = Attachment.objects.filter(content_type="image/png").first()
    assert read_blob(png.blob).startswith(b"\x89PNG\r\n\x1a\n")
    pdf = Attachment.objects.get(content_type="application/pdf")
    assert read_blob(pdf.blob).startswith(b"%PDF-1.4") and read_blob(pdf.blob).rstrip().endswith(b"%%EOF")

    items = MailboxItem.objects.all()
    assert items.filter(folder=Folder.DRAFTS, message__status=Message.Status.DRAFT).count() >= 2
    assert items.filter(folder=Folder.SPAM).count() >= 2
    assert items.filter(folder=Folder.ARCHIVE).exists()
    assert items.filter(folder=Folder.TRASH).exists()
    assert Recipient.objects.filter(kind=Recipient.Kind.BCC, status=Recipient.Status.DELIVERED).exists()
    assert Message.objects.filter(subject="周末回家吃饭吗？").exists()
    assert Message.objects.filter(headers__has_key="list-unsubscribe").exists()


def test_replies_form_threads_and_dates_are_spread_over_past_weeks(seeded):
    alice = User.objects.get(username="alice@demo.test")
    bob = User.objects.get(username="bob@demo.test")
    offsite = Thread.objects.get(user=alice, subject__startswith="Team offsite")
    assert offsite.message_count == 5
    assert offsite.has_attachments
    # An outside invitation and the colleagues' replies to it are one conversation for both.
    for user in (alice, bob):
        assert Thread.objects.get(user=user, subject__startswith="PyCon Lisbon").message_count == 3
    hubforge = Thread.objects.get(user=bob, subject__contains="#42")
    assert hubforge.message_count == 3
    assert hubforge.unread_count == 1

    # Dates are spread over the past weeks, and each copy's time is the Date header's.
    now = timezone.now()
    received = sorted(MailboxItem.objects.values_list("received_at", flat=True))
    assert received[0] < now - timedelta(days=14)
    assert received[-1] <= now
    for message in Message.objects.exclude(status=Message.Status.DRAFT):
        header = BytesParser(policy=policy.default).parsebytes(read_blob(message.blob), headersonly=True)["Date"]
        item_times = set(message.items.values_list("received_at", flat=True))
        assert item_times == {parsedate_to_datetime(str(header))}, message.subject


def test_running_it_again_adds_nothing_and_resets_the_passwords(seeded):
    before = counts()

    output = seed("--password", "another-password")

    assert counts() == before
    assert "nothing added" in output
    assert User.objects.get(username="alice@demo.test").check_password("another-password")


def test_without_a_password_a_random_one_is_generated_and_printed(seeded):
    output = seed()

    password = re.search(r"Password for all of them: (\S+)", output).group(1)
    assert len(password) >= 12
    assert password not in seeded
    assert all(user.check_password(password) for user in User.objects.all())


def test_the_newest_demo_mail_is_never_dated_in_the_future():
    before_breakfast = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    after_breakfast = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    assert Timeline(before_breakfast, newest=(0, "08:05")).at((0, "08:05")) == datetime(2026, 3, 1, 8, 5, tzinfo=UTC)
    assert Timeline(after_breakfast, newest=(0, "08:05")).at((2, "17:30")) == datetime(2026, 2, 28, 17, 30, tzinfo=UTC)


def test_a_deactivated_demo_domain_is_reported_not_filled():
    DomainFactory(name="demo.test")
    Domain.objects.filter(name="demo.test").update(is_active=False)

    with pytest.raises(CommandError, match="deactivated"):
        seed("--password", "demo-password")

    assert not User.objects.exists()


def test_the_demo_marketer_gets_templates_in_two_languages_and_a_list_of_opted_in_readers(seeded):
    from campaigns.models import ContactList, Template
    from campaigns.rendering import example_values, render_version

    workspace = Domain.objects.get(name="demo.test")
    variants = {(t.key, t.locale): t for t in Template.objects.filter(domain=workspace)}
    assert set(variants) == {("order_receipt", ""), ("order_receipt", "zh-hans"), ("newsletter", "")}
    chinese = variants["order_receipt", "zh-hans"].active_version
    assert render_version(chinese, example_values(chinese.variables)).subject == "订单 A-1042 的收据"
    newsletter = ContactList.objects.get(domain=workspace, name="Newsletter")
    assert newsletter.memberships.filter(status="subscribed").count() == 3
    assert "/marketing/" in seeded
    again = seed("--password", "demo-password")
    assert "/marketing/" not in again and Template.objects.filter(domain=workspace).count() == 3
