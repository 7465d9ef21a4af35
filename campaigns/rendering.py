"""Rendering templates written by people we do not trust with code.

Why Jinja2's ``SandboxedEnvironment`` and not Django's template engine: a
template here is written by a marketer and rendered thousands of times a
second inside the web and worker processes. Django's engine has no notion of
an untrusted author: it cannot bound a loop, the time or the size of a render,
and it calls any callable it reaches. Jinja2's sandbox was made for exactly
this (attribute and call hooks, intercepted operators) and compiles a template
to Python once, which is what makes thousands of renders a second possible.

The sandbox is tightened further than Jinja2's default:

- a template reads its variables and nothing else: ``a.b`` is a key of a
  mapping (an ``object`` variable), never a Python attribute or method; only
  ``loop.index`` & co. are attributes. Anything starting with ``_`` is refused
  with a security error, so ``''.__class__`` and ``x.__init__.__globals__``
  lead nowhere;
- the only callables are ``range`` (capped at ``RANGE_LIMIT`` items), macros,
  ``caller`` and ``loop``: the default globals (``cycler``, ``joiner``,
  ``namespace``, ``lipsum``, ``dict``) are gone, and so is the ``random``
  filter (a re-render must give the same bytes);
- no loader: ``{% include %}``, ``{% import %}`` and ``{% extends %}`` are
  refused when the template is compiled, so nothing can recurse through them;
- every render has a time limit (``TEMPLATE_RENDER_SECONDS``) checked on every
  call, operator and loop iteration against an injectable clock, and
  an output limit (``TEMPLATE_RENDER_MAX_BYTES``) checked as the output is
  produced; the operators and filters that can multiply a size (``*``,
  ``**``, ``%``, ``center``, ``indent``, ``replace``…) refuse results past it
  before building them.

Undefined variables fail (``StrictUndefined``) with the variable's name and
the template line. The HTML part is autoescaped; the subject and the text part
are not (they are not HTML), and the subject's CR/LF (and other control
characters) are folded to a space rather than refused: a customer name pasted
with a line break must not stop a receipt, and folding leaves no way to start
a new header.

CSS is inlined with css-inline (``@media`` rules kept in a ``<style>`` for
phones, remote stylesheets never fetched) into every rendered HTML, not once
into the template source: css-inline does tens of thousands of these a
second, while inlining a source would need every ``{% %}`` to come through an
HTML parser unmoved (text between table rows does not). A text part is
generated from the HTML with inscriptis when the version has none; that one
IS done once per version when it can be proven faithful
(``_derive_text_template``), as converting every render costs five renders. A version is compiled once
and kept in a bounded cache keyed by its primary key and sources (versions
never change once written; the sources guard against a reused id).
"""

import contextvars
import dataclasses
import datetime
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import css_inline
from django.conf import settings
from django.utils.translation import gettext as _
from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing

from webmail.errors import UserError

TYPES = ("string", "number", "date", "list", "object")
RANGE_LIMIT = 10_000
CACHE_SIZE = 512
# Names a template cannot use for a variable: Jinja's own (loop, caller…) and its literals.
RESERVED_NAMES = frozenset(
    {"range", "loop", "caller", "varargs", "kwargs", "self", "true", "false", "none", "True", "False", "None"}
)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")
_LOOP_ATTRIBUTES = frozenset(
    {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0"}
    | {"previtem", "nextitem", "cycle", "changed"}
)
# A printf width or precision of 5+ digits (or `*`) could build a string of any size.
_WIDE_FORMAT = re.compile(r"%[^a-zA-Z%]*?(\*|\d{5,})")
_HEADER_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_TEXT_CONFIG = ParserConfig(display_links=True)


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str  # CSS inlined (css-inline), autoescaped
    text: str  # the version's text part rendered, or generated from the HTML (inscriptis) when empty
    # The values the render used: the ones given, checked, with the declared defaults filled in.
    values: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RenderProblem:
    message: str  # a sentence for people, e.g. 'Variable "amount" is required.'
    variable: str = ""
    line: int | None = None
    part: str = ""  # "subject" | "html" | "text" | "variables"

    def __str__(self) -> str:
        return _describe(self)


class RenderError(UserError):
    """Every problem found in a template and its variables, all at once."""

    code = "template_render_error"
    status = 400

    def __init__(self, problems: list[RenderProblem]):
        self.problems = list(problems)
        super().__init__(" ".join(_describe(p) for p in self.problems))


def _describe(problem: RenderProblem) -> str:
    if problem.line is None:
        return problem.message
    return _("%(part)s, line %(line)d: %(message)s") % {
        "part": problem.part,
        "line": problem.line,
        "message": problem.message,
    }


# --- declared variables ----------------------------------------------------------------------


def _type_problem(kind: str, value) -> str | None:
    """Why ``value`` is not of the declared ``kind``, or None when it is."""
    if kind == "string":
        ok = isinstance(value, str)
    elif kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    elif kind == "date":
        ok = isinstance(value, str) and _parse_date(value) is not None
    elif kind == "list":
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, dict)
    if ok:
        return None
    return {
        "string": _("must be a string"),
        "number": _("must be a number"),
        "date": _("must be a date (YYYY-MM-DD, or an ISO 8601 date and time)"),
        "list": _("must be a list"),
        "object": _("must be an object"),
    }[kind]


