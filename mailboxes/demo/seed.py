"""Filling the demo mailboxes, through the same services as real mail.

Mail between demo users goes through ``send_message``; mail from outside is
built as raw RFC 5322 bytes and delivered with ``store_message`` and
``place_message``, the inbound placement step.
"""

import zlib
from datetime import datetime, timedelta
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.utils import timezone

from accounts.domain_verification import mark_verified
from accounts.models import Domain, User
from accounts.services import create_domain, create_mail_user
from delivery.services import run_delivery, send_message
from mailboxes.demo.content import CONVERSATIONS, DRAFTS, STATES, Conversation, Draft, Inbound, Mail, MailboxState
from mailboxes.demo.people import BY_KEY, DOMAIN, EVERYONE, MAIL_USERS
from mailboxes.models import MailboxItem, Message
from mailboxes.services import (
    add_labels,
    archive_items,
    create_label,
    mark_read,
    mark_spam,
    place_message,
    save_draft,
    set_starred,
    store_message,
    trash_items,
)

Users = dict[str, User]
Written = dict[str, list[Message]]  # conversation key -> its messages, oldest first


class SeedError(Exception):
    pass


# --- accounts --------------------------------------------------------------------


def ensure_accounts(*, password: str) -> Users:
    """The demo domain and users, created if missing; every demo account gets ``password``."""
    domain = Domain.objects.filter(name=DOMAIN).first() or create_domain(name=DOMAIN)
    if not domain.is_active:
        raise SeedError(f"The domain {DOMAIN} exists but is deactivated; reactivate it first.")
    # demo.test is a reserved name nobody can publish a token for: the demo's domain counts as verified.
    mark_verified(domain)
    users = {}
    for person in EVERYONE:
        user = User.objects.filter(username__iexact=person.address).first()
        if user is None:
            user = create_mail_user(
                address=person.address,
                password=password,
                display_name=person.name,
                admin=person.admin,
                marketer=person.marketer,
            )
        else:
            # accounts has no password service yet; this is what ``changepassword`` does.
            user.set_password(password)
            user.save(update_fields=["password"])
        users[person.key] = user
    return users


def has_demo_mail(users: Users) -> bool:
    return MailboxItem.objects.filter(user__in=[users[p.key] for p in MAIL_USERS]).exists()


# --- time ------------------------------------------------------------------------


class Timeline:
    """Turns ``(days ago, "HH:MM")`` into datetimes, keeping the newest one in the past."""

    def __init__(self, now: datetime, newest: tuple[int, str]):
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.anchor = midnight
        if self.at(newest) > now:
            self.anchor = midnight - timedelta(days=1)

    def at(self, when: tuple[int, str]) -> datetime:
        days, clock = when
        hours, minutes = (int(part) for part in clock.split(":"))
        return self.anchor - timedelta(days=days) + timedelta(hours=hours, minutes=minutes)


def _sort_key(when: tuple[int, str]) -> tuple[int, str]:
    days, clock = when
    return -days, clock


# --- messages --------------------------------------------------------------------


def _mailboxes(keys) -> list[str]:
    return [BY_KEY[key].mailbox for key in keys]


def _item_of(user: User, message: Message) -> MailboxItem:
    """The user's copy of ``message``: the one they received, else the one they sent."""
    items = {item.origin: item for item in MailboxItem.objects.filter(user=user, message=message)}
    return items.get(MailboxItem.Origin.RECEIVED) or items[MailboxItem.Origin.SENT]


def _send(spec: Mail, *, subject: str, users: Users, previous: Message | None, at: datetime) -> Message:
    sender = users[spec.sender]
    message = send_message(
        user=sender,
        to=_mailboxes(spec.to),
        cc=_mailboxes(spec.cc),
        bcc=_mailboxes(spec.bcc),
        subject=subject,
        text=spec.text,
        html=spec.html,
        attachments=[make(at) for make in spec.attachments],
        in_reply_to_item_id=_item_of(sender, previous).pk if previous else None,
        sent_at=at,
    )
    run_delivery(message_id=message.pk)  # deliver now, as a worker would, so replies can follow
    return message


def inbound_raw(spec: Inbound, *, subject: str, previous: Message | None, at: datetime) -> bytes:
    """The bytes a remote server would hand our MX, with the trace headers the MX would add."""
    name, address = spec.sender
    domain = address.rpartition("@")[2]
    verdict = "pass" if spec.authenticated else "fail"
    msg = EmailMessage(policy=policy.default)
    msg["Received"] = (
        f"from mail.{domain} (mail.{domain} [192.0.2.{zlib.crc32(domain.encode()) % 250 + 1}]) "
        f"by mx.{DOMAIN} with ESMTPS; {format_datetime(at)}"
    )
    msg["Authentication-Results"] = (
        f"mx.{DOMAIN}; spf={verdict} smtp.mailfrom={domain}; dkim={verdict} header.d={domain}; "
        f"dmarc={verdict} header.from={domain}"
    )
    msg["From"] = HeaderAddress(display_name=name, addr_spec=address)
    msg["To"] = [HeaderAddress(display_name=BY_KEY[k].name, addr_spec=BY_KEY[k].address) for k in spec.to]
    if spec.cc:
        msg["Cc"] = [HeaderAddress(display_name=BY_KEY[k].name, addr_spec=BY_KEY[k].address) for k in spec.cc]
    msg["Subject"] = subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = make_msgid(domain=domain)
    if previous is not None:
        msg["In-Reply-To"] = f"<{previous.message_id}>"
        msg["References"] = " ".join(f"<{ref}>" for ref in [*previous.references, previous.message_id])
    for header, value in spec.headers:
        msg[header] = value
    msg.set_content(spec.text)
    if spec.html:
        msg.add_alternative(spec.html, subtype="html")
    for attachment in (make(at) for make in spec.attachments):
        maintype, subtype = attachment.content_type.split("/")
        msg.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return msg.as_bytes(policy=policy.SMTP)


