"""The segment definition language (campaigns.segments) on SQLite and PostgreSQL alike: every field and op,
the JSON attribute comparisons, engagement relative to an injected clock, exclusions, and validation."""

import datetime as dt

import pytest

from campaigns import segments
from campaigns.models import Contact, ListMembership, Segment
from campaigns.services import contacts as contact_services
from delivery.models import Suppression
from tests.campaigns import contacts_support as support

alice, mallory, workspace = support.alice, support.mallory, support.workspace

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def people(workspace):
    """Six contacts with varied fields, attributes (typed JSON) and engagement; keyed by local part."""

    def add(local, *, name="", locale="", consent=Contact.Consent.OPTED_IN, created_days_ago=10, **fields):
        return Contact.objects.create(
            domain=workspace, address=f"{local}@example.org", name=name, locale=locale, consent=consent,
            created_at=NOW - dt.timedelta(days=created_days_ago), **fields,
        )  # fmt: skip

    return {
        "ann": add(
            "ann", name="Ann Smith", locale="en", created_days_ago=400,
            attributes={"plan": "pro", "age": 34, "score": 7.5, "vip": True, "renewal": "2027-01-15"},
            last_opened_at=NOW - dt.timedelta(days=3),
        ),
        "bob": add(
            "bob", name="Bob", locale="de",
            attributes={"plan": "free", "age": "40", "renewal": "2026-11-30T23:00:00+00:00"},
            last_clicked_at=NOW - dt.timedelta(days=20),
        ),
        "cem": add("cem", locale="tr", attributes={"plan": "", "age": 19, "vip": False}, consent="unknown"),
        "dee": add("dee", name="Dee Pro", attributes={"plan": None, "renewal": "soon"}, consent="opted_out",
                   last_opened_at=NOW - dt.timedelta(days=90)),
        "eve": add("eve", attributes={"age": 34.0, "renewal": "2026-12-01"}, consent="pending"),
        "fay": add("fay", name="Fay", locale="en", attributes={"plan": "PRO team"}, created_days_ago=1),
    }  # fmt: skip


def held(workspace, definition) -> set[str]:
    segment = Segment(domain=workspace, name="t", definition=definition)
    return {c.address.split("@")[0] for c in segments.audience(segment, now=NOW)}


def rule(field, op, value=None) -> dict:
    return {"rules": [{"field": field, "op": op, "value": value}]}


CASES = [
    # plain columns
    (rule("address", "equals", "ANN@example.org"), {"ann"}),
    (rule("address", "contains", "E@EXAMPLE"), {"dee", "eve"}),
    (rule("address", "in", ["bob@example.org", "Cem@example.org", "zed@example.org"]), {"bob", "cem"}),
    (rule("name", "equals", "Bob"), {"bob"}),
    (rule("name", "not_equals", "Bob"), {"ann", "cem", "dee", "eve", "fay"}),
    (rule("name", "contains", "pro"), {"dee"}),
    (rule("name", "is_set"), {"ann", "bob", "dee", "fay"}),
    (rule("name", "not_set"), {"cem", "eve"}),
    (rule("locale", "in", ["en", "tr"]), {"ann", "cem", "fay"}),
    (rule("consent", "equals", "opted_out"), {"dee"}),
    (rule("consent", "not_equals", "opted_in"), {"cem", "dee", "eve"}),
    (rule("consent", "in", ["pending", "unknown"]), {"cem", "eve"}),
    (rule("created_at", "before", "2025-12-01"), {"ann"}),
    (rule("created_at", "after", "2026-12-05"), {"fay"}),
    (rule("created_at", "after", "2026-12-06T00:00:00Z"), {"fay"}),
    # JSON attributes: strings
    (rule("attributes.plan", "equals", "pro"), {"ann"}),
    (rule("attributes.plan", "not_equals", "pro"), {"bob", "cem", "dee", "eve", "fay"}),
    (rule("attributes.plan", "contains", "PRO"), {"ann", "fay"}),
    (rule("attributes.plan", "in", ["free", "pro"]), {"ann", "bob"}),
    (rule("attributes.plan", "is_set"), {"ann", "bob", "fay"}),
    (rule("attributes.plan", "not_set"), {"cem", "dee", "eve"}),
    (rule("attributes.age", "contains", "4"), {"bob"}),  # only the string "40"; 34 is a number
    # JSON attributes: numbers (a string "40" is not a number; 34 and 34.0 are equal)
    (rule("attributes.age", "gt", 30), {"ann", "eve"}),
    (rule("attributes.age", "gte", 34), {"ann", "eve"}),
    (rule("attributes.age", "lt", 34), {"cem"}),
    (rule("attributes.age", "lte", 34.0), {"ann", "cem", "eve"}),
    (rule("attributes.age", "equals", 34), {"ann", "eve"}),
    (rule("attributes.age", "equals", "40"), {"bob"}),
    (rule("attributes.score", "gt", 7.25), {"ann"}),
    (rule("attributes.vip", "equals", True), {"ann"}),
    (rule("attributes.vip", "equals", False), {"cem"}),
    # JSON attributes: ISO dates by their day; "soon" is not a date
    (rule("attributes.renewal", "after", "2026-11-30"), {"ann", "eve"}),
    (rule("attributes.renewal", "before", "2026-12-01"), {"bob"}),
    (rule("attributes.renewal", "before", "2027-12-01"), {"ann", "bob", "eve"}),
    # engagement, relative to NOW
    (rule("engagement", "opened_within", 7), {"ann"}),
    (rule("engagement", "opened_within", 90), {"ann", "dee"}),
    (rule("engagement", "clicked_within", 30), {"bob"}),
    (rule("engagement", "clicked_within", 19), set()),
    (rule("engagement", "engaged_within", 30), {"ann", "bob"}),
    (rule("engagement", "never_engaged"), {"cem", "eve", "fay"}),
    # match all / any
    (
        {
            "rules": [
                {"field": "locale", "op": "equals", "value": "en"},
                {"field": "name", "op": "contains", "value": "a"},
            ]
        },
        {"ann", "fay"},
    ),
    (
        {
            "match": "any",
            "rules": [{"field": "locale", "op": "equals", "value": "de"}, {"field": "attributes.vip", "op": "is_set"}],
        },
        {"ann", "bob", "cem"},
    ),
    (
        {
            "match": "all",
            "rules": [
                {"field": "locale", "op": "equals", "value": "en"},
                {"field": "attributes.age", "op": "gt", "value": 1},
            ],
        },
        {"ann"},
    ),
    ({}, {"ann", "bob", "cem", "dee", "eve", "fay"}),
]


