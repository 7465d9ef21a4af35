"""The template pages: list, new template (or a new language variant), editor with live preview,
version preview, compare, rollback, test send and delete."""

import json
from functools import wraps
from itertools import groupby

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from campaigns import rendering
from campaigns.models import Template
from campaigns.selectors import templates as selectors
from campaigns.services import templates as services
from campaigns.views.common import marketer_required, not_found_is_404
from webmail.csp import INLINE_STYLE_POLICY
from webmail.errors import NotFound, UserError

PARTS = ("subject", "html", "text", "variables")
VARIABLE_TYPES = ("string", "number", "date", "list", "object")
STARTER_HTML = "<h1>Hello {{ name }}</h1>\n<p>Thank you for your order.</p>\n"


def previews_inline_styles(view):
    """The preview frame (``srcdoc``) inherits the page's policy; mail HTML carries its CSS in ``style``
    attributes, so these pages allow inline styles. Scripts stay forbidden, and the frame is sandboxed."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = INLINE_STYLE_POLICY
        return response

    return wrapper


@require_GET
@marketer_required
def template_list(request):
    query = request.GET.get("q", "")
    variants = selectors.templates_of(user=request.user, query=query)
    keys = [
        {"key": key, "variants": list(group)}
        for key, group in groupby(variants, key=lambda t: t.key)
    ]  # fmt: skip
    for row in keys:
        row["stream"] = row["variants"][0].get_stream_display()
        row["updated_at"] = max(v.updated_at for v in row["variants"])
    context = {"section": "templates", "title": _("Templates"), "keys": keys, "query": query}
    if request.htmx and request.htmx.target == "template-rows":
        return render(request, "campaigns/templates/list.html#rows", context)
    return render(request, "campaigns/templates/list.html", context)


@require_http_methods(["GET", "POST"])
@marketer_required
@not_found_is_404
@previews_inline_styles
def template_new(request):
    source = None
    if request.GET.get("from"):
        source = selectors.get_template_for_user(user=request.user, template_id=request.GET["from"])
    if request.method == "GET":
        form = _form_from_version(source.active_version) if source and source.active_version else _starter_form()
        form.update(key=source.key if source else "", stream=source.stream if source else Template.Stream.TRANSACTIONAL)
        form.update(name=source.name if source else "", locale=request.GET.get("locale", ""))
        return _editor(request, form=form, source=source)
    form = _form_from_post(request.POST)
    if source:  # a variant takes its key and stream from the template it translates
        form.update(key=source.key, stream=source.stream)
    declarations, problems = _declarations(form["rows"])
    if problems:
        return _editor(request, form=form, source=source, problems=problems, status=400)
    try:
        template = services.create_template(
            user=request.user, key=form["key"], locale=form["locale"], name=form["name"], stream=form["stream"],
            subject=form["subject"], html=form["html"], text=form["text"], variables=declarations,
        )  # fmt: skip
    except rendering.RenderError as exc:
        return _editor(request, form=form, source=source, problems=exc.problems, status=400)
    except UserError as exc:
        return _editor(request, form=form, source=source, error=exc, status=400)
    messages.success(request, _("Template %(name)s created (version 1).") % {"name": template})
    return redirect("campaigns:template_edit", template.pk)


@require_http_methods(["GET", "POST"])
@marketer_required
@not_found_is_404
@previews_inline_styles
def template_edit(request, template_id: int):
    template = selectors.get_template_for_user(user=request.user, template_id=template_id)
    if request.method == "GET":
        return _editor(request, form=_form_from_version(template.active_version), template=template)
    form = _form_from_post(request.POST)
    declarations, problems = _declarations(form["rows"])
    if problems:
        return _editor(request, form=form, template=template, problems=problems, status=400)
    active = template.active_version_id
    try:
        version = services.save_template_version(
            user=request.user, template_id=template.pk, subject=form["subject"], html=form["html"],
            text=form["text"], variables=declarations, comment=form["comment"],
        )  # fmt: skip
    except rendering.RenderError as exc:
        return _editor(request, form=form, template=template, problems=exc.problems, status=400)
    if version.pk == active:
        messages.info(request, _("Nothing changed: version %(number)s stays active.") % {"number": version.number})
    else:
        messages.success(request, _("Saved as version %(number)s, now active.") % {"number": version.number})
    return redirect("campaigns:template_edit", template.pk)


@require_POST
@marketer_required
def template_preview(request):
    """The live preview of the editor's unsaved form, with the example values; problems go next to their fields."""
    rendered, problems = _render_form(_form_from_post(request.POST))
    context = {"rendered": rendered, "problems": _by_part(problems), "oob": True}
    return render(request, "campaigns/templates/editor.html#preview", context)


