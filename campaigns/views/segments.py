"""Marketer pages of segments: the list, and the editor whose count follows the rules as they are edited."""

import re

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns import segments
from campaigns.selectors import contacts as contact_selectors
from campaigns.selectors import segments as selectors
from campaigns.services import segments as services
from campaigns.views.common import marketer_required
from mailboxes.views.common import user_errors
from webmail.errors import UserError

marketer_errors = user_errors(fallback="campaigns:segments")

# The rule builder's fields; "attribute" takes a name beside it.
FIELDS = [
    ("address", gettext_lazy("Address")),
    ("name", gettext_lazy("Name")),
    ("locale", gettext_lazy("Language")),
    ("consent", gettext_lazy("Consent")),
    ("created_at", gettext_lazy("Added")),
    ("engagement", gettext_lazy("Engagement")),
    ("attribute", gettext_lazy("Attribute")),
]
OPS = [
    ("equals", gettext_lazy("is")),
    ("not_equals", gettext_lazy("is not")),
    ("contains", gettext_lazy("contains")),
    ("in", gettext_lazy("is one of (comma-separated)")),
    ("is_set", gettext_lazy("is set")),
    ("not_set", gettext_lazy("is not set")),
    ("gt", gettext_lazy("is more than")),
    ("gte", gettext_lazy("is at least")),
    ("lt", gettext_lazy("is less than")),
    ("lte", gettext_lazy("is at most")),
    ("before", gettext_lazy("is before")),
    ("after", gettext_lazy("is after")),
    ("opened_within", gettext_lazy("opened in the last … days")),
    ("clicked_within", gettext_lazy("clicked in the last … days")),
    ("engaged_within", gettext_lazy("opened or clicked in the last … days")),
    ("never_engaged", gettext_lazy("never opened nor clicked")),
]


def _ops_of(field: str) -> tuple[str, ...]:
    return segments.ATTRIBUTE_OPS if field == "attribute" else segments.FIELD_OPS[field]


_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")


def _typed(field: str, op: str, raw: str):
    """A form value as the definition wants it for ``op`` (what does not convert stays text, and is refused)."""
    raw = raw.strip()
    if op in segments.NO_VALUE_OPS:
        return None
    if op in ("opened_within", "clicked_within", "engaged_within"):
        return int(raw) if raw.isdigit() else raw
    if op in segments.NUMBER_OPS or (field.startswith("attributes.") and op in ("equals", "not_equals")):
        if _NUMBER.match(raw):
            return float(raw) if "." in raw else int(raw)
        if field.startswith("attributes.") and raw in ("true", "false"):
            return raw == "true"
        return raw
    if op == "in":
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def definition_from_form(data) -> dict:
    """The editor's form as a segment definition."""
    rules = []
    rows = zip(
        data.getlist("rule_field"),
        data.getlist("rule_key"),
        data.getlist("rule_op"),
        data.getlist("rule_value"),
        strict=False,
    )
    for field, key, op, raw in rows:
        field = f"attributes.{key.strip()}" if field == "attribute" else field
        rules.append({"field": field, "op": op, "value": _typed(field, op, raw)})
    return {
        "lists": data.getlist("lists"),
        "match": data.get("match", "all"),
        "rules": rules,
        "exclude_lists": data.getlist("exclude_lists"),
        "exclude_segments": data.getlist("exclude_segments"),
    }


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def _form(name: str, definition: dict, errors: dict[str, list[str]]) -> dict:
    """What the editor shows: the definition's parts and its rule rows, each with its problems."""
    rows = []
    for index, rule in enumerate(definition.get("rules") or []):
        rule = rule if isinstance(rule, dict) else {}
        field = str(rule.get("field", ""))
        attribute = field.startswith("attributes.")
        rows.append({
            "field": "attribute" if attribute else field, "key": field.removeprefix("attributes.") if attribute else "",
            "op": rule.get("op", ""), "value": _shown(rule.get("value")),
            "problems": [m for part in ("field", "op", "value") for m in errors.get(f"rules.{index}.{part}", [])],
        })  # fmt: skip
    return {
        "name": name,
        "match": definition.get("match") or "all",
        "rows": rows,
        "lists": {str(i) for i in definition.get("lists") or []},
        "exclude_lists": {str(i) for i in definition.get("exclude_lists") or []},
        "exclude_segments": {str(i) for i in definition.get("exclude_segments") or []},
        "problems": {k: v for k, v in errors.items() if not k.startswith("rules.")},
    }


