"""Operators' view of users, hosted domains and addresses.

Creating a user, a domain or an alias goes through ``accounts.services``, so
the admin makes exactly what ``createmailuser``/``createdomain`` make: a user
always has its primary address, a domain name is always normalised.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import SetPasswordMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.addresses import normalize_address, normalize_domain, split_address
from accounts.dkim import dns_records
from accounts.domain_checks import KINDS, DomainStatus, run_checks
from accounts.domain_verification import ensure_verification_token, mark_verified
from accounts.models import (
    Address,
    ApiToken,
    Domain,
    Preferences,
    RecoveryAddress,
    RecoveryCode,
    RetiredDkimKey,
    TwoFactorDevice,
    User,
    UserSession,
)
from accounts.roles import MARKETERS_GROUP
from accounts.security import end_session, remove_recovery_address
from accounts.services import (
    add_alias,
    check_hostable,
    create_api_token,
    create_domain,
    create_mail_user,
    ensure_dkim_key,
    remove_alias,
    revoke_api_token,
    rotate_dkim_key,
)
from accounts.two_factor import is_enabled as two_factor_enabled
from accounts.two_factor import reset_two_factor_by_admin
from reputation.admin import DomainSenderLimitInline, UserSenderLimitInline
from webmail.errors import UserError


def _as_validation_error(exc: UserError) -> ValidationError:
    return ValidationError(exc.message, code=exc.code)


def _address_taken(email: str) -> bool:
    local, domain = split_address(email)
    return (
        Address.objects.filter(domain__name=domain, local_part=local.lower()).exists()
        or User.objects.filter(username__iexact=email).exists()
    )


def _clean_new_address(value: str) -> str:
    """The checks ``create_mail_user``/``add_alias`` make, up front, so they show as form errors."""
    try:
        email = normalize_address(value)
    except UserError as exc:
        raise _as_validation_error(exc) from exc
    local, domain = split_address(email)
    if not Domain.objects.filter(name=domain).exists():
        raise ValidationError(f"{domain} is not a hosted domain; add it under Domains first.")
    if _address_taken(email):
        raise ValidationError(f"The address {local.lower()}@{domain} is already in use.")
    return email


class CreateThroughServiceMixin:
    """The add form only collects inputs; ``create`` makes the object with a service."""

    def create(self, request, form):
        raise NotImplementedError

    def save_form(self, request, form, change):
        return super().save_form(request, form, change) if change else self.create(request, form)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)


class MailUserCreationForm(SetPasswordMixin, forms.ModelForm):
    """The admin's "add user": the same inputs as ``manage.py createmailuser``."""

    address = forms.CharField(label="Primary address", help_text="Also the login name, e.g. alice@example.org.")
    password1, password2 = SetPasswordMixin.create_password_fields()
    admin = forms.BooleanField(required=False, label="Administrator", help_text="Staff and superuser.")
    marketer = forms.BooleanField(required=False, help_text=f"Member of the {MARKETERS_GROUP} group.")

    class Meta:
        model = User
        fields = ("display_name",)

    def clean_address(self):
        email = _clean_new_address(self.cleaned_data["address"])
        if "+" in split_address(email)[0]:
            raise ValidationError("A mailbox address cannot contain '+': it is reserved for sub-addressing.")
        return email

    def clean(self):
        self.validate_passwords()
        return super().clean()

    def _post_clean(self):
        super()._post_clean()
        if self.cleaned_data.get("address"):
            self.instance.username = self.instance.email = self.cleaned_data["address"]
        self.validate_password_for_user(self.instance)

    def create_user(self) -> User:
        data = self.cleaned_data
        return create_mail_user(
            address=data["address"],
            password=data["password1"],
            display_name=data.get("display_name", ""),
            admin=data["admin"],
            marketer=data["marketer"],
        )


