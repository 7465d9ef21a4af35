"""Sender reputation: rolling counters of delivery outcomes, and the holds that stop a sender.

``ReputationCount`` rows are counters per subject (a sending user, a sending
domain, a stream, a campaign, a destination provider), metric and time bucket,
added to as delivery events are recorded (``reputation.services.figures``): the
figures over the last hour, day, 7 and 30 days are sums of a few buckets, never
a scan of the event log.

``SendingHold`` is a stop on a sender's outbound mail (a user, a sending domain
or a campaign): paused by a guardrail, suspended as compromised, or held by an
admin. Its queued mail stays in the outbox, parked, until an admin resumes it.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Subject(models.TextChoices):
    USER = "user", "Sending user"
    DOMAIN = "domain", "Sending domain"
    STREAM = "stream", "Stream"
    CAMPAIGN = "campaign", "Campaign"
    PROVIDER = "provider", "Destination provider"


class ReputationCount(models.Model):
    """One metric of one subject in one time bucket (``span`` seconds from ``bucket``)."""

    kind = models.CharField(max_length=8, choices=Subject.choices)
    key = models.CharField(max_length=253, help_text="User id, domain name, stream, campaign id or provider.")
    metric = models.CharField(max_length=24)
    span = models.PositiveIntegerField(help_text="Bucket length in seconds.")
    bucket = models.DateTimeField(help_text="Start of the bucket (UTC).")
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "key", "metric", "span", "bucket"], name="reputation_count_unique")
        ]
        indexes = [models.Index(fields=["kind", "span", "bucket"], name="reputation_count_window")]

    def __str__(self):
        return f"{self.kind} {self.key} {self.metric} @ {self.bucket:%Y-%m-%d %H:%M}/{self.span}s: {self.count}"


class SendingHold(models.Model):
    """A stop on one sender's outbound mail, until an admin resumes it. Its queued mail is parked, not lost."""

    class Kind(models.TextChoices):
        USER = "user", "Sending user"
        DOMAIN = "domain", "Sending domain"
        CAMPAIGN = "campaign", "Campaign"

    class Cause(models.TextChoices):
        GUARDRAIL = "guardrail", "Paused by a reputation guardrail"
        COMPROMISED = "compromised", "Suspended: the account looks compromised"
        ADMIN = "admin", "Held by an admin"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    key = models.CharField(max_length=253, help_text="User id, domain name or campaign id.")
    cause = models.CharField(max_length=11, choices=Cause.choices)
    reason = models.TextField(help_text="Why, in one or two sentences, with the figures.")
    evidence = models.JSONField(default=dict, blank=True, help_text="The figures or signs that set it off.")
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"], condition=models.Q(resolved_at=None), name="sending_hold_one_open"
            )
        ]

    def __str__(self):
        return f"{self.kind} {self.key}: {self.cause}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class ReputationAlert(models.Model):
    """A threshold crossed: a warning, or the pause that came with a hold. Shown on the reputation page."""

    class Level(models.TextChoices):
        WARNING = "warning", "Warning"
        PAUSE = "pause", "Paused"

    kind = models.CharField(max_length=8, choices=Subject.choices)
    key = models.CharField(max_length=253)
    level = models.CharField(max_length=7, choices=Level.choices)
    metric = models.CharField(max_length=24, help_text="complaint_rate, bounce_rate…")
    rate = models.FloatField()
    threshold = models.FloatField()
    volume = models.PositiveIntegerField(help_text="The denominator the rate was computed over.")
    window = models.CharField(max_length=8, help_text="hour, day, week, month")
    created_at = models.DateTimeField(default=timezone.now)
    hold = models.ForeignKey(SendingHold, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "key", "created_at"], name="reputation_alert_subject")]

    def __str__(self):
        return f"{self.level} {self.kind} {self.key} {self.metric} {self.rate:.2%}"


