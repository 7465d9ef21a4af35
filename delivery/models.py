"""Delivery bookkeeping: the append-only event log of what happened to each recipient."""

from anymail.signals import EventType, RejectReason
from django.db import models
from django.utils import timezone

from core.bounce_reasons import REASON_CHOICES


def _choices(vocabulary) -> list[tuple[str, str]]:
    values = [v for k, v in vars(vocabulary).items() if k.isupper() and isinstance(v, str)]
    return [(v, v.replace("_", " ").capitalize()) for v in values]


class DeliveryEvent(models.Model):
    """One thing that happened to a message for one recipient. Never updated.

    The vocabulary is django-anymail's (``EventType``, ``RejectReason``), so
    events from our own SMTP transport and from ESP webhooks read the same.
    ``Recipient.status`` is the derived current state.
    """

    EVENT_TYPES = _choices(EventType)
    REJECT_REASONS = _choices(RejectReason)

    message = models.ForeignKey("mailboxes.Message", on_delete=models.CASCADE, related_name="delivery_events")
    recipient = models.ForeignKey(
        "mailboxes.Recipient", on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    event_type = models.CharField(max_length=20, choices=EVENT_TYPES)
    reject_reason = models.CharField(max_length=20, choices=REJECT_REASONS, blank=True)
    # Why it failed (or was deferred), in core.bounce_reasons' vocabulary: set on bounced, deferred and
    # complained events from our SMTP transport, bounce reports and ESP webhooks.
    reason = models.CharField(max_length=32, choices=REASON_CHOICES, blank=True)
    transport = models.CharField(max_length=40, help_text='Who reported it: "local", "smtp", "anymail:…".')
    description = models.TextField(blank=True)
    mta_response = models.TextField(blank=True)
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)
    esp_event = models.JSONField(null=True, blank=True, help_text="The provider's raw payload, kept as received.")

    class Meta:
        ordering = ["timestamp", "pk"]
        indexes = [models.Index(fields=["recipient", "timestamp"], name="event_recipient_time")]

    def __str__(self):
        return f"{self.event_type} {self.recipient.address if self.recipient else ''}".strip()


# The streams a STREAM suppression may name (Message.Stream; a person's own mail is never suppressed).
SUPPRESSIBLE_STREAMS = ("bulk", "transactional")