class AddressInline(admin.TabularInline):
    """A user's addresses, read-only here: aliases are added and removed under Addresses."""

    model = Address
    fields = ("email", "kind", "created_at")
    readonly_fields = ("email", "kind", "created_at")
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("domain")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(CreateThroughServiceMixin, DjangoUserAdmin):
    add_form = MailUserCreationForm
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("address", "display_name", "password1", "password2")}),
        ("Roles", {"fields": ("admin", "marketer")}),
    )
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("display_name", "first_name", "last_name", "email")}),
        ("Roles", {"fields": ("role_list", "is_active", "is_staff", "is_superuser", "groups")}),
        ("Permissions", {"classes": ("collapse",), "fields": ("user_permissions",)}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    # The username is the primary address: renaming it here would leave the Address behind.
    readonly_fields = ("username", "email", "role_list", "last_login", "date_joined")
    inlines = (AddressInline, UserSenderLimitInline)
    list_display = ("username", "display_name", "role_list", "is_active", "last_login", "date_joined")
    list_filter = ("is_active", "is_superuser", "is_staff", "groups")
    search_fields = ("username", "display_name", "first_name", "last_name", "addresses__local_part")
    ordering = ("username",)
    date_hierarchy = "date_joined"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def get_inlines(self, request, obj):
        return self.inlines if obj else ()

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    @admin.display(description="Roles")
    def role_list(self, obj):
        # From the prefetched groups: ``User.roles`` would query once per row.
        roles = ["end user"]
        if obj.is_superuser:
            roles.append("admin")
        if any(group.name == MARKETERS_GROUP for group in obj.groups.all()):
            roles.append("marketer")
        return ", ".join(roles)

    def create(self, request, form):
        return form.create_user()

    def has_delete_permission(self, request, obj=None):
        # Deleting a user would orphan their mail and blobs; deactivate instead
        # (untick "Active"), until an account deletion service exists.
        return False


class DomainForm(forms.ModelForm):
    class Meta:
        model = Domain
        fields = ("name", "is_active")

    def clean_name(self):
        try:
            name = normalize_domain(self.cleaned_data["name"], field="name")
            check_hostable(name, field="name")
            return name
        except UserError as exc:
            raise _as_validation_error(exc) from exc


LIGHT_COLOURS = {"green": "#1a7f37", "amber": "#b7791f", "red": "#c62828"}
LIGHT_WORDS = {"green": "OK", "amber": "warning", "red": "failing"}


def _light(light: str | None, title: str):
    if light is None:
        return format_html('<span title="{}: not checked" style="color:#999">&#9675;</span>', title)
    return format_html(
        '<span title="{}: {}" style="color:{}">&#9679;</span>', title, LIGHT_WORDS[light], LIGHT_COLOURS[light]
    )


@admin.register(Domain)
class DomainAdmin(CreateThroughServiceMixin, admin.ModelAdmin):
    form = DomainForm
    list_display = ("name", "is_active", "verified", "dns_lights", "address_count", "dkim_selector", "created_at")
    list_filter = ("is_active", ("verified_at", admin.EmptyFieldListFilter))
    search_fields = ("name",)
    date_hierarchy = "created_at"
    # The DKIM private key is never shown; the action (or ``manage.py dkimkey``) makes one.
    readonly_fields = (
        "verified_at",
        "dns_status_panel",
        "dkim_selector",
        "dkim_created_at",
        "dkim_ed25519_selector",
        "dkim_ed25519_created_at",
        "created_at",
        "dns_records",
    )
    actions = ["check_dns", "make_dkim_keys", "make_ed25519_dkim_keys", "rotate_dkim_keys", "mark_domains_verified"]
    inlines = (DomainSenderLimitInline,)

    @admin.display(description="Verified", boolean=True, ordering="verified_at")
    def verified(self, obj):
        return obj.verified_at is not None

    @admin.display(description="DNS (ownership, MX, SPF, DKIM, DMARC)")
    def dns_lights(self, obj):
        # From the stored result of the last check: the list does no DNS.
        status = DomainStatus.from_domain(obj)
        lights = [_light(status.light(kind) if status else None, kind) for kind in KINDS]
        return format_html_join("", "{} ", ((light,) for light in lights))

    @admin.display(description="DNS status")
    def dns_status_panel(self, obj):
        button = format_html(
            '<button type="submit" class="button" formaction="{}" formmethod="post">Check now</button>',
            reverse("admin:accounts_domain_check_dns", args=[obj.pk]),
        )
        status = DomainStatus.from_domain(obj)
        if status is None:
            return format_html("<p>Not checked yet. {}</p>", button)
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><strong>{}</strong></td><td>{}</td><td>{}</td><td><pre style="margin:0;'
            'white-space:pre-wrap;max-width:40em">{}</pre></td></tr>',
            (
                (
                    _light(check.light, check.label), check.label, check.found, check.note,
                    "" if check.light == "green" else "\n".join(check.publish),
                )
                for check in status.checks
            ),
        )  # fmt: skip
        return format_html(
            "<p>Checked {} UTC. {}</p><table><thead><tr><th></th><th>Check</th><th>Found</th><th>Meaning</th>"
            "<th>Record to publish</th></tr></thead><tbody>{}</tbody></table>",
            f"{status.checked_at:%Y-%m-%d %H:%M:%S}",
            button,
            rows,
        )

    @admin.display(description="DNS records to publish")
    def dns_records(self, obj):
        ensure_verification_token(obj)
        return format_html("<pre>{}</pre>", "\n".join(dns_records(obj)))

    def get_urls(self):
        check = path(
            "<path:object_id>/check-dns/",
            self.admin_site.admin_view(self.check_dns_view),
            name="accounts_domain_check_dns",
        )
        return [check, *super().get_urls()]

    def check_dns_view(self, request, object_id):
        """ "Check now" on the change page: ask DNS, store the result, back to the page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        domain = self.get_object(request, unquote(object_id))
        if domain is None:
            raise Http404("No such domain.")
        if not self.has_change_permission(request, domain):
            raise PermissionDenied
        self._check(request, domain)
        return HttpResponseRedirect(reverse("admin:accounts_domain_change", args=[domain.pk]))

    def _check(self, request, domain) -> None:
        was_verified = domain.verified_at is not None
        status = run_checks(domain)
        failing = [check.label for check in status.checks if check.light != "green"]
        note = f"{domain.name}: " + (f"to look at: {', '.join(failing)}." if failing else "every check is green.")
        if domain.verified_at and not was_verified:
            note += " Its ownership token was found: the domain is verified and may send out."
        self.message_user(request, note, level=messages.WARNING if failing else messages.SUCCESS)

    @admin.action(description="Check DNS now (ownership, MX, SPF, DKIM, DMARC)")
    def check_dns(self, request, queryset):
        for domain in queryset:
            self._check(request, domain)

    @admin.action(description="Make a DKIM key for the selected domains that have none")
    def make_dkim_keys(self, request, queryset):
        made = [domain.name for domain in queryset if ensure_dkim_key(domain_name=domain.name)[1]]
        self.message_user(
            request,
            f"Made DKIM keys for: {', '.join(made)}. Publish the records shown on each domain's page."
            if made
            else "Every selected domain already has a DKIM key.",
        )

    @admin.action(description="Add an Ed25519 DKIM key (signed with both) to the selected domains that have none")
    def make_ed25519_dkim_keys(self, request, queryset):
        made = [domain.name for domain in queryset if ensure_dkim_key(domain_name=domain.name, ed25519=True)[1]]
        self.message_user(
            request,
            f"Made Ed25519 DKIM keys for: {', '.join(made)}. Publish the records shown on each domain's page."
            if made
            else "Every selected domain already has an Ed25519 DKIM key.",
        )

    @admin.action(description="Rotate the DKIM keys of the selected domains (old keys stay published for a while)")
    def rotate_dkim_keys(self, request, queryset):
        for domain in queryset:
            rotated, retired = rotate_dkim_key(domain_name=domain.name)
            keep = "; ".join(f"keep {old.selector} until {old.publish_until:%Y-%m-%d %H:%M} UTC" for old in retired)
            self.message_user(
                request,
                f"{rotated.name}: new selector {rotated.dkim_selector} signs from now on"
                + (f"; {keep}" if keep else "")
                + ". Publish the new record (see the domain's page) before its mail is delivered.",
            )

    @admin.action(description="Mark as verified without DNS (operator's override)")
    def mark_domains_verified(self, request, queryset):
        made = [domain.name for domain in queryset if mark_verified(domain)]
        self.message_user(request, f"Marked verified: {', '.join(made) or 'none (all were already)'}.")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(address_count=Count("addresses"))

    def get_inlines(self, request, obj):
        return self.inlines if obj else ()  # the add form makes the domain through a service, alone

    def get_fields(self, request, obj=None):
        return ("name", "is_active", *self.readonly_fields) if obj else ("name",)

    def get_readonly_fields(self, request, obj=None):
        # Renaming a domain would silently change every address (and login) on it.
        return ("name", *self.readonly_fields) if obj else ()

    @admin.display(description="Addresses", ordering="address_count")
    def address_count(self, obj):
        return obj.address_count

    def create(self, request, form):
        return create_domain(name=form.cleaned_data["name"])

    def has_delete_permission(self, request, obj=None):
        # Deleting a domain deletes its addresses under users who keep their mail; deactivate it instead.
        return False


@admin.register(RetiredDkimKey)
class RetiredDkimKeyAdmin(admin.ModelAdmin):
    """Keys replaced by a rotation (public half only): their records stay published until ``publish_until``."""

    list_display = ("selector", "domain", "algorithm", "retired_at", "publish_until", "still_to_publish")
    list_filter = ("algorithm",)
    list_select_related = ("domain",)
    search_fields = ("selector", "domain__name")
    readonly_fields = ("domain", "algorithm", "selector", "public_key", "created_at", "retired_at", "publish_until")

    @admin.display(description="Still to publish", boolean=True)
    def still_to_publish(self, obj):
        return obj.publish_until > timezone.now()

    def has_add_permission(self, request):
        return False  # made by a rotation only

    def has_change_permission(self, request, obj=None):
        return False


class AliasForm(forms.ModelForm):
    """Adds an alias to a user through ``add_alias``."""

    address = forms.CharField(help_text="An address on a hosted domain, e.g. sales@example.org.")

    class Meta:
        model = Address
        fields = ("user",)

    def clean_address(self):
        return _clean_new_address(self.cleaned_data["address"])

    def _post_clean(self):
        # The Address row is made by the service; the form only collects its inputs.
        pass


@admin.register(Address)
class AddressAdmin(CreateThroughServiceMixin, admin.ModelAdmin):
    form = AliasForm
    list_display = ("email_display", "user", "kind", "created_at")
    list_filter = ("kind", "domain")
    list_select_related = ("domain", "user")
    search_fields = ("local_part", "domain__name", "user__username", "user__display_name")
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = ("local_part", "domain", "user", "kind", "created_at")

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj else ("user", "address")

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletion is one alias at a time, never a primary
        return actions

    @admin.display(description="Address", ordering="local_part")
    def email_display(self, obj):
        if obj.kind == Address.Kind.PRIMARY:
            return format_html("<strong>{}</strong>", obj.email)
        return obj.email

    def create(self, request, form):
        return add_alias(user=form.cleaned_data["user"], address=form.cleaned_data["address"])

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.kind == Address.Kind.PRIMARY:
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        remove_alias(user=obj.user, address_id=obj.pk)


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "name")

    def _post_clean(self):
        # The row is made by ``create_api_token``; the form only collects its inputs.
        pass


@admin.register(ApiToken)
class ApiTokenAdmin(CreateThroughServiceMixin, admin.ModelAdmin):
    """Tokens are made here (the token is shown once, in the message after saving) and revoked, never edited."""

    form = ApiTokenForm
    list_display = ("prefix_display", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("user",)
    search_fields = ("prefix", "name", "user__username")
    raw_id_fields = ("user",)
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke_tokens"]

    @admin.display(description="Token", ordering="prefix")
    def prefix_display(self, obj):
        return f"{obj.prefix}…"

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj else ("user", "name")

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # revoke instead: the row says when it stopped working
        return actions

    def create(self, request, form):
        record, token = create_api_token(user=form.cleaned_data["user"], name=form.cleaned_data.get("name", ""))
        self.message_user(
            request, f"The new token for {record.user} is {token} \u2014 copy it now, it is not shown again."
        )
        return record

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request, queryset):
        for record in queryset.select_related("user"):
            revoke_api_token(user=record.user, token_id=record.pk)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Preferences)
class PreferencesAdmin(admin.ModelAdmin):
    """What each user chose in their settings (time zone, language, density, reading pane); theirs to change."""

    list_display = ("user", "time_zone", "language", "density", "reading_pane", "updated_at")
    list_filter = ("density", "reading_pane", "language")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    raw_id_fields = ("user",)


# --- the admin's sign-in: no way around two-step sign-in (docs/ACCOUNT-SECURITY.md) ---


class TwoStepAwareAdminLoginForm(AdminAuthenticationForm):
    """The admin's password-only form refuses accounts with two-step sign-in: they sign in on the
    webmail's sign-in page (password, then code), whose session the admin then accepts."""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if two_factor_enabled(user):
            url = reverse("accounts:login") + "?next=" + reverse("admin:index")
            raise ValidationError(
                format_html('This account uses two-step sign-in: <a href="{}">sign in here</a> with your code.', url),
                code="two_factor_required",
            )


