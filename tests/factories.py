"""Test data built through the real services, so tests see what production sees."""

import itertools

import factory
from django.utils import timezone

from accounts.models import Domain, User
from accounts.services import create_mail_user
from delivery.services import run_delivery, send_draft, send_message
from mailboxes.models import Folder, Label, MailboxItem
from mailboxes.services import place_message, store_message

_counter = itertools.count(1)


class DomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Domain
        django_get_or_create = ("name",)

    name = "example.test"


class UserFactory(factory.django.DjangoModelFactory):
    """A hosted user created by ``create_mail_user`` (with its primary address)."""

    class Meta:
        model = User

    address = factory.Sequence(lambda n: f"user{n}@example.test")
    display_name = factory.Faker("name")
    password = "correct horse battery staple"

    @classmethod
    def _create(cls, model_class, *args, address, password, display_name, **kwargs):
        DomainFactory(name=address.rpartition("@")[2])
        return create_mail_user(address=address, password=password, display_name=display_name, **kwargs)


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Label {n}")


def raw_email(
    *,
    subject: str = "Hello",
    sender: str = "Sender <sender@remote.example>",
    to: str = "user@example.test",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    body: str = "Hello there.",
    date: str | None = None,
    extra_headers: str = "",
) -> bytes:
    """A plain RFC 5322 message as a remote server would hand it over."""
    message_id = message_id if message_id is not None else f"<msg{next(_counter)}@remote.example>"
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}"]
    lines.append(f"Date: {date or timezone.now().strftime('%a, %d %b %Y %H:%M:%S +0000')}")
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {references}")
    if extra_headers:
        lines.append(extra_headers.rstrip("\r\n"))
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


def deliver(raw: bytes, *users, folder: str = Folder.INBOX) -> list[MailboxItem]:
    """Store raw bytes once and place them in each user's mailbox, as inbound delivery does."""
    message, _ = store_message(raw=raw)
    return [place_message(user=user, message=message, folder=folder) for user in users]


def deliver_scanned(raw: bytes, *users) -> list[MailboxItem]:
    """``deliver``, the attachments marked as the inbound pipeline's virus scan marks them (held back, flagged)."""
    from inbound.filters.virus import get_virus_scanner
    from inbound.services.pipeline import attachment_scans
    from mailboxes.parsing import parse_message

    parsed = parse_message(raw)
    verdict = get_virus_scanner().scan(raw=raw, parsed=parsed)
    assert not verdict.infected and not verdict.error, verdict
    message, _ = store_message(raw=raw, parsed=parsed, scans=attachment_scans(verdict))
    return [place_message(user=user, message=message) for user in users]


def send_and_deliver(**kwargs):
    """``send_message``, then run the outbox as a worker would (hosted recipients get it)."""
    message = send_message(**kwargs)
    run_delivery(message_id=message.pk)
    message.refresh_from_db()
    return message


def send_draft_and_deliver(**kwargs):
    message = send_draft(**kwargs)
    run_delivery(message_id=message.pk)
    message.refresh_from_db()
    return message