@pytest.mark.parametrize(("definition", "expected"), CASES, ids=[repr(c[0])[:70] for c in CASES])
def test_each_rule_holds_exactly_the_contacts_it_describes(workspace, people, definition, expected):
    assert held(workspace, definition) == expected


def test_lists_include_any_of_their_subscribed_members_and_exclusions_remove(workspace, people):
    news, vip, blocked = (contact_services.create_list(workspace=workspace, name=n) for n in ("News", "VIP", "Blocked"))
    for list_, names in ((news, "ann bob cem"), (vip, "dee"), (blocked, "bob")):
        for name in names.split():
            ListMembership.objects.create(contact_list=list_, contact=people[name])
    ListMembership.objects.filter(contact_list=news, contact=people["cem"]).update(status="unsubscribed")

    assert held(workspace, {"lists": [news.pk, vip.pk]}) == {"ann", "bob", "dee"}
    assert held(workspace, {"lists": [news.pk, vip.pk], "exclude_lists": [blocked.pk]}) == {"ann", "dee"}
    assert held(workspace, {"exclude_lists": [news.pk]}) == {"cem", "dee", "eve", "fay"}


def test_excluded_segments_exclude_their_own_audience_recursively(workspace, people):
    english = Segment.objects.create(domain=workspace, name="English", definition=rule("locale", "equals", "en"))
    # "Named" holds those with a name except the English: Bob and Dee.
    named = Segment.objects.create(
        domain=workspace, name="Named", definition={**rule("name", "is_set"), "exclude_segments": [english.pk]}
    )
    assert held(workspace, {"exclude_segments": [named.pk]}) == {"ann", "cem", "eve", "fay"}
    assert held(workspace, {"exclude_segments": [named.pk, english.pk]}) == {"cem", "eve"}


def test_a_stored_cycle_is_refused_when_counted_not_looped(workspace, people):
    first = Segment.objects.create(domain=workspace, name="A", definition={})
    second = Segment.objects.create(domain=workspace, name="B", definition={"exclude_segments": [first.pk]})
    Segment.objects.filter(pk=first.pk).update(
        definition={"exclude_segments": [second.pk]}
    )  # as if written around the checks
    first.refresh_from_db()
    with pytest.raises(segments.InvalidSegment):
        segments.audience(first, now=NOW)


