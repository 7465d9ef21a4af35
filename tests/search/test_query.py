from datetime import UTC, datetime, timedelta

import pytest

from mailboxes.search import QuerySyntaxError, parse_query
from mailboxes.search.query import (
    MATCH_ALL,
    And,
    DateBound,
    Flag,
    HasAttachment,
    HasLabel,
    InFolder,
    Not,
    Or,
    RelativeAge,
    SizeBound,
    Text,
    names_folder,
)


def test_words_are_anded():
    assert parse_query("quarterly report") == And((Text("quarterly"), Text("report")))


def test_quoted_phrase():
    assert parse_query('"quarterly report"') == Text("quarterly report", phrase=True)


def test_empty_query_matches_everything():
    assert parse_query("   ") == MATCH_ALL


@pytest.mark.parametrize(
    ("query", "node"),
    [
        ("from:alice", Text("alice", field="from")),
        ("to:bob@example.test", Text("bob@example.test", field="to")),
        ("cc:carol", Text("carol", field="cc")),
        ('subject:"weekly sync"', Text("weekly sync", field="subject", phrase=True)),
        ("filename:report.pdf", Text("report.pdf", field="filename")),
        ("FROM:alice", Text("alice", field="from")),
        ("label:work", HasLabel("work")),
        ('label:"to do"', HasLabel("to do")),
        ("in:trash", InFolder("trash")),
        ("in:anywhere", InFolder("anywhere")),
        ("is:unread", Flag("is_read", False)),
        ("is:read", Flag("is_read", True)),
        ("is:starred", Flag("is_starred", True)),
        ("has:attachment", HasAttachment()),
        ("before:2024-05-31", DateBound(datetime(2024, 5, 31, tzinfo=UTC), after=False)),
        ("after:2024/01/02", DateBound(datetime(2024, 1, 2, tzinfo=UTC), after=True)),
        ("older_than:2d", RelativeAge(timedelta(days=2), newer=False)),
        ("newer_than:3w", RelativeAge(timedelta(weeks=3), newer=True)),
        ("newer_than:1y", RelativeAge(timedelta(days=365), newer=True)),
        ("larger:10M", SizeBound(10 * 1024 * 1024, larger=True)),
        ("smaller:500k", SizeBound(500 * 1024, larger=False)),
        ("larger:1000", SizeBound(1000, larger=True)),
        ("invoic*", Text("invoic", prefix=True)),
    ],
)
def test_operators(query, node):
    assert parse_query(query) == node


def test_unknown_operator_is_plain_text():
    assert parse_query("re:meeting") == Text("re:meeting")


def test_negation_of_word_and_operator():
    assert parse_query("-spam -is:starred") == And((Not(Text("spam")), Not(Flag("is_starred", True))))


def test_double_negation_cancels():
    assert parse_query("-(-budget)") == Text("budget")


def test_hyphen_inside_a_word_is_not_negation():
    assert parse_query("e-mail") == Text("e-mail")


def test_or_binds_looser_than_and():
    assert parse_query("a b OR c") == Or((And((Text("a"), Text("b"))), Text("c")))


def test_parentheses_group():
    assert parse_query("a (b OR c)") == And((Text("a"), Or((Text("b"), Text("c")))))


def test_nested_combination():
    node = parse_query('from:alice (invoice OR "purchase order") -label:paid after:2024-01-01')
    assert node == And(
        (
            Text("alice", field="from"),
            Or((Text("invoice"), Text("purchase order", phrase=True))),
            Not(HasLabel("paid")),
            DateBound(datetime(2024, 1, 1, tzinfo=UTC), after=True),
        )
    )


def test_explicit_and_is_accepted():
    assert parse_query("a AND b") == And((Text("a"), Text("b")))


def test_lowercase_or_is_a_word():
    assert parse_query("this or that") == And((Text("this"), Text("or"), Text("that")))


def test_or_chains_flatten():
    assert parse_query("a OR b OR c") == Or((Text("a"), Text("b"), Text("c")))


def test_punctuation_only_words_are_ignored():
    assert parse_query("budget !!!") == Text("budget")


def test_chinese_query_is_text():
    assert parse_query("北京大学") == Text("北京大学")


def test_names_folder():
    assert not names_folder(parse_query("budget"))
    assert names_folder(parse_query("budget (in:trash OR in:spam)"))


@pytest.mark.parametrize(
    ("query", "position", "fragment"),
    [
        ("(budget", 0, "never closed"),
        ("budget)", 6, "no opening"),
        ('"budget', 0, "quotation mark"),
        ("OR budget", 0, "OR needs"),
        ("budget OR", 7, "OR needs"),
        ("a OR OR b", 2, "OR needs"),
        ("()", 0, "empty"),
        ("from:", 0, "needs a value"),
        ("a from: b", 2, "needs a value"),
        ("in:nowhere", 0, "in: takes"),
        ("is:maybe", 0, "is: takes"),
        ("has:pets", 0, "has: takes"),
        ("before:yesterday", 0, "not a date"),
        ("after:2024-13-45", 0, "not a date"),
        ("larger:huge", 0, "size"),
        ("older_than:soon", 0, "age"),
        ('subject:""', 0, "no words"),
        ("a AND", 2, "AND needs"),
        ("a -OR b", 2, "'-'"),
        ("(a OR)", 3, "OR needs"),
    ],
)
def test_bad_syntax_says_what_and_where(query, position, fragment):
    with pytest.raises(QuerySyntaxError) as error:
        parse_query(query)
    assert fragment in error.value.message
    assert error.value.position == position


def test_too_deep_nesting_is_refused():
    with pytest.raises(QuerySyntaxError):
        parse_query("(" * 100 + "a" + ")" * 100)


def test_too_long_query_is_refused():
    with pytest.raises(QuerySyntaxError):
        parse_query("a " * 2000)


def test_syntax_error_is_a_value_error():
    assert issubclass(QuerySyntaxError, ValueError)
