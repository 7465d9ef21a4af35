"""The mailbox simulator: mail to the reserved simulator domain gets a scripted outcome, in process.

Like Amazon SES's and Postmark's simulators, for users and tests to exercise the
delivery and reputation logic without sending anywhere (docs/SIMULATOR.md). The
engine hands the simulator domain's recipients to ``SimulatorTransport`` instead
of the configured transport; it answers as a remote server would, by the local
part before any ``+tag``:

- ``success@``: 250, recorded as sent;
- ``bounce@``: ``550 5.1.1`` user unknown, a hard bounce (classified by the real
  classifier, counted as one);
- ``suppressed@``: ``550 5.1.1``, the address is on the suppression list, a hard
  bounce as SES reports its suppression-list simulator address;
- ``complaint@``: 250, then an ARF complaint report (RFC 5965) to the message's
  VERP return path;
- ``ooto@``: 250, then an out-of-office auto-reply (RFC 3834) to the sender;
- any other address at the domain: ``550 5.1.1``, no such simulator mailbox.

The complaint and the auto-reply come back through the real inbound path
(``inbound.services.reception.accept_messages``, what the MX calls before its
250), after the outcome they follow is committed: a receiver of
``events_recorded`` queues ``follow_up`` for after commit. No socket is opened
and no DNS asked: the domain's names answer "no such name" to sender
authentication (``inbound.auth.lookups``) and count as provider "other".

Simulator addresses are never added to the suppression list (as SES does), so
they stay reusable; their outcomes do count in the reputation figures, which is
what they are for.
"""

import logging
import re
from email.utils import format_datetime, formataddr

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.addresses import split_address
from core.simulator import Outcome, is_simulator_domain, outcome_of, simulator_domain
from delivery import personalization, verp
from delivery.transports.base import Envelope, Result, Transport, result_for_reply
from webmail.celery import BROKER_ERRORS

logger = logging.getLogger(__name__)

TRANSPORT_NAME = "simulator"  # DeliveryEvent.transport of its outcomes
ARRIVAL_SOURCE = "simulator"  # InboundMessage.source of its follow-ups
USER_AGENT = "webmail-mailbox-simulator/1"

# Outcomes that are accepted first and answered later by a message of their own.
FOLLOWED_UP = frozenset({Outcome.COMPLAINT, Outcome.OOTO})
_ACCEPTED = frozenset({Outcome.SUCCESS, *FOLLOWED_UP})


def routes(domain: str) -> bool:
    """Mail to ``domain`` goes to the simulator, never to the configured transport."""
    return is_simulator_domain(domain)


def reply_for(address: str) -> tuple[int, str]:
    """The SMTP reply (code, text) a simulator address gives to RCPT/DATA."""
    outcome = outcome_of(address)
    if outcome in _ACCEPTED:
        return 250, f"2.0.0 Ok: accepted by the mailbox simulator ({outcome})"
    if outcome == Outcome.BOUNCE:
        return 550, f"5.1.1 <{address}>: Recipient address rejected: User unknown in the mailbox simulator"
    if outcome == Outcome.SUPPRESSED:
        return 550, f"5.1.1 <{address}>: Recipient address rejected: the address is on the suppression list"
    return 550, (
        f"5.1.1 <{address}>: Recipient address rejected: no such mailbox simulator address "
        "(success, bounce, complaint, ooto or suppressed, each with an optional +tag)"
    )


class SimulatorTransport(Transport):
    """Answers each envelope as the simulator's remote server would; opens nothing."""

    name = TRANSPORT_NAME

    def deliver(self, *, domain: str, envelopes: list[Envelope], on_result=None) -> list[Result]:
        results = []
        for envelope in envelopes:
            code, text = reply_for(envelope.rcpt_to)
            result = result_for_reply(envelope.recipient_id, code, text, remote_host=simulator_domain())
            if on_result is not None:  # recorded before the next one, as after each SMTP transaction
                on_result(result)
            results.append(result)
        return results


_transport = SimulatorTransport()


def transport_for(domain: str, configured: Transport) -> Transport:
    """The transport that delivers to ``domain``: the simulator for its domain, else the configured one."""
    return _transport if routes(domain) else configured


# --- follow-ups: the complaint report and the auto-reply -----------------------------------------------


def queue_follow_ups(sender, events, **kwargs) -> None:
    """``events_recorded`` receiver: after commit, the follow-up of each complaint@ and ooto@ just accepted.

    Cheap for every other event: a look at two attributes, no query.
    """
    recipient_ids = [
        event.recipient_id
        for event in events
        if event.transport == TRANSPORT_NAME
        and event.event_type == "sent"
        and event.recipient_id is not None
        and outcome_of(event.recipient.address) in FOLLOWED_UP
    ]
    if recipient_ids:
        transaction.on_commit(lambda: dispatch_follow_ups(recipient_ids))


def dispatch_follow_ups(recipient_ids: list[int]) -> None:
    from delivery.tasks import simulator_follow_up  # tasks import services

    try:
        simulator_follow_up.delay(recipient_ids)
    except BROKER_ERRORS:  # simulated mail: its follow-up is not worth an outbox of its own
        logger.warning("broker unreachable: the simulator's follow-ups for %s are not sent", recipient_ids)