def test_another_workspaces_lists_and_segments_are_unknown(workspace, people, mallory):
    from accounts.models import Domain

    evil = Domain.objects.get(name="evil.test")
    their_list = contact_services.create_list(workspace=evil, name="Theirs")
    their_segment = Segment.objects.create(domain=evil, name="Theirs", definition={})
    errors = segments.validate_definition(
        workspace, {"lists": [their_list.pk], "exclude_lists": [their_list.pk], "exclude_segments": [their_segment.pk]}
    )
    assert set(errors) == {"lists", "exclude_lists", "exclude_segments"}
    assert str(their_list.pk) in errors["lists"][0]
    # Their contacts are never in Alice's audiences, whatever the definition.
    Contact.objects.create(domain=evil, address="ann2@example.org", attributes={"plan": "pro"})
    assert held(workspace, rule("attributes.plan", "equals", "pro")) == {"ann"}


def test_validation_reports_every_problem_at_once(workspace):
    errors = segments.validate_definition(
        workspace,
        {
            "lists": "1",
            "match": "some",
            "colour": "red",
            "rules": [
                {"field": "shoe_size", "op": "equals", "value": "x"},
                {"field": "name", "op": "gt", "value": 3},
                {"field": "attributes.age", "op": "gt", "value": "thirty"},
                {"field": "attributes.renewal", "op": "before", "value": "someday"},
                {"field": "engagement", "op": "opened_within", "value": 0},
                {"field": "consent", "op": "equals", "value": "maybe"},
                {"field": "attributes.bad key", "op": "is_set"},
                {"field": "address", "op": "in", "value": []},
                {"field": "engagement", "op": "clicked_within", "value": True},
                "not a rule",
            ],
        },
    )
    assert set(errors) == {
        "lists", "match", "colour", "rules.0.field", "rules.1.op", "rules.2.value", "rules.3.value", "rules.4.value",
        "rules.5.value", "rules.6.field", "rules.7.value", "rules.8.value", "rules.9.field",
    }  # fmt: skip
    assert segments.validate_definition(workspace, ["not", "an", "object"]) == {
        "definition": ["A definition is a JSON object."]
    }


def test_a_valid_definition_has_no_problems(workspace, people):
    definition = {"match": "any", **rule("attributes.age", "gte", 18)}
    assert segments.validate_definition(workspace, definition) == {}
    for field, op, value in [(f, o, v) for f, o, v in _one_valid_rule_per_op()]:
        assert segments.validate_definition(workspace, rule(field, op, value)) == {}, (field, op)
        held(workspace, rule(field, op, value))  # and every valid rule runs on this database


def _one_valid_rule_per_op():
    sample = {
        "equals": "x", "not_equals": "x", "contains": "x", "in": ["x"], "is_set": None, "not_set": None,
        "gt": 1, "gte": 1.5, "lt": -1, "lte": 0, "before": "2026-01-01", "after": "2026-01-01T10:00:00+01:00",
    }  # fmt: skip
    for op, value in sample.items():
        yield "attributes.k", op, value
    for field in ("address", "name", "locale"):
        for op in segments.STRING_OPS:
            yield field, op, sample[op]
    yield "consent", "in", ["opted_in"]
    yield "created_at", "after", "2026-01-01"
    for op in segments.ENGAGEMENT_OPS:
        yield "engagement", op, None if op == "never_engaged" else 5


def test_a_segment_excluding_itself_or_a_segment_that_excludes_it_is_refused(workspace):
    first = Segment.objects.create(domain=workspace, name="A", definition={})
    second = Segment.objects.create(domain=workspace, name="B", definition={"exclude_segments": [first.pk]})
    itself = segments.validate_definition(workspace, {"exclude_segments": [first.pk]}, segment=first)
    around = segments.validate_definition(workspace, {"exclude_segments": [second.pk]}, segment=first)
    assert "itself" in itself["exclude_segments"][0]
    assert "lead back" in around["exclude_segments"][0]
    assert segments.validate_definition(workspace, {"exclude_segments": [first.pk]}, segment=second) == {}


def test_counts_show_the_suppressed_apart_and_sendable_is_what_is_left(workspace, people):
    Suppression.objects.create(
        address="bob@example.org", scope=Suppression.Scope.GLOBAL, reason=Suppression.Reason.HARD_BOUNCE
    )
    Suppression.objects.create(
        address="ann@example.org",
        scope=Suppression.Scope.GLOBAL,
        reason=Suppression.Reason.HARD_BOUNCE,
        expires_at=NOW - dt.timedelta(days=1),
    )
    segment = Segment.objects.create(domain=workspace, name="All", definition={})
    counted = segments.counts(segment, now=NOW)
    will_send = {c.address.split("@")[0] for c in segments.sendable(segment, now=NOW)}
    assert (counted.audience, counted.suppressed, counted.sendable) == (6, 2, 4)  # bob suppressed, dee opted out
    assert will_send == {"ann", "cem", "eve", "fay"}
    assert counted.sendable == len(will_send)
