"""The search query language, parsed once into a syntax tree that each backend compiles.

Grammar (Gmail-like)::

    query   := or_expr?
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= unary+                      -- juxtaposition is AND ("AND" is accepted too)
    unary   := "-" unary | atom
    atom    := "(" or_expr ")" | OPERATOR ":" value | "quoted phrase" | word

A ``name:value`` whose name is not an operator is searched as plain text
(``re:meeting``), as Gmail does. Operator values are checked here, so a
backend only ever sees valid filters.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mailboxes.models import Folder

TEXT_FIELDS = ("subject", "from", "to", "cc", "filename")
FOLDERS = (*Folder.values, "anywhere")
_IS_VALUES = {"unread": ("is_read", False), "read": ("is_read", True), "starred": ("is_starred", True)}
_IS_VALUES["unstarred"] = ("is_starred", False)
_HAS_VALUES = {"attachment", "attachments"}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}
_AGE_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_AGE_UNITS |= {"m": timedelta(days=30), "y": timedelta(days=365)}
MAX_QUERY_LENGTH = 2000
MAX_DEPTH = 32


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed: ``message`` says why, ``position`` where (0-based offset)."""

    def __init__(self, message: str, position: int = 0):
        super().__init__(f"{message} (at character {position + 1})")
        self.message = message
        self.position = position


# --- The syntax tree --------------------------------------------------------


class Node:
    """Base of the syntax tree; nodes are immutable and compare by value."""


@dataclass(frozen=True)
class Text(Node):
    """Words to find: ``field`` None means anywhere (subject, people, body, file names).

    ``phrase`` keeps the words adjacent and in order; ``prefix`` makes the last
    word match as a prefix (``invoic*``).
    """

    value: str
    field: str | None = None
    phrase: bool = False
    prefix: bool = False


@dataclass(frozen=True)
class InFolder(Node):
    folder: str  # a Folder value or "anywhere"


@dataclass(frozen=True)
class HasLabel(Node):
    name: str


@dataclass(frozen=True)
class Flag(Node):
    """``is:unread`` and friends: the item's boolean ``field`` equals ``value``."""

    field: str
    value: bool


@dataclass(frozen=True)
class HasAttachment(Node):
    pass


@dataclass(frozen=True)
class DateBound(Node):
    """``after:`` (inclusive, ``after=True``) or ``before:`` (exclusive) a UTC instant."""

    at: datetime
    after: bool


@dataclass(frozen=True)
class RelativeAge(Node):
    """``newer_than:2d`` (``newer=True``) or ``older_than:1y``; resolved against the clock at search time."""

    age: timedelta
    newer: bool

    def resolve(self, now: datetime) -> DateBound:
        return DateBound(at=now - self.age, after=self.newer)


@dataclass(frozen=True)
class SizeBound(Node):
    """``larger:`` (strictly more than ``size`` bytes) or ``smaller:`` (strictly less)."""

    size: int
    larger: bool


@dataclass(frozen=True)
class Not(Node):
    child: Node


