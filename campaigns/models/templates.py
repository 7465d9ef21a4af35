from django.conf import settings
from django.db import models
from django.utils import timezone


class Template(models.Model):
    """One variant (a locale, or the default) of a template that services and campaigns send by ``key``.

    ``en`` and ``zh-hans`` variants of ``order_receipt`` are two rows with the
    same key; the one with an empty locale is the default the others fall back to.
    The content lives in immutable ``TemplateVersion`` rows; ``active_version``
    is the one sends use.
    """

    class Stream(models.TextChoices):
        TRANSACTIONAL = "transactional", "Transactional"
        MARKETING = "marketing", "Marketing"

    domain = models.ForeignKey("accounts.Domain", on_delete=models.CASCADE, related_name="templates")
    key = models.SlugField(max_length=100, help_text="The API's templateId, e.g. order_receipt.")
    locale = models.CharField(max_length=16, blank=True, help_text="Lower-case, e.g. en, zh-hans. Empty: default.")
    name = models.CharField(max_length=200, blank=True)
    stream = models.CharField(max_length=13, choices=Stream.choices, default=Stream.TRANSACTIONAL)
    active_version = models.ForeignKey(
        "TemplateVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key", "locale"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "key", "locale"], name="template_unique_variant"),
        ]

    def __str__(self):
        return f"{self.key} ({self.locale})" if self.locale else self.key


class TemplateVersion(models.Model):
    """What a template said at one save. Never changed once written: sends point at it.

    ``variables`` declares what a render takes, a list of
    ``{"name", "type", "required", "default", "example"}`` with ``type`` one of
    string, number, date, list, object.
    """

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    subject = models.TextField()
    html = models.TextField()
    text = models.TextField(blank=True, help_text="Empty: generated from the HTML.")
    variables = models.JSONField(default=list, blank=True)
    comment = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="template_version_unique_number"),
        ]

    def __str__(self):
        return f"{self.template} v{self.number}"


class TemplateSend(models.Model):
    """The exact version and variables one sent message was rendered from, so it can be rendered again."""

    message = models.OneToOneField("mailboxes.Message", on_delete=models.CASCADE, related_name="template_send")
    version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="sends")
    variables = models.JSONField(default=dict, blank=True)
    locale = models.CharField(max_length=16, blank=True, help_text="The locale asked for (the variant may differ).")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.version} → message {self.message_id}"
