"""The naive-Bayes spam classifier's training state (imported into inbound.models)."""

from django.conf import settings
from django.db import models


class SpamToken(models.Model):
    """How often a token was seen in mail trained as spam and as ham; ``scope_user`` None is global."""

    scope_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    token = models.CharField(max_length=64)
    spam_count = models.PositiveIntegerField(default=0)
    ham_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope_user", "token"], name="spamtoken_unique_per_scope"),
            models.UniqueConstraint(
                fields=["token"], condition=models.Q(scope_user__isnull=True), name="spamtoken_unique_global"
            ),
        ]

    def __str__(self):
        return self.token


class SpamTrainingCount(models.Model):
    """How many messages were trained as spam and as ham in a scope (None: global)."""

    scope_user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    spam_messages = models.PositiveIntegerField(default=0)
    ham_messages = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # At most one global row: a unique index on a constant, for the rows without a user.
            models.UniqueConstraint(
                models.Value(1), condition=models.Q(scope_user__isnull=True), name="spamcount_one_global"
            ),
        ]

    def __str__(self):
        return f"{self.scope_user or 'global'}: {self.spam_messages} spam / {self.ham_messages} ham"