def follow_up(recipient_ids: list[int], *, now=None) -> list:
    """Hand the complaint reports and auto-replies of these recipients to the inbound path; the jobs stored.

    A recipient whose follow-up would reach no one (an auto-reply to a sender we
    do not host: it would have to leave the machine) gets none.
    """
    from accounts.selectors import resolve_hosted_address
    from inbound.services.reception import Arrival, accept_messages
    from mailboxes.models import Recipient

    arrivals = []
    recipients = Recipient.objects.select_related("message", "message__blob").filter(pk__in=recipient_ids)
    for recipient in recipients.order_by("pk"):
        # Dated at the simulated delivery, not when the task runs: a task the broker hands out twice
        # makes the same bytes, which the store then keeps once.
        at = recipient.last_attempt_at or now or timezone.now()
        outcome = outcome_of(recipient.address)
        if outcome == Outcome.COMPLAINT:
            return_path = return_path_of(recipient)
            arrivals.append(_arrival(Arrival, complaint_report(recipient, now=at), rcpt_to=return_path))
        elif outcome == Outcome.OOTO:
            sender = recipient.message.from_address
            if resolve_hosted_address(sender) is None:
                logger.info("no auto-reply for recipient %s: its sender %s is not hosted here", recipient.pk, sender)
                continue
            arrivals.append(_arrival(Arrival, auto_reply(recipient, now=at), rcpt_to=sender))
    return accept_messages(arrivals) if arrivals else []


def _arrival(arrival_class, raw: bytes, *, rcpt_to: str):
    # A null reverse path, as reports (like DSNs) and RFC 3834 §3.3 auto-replies have: nothing answers them.
    return arrival_class(
        raw=raw, mail_from="", rcpt_tos=[rcpt_to], client_ip="127.0.0.1", helo=simulator_domain(),
        source=ARRIVAL_SOURCE,
    )  # fmt: skip


def return_path_of(recipient) -> str:
    """The VERP return path the engine gave this recipient's envelope (``engine._deliver_remote``)."""
    from_domain = split_address(recipient.message.from_address)[1].lower()
    return verp.return_path(recipient_id=recipient.pk, domain=from_domain or settings.MAIL_HOSTNAME)


_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _original(recipient) -> bytes:
    """The message as this recipient was sent it (a campaign's is rendered for them), unsigned."""
    from mailboxes.blobstore import read_blob

    message = recipient.message
    if personalization.campaign_of(message) is not None:
        rendered = personalization.renderer().render([recipient]).get(recipient.pk)
        if rendered is not None:
            return rendered
    return read_blob(message.blob)


def _header_section(raw: bytes) -> bytes:
    match = _HEADER_END.search(raw)
    head = raw[: match.start()] if match else raw
    return b"\r\n".join(head.splitlines()) + b"\r\n"


def _message_id(value: str) -> str:
    value = (value or "").strip().strip("<>")
    return f"<{value}>" if value else ""


def _crlf(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def complaint_report(recipient, *, now) -> bytes:
    """An ARF abuse report (RFC 5965) about the mail this recipient was sent, as a feedback loop sends it."""
    domain = simulator_domain()
    message = recipient.message
    return_path = return_path_of(recipient)
    boundary = f"=_simulator_arf_{recipient.pk}"
    date = format_datetime(now)
    reported_domain = split_address(message.from_address)[1].lower()
    head = [
        f"From: {formataddr(('Mailbox simulator feedback loop', f'feedback@{domain}'))}",
        f"To: <{return_path}>",
        f"Subject: Complaint about: {' '.join((message.subject or '').split())[:200]}",
        f"Date: {date}",
        f"Message-ID: <complaint-{recipient.pk}@{domain}>",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"This is an abuse report from the mailbox simulator: {recipient.address} marked this message as spam.",
        "",
        f"--{boundary}",
        "Content-Type: message/feedback-report",
        "",
        "Feedback-Type: abuse",
        f"User-Agent: {USER_AGENT}",
        "Version: 1",
        f"Original-Mail-From: <{return_path}>",
        f"Original-Rcpt-To: <{recipient.address}>",
        f"Arrival-Date: {date}",
        f"Reporting-MTA: dns; {domain}",
        *([f"Reported-Domain: {reported_domain}"] if reported_domain else []),
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "",
    ]
    return _crlf(head) + _header_section(_original(recipient)) + _crlf(["", f"--{boundary}--"])


def auto_reply(recipient, *, now) -> bytes:
    """An out-of-office reply (RFC 3834) from this recipient to the message's sender."""
    message = recipient.message
    original_id = _message_id(message.message_id)
    subject = " ".join((message.subject or "").split())[:200]
    lines = [
        f"From: <{recipient.address}>",
        f"To: <{message.from_address}>",
        f"Subject: Auto: {subject}" if subject else "Subject: Auto: out of the office",  # RFC 3834 §3.1.5
        f"Date: {format_datetime(now)}",
        f"Message-ID: <ooto-{recipient.pk}@{simulator_domain()}>",
        *([f"In-Reply-To: {original_id}", f"References: {original_id}"] if original_id else []),
        "Auto-Submitted: auto-replied",  # RFC 3834 §5: no auto-responder answers it
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Transfer-Encoding: 7bit",
        "",
        "I am out of the office and will read your message when I return.",
        "",
        "(An automatic reply from the mailbox simulator: nothing left this server.)",
    ]
    return _crlf(lines)