class Suppression(models.Model):
    """An address some mail is not sent to, in one scope: it bounced hard, complained, unsubscribed, or someone said so.

    Scopes, from widest to narrowest:

    - GLOBAL: nothing but a person's own mail reaches the address, from any
      workspace (hard bounces, complaints: the mailbox is gone or its owner
      calls us spam, and sending anyway hurts every sender's reputation);
    - STREAM: one workspace (the sender's hosted domain) must not send it one
      stream, marketing or transactional (an "unsubscribe from all marketing");
    - LIST: one contact list's messages must not reach it (it left that list).

    A person's own mail is never held to it (a warning at compose time). A
    bounce entry expires (the mailbox may come back); the others do not.
    """

    class Scope(models.TextChoices):
        GLOBAL = "global", "All mail"
        STREAM = "stream", "One stream of a workspace"
        LIST = "list", "One list"

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", "Hard bounce"
        COMPLAINT = "complaint", "Spam complaint"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribed"
        MANUAL = "manual", "Added by an admin"

    class Source(models.TextChoices):
        DELIVERY = "delivery", "Our delivery attempt"
        REPORT = "report", "A bounce or complaint report received"
        ESP = "esp", "The sending provider's webhook"
        ADMIN = "admin", "An admin"
        ONE_CLICK = "one_click", "A one-click unsubscribe (RFC 8058)"
        PAGE = "page", "The unsubscribe page"
        MAILTO = "mailto", "Mail to the unsubscribe address"
        MARKETER = "marketer", "A marketer"

    address = models.CharField(max_length=320, help_text="Lower-case.")
    scope = models.CharField(max_length=6, choices=Scope.choices, default=Scope.GLOBAL)
    domain = models.ForeignKey(
        "accounts.Domain", on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        help_text="The workspace of a STREAM or LIST entry.",
    )  # fmt: skip
    stream = models.CharField(max_length=13, blank=True, help_text="A STREAM entry's stream: bulk or transactional.")
    contact_list = models.ForeignKey(
        "campaigns.ContactList", on_delete=models.CASCADE, null=True, blank=True, related_name="suppressions"
    )
    reason = models.CharField(max_length=12, choices=Reason.choices)
    source = models.CharField(max_length=10, choices=Source.choices, blank=True, help_text="Empty: not recorded.")
    detail = models.TextField(blank=True)
    source_event = models.ForeignKey(DeliveryEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never.")

    class Meta:
        ordering = ["-created_at"]
        # One entry per address and scope. NULLs are never equal in a UNIQUE index, so one
        # constraint over (address, scope, domain, stream, list) would let GLOBAL entries repeat:
        # one partial constraint per scope, over the columns that scope uses.
        constraints = [
            models.UniqueConstraint(
                fields=["address"], condition=models.Q(scope="global"), name="suppression_unique_global"
            ),
            models.UniqueConstraint(
                fields=["address", "domain", "stream"],
                condition=models.Q(scope="stream"),
                name="suppression_unique_stream",
            ),  # fmt: skip
            models.UniqueConstraint(
                fields=["address", "contact_list"], condition=models.Q(scope="list"), name="suppression_unique_list"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(scope="global", domain__isnull=True, stream="", contact_list__isnull=True)
                    | models.Q(
                        scope="stream", domain__isnull=False, stream__in=SUPPRESSIBLE_STREAMS, contact_list__isnull=True
                    )
                    | models.Q(scope="list", domain__isnull=False, stream="", contact_list__isnull=False)
                ),
                name="suppression_scope_fields",
            ),
        ]
        indexes = [models.Index(fields=["address"], name="suppression_address")]

    def __str__(self):
        return f"{self.address} ({self.scope}, {self.reason})"


class SendScope(models.Model):
    """Which workspace (and list) a transactional or bulk message was sent for: the suppression entries that bind it.

    Written with the message (``send_message``). The engine reads it joined to
    the message, so the scopes cost no query of their own. The list is a plain
    id (delivery and mailboxes know nothing of campaigns): a deleted list
    leaves it pointing at nothing, and the message is then held to the
    workspace's entries only.
    """

    message = models.OneToOneField(
        "mailboxes.Message", on_delete=models.CASCADE, primary_key=True, related_name="send_scope"
    )
    domain = models.ForeignKey(
        "accounts.Domain", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="The sender's hosted domain, the workspace the message was sent for.",
    )  # fmt: skip
    contact_list_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="campaigns.ContactList id.")
    campaign_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="campaigns.Campaign id: each recipient's bytes are rendered for them."
    )

    def __str__(self):
        return f"message {self.message_id}: domain {self.domain_id}, list {self.contact_list_id}"