@require_GET
@marketer_required
@not_found_is_404
@previews_inline_styles
def version_preview(request, template_id: int, version_id: int):
    version = selectors.get_version_for_user(user=request.user, version_id=version_id, template_id=template_id)
    rendered, problems = None, []
    try:
        rendered = rendering.render_version(version, rendering.example_values(version.variables))
    except rendering.RenderError as exc:  # a version saved before a rule it now breaks still shows why
        problems = exc.problems
    context = {
        "section": "templates",
        "title": _("%(template)s, version %(number)s") % {"template": version.template, "number": version.number},
        "template": version.template,
        "version": version,
        "rows": _rows(version.variables),
        "rendered": rendered,
        "problems": _by_part(problems),
    }
    return render(request, "campaigns/templates/version.html", context)


@require_GET
@marketer_required
@not_found_is_404
def version_diff(request, template_id: int, version_id: int):
    """``version_id`` against the active version, or against ``?with=`` another version of the template."""
    version = selectors.get_version_for_user(user=request.user, version_id=version_id, template_id=template_id)
    template = version.template
    other_id = request.GET.get("with") or template.active_version_id
    other = selectors.get_version_for_user(user=request.user, version_id=other_id, template_id=template.pk)
    older, newer = sorted([version, other], key=lambda v: v.number)
    context = {
        "section": "templates",
        "title": _("Compare versions %(a)s and %(b)s") % {"a": older.number, "b": newer.number},
        "template": template,
        "older": older,
        "newer": newer,
        "diffs": services.diff_template_versions(older, newer),
        "part_names": _part_names(),
    }
    return render(request, "campaigns/templates/diff.html", context)


@require_POST
@marketer_required
@not_found_is_404
def version_activate(request, template_id: int, version_id: int):
    version = selectors.get_version_for_user(user=request.user, version_id=version_id, template_id=template_id)
    services.activate_template_version(user=request.user, version_id=version.pk)
    messages.success(request, _("Version %(number)s is active again.") % {"number": version.number})
    return redirect("campaigns:template_edit", template_id)


@require_POST
@marketer_required
@not_found_is_404
def template_test(request, template_id: int):
    """Send a version (the active one unless ``version`` is posted) to the marketer's own address; a toast says so."""
    version_id = request.POST.get("version") or None
    try:
        services.send_template_test(user=request.user, template_id=template_id, version_id=version_id)
    except rendering.RenderError as exc:
        note = _("The test was not sent: %(problem)s") % {"problem": exc.problems[0].message if exc.problems else exc}
        return _answer(request, note, template_id, ok=False)
    except UserError as exc:
        if isinstance(exc, NotFound):
            raise
        return _answer(
            request, _("The test was not sent: %(problem)s") % {"problem": exc.message}, template_id, ok=False
        )
    return _answer(request, _("Test sent to %(address)s") % {"address": request.user.primary_address}, template_id)


@require_POST
@marketer_required
@not_found_is_404
def template_delete(request, template_id: int):
    template = selectors.get_template_for_user(user=request.user, template_id=template_id)
    try:
        services.delete_template(user=request.user, template_id=template.pk)
    except UserError as exc:
        if isinstance(exc, NotFound):
            raise
        messages.error(request, exc.message)
        return redirect("campaigns:template_edit", template.pk)
    messages.success(request, _("Template %(name)s deleted.") % {"name": template})
    return redirect("campaigns:templates")


def _answer(request, note: str, template_id, *, ok: bool = True) -> HttpResponse:
    """A toast for htmx; a message on the editor for a plain form post."""
    if request.htmx:
        return trigger_client_event(HttpResponse(status=200 if ok else 400), "toast", note)
    (messages.success if ok else messages.error)(request, note)
    return redirect("campaigns:template_edit", template_id)


def _editor(request, *, form, template=None, source=None, problems=(), error=None, status=200):
    """The editor page, for a new template (``template`` None) or a saved one, with its preview rendered."""
    rendered, problems = (None, problems) if problems else _render_form(form)
    context = {
        "section": "templates",
        "title": str(template) if template else _("New template"),
        "template": template,
        "source": source,
        "form": form,
        "error": error,
        "problems": _by_part(problems),
        "rendered": rendered,
        "variable_types": VARIABLE_TYPES,
        "streams": Template.Stream.choices,
        "languages": settings.LANGUAGES,
    }
    if template is not None:
        context["versions"] = selectors.versions_of(template=template)
        context.update(_variant_links(template))
    return render(request, "campaigns/templates/editor.html", context, status=status)