def _parse_date(value: str) -> datetime.date | datetime.datetime | None:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        return None


def validate_declarations(variables: list[dict]) -> list[RenderProblem]:
    """What is wrong with a version's list of declared variables (its names, types, defaults, examples)."""
    if not isinstance(variables, list):
        return [RenderProblem(_("The variables must be a list."), part="variables")]
    problems = []
    seen = set()
    for index, declared in enumerate(variables, start=1):
        if not isinstance(declared, dict):
            problems.append(RenderProblem(_("Variable %(n)d must be an object.") % {"n": index}, part="variables"))
            continue
        name = declared.get("name")
        if not isinstance(name, str) or not _NAME.match(name) or name in RESERVED_NAMES:
            problems.append(
                RenderProblem(
                    _(
                        "Variable %(n)d: the name must start with a letter and hold only letters, digits and _"
                        " (at most 64), and not be one of Jinja's own names."
                    )
                    % {"n": index},
                    variable=name if isinstance(name, str) else "",
                    part="variables",
                )
            )
            continue
        if name in seen:
            problems.append(
                RenderProblem(_('Variable "%(name)s" is declared twice.') % {"name": name}, name, None, "variables")
            )
        seen.add(name)
        kind = declared.get("type", "string")
        if kind not in TYPES:
            problems.append(
                RenderProblem(
                    _('Variable "%(name)s": the type must be one of %(types)s.')
                    % {"name": name, "types": ", ".join(TYPES)},
                    name,
                    None,
                    "variables",
                )
            )
            continue
        if not isinstance(declared.get("required", False), bool):
            problems.append(
                RenderProblem(
                    _('Variable "%(name)s": "required" must be true or false.') % {"name": name},
                    name,
                    None,
                    "variables",
                )
            )
        if declared.get("required") and declared.get("default") is not None:
            problems.append(
                RenderProblem(
                    _('Variable "%(name)s" is required and has a default: choose one.') % {"name": name},
                    name,
                    None,
                    "variables",
                )
            )
        for field, sentence in (
            ("default", _('Variable "%(name)s": the default %(why)s.')),
            ("example", _('Variable "%(name)s": the example %(why)s.')),
        ):
            value = declared.get(field)
            if value is not None and (why := _type_problem(kind, value)):
                problems.append(
                    RenderProblem(
                        sentence % {"name": name, "why": why},
                        name,
                        None,
                        "variables",
                    )
                )
    return problems


def check_variables(declared: list[dict], values: dict) -> tuple[dict, list[RenderProblem]]:
    """The values a render uses (defaults applied, undeclared ones dropped) and every problem with them.

    The result is JSON-safe (dates stay ISO strings) so it can be stored with a
    send and given back to ``render`` to reproduce it.
    """
    if not isinstance(values, dict):
        return {}, [RenderProblem(_("The variables must be an object."), part="variables")]
    result, problems = {}, []
    for spec in declared:
        name, kind = spec["name"], spec.get("type", "string")
        value = values.get(name)
        if value is not None:
            if why := _type_problem(kind, value):
                problems.append(
                    RenderProblem(
                        _('Variable "%(name)s" %(why)s.') % {"name": name, "why": why}, name, None, "variables"
                    )
                )
                continue
            result[name] = value
        elif spec.get("default") is not None:
            result[name] = spec["default"]
        elif spec.get("required"):
            problems.append(
                RenderProblem(_('Variable "%(name)s" is required.') % {"name": name}, name, None, "variables")
            )
        else:
            result[name] = None  # declared and optional: renders as nothing, `{% if name %}` is false
    return result, problems


