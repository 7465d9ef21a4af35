"""A segment's audience: which of a workspace's contacts it holds, and which of them a campaign may send to.

A segment's ``definition`` is JSON::

    {
      "lists": [1, 2],               # subscribed members of any of these; empty or absent: every contact
      "match": "all",                # "all" (default) or "any": how the rules combine
      "rules": [
        {"field": "attributes.plan", "op": "equals", "value": "pro"},
        {"field": "engagement", "op": "opened_within", "value": 30}
      ],
      "exclude_lists": [3],          # nobody who is a subscribed member of these
      "exclude_segments": [4]        # nobody in these segments' audiences (which may exclude others in turn)
    }

Rules, by field:

- ``address``, ``name``, ``locale``: ``equals``, ``not_equals`` (a string;
  an address is compared lower-cased), ``contains`` (a string, any case),
  ``in`` (a list of strings), ``is_set``, ``not_set`` (no value).
- ``consent``: ``equals``, ``not_equals`` (one of unknown, pending,
  opted_in, opted_out), ``in`` (a list of them).
- ``created_at``: ``before``, ``after`` (an ISO date, whole days in UTC, or
  an ISO datetime).
- ``attributes.<key>`` (the contact's own JSON fields): the string ops above
  (``equals`` a number or boolean compares as one); ``gt``, ``gte``, ``lt``,
  ``lte`` (a number; only numeric values match); ``before``, ``after`` (an
  ISO date; values that are ISO dates or datetimes compare by their day).
  ``not_equals`` and ``not_set`` include contacts without the key.
- ``engagement``: ``opened_within``, ``clicked_within``, ``engaged_within``
  (opened or clicked; a whole number of days before ``now``),
  ``never_engaged`` (no value: never opened nor clicked).

``validate_definition`` lists every problem of a definition at once;
``audience`` raises ``InvalidSegment`` for a definition that has any.
``audience`` is who the segment holds; ``sendable`` leaves out whom a
campaign must not mail (suppressed for the workspace's marketing, or opted
out): the count a marketer sees is ``counts``, and ``sendable`` is exactly
what a campaign freezes when it starts.
"""

import datetime as dt
import math
import re
from dataclasses import dataclass

from django.db.models import BooleanField, CharField, Exists, F, Func, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Substr
from django.db.models.lookups import Exact, GreaterThan, In, LessThan
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from campaigns.models import Contact, ContactList, ListMembership, Segment
from delivery.models import Suppression
from webmail.errors import UserError

STRING_OPS = ("equals", "not_equals", "contains", "in", "is_set", "not_set")
NUMBER_OPS = ("gt", "gte", "lt", "lte")
DATE_OPS = ("before", "after")
ENGAGEMENT_OPS = ("opened_within", "clicked_within", "engaged_within", "never_engaged")
CONSENT_OPS = ("equals", "not_equals", "in")
FIELD_OPS = {
    "address": STRING_OPS,
    "name": STRING_OPS,
    "locale": STRING_OPS,
    "consent": CONSENT_OPS,
    "created_at": DATE_OPS,
    "engagement": ENGAGEMENT_OPS,
}
ATTRIBUTE_OPS = STRING_OPS + NUMBER_OPS + DATE_OPS
NO_VALUE_OPS = ("is_set", "not_set", "never_engaged")
MAX_RULES = 50
MAX_IN_VALUES = 500
MAX_TEXT = 1000
MAX_ID = 2**63 - 1
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class InvalidSegment(UserError):
    """A definition with problems; ``errors`` maps each faulty part (``rules.0.op``) to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        first = next(iter(errors.values()))[0]
        super().__init__(first, field=next(iter(as_input_fields(errors))))
        self.errors = errors


def as_input_fields(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Problems keyed as the input that holds the definition names them: ``definition.rules.0.op``."""
    return {key if key == "definition" else f"definition.{key}": messages for key, messages in errors.items()}