def _render_form(form: dict) -> tuple:
    """The form's content rendered with its example values, or None and every problem found."""
    declarations, problems = _declarations(form["rows"])
    if problems:
        return None, problems
    try:
        rendered = rendering.render(
            subject=form["subject"], html=form["html"], text=form["text"], variables=declarations,
            values=rendering.example_values(declarations),
        )  # fmt: skip
    except rendering.RenderError as exc:
        return None, exc.problems
    return rendered, []


def _variant_links(template) -> dict:
    variants = list(selectors.variants_of(template=template))
    taken = {v.locale for v in variants}
    names = dict(settings.LANGUAGES)
    return {
        "variants": [{"template": v, "label": names.get(v.locale, v.locale) or _("Default")} for v in variants],
        "missing_languages": [(code, name) for code, name in settings.LANGUAGES if code not in taken],
    }


def _starter_form() -> dict:
    return {
        "subject": "", "html": STARTER_HTML, "text": "", "comment": "",
        "rows": [{"name": "name", "type": "string", "required": "yes", "default": "", "example": "Ada"}],
    }  # fmt: skip


def _form_from_version(version) -> dict:
    return {
        "subject": version.subject, "html": version.html, "text": version.text, "comment": "",
        "rows": _rows(version.variables),
    }  # fmt: skip


def _form_from_post(post) -> dict:
    columns = [post.getlist(f"var_{c}") for c in ("name", "type", "required", "default", "example")]
    rows = []
    for name, type_, required, default, example in zip(*columns, strict=False):
        if name.strip() or default.strip() or example.strip():  # a blank row added and left empty is no variable
            rows.append(
                {"name": name.strip(), "type": type_, "required": required, "default": default, "example": example}
            )
    fields = ("key", "name", "stream", "locale", "subject", "html", "text", "comment")
    return {**{f: post.get(f, "") for f in fields}, "rows": rows}


def _rows(declarations: list[dict]) -> list[dict]:
    """Declared variables as the editor's table shows them (values typed as text)."""
    return [
        {
            "name": d.get("name", ""),
            "type": d.get("type", "string"),
            "required": "yes" if d.get("required") else "no",
            "default": _as_text(d["default"]) if "default" in d else "",
            "example": _as_text(d["example"]) if "example" in d else "",
        }
        for d in declarations
    ]


def _as_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _declarations(rows: list[dict]) -> tuple[list[dict], list]:
    """The variables table's rows as declarations, values parsed by type; a value that does not parse is a problem."""
    declarations, problems = [], []
    for row in rows:
        declaration = {"name": row["name"], "type": row["type"], "required": row["required"] == "yes"}
        for field in ("default", "example"):
            if row[field].strip() == "":
                continue
            try:
                declaration[field] = _parse_value(row["type"], row[field])
            except ValueError:
                message = _("The %(field)s of %(name)s is not a valid %(type)s.") % {
                    "field": _("default") if field == "default" else _("example"),
                    "name": row["name"] or "?",
                    "type": row["type"],
                }
                problems.append(rendering.RenderProblem(message=message, variable=row["name"], part="variables"))
        declarations.append(declaration)
    return declarations, problems


def _parse_value(type_: str, raw: str):
    if type_ == "number":
        number = float(raw)  # ValueError for anything else
        return int(number) if number.is_integer() and "." not in raw and "e" not in raw.lower() else number
    if type_ in ("list", "object"):
        value = json.loads(raw)  # json.JSONDecodeError is a ValueError
        if not isinstance(value, list if type_ == "list" else dict):
            raise ValueError(type_)
        return value
    return raw  # string, and date as ISO text (2026-12-06), which rendering checks


def _by_part(problems) -> dict:
    """Problems grouped by the field they belong next to; those of no field under ``general``."""
    grouped = {part: [] for part in (*PARTS, "general")}
    for problem in problems:
        grouped[problem.part if problem.part in PARTS else "general"].append(problem)
    return grouped


def _part_names() -> dict:
    return {"subject": _("Subject"), "html": _("HTML"), "text": _("Text"), "variables": _("Variables")}
