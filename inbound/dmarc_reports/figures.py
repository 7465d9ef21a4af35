"""Pass/fail figures of the aggregate reports received for a domain over a period (what the admin shows)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from inbound.dmarc_models import DmarcAggregateReport, DmarcReportRow

TOP_FAILING_SOURCES = 10
_DMARC_PASS = Q(dkim="pass") | Q(spf="pass")


@dataclass(frozen=True)
class DomainFigures:
    domain: str
    reports: int
    messages: int
    dkim_aligned_pass: int
    spf_aligned_pass: int
    dmarc_pass: int
    quarantined: int
    rejected: int
    top_failing_sources: list[dict]  # [{"source_ip", "messages", "header_from"}], most messages first

    @property
    def dmarc_pass_rate(self) -> float | None:
        return self.dmarc_pass / self.messages if self.messages else None

    @property
    def dkim_pass_rate(self) -> float | None:
        return self.dkim_aligned_pass / self.messages if self.messages else None

    @property
    def spf_pass_rate(self) -> float | None:
        return self.spf_aligned_pass / self.messages if self.messages else None


def reported_domains() -> list[str]:
    return list(DmarcAggregateReport.objects.order_by("domain").values_list("domain", flat=True).distinct())


def domain_figures(*, domain: str, since: datetime, until: datetime) -> DomainFigures:
    """The reports whose period starts in ``[since, until)`` for ``domain``, summed up."""
    domain = domain.lower().rstrip(".")
    reports = DmarcAggregateReport.objects.filter(domain=domain, date_begin__gte=since, date_begin__lt=until)
    rows = DmarcReportRow.objects.filter(report__in=reports)
    totals = rows.aggregate(
        messages=Coalesce(Sum("count"), 0),
        dkim_aligned_pass=Coalesce(Sum("count", filter=Q(dkim="pass")), 0),
        spf_aligned_pass=Coalesce(Sum("count", filter=Q(spf="pass")), 0),
        dmarc_pass=Coalesce(Sum("count", filter=_DMARC_PASS), 0),
        quarantined=Coalesce(Sum("count", filter=Q(disposition="quarantine")), 0),
        rejected=Coalesce(Sum("count", filter=Q(disposition="reject")), 0),
    )
    failing = (
        rows.exclude(_DMARC_PASS)
        .values("source_ip")
        .annotate(messages=Sum("count"), header_froms=Count("header_from", distinct=True))
        .order_by("-messages", "source_ip")[:TOP_FAILING_SOURCES]
    )
    return DomainFigures(
        domain=domain,
        reports=reports.count(),
        top_failing_sources=[
            {
                "source_ip": entry["source_ip"] or "?",
                "messages": entry["messages"],
                "header_froms": entry["header_froms"],
            }
            for entry in failing
        ],
        **totals,
    )