# --- checking a definition ------------------------------------------------------------------


def validate_definition(domain, definition, *, segment: Segment | None = None) -> dict[str, list[str]]:
    """Every problem of ``definition`` for the workspace ``domain``, keyed by where it is; empty when fine.

    Another workspace's list and segment ids are unknown ids. ``segment`` is
    the segment being edited: excluding it, or a segment that excludes it
    in turn, is a cycle.
    """
    domain_id = getattr(domain, "pk", domain)
    if not isinstance(definition, dict):
        return {"definition": [_("A definition is a JSON object.")]}
    errors: dict[str, list[str]] = {}
    unknown = set(definition) - {"lists", "match", "rules", "exclude_lists", "exclude_segments"}
    for key in sorted(unknown):
        errors.setdefault(key, []).append(_("Unknown part of a definition."))
    for key in ("lists", "exclude_lists"):
        problem = _list_ids_problem(domain_id, definition.get(key))
        if problem:
            errors[key] = [problem]
    if definition.get("match", "all") not in ("all", "any"):
        errors["match"] = [_('Match is "all" or "any".')]
    rules = definition.get("rules") or []
    if not isinstance(rules, list):
        errors["rules"] = [_("Rules are a list.")]
    elif len(rules) > MAX_RULES:
        errors["rules"] = [_("At most %(max)d rules.") % {"max": MAX_RULES}]
    else:
        for index, rule in enumerate(rules):
            for part, messages in _rule_problems(rule).items():
                errors[f"rules.{index}.{part}"] = messages
    problem = _excluded_segments_problem(domain_id, definition.get("exclude_segments"), segment)
    if problem:
        errors["exclude_segments"] = [problem]
    return errors


def ids_of(value) -> list[int] | None:
    """The ids of a JSON list of ids (numbers or digit strings, as a form posts them); None if it is not one."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        return None
    ids = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | str) or not str(item).isdigit():
            return None
        if not 1 <= int(item) <= MAX_ID:
            return None
        ids.append(int(item))
    return ids


def _list_ids_problem(domain_id: int, value) -> str | None:
    ids = ids_of(value)
    if ids is None:
        return _("A list of list ids.")
    known = set(ContactList.objects.filter(domain_id=domain_id, pk__in=ids).values_list("pk", flat=True))
    missing = sorted(set(ids) - known)
    if missing:
        return _("No such list: %(ids)s.") % {"ids": ", ".join(map(str, missing))}
    return None


def _excluded_segments_problem(domain_id: int, value, segment: Segment | None) -> str | None:
    ids = ids_of(value)
    if ids is None:
        return _("A list of segment ids.")
    if not ids:
        return None
    if segment is not None and segment.pk in ids:
        return _("A segment cannot exclude itself.")
    definitions = dict(Segment.objects.filter(domain_id=domain_id).values_list("pk", "definition"))
    missing = sorted(set(ids) - set(definitions))
    if missing:
        return _("No such segment: %(ids)s.") % {"ids": ", ".join(map(str, missing))}
    if segment is not None and segment.pk is not None and _reaches(segment.pk, ids, definitions):
        return _("These exclusions lead back to this segment (a segment they exclude excludes it).")
    return None


def _reaches(target: int, start: list[int], definitions: dict[int, dict]) -> bool:
    """Whether following exclude_segments from ``start`` leads to ``target``."""
    seen, todo = set(), list(start)
    while todo:
        current = todo.pop()
        if current == target:
            return True
        if current in seen:
            continue
        seen.add(current)
        todo.extend(ids_of((definitions.get(current) or {}).get("exclude_segments")) or [])
    return False


def _rule_problems(rule) -> dict[str, list[str]]:
    if not isinstance(rule, dict):
        return {"field": [_("A rule is an object with a field, an op and a value.")]}
    field, op = rule.get("field"), rule.get("op")
    if not isinstance(field, str):
        return {"field": [_("Choose a field.")]}
    if field.startswith("attributes."):
        if not _ATTRIBUTE_KEY.match(field.removeprefix("attributes.")):
            return {"field": [_("An attribute name is letters, digits and underscores.")]}
        ops = ATTRIBUTE_OPS
    elif field in FIELD_OPS:
        ops = FIELD_OPS[field]
    else:
        return {"field": [_("No such field: %(field)s.") % {"field": field}]}
    if op not in ops:
        return {"op": [_("This field takes: %(ops)s.") % {"ops": ", ".join(ops)}]}
    problem = _value_problem(field, op, rule.get("value"))
    return {"value": [problem]} if problem else {}


def _value_problem(field: str, op: str, value) -> str | None:
    if op in NO_VALUE_OPS:
        return None
    if op in ("opened_within", "clicked_within", "engaged_within"):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36500:
            return _("A whole number of days, 1 or more.")
        return None
    if op in NUMBER_OPS:
        return None if _is_number(value) else _("A number.")
    if op in DATE_OPS:
        return None if _instant(value) else _("A date, like 2026-12-31.")
    if op == "in":
        if not isinstance(value, list) or not value or not all(_is_text(v) for v in value):
            return _("A list of one or more values.")
        if len(value) > MAX_IN_VALUES:
            return _("At most %(max)d values.") % {"max": MAX_IN_VALUES}
        if field == "consent" and not set(value) <= set(Contact.Consent.values):
            return _("Consent is one of: %(values)s.") % {"values": ", ".join(Contact.Consent.values)}
        return None
    if field == "consent":
        return (
            None
            if value in Contact.Consent.values
            else _("Consent is one of: %(values)s.") % {"values": ", ".join(Contact.Consent.values)}
        )
    if field.startswith("attributes.") and op in ("equals", "not_equals") and (_is_number(value) or _is_bool(value)):
        return None
    if not _is_text(value) or (op == "contains" and not value):
        return _("A text value (at most %(max)d characters).") % {"max": MAX_TEXT}
    return None


def _is_number(value) -> bool:
    """A number both databases compare: finite, and an integer within 64 bits."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -MAX_ID <= value <= MAX_ID
    return isinstance(value, float) and math.isfinite(value)


