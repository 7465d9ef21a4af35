"""campaigns.rendering: hostile templates and variables fail safely with a clear error; the rest renders as mail."""

import itertools

import pytest

from campaigns.models import TemplateVersion
from campaigns.rendering import (
    RANGE_LIMIT,
    RenderError,
    check_variables,
    example_values,
    render,
    render_version,
    validate_declarations,
)

NAME = [{"name": "name", "type": "string", "required": True}]


def _render(html="", *, subject="Hi", text="", variables=NAME, values=None, clock=None):
    return render(
        subject=subject,
        html=html,
        text=text,
        variables=variables,
        values={"name": "Ann"} if values is None else values,
        clock=clock,
    )


def _problems(**kwargs):
    with pytest.raises(RenderError) as caught:
        _render(**kwargs)
    return caught.value.problems


# --- hostile templates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ name.__init__.__globals__ }}",
        "{{ name['__class__'] }}",
        "{{ name|attr('__class__') }}",
        "{{ [name]|map(attribute='__class__')|list }}",
        "{{ name.upper() }}",
        "{{ name.format(name) }}",
    ],
)
def test_attribute_walking_is_refused_with_a_security_error(html):
    [problem] = _problems(html=html)

    assert "is not available: a template reads only its variables" in problem.message
    assert problem.part == "html" and problem.line == 1


@pytest.mark.parametrize("name", ["cycler", "joiner", "namespace", "lipsum", "dict"])
def test_jinjas_default_globals_are_gone(name):
    [problem] = _problems(html=f"{{{{ {name}.__init__ }}}}" if name == "cycler" else f"{{{{ {name}() }}}}")

    assert problem.message in (
        f'Variable "{name}" is not defined.',
        '"__init__" is not available: a template reads only its variables.',
    )


def test_a_huge_range_stops_with_a_clear_error():
    [problem] = _problems(html="{% for i in range(10**9) %}x{% endfor %}")

    assert problem.message == f"range() is limited to {RANGE_LIMIT} items."


def test_a_render_past_its_time_limit_stops(settings):
    settings.TEMPLATE_RENDER_SECONDS = 2
    ticks = itertools.count()
    clock = lambda: next(ticks) * 0.001  # noqa: E731 - every check of the clock sees 1 ms pass

    [problem] = _problems(
        html="{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}", clock=clock
    )

    assert problem.message == "The template took longer than 2 s to render."


def test_a_render_within_its_time_limit_is_not_stopped(settings):
    settings.TEMPLATE_RENDER_SECONDS = 2
    ticks = itertools.count()

    rendered = _render(html="{% for a in range(100) %}x{% endfor %}", clock=lambda: next(ticks) * 0.001)

    assert "x" * 100 in rendered.html


@pytest.mark.parametrize(
    "html",
    [
        "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}",
        "{{ 'x' * 10**9 }}",
        "{{ name|center(10**9) }}",
        "{{ name|indent(10**9) }}",
        "{{ '%0999999999d'|format(1) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ ('x' * 1000)|replace('', 'y' * 1000) }}",
        "{% macro grow(s) %}{{ grow(s ~ s) }}{% endmacro %}{{ grow('x') }}",
    ],
)
def test_output_past_the_size_limit_is_refused(settings, html):
    settings.TEMPLATE_RENDER_MAX_BYTES = 100_000

    [problem] = _problems(html=html)

    assert "exceed 100000 bytes" in problem.message or "width or precision this large" in problem.message


def test_huge_numbers_are_refused():
    [problem] = _problems(html="{{ 10 ** 10 ** 10 ** 10 }}")

    assert problem.message == "Numbers this large are not allowed."


@pytest.mark.parametrize(
    ("html", "tag"),
    [
        ("{% include 'x' %}", "{% include %}"),
        ("{% include 'self' %}{% include 'self' %}", "{% include %}"),
        ("{% import 'x' as x %}", "{% import %}"),
        ("{% from 'x' import y %}", "{% from … import %}"),
        ("{% extends 'base' %}", "{% extends %}"),
    ],
)
def test_include_import_and_extends_are_refused_when_compiled(html, tag):
    problems = _problems(html=html)

    assert {p.message for p in problems} == {f"{tag} is not allowed: a template is self-contained."}


def test_recursion_is_stopped():
    problems = _problems(html="{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")

    assert problems[0].message == "The template calls itself too deeply."


def test_the_random_filter_is_gone_so_a_render_is_repeatable():
    [problem] = _problems(html="{{ [1, 2]|random }}")

    assert (problem.message, problem.line) == ("No filter named 'random'.", 1)