class IdempotencyKey(models.Model):
    """A client's key for one submission, so that a retried request sends nothing twice."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request, to spot a reused key.")
    message = models.ForeignKey("mailboxes.Message", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]

    def __str__(self):
        return self.key


class SendRate(models.Model):
    """Delivery attempts to one destination domain or provider, or by one sender, in one short time slot.

    The per-minute throttles add up the last minute's slots instead of counting
    recipient rows: a few rows to read however much mail went out. Slots older
    than the window are deleted by the reconciler.
    """

    class Scope(models.TextChoices):
        DOMAIN = "domain", "Destination domain"
        SENDER = "sender", "Sender"
        PROVIDER = "provider", "Destination provider"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    key = models.CharField(max_length=253, help_text="The domain name, or the sender's user id.")
    slot = models.DateTimeField(help_text="Start of the slot (SLOT_SECONDS long).")
    attempts = models.PositiveIntegerField(default=0)

    SLOT_SECONDS = 10

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key", "slot"], name="send_rate_unique_slot")]

    def __str__(self):
        return f"{self.scope} {self.key} @ {self.slot:%H:%M:%S}: {self.attempts}"


PROVIDER_CHOICES = [
    ("gmail", "Gmail / Google Workspace"),
    ("microsoft", "Microsoft (Outlook.com, Microsoft 365)"),
    ("yahoo", "Yahoo / AOL"),
    ("apple", "Apple (iCloud)"),
    ("other", "Other providers"),
]  # core.providers.Provider, as choices (the labels are core.providers.PROVIDER_LABELS)


class ProviderProfile(models.Model):
    """An admin's override of one destination provider's shaping; empty fields keep the code's default.

    The defaults live in ``delivery.services.shaping.DEFAULT_PROFILES``; a
    provider without a row (or with every field empty) is shaped by them.
    """

    provider = models.CharField(max_length=10, choices=PROVIDER_CHOICES, unique=True)
    max_connections = models.PositiveIntegerField(
        null=True, blank=True, help_text="Workers delivering to this provider at once. Empty: the default."
    )
    messages_per_connection = models.PositiveIntegerField(
        null=True, blank=True, help_text="SMTP transactions on one connection before it is closed. Empty: the default."
    )
    messages_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Delivery attempts per minute to all of its domains. Empty: the default."
    )
    note = models.CharField(max_length=300, blank=True, help_text="Why it was changed, for the next admin.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider"]

    def __str__(self):
        return self.get_provider_display()


class RetryRule(models.Model):
    """An admin's rule for a kind of temporary (or throttling) reply, tried before the code's defaults.

    A rule matches a reply whose status starts with ``status_prefix`` (the
    basic code "421", the enhanced status "4.7.28" or both, "421 4.7.28") and
    whose text matches ``text_pattern`` (a case-insensitive regular
    expression), from the rule's provider (empty: any). The first match, in
    ``position`` order, decides.
    """

    class Action(models.TextChoices):
        BACK_OFF_PROVIDER = "back_off_provider", "Back off the whole provider"
        RETRY_MESSAGE = "retry_message", "Retry only that message"

    provider = models.CharField(max_length=10, choices=PROVIDER_CHOICES, blank=True, help_text="Empty: any provider.")
    status_prefix = models.CharField(max_length=20, blank=True, help_text='"421", "4.7.28" or "421 4.7.28".')
    text_pattern = models.CharField(
        max_length=300, blank=True, help_text="A regular expression searched in the reply text (case ignored)."
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    backoff_seconds = models.PositiveIntegerField(
        default=300,
        help_text="Back off: the first pause (doubled on each repeat). Retry: the delay (0: the usual backoff).",
    )
    max_backoff_seconds = models.PositiveIntegerField(default=3600, help_text="The cap of the doubling.")
    position = models.PositiveIntegerField(default=100, help_text="Lower first.")
    enabled = models.BooleanField(default=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self):
        return f"{self.provider or 'any'} {self.status_prefix} /{self.text_pattern}/ → {self.action}"

    def clean(self):
        import re

        from django.core.exceptions import ValidationError

        try:
            re.compile(self.text_pattern)
        except re.error as exc:
            raise ValidationError({"text_pattern": f"Not a regular expression: {exc}"}) from exc


class ProviderBackoff(models.Model):
    """A destination provider asked us to slow down: none of its mail is handed to a worker before ``until``.

    ``strikes`` counts the throttling replies in a row (each doubles the
    pause, up to the rule's cap); it starts again from one when the provider
    has been quiet for ``PROVIDER_BACKOFF_MEMORY_SECONDS`` after a pause.
    """

    provider = models.CharField(max_length=10, choices=PROVIDER_CHOICES, unique=True)
    until = models.DateTimeField()
    strikes = models.PositiveIntegerField(default=0)
    reason = models.TextField(blank=True, help_text="The reply that asked for it.")
    started_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.provider} until {self.until:%Y-%m-%d %H:%M:%S}"