def _is_text(value) -> bool:
    return isinstance(value, str) and len(value) <= MAX_TEXT and "\x00" not in value


def _is_bool(value) -> bool:
    return isinstance(value, bool)


def _instant(value) -> dt.datetime | None:
    """An ISO date (its start, UTC) or aware-or-UTC datetime; None for anything else."""
    if not _is_text(value):
        return None
    try:
        day = parse_date(value)
        if day:
            return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        moment = parse_datetime(value)
    except ValueError:
        return None
    if moment is None:
        return None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=dt.UTC)


# --- the audience ---------------------------------------------------------------------------


def audience(segment: Segment, *, now=None) -> QuerySet:
    """The workspace's contacts the segment holds (suppressed ones included).

    Works for an unsaved ``Segment(domain=…, definition=…)`` too (the editor's
    live count). Raises ``InvalidSegment`` for a definition with problems.
    """
    return _audience(segment.domain_id, segment.definition or {}, now=now or timezone.now(), seen=frozenset())


def _audience(domain_id: int, definition: dict, *, now, seen: frozenset) -> QuerySet:
    if not isinstance(definition, dict):
        raise InvalidSegment({"definition": [_("A definition is a JSON object.")]})
    contacts = Contact.objects.filter(domain_id=domain_id)
    lists = ids_of(definition.get("lists")) or []
    if lists:
        contacts = contacts.filter(_member_of(domain_id, lists))
    rules = definition.get("rules") or []
    if rules:
        contacts = contacts.filter(_rules_condition(rules, definition.get("match", "all"), now=now))
    excluded = ids_of(definition.get("exclude_lists")) or []
    if excluded:
        contacts = contacts.exclude(_member_of(domain_id, excluded))
    for segment_id in ids_of(definition.get("exclude_segments")) or []:
        if segment_id in seen:
            raise InvalidSegment({"exclude_segments": [_("These exclusions lead back to this segment.")]})
        other = Segment.objects.filter(domain_id=domain_id, pk=segment_id).values_list("definition", flat=True).first()
        if other is None:
            raise InvalidSegment({"exclude_segments": [_("No such segment: %(ids)s.") % {"ids": segment_id}]})
        others = _audience(domain_id, other, now=now, seen=seen | {segment_id})
        contacts = contacts.exclude(Exists(others.filter(pk=OuterRef("pk"))))
    return contacts


