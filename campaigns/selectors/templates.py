"""Template reads, scoped to the reader's workspace.

Another workspace's ids behave exactly like ids that do not exist: every
lookup filters by ``workspace_of(user)`` and raises ``NotFound`` otherwise.
"""

from django.db.models import Q, QuerySet

from campaigns.models import Template, TemplateVersion
from campaigns.workspace import workspace_of
from webmail.errors import NotFound


def templates_of(*, user, query: str = "") -> QuerySet[Template]:
    """The workspace's template variants, ordered by key then locale, with their active version."""
    workspace = workspace_of(user)
    if workspace is None:
        return Template.objects.none()
    templates = Template.objects.filter(domain=workspace).select_related("active_version")
    query = query.strip()
    if query:
        templates = templates.filter(Q(key__icontains=query) | Q(name__icontains=query))
    return templates.order_by("key", "locale")


def get_template_for_user(*, user, template_id) -> Template:
    workspace = workspace_of(user)
    template = (
        Template.objects.filter(pk=_as_id(template_id), domain=workspace).select_related("active_version").first()
        if workspace is not None
        else None
    )
    if template is None:
        raise NotFound("No such template.")
    return template


def get_version_for_user(*, user, version_id, template_id=None) -> TemplateVersion:
    """A version of one of the workspace's templates (of ``template_id``, when given)."""
    workspace = workspace_of(user)
    versions = TemplateVersion.objects.filter(pk=_as_id(version_id), template__domain=workspace)
    if template_id is not None:
        versions = versions.filter(template_id=_as_id(template_id))
    version = versions.select_related("template", "created_by").first() if workspace is not None else None
    if version is None:
        raise NotFound("No such template version.")
    return version


def versions_of(*, template: Template) -> QuerySet[TemplateVersion]:
    """A template's history, newest first, with each author."""
    return template.versions.select_related("created_by").order_by("-number")


def variants_of(*, template: Template) -> QuerySet[Template]:
    """Every variant (locale) of the template's key in its workspace, itself included."""
    return Template.objects.filter(domain_id=template.domain_id, key=template.key).order_by("locale")


def _as_id(value) -> int:
    """An id from a URL or form; anything that is not one finds nothing (404), never a 500."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