def example_values(variables: list[dict]) -> dict:
    """Values to preview a template with: each variable's example, else its default, else a sample of its type."""
    samples = {"number": 0, "date": "2000-01-31", "list": [], "object": {}}
    values = {}
    for spec in variables:
        kind = spec.get("type", "string")
        for candidate in (spec.get("example"), spec.get("default")):
            if candidate is not None:
                values[spec["name"]] = candidate
                break
        else:
            values[spec["name"]] = samples.get(kind, f"[{spec['name']}]")
    return values


# --- the sandbox -------------------------------------------------------------------------------


class _LimitExceeded(Exception):
    """A render went past its time or size budget (or asked for something too big)."""


@dataclass
class _Budget:
    clock: Callable[[], float]
    deadline: float
    max_bytes: int
    used: int = 0


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("template_render_budget", default=None)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None and budget.clock() > budget.deadline:
        raise _LimitExceeded(
            _("The template took longer than %(seconds)s s to render.") % {"seconds": settings.TEMPLATE_RENDER_SECONDS}
        )


def _check_size(size: int) -> None:
    budget = _budget.get()
    limit = budget.max_bytes if budget is not None else settings.TEMPLATE_RENDER_MAX_BYTES
    if size > limit:
        raise _LimitExceeded(_("The template's output would exceed %(limit)d bytes.") % {"limit": limit})


class _VariableError(UndefinedError):
    def __init__(self, message: str, variable: str):
        super().__init__(message)
        self.variable = variable