def _member_of(domain_id: int, list_ids: list[int]) -> Exists:
    return Exists(
        ListMembership.objects.filter(
            contact_id=OuterRef("pk"),
            contact_list_id__in=list_ids,
            contact_list__domain_id=domain_id,
            status=ListMembership.Status.SUBSCRIBED,
        )
    )


def _rules_condition(rules, match: str, *, now) -> Q:
    errors = {}
    if not isinstance(rules, list):
        errors["rules"] = [_("Rules are a list.")]
    else:
        for index, rule in enumerate(rules):
            errors.update({f"rules.{index}.{part}": m for part, m in _rule_problems(rule).items()})
    if match not in ("all", "any"):
        errors["match"] = [_('Match is "all" or "any".')]
    if errors:
        raise InvalidSegment(errors)
    conditions = [_rule_condition(rule["field"], rule["op"], rule.get("value"), now=now) for rule in rules]
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition if match == "all" else combined | condition
    return combined


def _rule_condition(field: str, op: str, value, *, now) -> Q:
    if field == "engagement":
        return _engagement_condition(op, value, now=now)
    if field == "created_at":
        return _instant_condition("created_at", op, value)
    if field.startswith("attributes."):
        return _attribute_condition(field.removeprefix("attributes."), op, value)
    if field == "address" and isinstance(value, str):
        value = value.lower()
    elif field == "address" and isinstance(value, list):
        value = [v.lower() for v in value]
    return _column_condition(field, op, value)


def _engagement_condition(op: str, value, *, now) -> Q:
    if op == "never_engaged":
        return Q(last_opened_at__isnull=True, last_clicked_at__isnull=True)
    since = now - dt.timedelta(days=value)
    opened, clicked = Q(last_opened_at__gte=since), Q(last_clicked_at__gte=since)
    return {"opened_within": opened, "clicked_within": clicked, "engaged_within": opened | clicked}[op]


def _instant_condition(column: str, op: str, value) -> Q:
    moment = _instant(value)
    if op == "after" and parse_date(value):  # after a day: from the next day on
        return Q(**{f"{column}__gte": moment + dt.timedelta(days=1)})
    return Q(**{f"{column}__lt": moment}) if op == "before" else Q(**{f"{column}__gt": moment})


def _column_condition(column: str, op: str, value) -> Q:
    """address, name, locale and consent: plain text columns, never NULL ("" when unset)."""
    if op == "equals":
        return Q(**{column: value})
    if op == "not_equals":
        return ~Q(**{column: value})
    if op == "contains":
        return Q(**{f"{column}__icontains": value})
    if op == "in":
        return Q(**{f"{column}__in": value})
    return ~Q(**{column: ""}) if op == "is_set" else Q(**{column: ""})