# --- errors name the variable and the line ----------------------------------------------------


def test_an_undefined_variable_is_named_with_its_line_and_part():
    [problem] = _problems(html="<p>\n\n{{ amount }}</p>")

    assert (problem.message, problem.variable, problem.line, problem.part) == (
        'Variable "amount" is not defined.',
        "amount",
        3,
        "html",
    )
    assert str(problem) == 'html, line 3: Variable "amount" is not defined.'


def test_a_missing_key_of_an_object_is_named():
    variables = [{"name": "order", "type": "object", "required": True}]

    [problem] = _problems(html="{{ order.total }}", variables=variables, values={"order": {"id": 1}})

    assert (problem.message, problem.variable) == ('"total" is not in this value.', "total")


def test_syntax_errors_of_every_part_are_reported_at_once():
    problems = _problems(subject="{{ x", html="<p>\n{% for %}</p>", text="{% endif %}")

    assert [(p.part, p.line) for p in problems] == [("subject", 1), ("html", 2), ("text", 1)]


def test_all_variable_problems_are_reported_at_once():
    declared = [
        {"name": "s", "type": "string", "required": True},
        {"name": "n", "type": "number", "required": True},
        {"name": "d", "type": "date", "required": True},
        {"name": "l", "type": "list", "required": True},
        {"name": "o", "type": "object", "required": True},
        {"name": "missing", "type": "string", "required": True},
    ]

    _, problems = check_variables(declared, {"s": 1, "n": "1", "d": "monday", "l": {}, "o": [], "extra": 1})

    assert [p.message for p in problems] == [
        'Variable "s" must be a string.',
        'Variable "n" must be a number.',
        'Variable "d" must be a date (YYYY-MM-DD, or an ISO 8601 date and time).',
        'Variable "l" must be a list.',
        'Variable "o" must be an object.',
        'Variable "missing" is required.',
    ]
    assert all(p.part == "variables" for p in problems)


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("string", "x", 1),
        ("number", 1.5, True),
        ("number", 2, "2"),
        ("date", "2026-12-06", "06/12/2026"),
        ("date", "2026-12-06T10:00:00+00:00", 20261206),
        ("list", [1], "1"),
        ("object", {"a": 1}, [1]),
    ],
)
def test_each_type_accepts_its_values_and_refuses_others(kind, good, bad):
    declared = [{"name": "v", "type": kind, "required": True}]

    assert check_variables(declared, {"v": good}) == ({"v": good}, [])
    assert len(check_variables(declared, {"v": bad})[1]) == 1


def test_defaults_fill_in_and_undeclared_values_are_dropped():
    declared = [
        {"name": "greeting", "type": "string", "default": "Hello"},
        {"name": "note", "type": "string"},
    ]

    values, problems = check_variables(declared, {"unknown": "x"})

    assert problems == []
    assert values == {"greeting": "Hello", "note": None}
    rendered = _render(html="<p>{{ greeting }}|{{ note }}|{% if note %}x{% endif %}</p>", variables=declared, values={})
    assert "<p>Hello||</p>" in rendered.html


def test_declarations_are_checked():
    problems = validate_declarations(
        [
            {"name": "ok", "type": "string"},
            {"name": "ok", "type": "string"},
            {"name": "bad\r\nname", "type": "string"},
            {"name": "_private", "type": "string"},
            {"name": "loop", "type": "string"},
            {"name": "t", "type": "colour"},
            {"name": "r", "type": "number", "required": True, "default": 1},
            {"name": "e", "type": "date", "example": "soon"},
            "nonsense",
        ]
    )

    assert [p.variable for p in problems] == ["ok", "bad\r\nname", "_private", "loop", "t", "r", "e", ""]


def test_example_values_use_the_example_then_the_default_then_a_sample_of_the_type():
    declared = [
        {"name": "a", "type": "string", "example": "ex", "default": "def"},
        {"name": "b", "type": "number", "default": 3},
        {"name": "c", "type": "string"},
        {"name": "d", "type": "date"},
    ]

    assert example_values(declared) == {"a": "ex", "b": 3, "c": "[c]", "d": "2000-01-31"}


# --- hostile variables ------------------------------------------------------------------------


