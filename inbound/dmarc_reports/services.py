"""Aggregate reports arriving by mail: which addresses receive them, and storing what they say.

Reports come to the ``rua`` our domains publish. Any envelope recipient matching one of the
``DMARC_REPORT_ADDRESSES`` patterns (shell-style, case-insensitive; default ``dmarc-reports@*``, at
any hosted domain since the MX accepts no other) is a report address: the MX accepts it even when no
mailbox has it, and the pipeline reads the reports out of the message before anything else. If a user
owns the address too, the message is also delivered to that mailbox as any other mail.

A report is stored once: reporters resend, and the pipeline may retry a message, so a report whose
(org_name, report_id) is already kept is left as it is.
"""

import fnmatch
import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from inbound.dmarc_models import DmarcAggregateReport, DmarcReportRow

from .reading import AggregateReport, reports_in_message

logger = logging.getLogger(__name__)

DEFAULT_REPORT_ADDRESSES = ["dmarc-reports@*"]
ROW_BATCH = 1000


def is_report_address(address: str) -> bool:
    address = (address or "").strip().strip("<>").lower()
    patterns = getattr(settings, "DMARC_REPORT_ADDRESSES", None) or DEFAULT_REPORT_ADDRESSES
    return bool(address) and any(fnmatch.fnmatchcase(address, pattern.lower()) for pattern in patterns)


def handle_report_mail(*, raw: bytes, inbound_message=None) -> list[DmarcAggregateReport]:
    """Store every aggregate report the message carries; the reports newly stored. Unreadable ones are logged."""
    reports, problems = reports_in_message(raw)
    for problem in problems:
        logger.info("DMARC report mail %s: %s", getattr(inbound_message, "pk", "-"), problem)
    if not reports and not problems:
        logger.info("DMARC report mail %s carries no report", getattr(inbound_message, "pk", "-"))
    stored = []
    for report in reports:
        kept, created = store_aggregate_report(report=report, inbound_message=inbound_message)
        if created:
            stored.append(kept)
    return stored


def store_aggregate_report(*, report: AggregateReport, inbound_message=None) -> tuple[DmarcAggregateReport, bool]:
    """The report and its rows, all or nothing; ``(the kept one, False)`` when it was stored before."""
    existing = DmarcAggregateReport.objects.filter(org_name=report.org_name, report_id=report.report_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            kept = DmarcAggregateReport.objects.create(
                org_name=report.org_name,
                report_id=report.report_id,
                email=report.email,
                domain=report.domain,
                date_begin=report.date_begin,
                date_end=report.date_end,
                policy_published=report.policy,
                problems=report.problems[:100],
                inbound_message=inbound_message,
            )
            DmarcReportRow.objects.bulk_create((_row(kept, row) for row in report.rows), batch_size=ROW_BATCH)
    except IntegrityError:  # stored meanwhile by another worker
        return DmarcAggregateReport.objects.get(org_name=report.org_name, report_id=report.report_id), False
    return kept, True


def _row(kept: DmarcAggregateReport, row) -> DmarcReportRow:
    return DmarcReportRow(
        report=kept,
        source_ip=row.source_ip,
        count=row.count,
        disposition=row.disposition[:20],
        dkim=row.dkim[:20],
        spf=row.spf[:20],
        header_from=row.header_from,
        envelope_from=row.envelope_from,
        envelope_to=row.envelope_to,
        reasons=row.reasons,
        auth_results={
            "dkim": [{"domain": r.domain, "selector": r.selector, "result": r.result} for r in row.dkim_results],
            "spf": [{"domain": r.domain, "scope": r.scope, "result": r.result} for r in row.spf_results],
        },
    )
