"""DMARC aggregate reports that other receivers sent about our domains' mail (imported into inbound.models)."""

from django.db import models


class DmarcAggregateReport(models.Model):
    """One aggregate report (RFC 7489 §7.2): who sent it, for which domain and period, the policy they saw."""

    org_name = models.CharField(max_length=255, help_text="The reporting organisation (google.com, Yahoo, …).")
    report_id = models.CharField(max_length=255)
    email = models.CharField(max_length=255, blank=True)
    domain = models.CharField(max_length=255, db_index=True, help_text="The domain whose policy was published.")
    date_begin = models.DateTimeField(db_index=True)
    date_end = models.DateTimeField()
    policy_published = models.JSONField(default=dict, blank=True, help_text="p, sp, np, adkim, aspf, pct as seen.")
    problems = models.JSONField(default=list, blank=True, help_text="What could not be read and was skipped.")
    inbound_message = models.ForeignKey(
        "inbound.InboundMessage", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date_begin"]
        constraints = [models.UniqueConstraint(fields=["org_name", "report_id"], name="dmarc_report_unique_per_org")]
        indexes = [models.Index(fields=["domain", "date_begin"], name="dmarc_report_domain_time")]

    def __str__(self):
        return f"{self.org_name} {self.report_id} ({self.domain})"


class DmarcReportRow(models.Model):
    """Mail from one source IP, with one outcome, as a report counts it."""

    report = models.ForeignKey(DmarcAggregateReport, on_delete=models.CASCADE, related_name="rows")
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    count = models.PositiveBigIntegerField()
    disposition = models.CharField(max_length=20, blank=True)
    dkim = models.CharField(max_length=20, blank=True, help_text="DMARC-aligned DKIM: pass or fail.")
    spf = models.CharField(max_length=20, blank=True, help_text="DMARC-aligned SPF: pass or fail.")
    header_from = models.CharField(max_length=255, blank=True)
    envelope_from = models.CharField(max_length=255, blank=True)
    envelope_to = models.CharField(max_length=255, blank=True)
    reasons = models.JSONField(default=list, blank=True, help_text="Policy overrides: forwarded, mailing_list, …")
    auth_results = models.JSONField(default=dict, blank=True, help_text="The raw DKIM and SPF results.")

    def __str__(self):
        return f"{self.source_ip} ×{self.count} dkim={self.dkim} spf={self.spf}"


class DmarcReportSent(models.Model):
    """An aggregate report we sent about the mail we received for a domain over a day: sent once."""

    domain = models.CharField(max_length=255, help_text="The domain whose DMARC record asked for reports.")
    date_begin = models.DateTimeField()
    report_id = models.CharField(max_length=255)
    destinations = models.JSONField(default=list, blank=True)
    message = models.ForeignKey("mailboxes.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date_begin"]
        constraints = [models.UniqueConstraint(fields=["domain", "date_begin"], name="dmarc_report_sent_once")]

    def __str__(self):
        return f"{self.domain} {self.date_begin:%Y-%m-%d}"