@dataclass(frozen=True)
class And(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or(Node):
    children: tuple[Node, ...]


MATCH_ALL = And(())


def walk(node: Node):
    """Every node of the tree, depth first."""
    yield node
    if isinstance(node, Not):
        yield from walk(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from walk(child)


def names_folder(node: Node) -> bool:
    """Whether the query says which folders to look in (else trash and spam are left out)."""
    return any(isinstance(n, InFolder) for n in walk(node))


# --- Lexer -------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "(" ")" "-" "OR" "AND" "WORD" "PHRASE" "FIELD"
    value: str
    pos: int
    field: str = ""  # for FIELD: the operator name; value is the raw value (phrase already unquoted)
    quoted: bool = False


_OPERATORS = {*TEXT_FIELDS, "label", "in", "is", "has", "before", "after"}
_OPERATORS |= {"older_than", "newer_than", "larger", "smaller", "older", "newer"}
_WORD_END = re.compile(r'[\s()"]')


def _read_quoted(query: str, start: int) -> tuple[str, int]:
    """The text of the quoted string opening at ``start`` and the offset after its closing quote."""
    end = query.find('"', start + 1)
    if end == -1:
        raise QuerySyntaxError("This quotation mark is never closed.", start)
    return query[start + 1 : end], end + 1


def _tokens(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch, ch, i))
            i += 1
        elif ch == '"':
            text, i_next = _read_quoted(query, i)
            tokens.append(_Token("PHRASE", text, i))
            i = i_next
        elif ch == "-" and i + 1 < n and not query[i + 1].isspace() and query[i + 1] != ")":
            tokens.append(_Token("-", ch, i))
            i += 1
        else:
            match = _WORD_END.search(query, i)
            end = match.start() if match else n
            word = query[i:end]
            name, colon, rest = word.partition(":")
            if colon and name.lower() in _OPERATORS:
                if rest:
                    tokens.append(_Token("FIELD", rest, i, field=name.lower()))
                elif end < n and query[end] == '"':
                    text, end = _read_quoted(query, end)
                    tokens.append(_Token("FIELD", text, i, field=name.lower(), quoted=True))
                else:
                    raise QuerySyntaxError(f"{name}: needs a value, like {name}:something.", i)
            elif word == "OR" or word == "|":
                tokens.append(_Token("OR", word, i))
            elif word == "AND":
                tokens.append(_Token("AND", word, i))
            else:
                tokens.append(_Token("WORD", word, i))
            i = end
    return tokens


# --- Parser ------------------------------------------------------------------


class _Parser:
    def __init__(self, query: str):
        self.query = query
        self.tokens = _tokens(query)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            return MATCH_ALL
        node = self.or_expr()
        token = self.peek()
        if token is not None:  # only a stray ")" stops or_expr early
            raise QuerySyntaxError("This closing parenthesis has no opening one.", token.pos)
        return node

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            after = self.peek()
            if after is None or after.kind in (")", "OR", "AND"):
                raise QuerySyntaxError("OR needs something to search on both sides.", token.pos)
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self) -> Node:
        children = []
        while (token := self.peek()) is not None and token.kind not in (")", "OR"):
            if token.kind == "AND":
                self.take()
                after = self.peek()
                if not children or after is None or after.kind in (")", "OR", "AND"):
                    raise QuerySyntaxError("AND needs something to search on both sides.", token.pos)
                continue
            children.append(self.unary())
        if not children:
            token = self.peek()
            position = token.pos if token else len(self.query)
            if token is not None and token.kind == "OR":
                raise QuerySyntaxError("OR needs something to search on both sides.", token.pos)
            raise QuerySyntaxError("Something to search for is missing here.", position)
        return children[0] if len(children) == 1 else And(tuple(children))

    def unary(self) -> Node:
        token = self.take()
        if token.kind == "-":
            after = self.peek()
            if after is None or after.kind in (")", "OR", "AND"):
                raise QuerySyntaxError("'-' must come right before what to leave out.", token.pos)
            child = self.nested(self.unary)
            return child.child if isinstance(child, Not) else Not(child)
        if token.kind == "(":
            if (after := self.peek()) is not None and after.kind == ")":
                raise QuerySyntaxError("These parentheses are empty.", token.pos)
            node = self.nested(self.or_expr)
            closing = self.peek()
            if closing is None or closing.kind != ")":
                raise QuerySyntaxError("This opening parenthesis is never closed.", token.pos)
            self.take()
            return node
        if token.kind == "PHRASE":
            return _text(token.value, None, phrase=True, pos=token.pos)
        if token.kind == "WORD":
            return _text(token.value, None, phrase=False, pos=token.pos)
        if token.kind == "FIELD":
            return _operator(token)
        raise QuerySyntaxError("Something to search for is missing here.", token.pos)  # pragma: no cover

    def nested(self, parse):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QuerySyntaxError("This query nests too deeply.", self.peek().pos if self.peek() else 0)
        try:
            return parse()
        finally:
            self.depth -= 1