class SenderLimit(models.Model):
    """An admin's override of the sending quotas of one user or one sending domain.

    A blank limit keeps the default from the settings (``SEND_LIMIT_*`` for a
    user, ``SEND_LIMIT_DOMAIN_*`` for a domain); 0 lifts that limit. To stop a
    sender altogether, hold it (``SendingHold``) instead.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="sender_limit"
    )
    domain = models.OneToOneField(
        "accounts.Domain", on_delete=models.CASCADE, null=True, blank=True, related_name="sender_limit"
    )
    per_minute = models.PositiveIntegerField(null=True, blank=True, help_text="Messages per minute.")
    per_hour = models.PositiveIntegerField(null=True, blank=True, help_text="Messages per hour.")
    per_day = models.PositiveIntegerField(null=True, blank=True, help_text="Messages per day.")
    recipients_per_message = models.PositiveIntegerField(null=True, blank=True, help_text="Recipients per message.")
    recipients_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Recipients per day, over all messages."
    )
    note = models.TextField(blank=True, help_text="Why this sender has other limits.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, domain__isnull=True)
                | models.Q(user__isnull=True, domain__isnull=False),
                name="sender_limit_user_or_domain",
            )
        ]

    def __str__(self):
        return f"Sending limits of {self.user or self.domain}"


class SendQuotaCount(models.Model):
    """Messages (or recipients) one sending user or domain submitted in one time slot, for the sender limits.

    A window (the last minute, hour or day) is the sum of its slots, ``span``
    seconds each: a few rows to read however much was sent. Old slots are
    deleted by the outbox reconciler.
    """

    class Kind(models.TextChoices):
        USER = "user", "Sending user"
        DOMAIN = "domain", "Sending domain"

    class Metric(models.TextChoices):
        MESSAGES = "messages", "Messages"
        RECIPIENTS = "recipients", "Recipients"

    kind = models.CharField(max_length=6, choices=Kind.choices)
    key = models.CharField(max_length=253, help_text="The user id or the domain name.")
    metric = models.CharField(max_length=10, choices=Metric.choices)
    span = models.PositiveIntegerField(help_text="Slot length in seconds.")
    slot = models.DateTimeField(help_text="Start of the slot (UTC).")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "key", "metric", "span", "slot"], name="send_quota_count_unique")
        ]
        indexes = [models.Index(fields=["slot"], name="send_quota_count_slot")]

    def __str__(self):
        return f"{self.kind} {self.key} {self.metric} @ {self.slot:%Y-%m-%d %H:%M:%S}/{self.span}s: {self.count}"


# --- compromised accounts and outbound content (reputation.services.compromise, .content) ---------------


class SubmissionCount(models.Model):
    """One user's submissions in one hour: the baseline the compromise checks compare an hour against.

    The figures count delivery outcomes, which come back minutes to days later;
    a hijacked account shows at submission time, so these are counted as each
    submission is admitted (one upsert), and read as sums of a few rows.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField(help_text="Start of the hour (UTC).")
    submissions = models.PositiveIntegerField(default=0)
    recipients = models.PositiveIntegerField(default=0)
    new_recipients = models.PositiveIntegerField(
        default=0, help_text="Recipients the user had never written to nor received from before."
    )
    flagged = models.PositiveIntegerField(
        default=0, help_text="Messages the outbound content check scored as spam or found a blocked link in."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "hour"], name="submission_count_unique")]

    def __str__(self):
        return f"{self.user_id} @ {self.hour:%Y-%m-%d %H:00}: {self.recipients} recipients"


class Correspondent(models.Model):
    """An address a user has written to (or, looked up once, received from): "new recipients" are the others."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=320, help_text="Lower-case.")
    first_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "address"], name="correspondent_unique")]

    def __str__(self):
        return f"{self.user_id} ↔ {self.address}"


class SignInNetwork(models.Model):
    """A network (/24 for IPv4, /48 for IPv6) a user signed in from, and when it was first seen."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    network = models.CharField(max_length=49)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    sign_ins = models.PositiveIntegerField(default=1)
    is_new = models.BooleanField(
        default=False, help_text="The user had signed in before, from other networks only, when this one appeared."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "network"], name="signin_network_unique")]
        indexes = [models.Index(fields=["user", "first_seen"], name="signin_network_recent")]
        verbose_name = "sign-in network"

    def __str__(self):
        return f"{self.user_id} from {self.network}"


class ContentFlag(models.Model):
    """An outbound message the content check objected to: refused (API, service, bulk) or only noted (webmail)."""

    class Finding(models.TextChoices):
        SPAM = "spam", "Scored as spam"
        BLOCKED_LINK = "blocked_link", "Link to a blocked domain"
        SHORTENER = "shortener", "Link through a URL shortener"
        REDIRECT = "redirect", "Link through an open redirect"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finding = models.CharField(max_length=12, choices=Finding.choices)
    detail = models.CharField(max_length=500, help_text="The score and rules, or the link.")
    source = models.CharField(max_length=12, help_text="api, service, webmail or campaign.")
    refused = models.BooleanField(default=False)
    subject = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"], name="content_flag_user_recent")]

    def __str__(self):
        return f"{self.user_id} {self.finding}: {self.detail}"


class LinkBlocklistEntry(models.Model):
    """A domain no outbound link may point to (nor to any of its subdomains); managed by the admins."""

    domain = models.CharField(max_length=253, unique=True, help_text="Lower-case; blocks its subdomains too.")
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["domain"]
        verbose_name = "link blocklist entry"
        verbose_name_plural = "link blocklist"

    def __str__(self):
        return self.domain

    def clean(self):
        # Kept in the form the check looks up: the admin's form runs this before saving.
        self.domain = normalised_domain(self.domain)


def normalised_domain(value: str) -> str:
    """``" Evil.Example. "`` → ``"evil.example"``; a pasted URL gives its host."""
    value = (value or "").strip().lower()
    if "://" in value:
        value = value.split("://", 1)[1]
    return value.split("/", 1)[0].split(":", 1)[0].strip(".")