class JSONType(Func):
    """The JSON type of ``attributes -> key`` named alike on both databases: string, number, boolean, null…

    "absent" when the key is not there (never NULL: a negated rule must hold for
    contacts without the key). PostgreSQL's ``jsonb_typeof`` already names the
    types so; SQLite's ``json_type`` says integer/real, text and true/false.
    """

    output_field = CharField()

    def __init__(self, key: str):
        self.key = key
        super().__init__(F("attributes"))

    def as_postgresql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        return f"COALESCE(jsonb_typeof({column} -> %s), 'absent')", (*params, self.key)

    def as_sqlite(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        kind = f"json_type({column}, %s)"
        path = f'$."{self.key}"'  # the key is letters, digits and _ (validated)
        sql = (
            f"CASE {kind} WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' WHEN 'text' THEN 'string' "
            f"WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' ELSE COALESCE({kind}, 'absent') END"
        )
        return sql, (*params, path, *params, path)


class StartsLikeIsoDay(Func):
    """Whether a text starts as an ISO date does (2026-12-31…), in each database's native pattern language.

    (Django's ``__regex`` on SQLite calls back into Python for every row.)
    """

    output_field = BooleanField()

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')", params

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*')", params


def _of_type(key: str, kind: str) -> Q:
    return Q(Exact(JSONType(key), kind))


def _attribute_condition(key: str, op: str, value) -> Q:
    """Typed comparisons of one JSON attribute, alike on SQLite and PostgreSQL.

    Each comparison first checks the value's JSON type: both databases order
    JSON strings after numbers, so without it "40" (a string) would be
    greater than 30.
    """
    path = f"attributes__{key}"
    text = KeyTextTransform(key, "attributes")
    is_string = _of_type(key, "string")
    if op in ("equals", "not_equals"):
        kind = "number" if _is_number(value) else "boolean" if _is_bool(value) else "string"
        equal = _of_type(key, kind) & Q(**{path: value})
        return equal if op == "equals" else ~equal
    if op == "contains":
        return is_string & Q(**{f"{path}__icontains": value})
    if op == "in":
        return is_string & Q(**{f"{path}__in": value})
    if op in ("is_set", "not_set"):
        present = Q(In(JSONType(key), ["string", "number", "boolean", "array", "object"])) & ~Q(**{path: ""})
        return present if op == "is_set" else ~present
    if op in NUMBER_OPS:
        return _of_type(key, "number") & Q(**{f"{path}__{op}": value})
    day = _instant(value).date().isoformat() if parse_date(value) else _instant(value).isoformat()
    compare = LessThan if op == "before" else GreaterThan
    return is_string & Q(StartsLikeIsoDay(text)) & Q(compare(Substr(text, 1, len(day)), day))


def unsendable(domain_id: int, *, now=None) -> Q:
    """Contacts a workspace's campaign must not mail: opted out, or suppressed globally or for its marketing."""
    return Q(consent=Contact.Consent.OPTED_OUT) | Q(Exists(_suppressions(domain_id, now=now or timezone.now())))


def _suppressions(domain_id: int, *, now) -> QuerySet:
    """The entries that stop a workspace's marketing mail to the outer contact's address."""
    return Suppression.objects.filter(address=OuterRef("address")).filter(
        Q(scope=Suppression.Scope.GLOBAL) | Q(scope=Suppression.Scope.STREAM, domain_id=domain_id, stream="bulk"),
        Q(expires_at__isnull=True) | Q(expires_at__gt=now),
    )


def sendable(segment: Segment, *, now=None) -> QuerySet:
    """The audience a campaign to ``segment`` sends to now.

    ``unsendable`` spelled as two exclusions: PostgreSQL turns each into an
    anti-join, where the OR of ``unsendable`` would cost a subquery per contact.
    """
    now = now or timezone.now()
    held = audience(segment, now=now).exclude(consent=Contact.Consent.OPTED_OUT)
    return held.exclude(Exists(_suppressions(segment.domain_id, now=now)))


@dataclass(frozen=True)
class Counts:
    audience: int
    suppressed: int

    @property
    def sendable(self) -> int:
        return self.audience - self.suppressed


def counts(segment: Segment, *, now=None) -> Counts:
    """How many the segment holds, and how many of them a campaign would leave out (suppressed or opted out)."""
    now = now or timezone.now()
    held = audience(segment, now=now).count()
    return Counts(audience=held, suppressed=held - sendable(segment, now=now).count())
