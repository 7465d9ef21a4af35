"""A user's mail rules: filters, blocked senders, the vacation reply and forwarding."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class ForwardingAddress(models.Model):
    """An address the user may forward mail to, once its owner followed the verification link."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="forwarding_addresses")
    address = models.CharField(max_length=320, help_text="Lower-case.")
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "address"], name="rules_forwarding_address_once")]
        ordering = ["address"]

    def __str__(self):
        return self.address

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class Filter(models.Model):
    """Mail matching ``query`` (the search language) gets the actions; all matching filters apply, in order."""

    class Backfill(models.TextChoices):
        NONE = "", "Not asked"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mail_filters")
    position = models.PositiveIntegerField(default=0)
    query = models.CharField(max_length=2000)
    label = models.ForeignKey("mailboxes.Label", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    skip_inbox = models.BooleanField(default=False)
    mark_read = models.BooleanField(default=False)
    star = models.BooleanField(default=False)
    trash = models.BooleanField(default=False)
    never_spam = models.BooleanField(default=False)
    forward_to = models.ForeignKey(
        ForwardingAddress, null=True, blank=True, on_delete=models.SET_NULL, related_name="filters"
    )
    # "Also apply to existing conversations": progress of the last run, shown on the filters page.
    backfill_status = models.CharField(max_length=8, choices=Backfill.choices, default=Backfill.NONE, blank=True)
    backfill_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "position", "pk"]
        indexes = [models.Index(fields=["user", "position"], name="rules_filter_user_position")]

    def __str__(self):
        return self.query


class BlockedSender(models.Model):
    """Mail from this address (or from any address of this domain) goes straight to Trash."""

    class Kind(models.TextChoices):
        ADDRESS = "address", "Address"
        DOMAIN = "domain", "Domain"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocked_senders")
    kind = models.CharField(max_length=7, choices=Kind.choices)
    value = models.CharField(max_length=320, help_text="A lower-case address, or a lower-case domain name.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind", "value"], name="rules_blocked_sender_once")]
        ordering = ["value"]

    def __str__(self):
        return self.value if self.kind == self.Kind.ADDRESS else f"@{self.value}"


class VacationReply(models.Model):
    """The automatic reply (RFC 3834) of one user; dates are days in the user's time zone, both inclusive."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="vacation_reply"
    )
    enabled = models.BooleanField(default=False)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    contacts_only = models.BooleanField(default=False)
    interval_days = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Vacation reply of {self.user_id}"


class VacationReplyLog(models.Model):
    """When the user's vacation reply last went to an address: at most one per ``interval_days``."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sender = models.CharField(max_length=320, help_text="The address replied to, lower-case.")
    last_replied_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "sender"], name="rules_vacation_reply_once")]

    def __str__(self):
        return f"{self.user_id} → {self.sender}"


class AutoForward(models.Model):
    """Forward every incoming message to a verified address, and keep, archive or trash the copy here."""

    class Keep(models.TextChoices):
        INBOX = "inbox", "Keep a copy in the Inbox"
        ARCHIVE = "archive", "Archive the copy"
        TRASH = "trash", "Move the copy to Trash"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="auto_forward"
    )
    address = models.ForeignKey(ForwardingAddress, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    keep = models.CharField(max_length=7, choices=Keep.choices, default=Keep.INBOX)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Forwarding of {self.user_id}"
