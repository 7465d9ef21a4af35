from django.conf import settings
from django.db import models
from django.utils import timezone


class Contact(models.Model):
    """Someone a workspace may send to, with what they agreed to.

    ``attributes`` holds the workspace's own fields as typed JSON (strings,
    numbers, booleans, ISO dates); templates read them as variables. Consent
    records how and when the person agreed, for the marketing stream.
    """

    class Consent(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        PENDING = "pending", "Waiting for confirmation"
        OPTED_IN = "opted_in", "Opted in"
        OPTED_OUT = "opted_out", "Opted out"

    domain = models.ForeignKey("accounts.Domain", on_delete=models.CASCADE, related_name="contacts")
    address = models.CharField(max_length=320, help_text="Lower-case.")
    name = models.CharField(max_length=300, blank=True)
    locale = models.CharField(max_length=16, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    consent = models.CharField(max_length=10, choices=Consent.choices, default=Consent.UNKNOWN)
    consent_source = models.CharField(
        max_length=100, blank=True, help_text="How consent was given: import, form, api, double opt-in, …"
    )
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_ip = models.GenericIPAddressField(null=True, blank=True)
    consent_user_agent = models.CharField(max_length=500, blank=True)
    tracking_consent = models.BooleanField(
        default=False, help_text="Agreed to open and click tracking (else tracked campaigns reach them untracked)."
    )
    # Engagement, kept by the tracking endpoints for segments ("opened in the last 30 days").
    last_opened_at = models.DateTimeField(null=True, blank=True)
    last_clicked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["address"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "address"], name="contact_unique_address_per_domain"),
        ]

    def __str__(self):
        return self.address


class ContactList(models.Model):
    """A named audience in a workspace; people join and leave it through memberships."""

    domain = models.ForeignKey("accounts.Domain", on_delete=models.CASCADE, related_name="contact_lists")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    double_opt_in = models.BooleanField(
        default=False, help_text="New members get a confirmation mail and join when they click its link."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["domain", "name"], name="contact_list_unique_name")]

    def __str__(self):
        return self.name


class ListMembership(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for confirmation"
        SUBSCRIBED = "subscribed", "Subscribed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="memberships")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="memberships")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SUBSCRIBED)
    source = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    subscribed_at = models.DateTimeField(null=True, blank=True, help_text="When the membership became subscribed.")
    # Set when the double opt-in mail is claimed for sending: a second add or a re-run does not send it again.
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_list", "contact"], name="list_membership_unique"),
        ]
        indexes = [models.Index(fields=["contact_list", "status"], name="list_membership_status")]

    def __str__(self):
        return f"{self.contact} in {self.contact_list}"


class ContactImport(models.Model):
    """One CSV file being imported into a workspace (and optionally a list), with its report."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded, waiting for its column mapping"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    domain = models.ForeignKey("accounts.Domain", on_delete=models.CASCADE, related_name="contact_imports")
    contact_list = models.ForeignKey(
        ContactList, on_delete=models.SET_NULL, null=True, blank=True, related_name="imports"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    filename = models.CharField(max_length=255)
    blob_key = models.CharField(max_length=300, help_text="Where the uploaded file is kept while it is imported.")
    encoding = models.CharField(max_length=40, blank=True)
    mapping = models.JSONField(default=dict, blank=True, help_text="CSV column → contact field or attribute.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True, help_text="Counts per outcome and a sample of refused rows.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The run that holds the import, until when: each batch renews it, so a run whose worker died is taken over.
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.filename
