"""Applying a bounce or complaint to the recipient it is about: events, suppression, the sender's notice.

``handle_report`` applies a report to the recipient the VERP address names. It
never sends mail: the sender learns of a failure from a notice placed in
their inbox (``notify_sender_of_failures``), so a forged bounce cannot cause
backscatter.
"""

import hashlib
import logging
from dataclasses import asdict

from django.db import transaction

from core.bounce_reasons import Reason
from delivery import verp
from delivery.models import DeliveryEvent, Suppression
from delivery.services.events import record_delivery_event, refresh_message_status, reject_reason_for
from delivery.services.notices import notify_sender_of_failures
from delivery.services.suppression import suppress_address, suppress_after_bounce
from inbound.bounces.reading import _BASIC, COMPLAINT_TYPES, Report, ReportedRecipient, _body_offset, parse_report
from mailboxes.models import Recipient
from observability.logs import log_context

logger = logging.getLogger("inbound.bounces")


def handle_report(*, raw: bytes, verp_address: str) -> list[DeliveryEvent]:
    """Record what a bounce or complaint sent to ``verp_address`` says; returns the events recorded.

    The VERP address names our recipient; when it does not (mangled on the way
    back), the report's original Message-ID and recipient address are looked
    up among our sent messages instead. A failure bounces the recipient (an
    address failure also suppresses the address) and tells the sender once; a
    delay is only noted (the remote side is still trying, and the recipient
    must not be sent to again); a complaint is noted and suppresses the
    address without changing the delivery status. The same report twice, or a
    bounce for a recipient already bounced, records nothing.
    """
    report = parse_report(raw)
    if report is None:
        logger.info("mail to %s is neither a bounce nor a complaint; ignored", verp_address)
        return []
    targets = _targets(report, verp_address)
    if not targets:
        logger.info(
            "%s report to %s matches none of our recipients (original %r)",
            report.kind, verp_address, report.original_message_id,
        )  # fmt: skip
        return []
    key = _report_key(raw)
    events, failed = [], {}
    for recipient_id, reported in targets:
        event = _apply(recipient_id=recipient_id, report=report, reported=reported, key=key)
        if event is not None:
            events.append(event)
            with log_context(message_id=event.message_id, recipient_id=recipient_id):
                logger.info(
                    "%s report recorded as %s for recipient %s of message %s",
                    report.kind, event.event_type, recipient_id, event.message_id,
                )  # fmt: skip
            if event.event_type == "bounced":
                failed.setdefault(event.message_id, []).append(recipient_id)
    for message_id, recipient_ids in failed.items():
        notify_sender_of_failures(message_id=message_id, recipient_ids=recipient_ids)
    return events


def _targets(report: Report, verp_address: str) -> list[tuple[int, ReportedRecipient]]:
    recipient_id = verp.recipient_id_from(verp_address or "")
    if recipient_id is not None:
        recipient = Recipient.objects.filter(pk=recipient_id).only("pk", "address").first()
        reported = _reported_for(report, recipient.address) if recipient else None
        return [(recipient.pk, reported)] if reported else []
    if not report.original_message_id:
        return []
    # Only mail we sent to remote hosts can bounce: local deliveries have a user.
    candidates = list(
        Recipient.objects.filter(
            message__message_id=report.original_message_id, message__sender__isnull=False, user__isnull=True
        ).only("pk", "address")
    )
    targets = {}
    for candidate in candidates:
        reported = _reported_for(report, candidate.address, allow_single=False)
        if reported:
            targets[candidate.pk] = reported
    if not targets and len(candidates) == 1 and len(report.recipients) == 1:
        targets[candidates[0].pk] = report.recipients[0]  # the address was rewritten or redacted
    return list(targets.items())


def _reported_for(report: Report, address: str, *, allow_single: bool = True) -> ReportedRecipient | None:
    """What the report says about ``address``; with a single entry, that entry (the VERP address decides)."""
    wanted = address.lower()
    for reported in report.recipients:
        if wanted in (reported.address.lower(), reported.original_address.lower()):
            return reported
    if allow_single and len(report.recipients) == 1:
        return report.recipients[0]
    return None


def _report_key(raw: bytes) -> str:
    """The report's identity: a hash of its body, which trace headers added on the way do not change."""
    body = raw[_body_offset(raw) :]
    return hashlib.sha256(body if body.strip() else raw).hexdigest()


