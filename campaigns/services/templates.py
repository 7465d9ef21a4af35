"""Writing templates: create a variant, save versions, roll back, compare, send a test, delete.

Every save makes a new immutable ``TemplateVersion`` numbered after the last
one and makes it active; a version that does not render with its own
example values is refused (with every problem), so a broken version never
becomes what sends use. Rolling back points ``active_version`` at an older
version: it copies nothing, so the history keeps saying what was live when.
"""

import difflib
import json
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import rendering
from campaigns.models import Template, TemplateSend, TemplateVersion
from campaigns.selectors.templates import get_template_for_user, get_version_for_user
from campaigns.workspace import workspace_of
from delivery.services.submission import send_message
from mailboxes.models import Message
from webmail.errors import Conflict, NotFound, UserError

TEST_SUBJECT_PREFIX = "[Test] "
_LOCALE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


def normalize_locale(locale: str) -> str:
    """``zh_Hans`` and ``ZH-hans`` are ``zh-hans``; empty is the default variant."""
    value = (locale or "").strip().lower().replace("_", "-")
    if value and not _LOCALE.match(value):
        raise UserError(
            _("“%(locale)s” is not a language code such as en or zh-hans.") % {"locale": locale}, field="locale"
        )
    return value


def create_template(
    *,
    user,
    key: str,
    locale: str = "",
    name: str = "",
    stream: str,
    subject: str,
    html: str,
    text: str = "",
    variables: list[dict],
) -> Template:
    """A new variant of ``key`` (in ``locale``; empty: the default) with version 1 active.

    All variants of one key share a stream: a receipt cannot be marketing mail
    in Chinese and transactional in English, since suppression follows the stream.
    """
    workspace = workspace_of(user)
    if workspace is None:
        raise NotFound(_("You have no workspace."))
    key = (key or "").strip()
    try:
        validate_slug(key)
    except ValidationError as exc:
        raise UserError(
            _("The key may use only letters, digits, hyphens and underscores, e.g. order_receipt."), field="key"
        ) from exc
    if len(key) > Template._meta.get_field("key").max_length:
        raise UserError(_("The key is too long."), field="key")
    locale = normalize_locale(locale)
    if stream not in Template.Stream.values:
        raise UserError(_("Choose transactional or marketing."), field="stream")
    _check_renders(subject=subject, html=html, text=text, variables=variables)
    now = timezone.now()
    try:
        with transaction.atomic():
            sibling = Template.objects.select_for_update().filter(domain=workspace, key=key).first()
            if sibling is not None and sibling.stream != stream:
                raise UserError(
                    _("The other variants of %(key)s are %(stream)s: every variant of a key uses the same stream.")
                    % {"key": key, "stream": sibling.get_stream_display()},
                    field="stream",
                )
            template = Template.objects.create(
                domain=workspace, key=key, locale=locale, name=(name or "").strip()[:200], stream=stream,
                created_by=user, created_at=now, updated_at=now,
            )  # fmt: skip
            version = TemplateVersion.objects.create(
                template=template, number=1, subject=subject, html=html, text=text, variables=variables,
                created_by=user, created_at=now,
            )  # fmt: skip
            template.active_version = version
            template.save(update_fields=["active_version"])
    except IntegrityError as exc:
        raise Conflict(
            _("There is already a %(key)s template in that language.") % {"key": key}, field="locale"
        ) from exc
    return template


def save_template_version(
    *, user, template_id, subject: str, html: str, text: str, variables: list[dict], comment: str = ""
) -> TemplateVersion:
    """Save an edit as the next version and make it active; the active version itself when nothing changed.

    Raises ``rendering.RenderError`` (with every problem) when the edit does not
    render with its example values.
    """
    template = get_template_for_user(user=user, template_id=template_id)
    _check_renders(subject=subject, html=html, text=text, variables=variables)
    with transaction.atomic():
        # The row lock serialises saves of one template, so two editors never both write "version 4".
        template = Template.objects.select_for_update(of=("self",)).select_related("active_version").get(pk=template.pk)
        active = template.active_version
        if active is not None and _content(active) == (subject, html, text, variables):
            return active
        last = template.versions.order_by("-number").values_list("number", flat=True).first() or 0
        now = timezone.now()
        version = TemplateVersion.objects.create(
            template=template, number=last + 1, subject=subject, html=html, text=text, variables=variables,
            comment=(comment or "").strip()[:300], created_by=user, created_at=now,
        )  # fmt: skip
        template.active_version = version
        template.updated_at = now
        template.save(update_fields=["active_version", "updated_at"])
    return version


