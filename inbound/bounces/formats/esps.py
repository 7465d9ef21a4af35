"""Email service providers: SendGrid, Mailgun, Postmark, SparkPost, Mandrill.

Their bounces are RFC 3464 reports, read by the generic reader, with quirks
of their own. SendGrid (``Return-Path: <apps@sendgrid.net>``, "This is an
automatically generated message from SendGrid.") writes ``Action: expired``
when it gave up retrying, a Diagnostic-Code without its type and an
``Arrival-Date`` in its own format (2026-12-07 03-12-44); Momentum
(SparkPost) and others may do the same. An expired recipient is a failure
whose reason is ``expired``, not a delay.
"""

import re
from dataclasses import replace

from core.bounce_reasons import Reason
from inbound.bounces.formats.common import Letter, Report
from inbound.bounces.reading import _address_field, _field_blocks, generic_report

_ESP_MARKS = re.compile(
    r"^(?:x-sg-eid|x-mailgun-[\w-]+|x-pm-message-id|x-msys-api|x-mandrill-user)[ \t]*:"
    r"|@(?:sendgrid\.net|mailgun\.(?:net|org)|mtasv\.net|postmarkapp\.com|sparkpostmail\.com|mandrillapp\.com)\b",
    re.I | re.M,
)


def read(letter: Letter) -> Report | None:
    if not (_ESP_MARKS.search(letter.head) or letter.header("return-path").lower() == "<apps@sendgrid.net>"):
        return None
    report = generic_report(letter)
    if report is None or report.kind != "dsn":
        return report
    expired = {
        _address_field(block.get("final-recipient", "")).lower()
        for part in letter.status_parts
        for block in _field_blocks(part)
        if block.get("action", "").strip().lower() == "expired"
    }
    if not expired:
        return report
    recipients = []
    for found in report.recipients:
        if found.address.lower() in expired:
            status = found.status if found.status and not found.status.endswith(".0.0") else "4.4.7"
            found = replace(found, action="failed", status=status, reason=Reason.EXPIRED)
        recipients.append(found)
    return replace(report, recipients=recipients)