def _apply(*, recipient_id: int, report: Report, reported: ReportedRecipient, key: str) -> DeliveryEvent | None:
    with transaction.atomic():
        recipient = (
            Recipient.objects.select_for_update(of=("self",)).select_related("message").filter(pk=recipient_id).first()
        )
        if recipient is None or recipient.events.filter(metadata__report_sha256=key).exists():
            return None
        details = {
            "transport": f"report:{report.kind}",
            "metadata": {
                "report_sha256": key,
                "reporter": report.reporter,
                "original_message_id": report.original_message_id,
                **({"feedback_type": report.feedback_type} if report.feedback_type else {}),
            },
            "esp_event": {
                "kind": report.kind,
                "reporter": report.reporter,
                "feedback_type": report.feedback_type,
                "original_message_id": report.original_message_id,
                "recipient": asdict(reported),
            },
        }
        if report.kind == "arf":
            return _record_complaint(recipient, report, reported, details)
        if reported.action == "delayed":
            return _record_delay(recipient, report, reported, details)
        if reported.action == "failed":
            return _record_bounce(recipient, report, reported, details)
        return None  # delivered, relayed, expanded: nothing to do


def _record_bounce(recipient: Recipient, report: Report, reported: ReportedRecipient, details) -> DeliveryEvent | None:
    if recipient.status in Recipient.FAILED_STATUSES:
        return None  # bounced (or never sent) already: a later report adds nothing
    status = reported.status or "5.0.0"
    basic = _BASIC.search(reported.diagnostic)
    event = record_delivery_event(
        recipient=recipient,
        event_type="bounced",
        # Only a hard reason (the address is gone) is "invalid" and suppressed; a remote queue that gave up
        # after temporary failures is "timed_out", recorded apart and never suppressed.
        reject_reason=reject_reason_for(reported.reason, hard=reported.hard),
        reason=reported.reason,
        description=f"Delivery failed after the message left us; reported by {report.reporter or 'the remote side'}.",
        mta_response=reported.diagnostic,
        smtp_code=int(basic["code"]) if basic else None,
        enhanced_status=status,
        remote_host=reported.remote_mta,
        **details,
    )
    if reported.hard:
        suppress_after_bounce(
            address=recipient.address, domain=recipient.domain, enhanced_status=status,
            detail=reported.diagnostic or status, source=Suppression.Source.REPORT, source_event=event,
            now=event.timestamp,
        )  # fmt: skip
    refresh_message_status(recipient.message)
    return event


def _record_delay(recipient: Recipient, report: Report, reported: ReportedRecipient, details) -> DeliveryEvent | None:
    if recipient.status in Recipient.FAILED_STATUSES:
        return None
    # The status stays: the remote side holds the message and keeps trying. A
    # "deferred" recipient is one we retry ourselves, which would send it twice.
    return record_delivery_event(
        recipient=recipient,
        event_type="deferred",
        reason=reported.reason,
        description=f"Delivery is delayed further on; reported by {report.reporter or 'the remote side'}.",
        mta_response=reported.diagnostic,
        enhanced_status=reported.status,
        remote_host=reported.remote_mta,
        update_status=False,
        **details,
    )


def _record_complaint(
    recipient: Recipient, report: Report, reported: ReportedRecipient, details
) -> DeliveryEvent | None:
    if report.feedback_type not in COMPLAINT_TYPES:
        logger.info("%s feedback about recipient %s is not a complaint; ignored", report.feedback_type, recipient.pk)
        return None
    if recipient.events.filter(event_type="complained").exists():
        return None  # one complaint about one message is enough
    event = record_delivery_event(
        recipient=recipient,
        event_type="complained",
        reject_reason="spam",
        reason=Reason.FEEDBACK,
        description=f"Complaint ({report.feedback_type}) reported by {report.reporter or 'a feedback loop'}.",
        mta_response=reported.diagnostic,
        update_status=False,
        **details,
    )
    suppress_address(
        address=recipient.address,
        reason=Suppression.Reason.COMPLAINT,
        detail=f"{report.feedback_type} report from {report.reporter}".strip(),
        source=Suppression.Source.REPORT,
        source_event=event,
    )
    return event
