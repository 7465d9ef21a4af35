"""Inbound mail as the MX accepted it, and what the pipeline made of it."""

from django.db import models
from django.utils import timezone

from inbound.dmarc_models import DmarcAggregateReport, DmarcReportRow, DmarcReportSent
from inbound.spam_models import SpamToken, SpamTrainingCount

__all__ = [
    "DmarcAggregateReport",
    "DmarcReportRow",
    "DmarcReportSent",
    "InboundMessage",
    "SpamToken",
    "SpamTrainingCount",
]


class InboundMessage(models.Model):
    """One accepted message: its exact bytes and envelope, stored before the MX answers 250.

    Processing (authentication, scanning, placement) happens later on the
    inbound queue; this row is the durable job, so a crash after 250 loses
    nothing and the reconciler picks it up again.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DELIVERED = "delivered", "Delivered"
        REPORT = "report", "Bounce or complaint report"
        QUARANTINED = "quarantined", "Quarantined (virus)"
        FAILED = "failed", "Failed (dead letter)"

    blob = models.ForeignKey("mailboxes.Blob", on_delete=models.PROTECT, related_name="inbound_messages")
    source = models.CharField(max_length=40, default="smtp", help_text='"smtp", or "anymail:<esp>" for webhooks.')
    mail_from = models.CharField(max_length=320, blank=True, help_text="Envelope sender; empty for bounces (<>).")
    rcpt_tos = models.JSONField(default=list, help_text="Envelope recipients we accepted.")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    helo = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    authentication_results = models.TextField(blank=True, help_text="The Authentication-Results header we added.")
    auth = models.JSONField(default=dict, blank=True, help_text="SPF, DKIM and DMARC results.")
    spam_score = models.FloatField(null=True, blank=True)
    spam_verdict = models.JSONField(default=dict, blank=True)
    virus_verdict = models.JSONField(default=dict, blank=True)
    message = models.ForeignKey(
        "mailboxes.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="The stored view (trace headers + the bytes received) placed in mailboxes.",
    )  # fmt: skip
    error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "received_at"], name="inbound_status_time")]

    def __str__(self):
        return f"{self.mail_from or '<>'} → {', '.join(self.rcpt_tos)[:80]} ({self.status})"