admin.site.login_form = TwoStepAwareAdminLoginForm


class _ReadOnlySecurityAdmin(admin.ModelAdmin):
    """Security records are made by their owners only; an operator may look, and end or remove them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UserSession)
class UserSessionAdmin(_ReadOnlySecurityAdmin):
    list_display = ["user", "network", "created_at", "last_seen_at"]
    search_fields = ["user__username", "network"]
    exclude = ["session_key"]  # a live session's key is a credential

    def delete_model(self, request, obj):
        end_session(user=obj.user, session_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for session in queryset.select_related("user"):
            end_session(user=session.user, session_id=session.pk)


@admin.register(TwoFactorDevice)
class TwoFactorDeviceAdmin(_ReadOnlySecurityAdmin):
    """Deleting one turns two-step sign-in off for its user (who lost their phone and recovery codes)."""

    list_display = ["user", "created_at", "confirmed_at"]
    search_fields = ["user__username"]
    exclude = ["secret", "last_used_step"]

    def delete_model(self, request, obj):
        reset_two_factor_by_admin(user=obj.user)

    def delete_queryset(self, request, queryset):
        for device in queryset.select_related("user"):
            reset_two_factor_by_admin(user=device.user)


@admin.register(RecoveryCode)
class RecoveryCodeAdmin(_ReadOnlySecurityAdmin):
    list_display = ["user", "created_at", "used_at"]
    search_fields = ["user__username"]
    exclude = ["code_hash"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RecoveryAddress)
class RecoveryAddressAdmin(_ReadOnlySecurityAdmin):
    list_display = ["user", "address", "verified_at"]
    search_fields = ["user__username", "address"]

    def delete_model(self, request, obj):
        remove_recovery_address(user=obj.user)

    def delete_queryset(self, request, queryset):
        for record in queryset.select_related("user"):
            remove_recovery_address(user=record.user)