def _deliver(spec: Inbound, *, subject: str, users: Users, previous: Message | None, at: datetime) -> Message:
    message, _ = store_message(raw=inbound_raw(spec, subject=subject, previous=previous, at=at))
    for key in (*spec.to, *spec.cc):
        place_message(user=users[key], message=message, folder=spec.folder, received_at=at)
    return message


def _in_order(conversations: tuple[Conversation, ...]):
    """Every ``(conversation, index)``, oldest message first across all conversations."""
    steps = [(c, i) for c in conversations for i in range(len(c.messages))]
    return sorted(steps, key=lambda step: _sort_key(step[0].messages[step[1]].at))


def _write_conversations(users: Users, timeline: Timeline) -> Written:
    threads: Written = {}
    for conversation, index in _in_order(CONVERSATIONS):
        spec = conversation.messages[index]
        previous = threads[conversation.key][-1] if index else None
        subject = f"Re: {conversation.subject}" if index else conversation.subject
        at = timeline.at(spec.at)
        write = _send if isinstance(spec, Mail) else _deliver
        message = write(spec, subject=subject, users=users, previous=previous, at=at)
        threads.setdefault(conversation.key, []).append(message)
    return threads


def _write_draft(draft: Draft, users: Users, threads: Written, timeline: Timeline) -> None:
    user = users[draft.sender]
    subject, reply_to = draft.subject, None
    if draft.reply_to:
        conversation = next(c for c in CONVERSATIONS if c.key == draft.reply_to)
        subject = subject or f"Re: {conversation.subject}"
        reply_to = _item_of(user, threads[draft.reply_to][-1]).pk
    save_draft(  # drafts are being written now
        user=user,
        to=_mailboxes(draft.to),
        cc=_mailboxes(draft.cc),
        subject=subject,
        text=draft.text,
        in_reply_to_item_id=reply_to,
    )


# --- what each user did with their mail ------------------------------------------


def _items(user: User, threads: Written, keys, *, origin: str | None = None) -> list[MailboxItem]:
    messages = [message for key in keys for message in threads[key]]
    items = MailboxItem.objects.filter(user=user, message__in=messages)
    if origin:
        items = items.filter(origin=origin)
    return list(items.order_by("received_at", "pk"))


def _ids(items: list[MailboxItem]) -> list[int]:
    return [item.pk for item in items]


def _latest_received(user: User, threads: Written, key: str) -> MailboxItem | None:
    received = _items(user, threads, [key], origin=MailboxItem.Origin.RECEIVED)
    return received[-1] if received else None


def _apply_state(user: User, state: MailboxState, threads: Written) -> None:
    still_unread = {getattr(_latest_received(user, threads, key), "pk", None) for key in state.unread}
    received = MailboxItem.objects.filter(user=user, origin=MailboxItem.Origin.RECEIVED)
    read = [pk for pk in received.values_list("pk", flat=True) if pk not in still_unread]
    if read:
        mark_read(user=user, item_ids=read)
    for spec in state.labels:
        label = create_label(user=user, name=spec.name, color=spec.colour)
        add_labels(user=user, item_ids=_ids(_items(user, threads, spec.conversations)), label_ids=[label.pk])
    starred = [_items(user, threads, [key])[-1].pk for key in state.starred]
    if starred:
        set_starred(user=user, item_ids=starred)
    received_only = MailboxItem.Origin.RECEIVED
    for keys, action in ((state.archived, archive_items), (state.trashed, trash_items), (state.spam, mark_spam)):
        if keys:
            action(user=user, item_ids=_ids(_items(user, threads, keys, origin=received_only)))


def seed_mail(users: Users, *, now: datetime | None = None) -> int:
    """Write the demo conversations, drafts and mailbox states; the number of messages written."""
    everything = [m.at for c in CONVERSATIONS for m in c.messages] + [d.at for d in DRAFTS]
    timeline = Timeline(now or timezone.now(), newest=max(everything, key=_sort_key))
    threads = _write_conversations(users, timeline)
    for draft in DRAFTS:
        _write_draft(draft, users, threads, timeline)
    for key, state in STATES.items():
        _apply_state(users[key], state, threads)
    return sum(len(messages) for messages in threads.values()) + len(DRAFTS)
