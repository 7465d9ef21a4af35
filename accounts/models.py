from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower

from accounts.roles import MARKETERS_GROUP, Role


class User(AbstractUser):
    """A person or service with a mailbox. ``username`` is the primary address."""

    display_name = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]

    def __str__(self):
        return self.username

    @property
    def primary_address(self) -> str:
        return self.username

    @property
    def roles(self) -> set[Role]:
        roles = {Role.END_USER}
        if self.is_superuser:
            roles.add(Role.ADMIN)
        if self.groups.filter(name=MARKETERS_GROUP).exists():
            roles.add(Role.MARKETER)
        return roles


class Domain(models.Model):
    """A mail domain hosted here: its addresses get mailboxes, mail to it is accepted."""

    name = models.CharField(max_length=253, unique=True, help_text="Lower-case ASCII (IDNA) form.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    dkim_selector = models.CharField(max_length=63, blank=True)
    # PEM (PKCS#8) RSA key that signs this domain's outgoing mail. Never shown.
    dkim_private_key = models.TextField(blank=True, editable=False)
    dkim_created_at = models.DateTimeField(null=True, blank=True)
    # Optional second key (RFC 8463): receivers that verify ed25519 get a signature they can check cheaply,
    # the others still have the RSA one. Base64 of the 32-byte seed, as dkimpy takes it. Never shown.
    dkim_ed25519_selector = models.CharField(max_length=63, blank=True)
    dkim_ed25519_private_key = models.TextField(blank=True, editable=False)
    dkim_ed25519_created_at = models.DateTimeField(null=True, blank=True)
    # Ownership (docs/DOMAINS.md): the token published at _webmail-verify.<name> proves the domain is ours;
    # until it has been found, mail from the domain only reaches hosted recipients.
    verification_token = models.CharField(max_length=64, blank=True, editable=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    # The last DNS status check (accounts.domain_checks), kept so the admin's list does no DNS.
    dns_status = models.JSONField(default=dict, blank=True, editable=False)
    dns_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class RetiredDkimKey(models.Model):
    """A DKIM public key replaced by a rotation, still to be published until ``publish_until``.

    Only the public half is kept: nothing signs with it any more, but a message signed with it
    may still be verified (by a relay's or a forwarder's receiver) after the rotation.
    """

    class Algorithm(models.TextChoices):
        RSA = "rsa", "RSA"
        ED25519 = "ed25519", "Ed25519"

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="retired_dkim_keys")
    algorithm = models.CharField(max_length=10, choices=Algorithm.choices)
    selector = models.CharField(max_length=63)
    public_key = models.TextField(help_text="The p= of its DNS record (base64).")
    created_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField()
    publish_until = models.DateTimeField()

    class Meta:
        ordering = ["-retired_at", "-pk"]
        verbose_name = "retired DKIM key"
        constraints = [
            models.UniqueConstraint(fields=["domain", "selector"], name="retired_dkim_selector_unique"),
        ]

    def __str__(self):
        return f"{self.selector}._domainkey.{self.domain.name}"


class Address(models.Model):
    """An address on a hosted domain that delivers to one user."""

    class Kind(models.TextChoices):
        PRIMARY = "primary", "Primary"
        ALIAS = "alias", "Alias"

    local_part = models.CharField(max_length=64, help_text="Stored lower-case; matched case-insensitively.")
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="addresses")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="addresses")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ALIAS)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "addresses"
        ordering = ["domain__name", "local_part"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "local_part"], name="address_unique_per_domain"),
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(kind="primary"), name="address_one_primary_per_user"
            ),
            models.CheckConstraint(condition=models.Q(local_part=Lower("local_part")), name="address_local_lower"),
        ]

    def __str__(self):
        return self.email

    @property
    def email(self) -> str:
        return f"{self.local_part}@{self.domain.name}"


class ApiToken(models.Model):
    """A secret that lets a program act as its user through the REST API.

    Only the SHA-256 of the token is stored: the token itself is shown once,
    when it is made. SHA-256 (not a slow password hash) is right here because
    the token is 256 random bits, so there is nothing to guess.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="What the token is for.")
    prefix = models.CharField(max_length=16, help_text="The token's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Preferences(models.Model):
    """How the webmail looks and behaves for one user. A user without a row has the defaults.

    Read it with ``accounts.preferences.preferences_of(user)``; the time zone is active on every
    request of a signed-in user (``accounts.middleware.UserTimeZoneMiddleware``).
    """

    class Density(models.TextChoices):
        COMFORTABLE = "comfortable", "Comfortable"
        COMPACT = "compact", "Compact"

    class ReadingPane(models.TextChoices):
        OFF = "off", "No split"
        RIGHT = "right", "Right of the list"

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="preferences")
    time_zone = models.CharField(max_length=64, blank=True, help_text="IANA name; empty means the server's.")
    language = models.CharField(max_length=15, blank=True, help_text="Empty means the browser's.")
    density = models.CharField(max_length=12, choices=Density.choices, default=Density.COMFORTABLE)
    reading_pane = models.CharField(max_length=8, choices=ReadingPane.choices, default=ReadingPane.OFF)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Preferences of {self.user_id}"


# --- sign-in and security (accounts/security.py, accounts/two_factor.py, docs/ACCOUNT-SECURITY.md) ---


class UserSession(models.Model):
    """One signed-in browser session of a user, so that they can be listed and ended.

    Django's session stores cannot be searched by user; this row names the session's key. It is
    written at sign-in and refreshed at most every ``SESSION_TOUCH_SECONDS`` by
    ``accounts.middleware.UserSessionMiddleware`` (which also adds the row of a session signed
    in some other way, such as the admin's form). Only the client's network is kept, not its address.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    user_agent = models.CharField(max_length=300, blank=True)
    network = models.CharField(max_length=50, blank=True, help_text="The client's /24 (IPv4) or /48 (IPv6).")

    class Meta:
        ordering = ["-last_seen_at", "-pk"]
        indexes = [models.Index(fields=["user", "-last_seen_at"], name="usersession_user_seen")]

    def __str__(self):
        return f"Session of {self.user_id} from {self.network or '?'}"


class TwoFactorDevice(models.Model):
    """A user's TOTP authenticator. Two-step sign-in is on once ``confirmed_at`` is set.

    ``secret`` is the base32 TOTP secret encrypted with a key derived from SECRET_KEY
    (``accounts.two_factor``): a copy of the database alone does not give the codes.
    ``last_used_step`` is the 30-second step of the last code accepted, so a code is never accepted twice.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="two_factor")
    secret = models.TextField(editable=False)
    created_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(null=True, blank=True, editable=False)

    def __str__(self):
        return f"Authenticator of {self.user_id}"


class RecoveryCode(models.Model):
    """A single-use code that replaces an authenticator code. Only its SHA-256 is kept (80 random bits)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "code_hash"], name="recovery_code_unique_per_user")]

    def __str__(self):
        return f"Recovery code of {self.user_id}"


class RecoveryAddress(models.Model):
    """An address outside this system where a forgotten password's reset link is sent, once verified."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="recovery_address")
    address = models.EmailField(max_length=254)
    created_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Recovery address of {self.user_id}"
