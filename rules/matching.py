"""Whether one message matches a search query: the search language evaluated in memory.

A filter's criteria are a search query (``mailboxes.search.query``). The search
backends compile the syntax tree into database queries over a whole mailbox; a
message arriving is not indexed yet, so here the same tree is evaluated against
that one message, with the same folding and word splitting the index uses
(``mailboxes.search.text``): a filter matches on arrival what a search for the
same words would find once the message is indexed.
"""

from dataclasses import dataclass, field
from datetime import datetime

from mailboxes.parsing import ParsedMessage
from mailboxes.search.query import (
    And,
    DateBound,
    Flag,
    HasAttachment,
    HasLabel,
    InFolder,
    Node,
    Not,
    Or,
    RelativeAge,
    SizeBound,
    Text,
)
from mailboxes.search.text import index_terms, query_terms


def _people(entries) -> str:
    return " ".join(f"{entry.get('name', '')} {entry.get('address', '')}" for entry in entries or [])


@dataclass
class Candidate:
    """What a filter sees of one message, as the search index would hold it."""

    subject: str = ""
    sender: str = ""
    to: str = ""
    cc: str = ""
    body: str = ""
    filenames: list[str] = field(default_factory=list)
    folder: str = "inbox"
    labels: set[str] = field(default_factory=set)  # lower-case names
    is_read: bool = False
    is_starred: bool = False
    has_attachments: bool = False
    size: int = 0
    received_at: datetime | None = None
    _terms: dict = field(default_factory=dict, repr=False)

    _parsed: ParsedMessage | None = field(default=None, repr=False)

    @classmethod
    def from_parsed(
        cls, parsed: ParsedMessage, *, size: int, folder: str, received_at: datetime, terms: dict | None = None
    ) -> "Candidate":
        """The candidate of a parsed message; the body is read only if a query looks at it.

        ``terms``: a cache of the fields' terms shared by the candidates of one message (one per
        recipient), so that a message to many users with filters is split into words once.
        """
        return cls(
            subject=parsed.subject,
            sender=f"{parsed.from_name} {parsed.from_address}",
            to=_people(parsed.to),
            cc=_people(parsed.cc),
            filenames=[a.filename for a in parsed.attachments if a.filename],
            folder=folder,
            has_attachments=any(not a.is_inline for a in parsed.attachments),
            size=size,
            received_at=received_at,
            _terms=terms if terms is not None else {},
            _parsed=parsed,
        )

    def terms(self, name: str) -> list[str]:
        """The index terms of one field (``filename``: of all file names), computed once."""
        if name not in self._terms:
            if name == "filename":
                self._terms[name] = [term for filename in self.filenames for term in [*index_terms(filename), ""]]
            elif name == "body" and self._parsed is not None:
                self._terms[name] = index_terms(self._parsed.body_text)
            else:
                self._terms[name] = index_terms(getattr(self, name))
        return self._terms[name]


# Where a Text node looks: a field of the query language -> the candidate's fields.
_FIELDS = {
    None: ("subject", "sender", "to", "cc", "body", "filename"),
    "subject": ("subject",),
    "from": ("sender",),
    "to": ("to",),
    "cc": ("cc",),
    "filename": ("filename",),
}


def _contains(terms: list[str], wanted: list[str], prefix: bool) -> bool:
    """Whether ``wanted`` occurs in ``terms`` as a run of adjacent terms (the last one as a prefix if asked)."""
    if not wanted:
        return True
    n = len(wanted)
    for start in range(len(terms) - n + 1):
        if terms[start : start + n - 1] != wanted[:-1]:
            continue
        last = terms[start + n - 1]
        if last == wanted[-1] or (prefix and last.startswith(wanted[-1])):
            return True
    return False


def _text_matches(node: Text, candidate: Candidate) -> bool:
    wanted, prefix = query_terms(node.value)
    prefix = prefix or node.prefix
    return any(_contains(candidate.terms(name), wanted, prefix) for name in _FIELDS[node.field])


def matches(node: Node, candidate: Candidate, *, now: datetime) -> bool:
    """Whether the message is one a search for ``node`` finds (``now`` resolves ``older_than:`` and friends)."""
    if isinstance(node, Text):
        return _text_matches(node, candidate)
    if isinstance(node, And):
        return all(matches(child, candidate, now=now) for child in node.children)
    if isinstance(node, Or):
        return any(matches(child, candidate, now=now) for child in node.children)
    if isinstance(node, Not):
        return not matches(node.child, candidate, now=now)
    if isinstance(node, InFolder):
        return node.folder == "anywhere" or node.folder == candidate.folder
    if isinstance(node, HasLabel):
        wanted = {node.name.lower(), node.name.replace("-", " ").lower()}
        return bool(wanted & candidate.labels)
    if isinstance(node, Flag):
        return getattr(candidate, node.field) == node.value
    if isinstance(node, HasAttachment):
        return candidate.has_attachments
    if isinstance(node, RelativeAge):
        node = node.resolve(now)
    if isinstance(node, DateBound):
        at = candidate.received_at or now
        return at >= node.at if node.after else at < node.at
    if isinstance(node, SizeBound):
        return candidate.size > node.size if node.larger else candidate.size < node.size
    raise TypeError(f"cannot evaluate {node!r}")
