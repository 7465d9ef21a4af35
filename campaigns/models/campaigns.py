"""Segments (saved audiences), campaigns and a campaign's frozen audience.

A campaign sends ONE template version to a segment. When it starts, the
segment's contacts minus the suppressed are frozen into ``CampaignRecipient``
rows, each with the snapshot of the contact that its message is rendered
from (no rendered copy is stored: the pinned version and the snapshot
re-render it exactly). The pacer releases them into the delivery outbox
(``mailboxes.Recipient`` rows of the campaign's one ``Message``) at the
campaign's pace; the delivery engine asks this app for each recipient's bytes.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Segment(models.Model):
    """A saved audience of a workspace: lists, attribute and engagement rules, exclusions (``campaigns.segments``)."""

    domain = models.ForeignKey("accounts.Domain", on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=200)
    definition = models.JSONField(default=dict, blank=True, help_text="The rules, as campaigns.segments reads them.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["domain", "name"], name="segment_unique_name")]

    def __str__(self):
        return self.name


class Campaign(models.Model):
    """One template version sent to one segment, on a schedule and at a pace.

    draft → scheduled → sending ⇄ paused → sent; draft, scheduled, sending or
    paused → cancelled. ``send_at`` and ``finish_by`` are instants (UTC);
    ``time_zone`` is the marketer's, for showing and entering them.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"

    domain = models.ForeignKey("accounts.Domain", on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    template = models.ForeignKey(
        "campaigns.Template", on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns",
        help_text="The template (its default variant); the contact's locale picks a variant when sending.",
    )  # fmt: skip
    version = models.ForeignKey(
        "campaigns.TemplateVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="The version pinned when sending started.",
    )  # fmt: skip
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns")
    from_address = models.CharField(max_length=320, blank=True)
    from_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.DRAFT, db_index=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    send_at = models.DateTimeField(null=True, blank=True, help_text="When sending starts. Empty: at once.")
    finish_by = models.DateTimeField(null=True, blank=True, help_text="Pace the sends to end by then.")
    max_per_hour = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: as fast as the limits allow.")
    track_opens = models.BooleanField(default=False)
    track_clicks = models.BooleanField(default=False)
    message = models.OneToOneField(
        "mailboxes.Message", on_delete=models.PROTECT, null=True, blank=True, related_name="campaign",
        help_text="The message every recipient's copy is rendered from (its blob: a sample rendering).",
    )  # fmt: skip
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    hold_reason = models.TextField(
        blank=True,
        help_text="Why the system paused it (a reputation guardrail, an admin's hold): only an admin resumes it.",
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    audience_size = models.PositiveIntegerField(default=0, help_text="Frozen when sending started.")
    suppressed_count = models.PositiveIntegerField(default=0, help_text="Segment members left out as suppressed.")
    released_count = models.PositiveIntegerField(default=0, help_text="Recipients handed to the outbox so far.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name


class CampaignRecipient(models.Model):
    """One person of a campaign's frozen audience, with what their message is rendered from."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="audience")
    contact = models.ForeignKey(
        "campaigns.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="campaign_recipients"
    )
    address = models.CharField(max_length=320, help_text="Lower-case.")
    domain = models.CharField(max_length=253, help_text="Destination domain, lower-case ASCII.")
    name = models.CharField(max_length=300, blank=True)
    locale = models.CharField(max_length=16, blank=True)
    variables = models.JSONField(default=dict, blank=True, help_text="The contact's snapshot when sending started.")
    tracked = models.BooleanField(default=False, help_text="The campaign tracks and the contact consented.")
    recipient = models.OneToOneField(
        "mailboxes.Recipient", on_delete=models.SET_NULL, null=True, blank=True, related_name="campaign_recipient",
        help_text="Its outbox row, once released.",
    )  # fmt: skip
    released_at = models.DateTimeField(null=True, blank=True)
    # Set once, by a conditional UPDATE (campaigns.services.tracking / unsubscribe): of two hits at
    # once only one is the first, so a person counts once among the unique opens, clicks, unsubscribes.
    first_opened_at = models.DateTimeField(null=True, blank=True, help_text="The first open by a person.")
    first_clicked_at = models.DateTimeField(null=True, blank=True, help_text="The first click by a person.")
    unsubscribed_at = models.DateTimeField(null=True, blank=True, help_text="Left through this campaign's mail.")

    class Meta:
        constraints = [
            # Nobody gets a campaign twice.
            models.UniqueConstraint(fields=["campaign", "address"], name="campaign_recipient_unique_address"),
        ]
        indexes = [
            # What the pacer reads: the campaign's not yet released people, in order.
            models.Index(
                fields=["campaign", "id"], name="campaign_recipient_pending", condition=models.Q(released_at=None)
            ),
            # What the pacer counts: the campaign's people released in the last minute (its rate), and
            # a From domain's in the last day (its warm-up).
            models.Index(fields=["campaign", "released_at"], name="campaign_recipient_released"),
        ]

    def __str__(self):
        return f"{self.address} ({self.campaign_id})"