def _editor(request, *, segment=None, name="", definition=None, errors=None, error=None, status=200):
    definition = definition if definition is not None else {}
    context = {
        "section": "segments", "title": segment.name if segment else _("New segment"), "segment": segment,
        "form": _form(name, definition, errors or {}), "error": error, "fields": FIELDS,
        # Each op with the fields it fits: the page offers only those (the definition check has the last word).
        "ops": [(op, label, " ".join(f for f, _l in FIELDS if op in _ops_of(f))) for op, label in OPS],
        "no_value_ops": segments.NO_VALUE_OPS,
        "lists": contact_selectors.lists_with_counts(workspace=request.workspace),
        "other_segments": selectors.segments_of(workspace=request.workspace).exclude(pk=getattr(segment, "pk", None)),
        "attribute_names": selectors.attribute_names(workspace=request.workspace),
    }  # fmt: skip
    context.update(_preview(request, definition, segment_id=getattr(segment, "pk", None)))
    return render(request, "campaigns/segments/editor.html", context, status=status)


def _readable(problems: dict[str, list[str]]) -> list[str]:
    """Problems for the count panel: a rule's say which rule, counted from 1 as on the page."""
    lines = []
    for where, texts in problems.items():
        parts = where.split(".")
        prefix = _("Rule %(n)d: ") % {"n": int(parts[1]) + 1} if parts[0] == "rules" and len(parts) > 1 else ""
        lines.extend(prefix + message for message in texts)
    return lines


def _preview(request, definition, *, segment_id=None) -> dict:
    """The live count and a sample of the definition, or its problems."""
    unsaved = selectors.unsaved_segment(workspace=request.workspace, definition=definition, segment_id=segment_id)
    problems = segments.validate_definition(request.workspace, definition, segment=unsaved if segment_id else None)
    if problems:
        return {"counts": None, "preview_problems": _readable(problems), "sample": []}
    return {"counts": segments.counts(unsaved), "preview_problems": [], "sample": selectors.sample_of(unsaved)}


# --- pages ------------------------------------------------------------------------------------


@require_GET
@marketer_required
def segment_list(request):
    context = {
        "section": "segments",
        "title": _("Segments"),
        "segments": selectors.segments_of(workspace=request.workspace),
    }
    return render(request, "campaigns/segments/list.html", context)


@require_GET
@marketer_required
@marketer_errors
def segment_count(request, segment_id):
    """One row's count on the list page, loaded after the page (a count per segment would slow it)."""
    segment = selectors.segment_of(workspace=request.workspace, segment_id=segment_id)
    try:
        counted = segments.counts(segment)
    except segments.InvalidSegment:
        counted = None
    return render(request, "campaigns/segments/list.html#count", {"counts": counted, "segment": segment})


@require_http_methods(["GET", "POST"])
@marketer_required
def segment_new(request):
    if request.method == "GET":
        return _editor(request)
    definition, name = definition_from_form(request.POST), request.POST.get("name", "")
    try:
        segment = services.create_segment(
            workspace=request.workspace, name=name, definition=definition, created_by=request.user
        )
    except segments.InvalidSegment as exc:
        return _editor(request, name=name, definition=definition, errors=exc.errors, error=exc, status=400)
    except UserError as exc:
        return _editor(request, name=name, definition=definition, error=exc, status=400)
    messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
    return redirect("campaigns:segment", segment.pk)


@require_http_methods(["GET", "POST"])
@marketer_required
@marketer_errors
def segment_edit(request, segment_id):
    segment = selectors.segment_of(workspace=request.workspace, segment_id=segment_id)
    if request.method == "GET":
        return _editor(request, segment=segment, name=segment.name, definition=segment.definition)
    definition, name = definition_from_form(request.POST), request.POST.get("name", "")
    try:
        services.update_segment(workspace=request.workspace, segment_id=segment.pk, name=name, definition=definition)
    except segments.InvalidSegment as exc:
        return _editor(
            request, segment=segment, name=name, definition=definition, errors=exc.errors, error=exc, status=400
        )
    except UserError as exc:
        return _editor(request, segment=segment, name=name, definition=definition, error=exc, status=400)
    messages.success(request, _("Segment “%(name)s” saved.") % {"name": name})
    return redirect("campaigns:segment", segment.pk)


@require_POST
@marketer_required
@marketer_errors
def segment_delete(request, segment_id):
    services.delete_segment(workspace=request.workspace, segment_id=segment_id)
    messages.success(request, _("Segment deleted."))
    return redirect("campaigns:segments")


@require_POST
@marketer_required
@marketer_errors
def segment_preview(request):
    """The editor's live count: the unsaved form, counted as it stands."""
    segment_id = request.POST.get("segment_id") or None
    context = _preview(request, definition_from_form(request.POST), segment_id=segment_id)
    return render(request, "campaigns/segments/editor.html#preview", context)