def _text(value: str, field: str | None, *, phrase: bool, pos: int) -> Node:
    from mailboxes.search.text import has_terms

    prefix = False
    if not phrase and value.endswith("*") and len(value) > 1:
        value, prefix = value.rstrip("*"), True
    if not has_terms(value):
        # Punctuation only ("--", "!!!") and an empty phrase match everything: nothing to look for.
        if phrase or field:
            raise QuerySyntaxError("There are no words to search for here.", pos)
        return MATCH_ALL
    return Text(value=value, field=field, phrase=phrase, prefix=prefix)


def _date(value: str, pos: int) -> datetime:
    for fmt in ("%Y-%m-%d", "%Y/%m/%d"):
        try:
            day = datetime.strptime(value, fmt).date()  # noqa: DTZ007 - a calendar day, made UTC below
        except ValueError:
            continue
        return datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    raise QuerySyntaxError(f"{value!r} is not a date; write it like 2024-05-31.", pos)


def _operator(token: _Token) -> Node:
    name, value, pos = token.field, token.value, token.pos
    key = value.lower()
    if name in TEXT_FIELDS:
        return _text(value, name, phrase=token.quoted, pos=pos)
    if name == "label":
        return HasLabel(name=value)
    if name == "in":
        if key not in FOLDERS:
            raise QuerySyntaxError(f"in: takes one of {', '.join(FOLDERS)}.", pos)
        return InFolder(folder=key)
    if name == "is":
        if key not in _IS_VALUES:
            raise QuerySyntaxError(f"is: takes one of {', '.join(_IS_VALUES)}.", pos)
        field, flag = _IS_VALUES[key]
        return Flag(field=field, value=flag)
    if name == "has":
        if key not in _HAS_VALUES:
            raise QuerySyntaxError("has: takes attachment.", pos)
        return HasAttachment()
    if name in ("before", "after"):
        return DateBound(at=_date(value, pos), after=name == "after")
    if name in ("larger", "smaller"):
        match = re.fullmatch(r"(\d{1,15})\s*([a-z]*)", key)
        if not match or match.group(2) not in _SIZE_UNITS:
            raise QuerySyntaxError(f"{name}: takes a size like 500K or 10M.", pos)
        return SizeBound(size=int(match.group(1)) * _SIZE_UNITS[match.group(2)], larger=name == "larger")
    # older_than / newer_than (Gmail also accepts older: / newer: with a date)
    if name in ("older", "newer") and re.fullmatch(r"\d{4}[-/]\d\d[-/]\d\d", value):
        return DateBound(at=_date(value, pos), after=name == "newer")
    match = re.fullmatch(r"(\d{1,5})([hdwmy])", key)
    if not match:
        raise QuerySyntaxError(f"{name}: takes an age like 3d, 2w, 6m or 1y.", pos)
    return RelativeAge(age=int(match.group(1)) * _AGE_UNITS[match.group(2)], newer=name.startswith("newer"))


def _simplify(node: Node) -> Node:
    """Drops match-everything parts of AND/OR and flattens nested ones, so backends see less."""
    if isinstance(node, Not):
        child = _simplify(node.child)
        if child == MATCH_ALL:
            return child  # "-!!!" has no words: ignore it as a word would be
        return child.child if isinstance(child, Not) else Not(child)
    if isinstance(node, And | Or):
        kind = type(node)
        children: list[Node] = []
        for child in map(_simplify, node.children):
            if child == MATCH_ALL:
                if kind is Or:
                    return MATCH_ALL
                continue
            children.extend(child.children if isinstance(child, kind) else [child])
        if len(children) == 1:
            return children[0]
        return kind(tuple(children))
    return node


def parse_query(query: str) -> Node:
    """The syntax tree of ``query``; raises ``QuerySyntaxError`` with a position on bad syntax."""
    if len(query) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f"A search is at most {MAX_QUERY_LENGTH} characters long.", MAX_QUERY_LENGTH)
    return _simplify(_Parser(query).parse())