def test_html_in_a_variable_is_escaped_in_the_html_part_only():
    values = {"name": '<script>alert("x")</script>'}

    rendered = _render(html="<p>{{ name }}</p>", subject="Hi {{ name }}", text="Hi {{ name }}", values=values)

    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(" in rendered.html
    assert rendered.subject == 'Hi <script>alert("x")</script>'  # a subject is not HTML
    assert rendered.text == 'Hi <script>alert("x")</script>\n'


def test_line_breaks_in_a_subject_variable_are_folded_so_no_header_can_be_injected():
    rendered = _render(subject="Order {{ name }}", values={"name": "1\r\nBcc: victim@example.org\n\x00"})

    assert rendered.subject == "Order 1 Bcc: victim@example.org"


# --- mail output --------------------------------------------------------------------------------


def test_css_is_inlined_media_rules_kept_and_remote_stylesheets_not_fetched():
    html = (
        '<html><head><link rel="stylesheet" href="http://127.0.0.1:9/never.css">'
        "<style>p { color: red } @media (max-width: 600px) { p { color: blue } }</style></head>"
        "<body><p>{{ name }}</p></body></html>"
    )

    rendered = _render(html=html)

    assert '<p style="color: red;">Ann</p>' in rendered.html
    assert "@media (max-width: 600px)" in rendered.html
    assert "never.css" not in rendered.html


def test_the_text_part_is_generated_from_the_html_when_empty():
    rendered = _render(html='<h1>Hello {{ name }}</h1><p>See <a href="https://shop.test/o/1">your order</a>.</p>')

    assert "Hello Ann" in rendered.text
    assert "your order" in rendered.text and "https://shop.test/o/1" in rendered.text
    assert "<" not in rendered.text


def test_the_text_part_is_rendered_when_given():
    rendered = _render(html="<p>html</p>", text="Hi {{ name }} & co")

    assert rendered.text == "Hi Ann & co\n"  # not escaped: it is not HTML


def test_loops_and_the_loop_variable_work():
    variables = [{"name": "items", "type": "list", "required": True}]

    rendered = _render(
        html="{% for i in items %}{{ loop.index }}:{{ i.n }}{{ loop.cycle(',', ';') }}{% endfor %}",
        variables=variables,
        values={"items": [{"n": "a"}, {"n": "b"}]},
    )

    assert "1:a,2:b;" in rendered.html


def test_a_date_prints_as_iso_and_formats_with_the_date_filter():
    variables = [{"name": "d", "type": "date", "required": True}]

    rendered = _render(html="{{ d }} {{ d|date('%d/%m/%Y') }}", variables=variables, values={"d": "2026-12-06"})

    assert "2026-12-06 06/12/2026" in rendered.html


@pytest.mark.django_db
def test_a_version_renders_from_its_cache_and_a_changed_source_is_never_served_stale(alice):
    from tests.campaigns.template_factories import make_template

    template = make_template(subject="A {{ orderId }}")
    version = template.active_version
    values = {"orderId": "1", "amount": 1}
    assert render_version(version, values).subject == "A 1"
    assert render_version(version, values).subject == "A 1"

    stale = TemplateVersion(pk=version.pk, subject="B {{ orderId }}", html=version.html, variables=version.variables)

    assert render_version(stale, values).subject == "B 1"


ROWS = [{"name": "items", "type": "list", "required": True, "example": [{"n": "example"}]}]
TABLE = (
    "<p>Hello {{ name }}</p>"
    "<table>{% for i in items %}<tr><td>{{ loop.index }}</td><td>{{ i.n }}</td></tr>{% endfor %}</table>"
)


def test_the_text_made_once_from_the_html_source_says_what_converting_each_render_would():
    from campaigns.rendering import _compile, get_text

    compiled = _compile("s", TABLE, "", NAME + ROWS)
    assert compiled.derived_text is not None  # the fast path is taken for a loop over table rows

    rendered = _render(html=TABLE, variables=NAME + ROWS, values={"name": "Ann", "items": [{"n": "a"}, {"n": "<b>"}]})

    assert rendered.text.split() == get_text(rendered.html).split() == ["Hello", "Ann", "1", "a", "2", "<b>"]


def test_a_block_inside_a_tag_falls_back_to_converting_each_render():
    from campaigns.rendering import _compile

    html = '<p {% if name %}class="x"{% endif %}>Hello {{ name }}</p>'
    assert _compile("s", html, "", NAME).derived_text is None

    assert _render(html=html).text == "Hello Ann\n"


def test_problems_are_told_in_the_users_language():
    from django.utils import translation

    with translation.override("zh-hans"):
        [problem] = _problems(html="{{ amount }}")

    assert problem.message == "变量“amount”未定义。"