def activate_template_version(*, user, version_id) -> TemplateVersion:
    """Make an existing version the one sends use (a rollback when it is older); no version is written."""
    version = get_version_for_user(user=user, version_id=version_id)
    with transaction.atomic():
        template = Template.objects.select_for_update().get(pk=version.template_id)
        if template.active_version_id != version.pk:
            template.active_version = version
            template.updated_at = timezone.now()
            template.save(update_fields=["active_version", "updated_at"])
    return version


def delete_template(*, user, template_id) -> None:
    """Delete a variant and its history, but only if nothing was ever sent from it.

    A send points at its exact version (re-rendering a sent message needs
    it), so a template with sends stays.
    """
    template = get_template_for_user(user=user, template_id=template_id)
    with transaction.atomic():
        if TemplateSend.objects.filter(version__template=template).exists():
            raise Conflict(_("Mail was sent from this template, so it stays: its versions explain what was sent."))
        # active_version protects its row: let go of it before the versions are deleted with the template.
        Template.objects.filter(pk=template.pk).update(active_version=None)
        template.delete()


def send_template_test(*, user, template_id, version_id=None, values: dict | None = None) -> Message:
    """Send one version (the active one by default) to the marketer's own primary address only.

    It renders with the version's example values unless ``values`` are given,
    goes through the normal submission service as transactional mail and is
    marked "[Test] " in the subject. It is not recorded as a template send: its
    subject is not what the version renders.
    """
    template = get_template_for_user(user=user, template_id=template_id)
    if version_id is not None:
        version = get_version_for_user(user=user, version_id=version_id, template_id=template.pk)
    elif template.active_version is not None:
        version = template.active_version
    else:
        raise NotFound(_("This template has no version to send."))
    rendered = rendering.render_version(
        version, rendering.example_values(version.variables) if values is None else values
    )
    own = user.primary_address
    return send_message(
        user=user, from_address=own, to=[own], subject=TEST_SUBJECT_PREFIX + rendered.subject,
        text=rendered.text, html=rendered.html, stream=Message.Stream.TRANSACTIONAL,
    )  # fmt: skip


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed", "context" or "hunk" (an @@ position line)
    text: str


@dataclass(frozen=True)
class PartDiff:
    part: str  # "subject", "html", "text" or "variables"
    lines: list[DiffLine]

    @property
    def changed(self) -> bool:
        return any(line.kind in ("added", "removed") for line in self.lines)


def diff_template_versions(a: TemplateVersion, b: TemplateVersion, *, context: int = 3) -> list[PartDiff]:
    """What changed from ``a`` to ``b``, part by part, as unified-diff lines (added, removed, context).

    Variables are compared one declaration per line, so a changed example shows as one changed line.
    """
    diffs = []
    for part in ("subject", "html", "text", "variables"):
        before, after = _diffable(a, part), _diffable(b, part)
        lines = []
        for raw in difflib.unified_diff(before, after, lineterm="", n=context):
            if raw.startswith(("---", "+++")):
                continue
            kind = {"@": "hunk", "+": "added", "-": "removed"}.get(raw[:1], "context")
            lines.append(DiffLine(kind=kind, text=raw if kind == "hunk" else raw[1:]))
        diffs.append(PartDiff(part=part, lines=lines))
    return diffs


def _diffable(version: TemplateVersion, part: str) -> list[str]:
    if part == "variables":
        return [json.dumps(v, ensure_ascii=False, sort_keys=True) for v in version.variables]
    return getattr(version, part).splitlines()


def _content(version: TemplateVersion) -> tuple:
    return (version.subject, version.html, version.text, version.variables)


def _check_renders(*, subject: str, html: str, text: str, variables: list[dict]) -> None:
    """Refuse declarations or content that do not render with their own example values (every problem at once)."""
    problems = rendering.validate_declarations(variables)
    if problems:
        raise rendering.RenderError(problems)
    rendering.render(
        subject=subject, html=html, text=text, variables=variables, values=rendering.example_values(variables)
    )