class _Undefined(StrictUndefined):
    """StrictUndefined whose error names the variable (the line is added from the traceback)."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args, **kwargs):
        name = self._undefined_name if isinstance(self._undefined_name, str) else ""
        if self._undefined_hint:
            message = self._undefined_hint
        elif self._undefined_obj is missing:
            message = _('Variable "%(name)s" is not defined.') % {"name": name}
        else:
            message = _('"%(name)s" is not in this value.') % {"name": name}
        raise _VariableError(message, name)

    def __getattr__(self, name):
        if name[:2] == "__":
            raise AttributeError(name)
        self._fail_with_undefined_error()

    __str__ = __iter__ = __len__ = __bool__ = __eq__ = __ne__ = __hash__ = __contains__ = _fail_with_undefined_error
    __getitem__ = __call__ = __int__ = __float__ = __add__ = __radd__ = _fail_with_undefined_error


def _guarded(iterable):
    """Every loop iterates through this (see ``_compile_part``): the time limit is checked per item."""
    for item in iterable:
        _tick()
        yield item


def _range(*args):
    numbers = range(*args)
    if len(numbers) > RANGE_LIMIT:
        raise _LimitExceeded(_("range() is limited to %(limit)d items.") % {"limit": RANGE_LIMIT})
    return numbers


def _capped(position: int, name: str):
    """A filter whose argument at ``position`` is a width or a count, refused past the output limit."""

    def wrap(function):
        def capped(*args, **kwargs):
            value = kwargs.get(name, args[position] if len(args) > position else 0)
            if isinstance(value, int) and not isinstance(value, bool):
                _check_size(abs(value))
            return function(*args, **kwargs)

        capped.jinja_pass_arg = getattr(function, "jinja_pass_arg", None)
        return capped

    return wrap


def _format(value, *args, **kwargs):
    if isinstance(value, str) and _WIDE_FORMAT.search(value):
        raise _LimitExceeded(_("A format width or precision this large is not allowed."))
    return _BASE_FILTERS["format"](value, *args, **kwargs)


def _replace(eval_ctx, value, old, new, count=None):
    text, old, new = str(value), str(old), str(new)
    if text and (len(text) + 1) * len(new) > settings.TEMPLATE_RENDER_MAX_BYTES:
        occurrences = len(text) + 1 if not old else text.count(old)
        _check_size(len(text) + occurrences * (len(new) - len(old)))
    return _BASE_FILTERS["replace"](eval_ctx, value, old, new, count)


def _date(value, format="%Y-%m-%d"):  # noqa: A002 - the filter's argument as authors write it
    if isinstance(value, str):
        value = _parse_date(value)
    if not isinstance(value, datetime.date):
        raise _VariableError(_("The date filter needs a date."), "")
    return value.strftime(format)


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *, autoescape: bool):
        super().__init__(
            autoescape=autoescape, undefined=_Undefined, finalize=_finalize, auto_reload=False, cache_size=0
        )
        self.globals = {"range": _range}
        self.filters.pop("random", None)
        for name, position, argument in (
            ("center", 1, "width"),
            ("indent", 1, "width"),
            ("wordwrap", 2, "width"),
            ("slice", 1, "slices"),
            ("truncate", 2, "length"),
        ):
            self.filters[name] = _capped(position, argument)(self.filters[name])
        self.filters["format"] = _format
        self.filters["replace"] = _replace
        self.filters["date"] = _date
        self.filters["_guarded"] = _guarded

    def is_safe_attribute(self, obj, attr, value) -> bool:
        return isinstance(obj, LoopContext) and attr in _LOOP_ATTRIBUTES

    def is_safe_callable(self, obj) -> bool:
        return (
            obj is _range
            or isinstance(obj, Macro | LoopContext)
            or (
                getattr(obj, "__self__", None).__class__ is LoopContext
                and getattr(obj, "__name__", "") in _LOOP_ATTRIBUTES
            )
        )

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute in obj and attribute[:1] != "_":  # the common case, first
            return obj[attribute]
        if not isinstance(attribute, str) or attribute.startswith("_"):
            return self.unsafe_undefined(obj, str(attribute))
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        if isinstance(obj, LoopContext) and attribute in _LOOP_ATTRIBUTES:
            return getattr(obj, attribute)
        if isinstance(obj, StrictUndefined):
            return obj  # `a.b` with `a` undefined: the error is about `a`
        return self.unsafe_undefined(obj, attribute)

    def getitem(self, obj, argument):
        if isinstance(argument, str):
            return self.getattr(obj, argument)
        if isinstance(obj, list | tuple | str) and isinstance(argument, int | slice):
            try:
                return obj[argument]
            except IndexError:
                return self.undefined(obj=obj, name=str(argument))
        return self.undefined(obj=obj, name=str(argument))

    def unsafe_undefined(self, obj, attribute):
        # Raised at once, not returned as an undefined value that `is defined` or a filter could swallow.
        raise SecurityError(
            _('"%(name)s" is not available: a template reads only its variables.') % {"name": attribute}
        )

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature
        _tick()
        if isinstance(__obj, StrictUndefined):
            __obj._fail_with_undefined_error()
        for value in args:
            if isinstance(value, str):
                _check_size(len(value))
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context, operator, left, right):
        _tick()
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(times, int):
                    _check_size(len(sequence) * times)
        elif operator == "**":
            numbers = isinstance(left, int | float) and isinstance(right, int | float)
            if numbers and abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > 1024:
                raise _LimitExceeded(_("Numbers this large are not allowed."))
        elif operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise _LimitExceeded(_("A format width or precision this large is not allowed."))
        elif operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            _check_size(len(left) + len(right))
        return super().call_binop(context, operator, left, right)


def _finalize(value):
    # No time check here: without a loop or a call (which check), output is bounded by the template's size.
    return "" if value is None else value


_BASE_FILTERS = dict(SandboxedEnvironment().filters)
_replace.jinja_pass_arg = _BASE_FILTERS["replace"].jinja_pass_arg
_HTML_ENV = _Sandbox(autoescape=True)
_TEXT_ENV = _Sandbox(autoescape=False)
_DERIVED_ENV = _Sandbox(autoescape=False)
_DERIVED_ENV.trim_blocks = _DERIVED_ENV.lstrip_blocks = True  # a line holding only {% %} leaves no blank line
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False, keep_link_tags=False)
_FORBIDDEN = {
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
    nodes.Extends: "{% extends %}",
}


@dataclass(frozen=True)
class _Compiled:
    subject: object
    html: object
    text: object | None  # None: generated from the HTML
    variables: list
    derived_text: object | None = None  # the HTML's text as a template, when that is proven faithful


def _compile_part(source: str, part: str, env: _Sandbox, problems: list[RenderProblem]):
    try:
        return _compile_tree(env.parse(source), part, env, problems)
    except TemplateSyntaxError as exc:  # also an unknown filter or test, found when the tree is compiled
        problems.append(RenderProblem(exc.message or str(exc), line=exc.lineno, part=part))
        return None


def _compile_tree(tree: nodes.Template, part: str, env: _Sandbox, problems: list[RenderProblem]):
    ok = True
    for node_type, tag in _FORBIDDEN.items():
        for node in tree.find_all(node_type):
            ok = False
            problems.append(
                RenderProblem(
                    _("%(tag)s is not allowed: a template is self-contained.") % {"tag": tag},
                    line=node.lineno,
                    part=part,
                )
            )
    if not ok:
        return None
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, "_guarded", [], [], None, None, lineno=loop.lineno)
        loop.iter.set_environment(env)
    return env.from_string(tree)


def _compile(subject: str, html: str, text: str, variables: list[dict]) -> _Compiled:
    problems = validate_declarations(variables)
    compiled = _Compiled(
        subject=_compile_part(subject, "subject", _TEXT_ENV, problems),
        html=_compile_part(html, "html", _HTML_ENV, problems),
        text=_compile_part(text, "text", _TEXT_ENV, problems) if text.strip() else None,
        variables=variables,
    )
    if problems:
        raise RenderError(problems)
    if compiled.text is None:
        compiled = dataclasses.replace(compiled, derived_text=_derive_text_template(html, compiled))
    return compiled


# Where a {% %} sits between table rows or cells, its placeholder must be a row or a cell too: the HTML
# parser moves text found there out of the table (and the loop would lose its body).
_ROW_BEFORE = re.compile(r"<(table|tbody|thead|tfoot)\b[^>]*>\s*$|</tr>\s*$", re.I)
_ROW_AFTER = re.compile(r"^\s*(<tr\b|</(table|tbody|thead|tfoot)>)", re.I)
_CELL_BEFORE = re.compile(r"<tr\b[^>]*>\s*$|</t[dh]>\s*$", re.I)
_CELL_AFTER = re.compile(r"^\s*(<t[dh]\b|</tr>)", re.I)


def _placeholders(pieces: list, constructs: list[str]):
    """The HTML source with each Jinja construct as a placeholder that the HTML parser leaves where it is."""
    for index, piece in enumerate(pieces):
        if isinstance(piece, str):
            yield piece
            continue
        mark = f"\ue000{piece}\ue001"
        before = next((p for p in reversed(pieces[:index]) if isinstance(p, str)), "")
        after = next((p for p in pieces[index + 1 :] if isinstance(p, str)), "")
        if constructs[piece].startswith("{%") and (_ROW_BEFORE.search(before) or _ROW_AFTER.match(after)):
            yield f"<tr><td>{mark}</td></tr>"
        elif constructs[piece].startswith("{%") and (_CELL_BEFORE.search(before) or _CELL_AFTER.match(after)):
            yield f"<td>{mark}</td>"
        else:
            yield mark


_MARK = re.compile("\ue000(\\d+)\ue001")


def _derive_text_template(html: str, compiled: _Compiled):
    """The text part as a template, made once from the HTML source, or None to convert every render instead.

    Converting each rendered HTML with inscriptis costs several times the
    render itself. Variables rarely change the layout of a message, so the
    HTML *source* is converted once, each ``{{ }}``/``{% %}`` standing in as
    a private-use placeholder, and the placeholders are put back as Jinja.
    This is used only when it is provably the same: every ``{% %}`` survived
    in order (one inside a tag's attributes does not), and for the version's
    example values the template gives the same words as converting the
    rendered HTML (whitespace aside: table columns are padded to the widths
    of the placeholders).
    """
    if "\ue000" in html or "\ue001" in html:
        return None  # the placeholders' own characters: nothing to tell them apart from
    constructs, pieces, current = [], [], None
    for _line, kind, value in _TEXT_ENV.lex(html):
        if kind in ("raw_begin", "raw_end"):
            return None  # {% raw %} text would turn into Jinja once put back
        if kind == "data" and current is None:
            pieces.append(value)
        elif current is None:
            current = [value]
        else:
            current.append(value)
        if kind in ("variable_end", "block_end", "comment_end"):
            constructs.append("".join(current))
            pieces.append(len(constructs) - 1)
            current = None
    text = get_text("".join(_placeholders(pieces, constructs)), _TEXT_CONFIG).strip()
    blocks = [i for i, c in enumerate(constructs) if c.startswith("{%")]
    found = [int(n) for n in _MARK.findall(text)]
    if [n for n in found if n in set(blocks)] != blocks or len(found) != len(set(found)):
        return None
    problems: list[RenderProblem] = []
    template = _compile_part(_MARK.sub(lambda m: constructs[int(m.group(1))], text), "text", _DERIVED_ENV, problems)
    if template is None:
        return None
    try:
        sample = _render_compiled(compiled, example_values(compiled.variables), None)
        derived = _render_compiled(
            dataclasses.replace(compiled, derived_text=template), example_values(compiled.variables), None
        )
    except RenderError:
        return None
    return template if sample.text.split() == derived.text.split() else None


def _context(declared: list[dict], values: dict) -> dict:
    """The values as the template sees them: dates become dates (printed as ISO, formatted by the date filter)."""
    context = dict(values)
    for spec in declared:
        if spec.get("type") == "date" and isinstance(context.get(spec["name"]), str):
            context[spec["name"]] = _parse_date(context[spec["name"]])
    return context


def _template_line(exc: BaseException) -> int | None:
    """The template line of a render error: Jinja rewrites the traceback so template frames carry template lines."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _run(template, context: dict, part: str, budget: _Budget, problems: list[RenderProblem]) -> str | None:
    chunks, used, limit = [], budget.used, budget.max_bytes
    try:
        try:  # Template.generate, without its extra generator layer around every chunk
            for chunk in template.root_render_func(template.new_context(context)):
                used += len(chunk)
                if used > limit:
                    _check_size(used)
                chunks.append(chunk)
        except Exception:
            template.environment.handle_exception()  # re-raises with the template's lines in the traceback
        budget.used = used
    except _VariableError as exc:
        problems.append(RenderProblem(exc.message, exc.variable, _template_line(exc), part))
    except RecursionError as exc:
        problems.append(RenderProblem(_("The template calls itself too deeply."), line=_template_line(exc), part=part))
    except (_LimitExceeded, SecurityError) as exc:
        problems.append(RenderProblem(str(exc), line=_template_line(exc), part=part))
    except Exception as exc:  # noqa: BLE001 - anything an author's expression can raise (1/0, "a" + 1…) is their error
        problems.append(RenderProblem(f"{type(exc).__name__}: {exc}", line=_template_line(exc), part=part))
    else:
        return "".join(chunks)
    return None


def _render_compiled(compiled: _Compiled, values: dict, clock: Callable[[], float] | None) -> Rendered:
    checked, problems = check_variables(compiled.variables, values)
    if problems:
        raise RenderError(problems)
    clock = clock or time.monotonic
    budget = _Budget(clock, clock() + settings.TEMPLATE_RENDER_SECONDS, settings.TEMPLATE_RENDER_MAX_BYTES)
    context = _context(compiled.variables, checked)
    token = _budget.set(budget)
    try:
        subject = _run(compiled.subject, context, "subject", budget, problems)
        html = _run(compiled.html, context, "html", budget, problems)
        # The text made from the HTML fails where the HTML did: it would only repeat the HTML's problems.
        text_template = compiled.text or (compiled.derived_text if not problems else None)
        text = _run(text_template, context, "text", budget, problems) if text_template else None
    finally:
        _budget.reset(token)
    if problems:
        raise RenderError(problems)
    html = _INLINER.inline(html)
    if text is None:
        text = get_text(html, _TEXT_CONFIG).strip()
    return Rendered(
        subject=_HEADER_BREAKS.sub(" ", subject).strip(), html=_mime_body(html), text=_mime_body(text), values=checked
    )


def _mime_body(body: str) -> str:
    """LF line ends and a final newline, as a MIME text part gives its content back: a re-render equals the mail."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    return body if body.endswith("\n") else body + "\n"


def render(*, subject: str, html: str, text: str, variables: list[dict], values: dict, clock=None) -> Rendered:
    """Render a template from its sources (a preview, an unsaved edit). Raises RenderError with every problem."""
    return _render_compiled(_compile(subject, html, text, variables), values, clock)


_cache: OrderedDict[tuple, _Compiled] = OrderedDict()
_cache_lock = threading.Lock()


def _compiled_version(version) -> _Compiled:
    if version.pk is None:
        return _compile(version.subject, version.html, version.text, version.variables)
    # The sources are part of the key, not only the primary key: SQLite hands a deleted row's id to the
    # next row, and a cached template must never render another version's text.
    key = (version.pk, version.subject, version.html, version.text)
    with _cache_lock:
        compiled = _cache.get(key)
        if compiled is not None:
            _cache.move_to_end(key)
            return compiled
    compiled = _compile(version.subject, version.html, version.text, version.variables)
    with _cache_lock:
        _cache[key] = compiled
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def render_version(version, values: dict, *, clock=None) -> Rendered:
    """Render a saved, immutable version; its compiled form is cached (by primary key and sources)."""
    compiled = dataclasses.replace(_compiled_version(version), variables=version.variables)
    return _render_compiled(compiled, values, clock)
