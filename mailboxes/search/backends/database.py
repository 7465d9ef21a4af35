"""The database backend: PostgreSQL full-text search or SQLite FTS5, by connection vendor.

A parsed query becomes a ``Q`` over ``MailboxItem``: folder, labels, flags,
dates and sizes are filtered on the item and its message (so they are never
stale), and each text part becomes ``pk IN (ids whose terms match)``, answered
by the GIN index (PostgreSQL) or the FTS5 index (SQLite). Negation is pushed
down to the leaves first, so a negated text part is ``NOT IN``.

On PostgreSQL the plan is chosen here, not left to the planner's tsvector
statistics (which misjudge words they have not sampled, and phrases): for
each word or phrase the query requires, a capped probe of the GIN index
of (user, term) keys (its terms ANDed, positions and fields ignored; one
user's matches only, whatever the table holds) reads up to ``SORTED_CAP`` matches with
their dates. If one has at most ``CANDIDATE_CAP``, those candidates are
fetched by id, checked against the whole query and sorted in one query. Up
to ``SORTED_CAP``, they are sorted here, newest first, and checked in chunks
of growing size until the page is full: only the first few hundred are
read again, however many there are. Otherwise the user's documents are
walked newest first on ``search_doc_user_recent`` until the page is full
(bitmap scans and sorts off for that one query: once users are interleaved
in the table the planner would rather read and sort the user's whole share),
the text checked on each row (a match is then at least one in
``mailbox / SORTED_CAP``, so the walk reads at most about
``limit * mailbox / SORTED_CAP`` rows). Checking a row costs several
microseconds (its tsvector is read from TOAST and decompressed); reading a
probe row costs a fraction of that, which is why sorting up to
``SORTED_CAP`` candidates beats walking past them. In every plan the text is matched by ``ts_match_vq``, the
function behind ``@@``, which no index can answer: the planner cannot
pick the GIN index behind our back. Relevance order ranks every candidate,
or, past the cap, only the newest ``RANK_CAP`` matches. A single word that
the column's most-common-elements statistics list at ``COMMON_FREQUENCY`` or
more skips the probe (the statistics are reliable for what they list, and
the probe of a common word builds a large bitmap).
"""

import re
import time
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, FloatField, Func, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.lookups import any_of
from mailboxes.models import MailboxItem
from mailboxes.search.backends import IndexDocument, Page, Row, SearchBackend
from mailboxes.search.models import SearchDocument
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
from mailboxes.search.text import CJK_CHARACTERS, index_terms, query_terms

SNIPPET_BODY_CHARS = 20_000
# Up to this many GIN matches of a required word, fetch them and sort in one query.
CANDIDATE_CAP = 500
# Past CANDIDATE_CAP, the matches are sorted here and checked in chunks, newest first, while reading
# them costs less than walking the mailbox to fill a page: up to sqrt(SORT_OVER_WALK * (limit + 1) *
# mailbox size), since a walk reads about (limit + 1) * mailbox / matches rows at SORT_OVER_WALK times
# the cost of reading a match (measured: ~2.7 us a walked row, its tsvector decompressed, ~1.4 us a
# probed one). Never more than SORTED_CAP.
SORT_OVER_WALK = 2
SORTED_CAP = 50_000
# Relevance order on a word with more matches than the cap ranks only the newest this many.
RANK_CAP = 2000
# A word the column statistics list at this frequency or more is walked without a probe.
COMMON_FREQUENCY = 0.01
COMMON_WORDS_TTL = 600  # seconds the statistics are kept in memory


def negation_normal_form(node: Node, negated: bool = False) -> Node:
    """The same query with every ``Not`` moved onto a leaf (De Morgan)."""
    if isinstance(node, Not):
        return negation_normal_form(node.child, not negated)
    if isinstance(node, And | Or):
        children = tuple(negation_normal_form(child, negated) for child in node.children)
        flipped = {And: Or, Or: And}[type(node)] if negated else type(node)
        if not children:  # MATCH_ALL, negated: nothing
            return Not(node) if negated else node
        return flipped(children)
    return Not(node) if negated else node


def filter_q(node: Node, now: datetime, user_id: int | None = None) -> Q:
    """The ``Q`` for a leaf that is not text (labels looked up among ``user_id``'s own, when given)."""
    if isinstance(node, InFolder):
        return Q() if node.folder == "anywhere" else Q(folder=node.folder)
    if isinstance(node, HasLabel):
        names = {node.name, node.name.replace("-", " ")}
        match = Q()
        for name in names:
            match |= Q(label__name__iexact=name)
        through = MailboxItem.labels.through.objects.filter(match)
        if user_id is not None:
            through = through.filter(label__user_id=user_id)
        return Q(pk__in=through.values("mailboxitem_id"))
    if isinstance(node, Flag):
        return Q(**{node.field: node.value})
    # Date, size and attachments are read from the document, beside the terms and the sort key.
    if isinstance(node, HasAttachment):
        return Q(search_document__has_attachments=True)
    if isinstance(node, RelativeAge):
        node = node.resolve(now)
    if isinstance(node, DateBound):
        if node.after:
            return Q(search_document__received_at__gte=node.at)
        return Q(search_document__received_at__lt=node.at)
    if isinstance(node, SizeBound):
        return Q(search_document__size__gt=node.size) if node.larger else Q(search_document__size__lt=node.size)
    raise TypeError(f"not a filter: {node!r}")  # pragma: no cover


class _Vendor:
    """What differs between PostgreSQL and SQLite: writing terms, matching them, ranking."""

    def text_q(self, node: Text) -> Q:
        raise NotImplementedError

    def score(self, texts: list[Text]):
        raise NotImplementedError

    def write(self, documents: list[IndexDocument]) -> None:
        raise NotImplementedError

    def delete(self, item_ids: list[int]) -> None:
        SearchDocument.objects.filter(item_id__in=item_ids).delete()

    def clear(self) -> None:
        SearchDocument.objects.all().delete()


def _document_rows(documents: list[IndexDocument]):
    now = timezone.now()
    for doc in documents:
        body = doc.body[:SNIPPET_BODY_CHARS]
        yield doc, (doc.item_id, doc.user_id, doc.received_at, doc.size, doc.has_attachments, doc.subject, body, now)


# --- PostgreSQL --------------------------------------------------------------

# tsvector limits: positions 1..16383, at most 256 positions per lexeme.
_MAX_POSITION = 16383
_MAX_POSITIONS_PER_LEXEME = 255


def _lexeme(term: str) -> str:
    if "'" in term or "\\" in term:
        return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"
    return f"'{term}'"  # index terms are letters and digits: nothing to escape


def tsvector_literal(fields: list[tuple[list[str], str]]) -> str:
    """A tsvector in PostgreSQL's input syntax from (terms, weight) per field.

    Built here rather than by ``to_tsvector`` so that PostgreSQL's parser
    (locale-dependent, blind to CJK) never re-splits our terms. Fields are
    one position apart, so a phrase never runs from one into the next.
    """
    positions: dict[str, list[str]] = {}
    pos = 0
    for terms, weight in fields:
        labels = _position_labels(weight, pos + len(terms))
        for term in terms:
            pos += 1
            slots = positions.get(term)
            if slots is None:
                positions[term] = [labels[pos]]
            elif len(slots) < _MAX_POSITIONS_PER_LEXEME:
                slots.append(labels[pos])
        pos += 1
    return " ".join(f"{_lexeme(term)}:{','.join(slots)}" for term, slots in positions.items())


# "<position><weight>" for each position and weight, made once: formatting them was a third of the
# indexer's time in this function. A list is replaced, never changed, once published (threads).
_labels: dict[str, list[str]] = {}


def _position_labels(weight: str, last: int) -> list[str]:
    """Labels indexed by position up to ``last``; past ``_MAX_POSITION`` each is the last position's."""
    labels = _labels.get(weight, [])
    if len(labels) <= min(last, _MAX_POSITION):
        size = min(max(last + 1, 2 * len(labels), 1024), _MAX_POSITION + 1)
        labels = _labels[weight] = [f"{n}{weight}" for n in range(size)]
    if last >= len(labels):
        return labels + [labels[_MAX_POSITION]] * (last + 1 - len(labels))
    return labels


def tsquery_text(node: Text, *, weight: str = "", phrase: bool = True) -> str:
    """The tsquery (input syntax) of one text leaf: its terms as a phrase (or ANDed), the last maybe a prefix."""
    terms, cjk_prefix = query_terms(node.value)
    prefix = node.prefix or cjk_prefix
    parts = []
    for i, term in enumerate(terms):
        marks = ("*" if prefix and i == len(terms) - 1 else "") + weight
        parts.append(_lexeme(term) + (f":{marks}" if marks else ""))
    return (" <-> " if phrase else " & ").join(parts)


def user_tsquery(node: Text, *, user_id: int) -> str:
    """The probe's tsquery of one text leaf: its terms ANDed, each as ``"<user id>:<term>"``.

    Matched against ``search_user_terms(user_id, tsv)``, which has no weights or positions: a
    field (``subject:``, ``from:``, …) or a phrase is a superset here, checked on ``tsv`` after.
    The people are in ``tsv`` too (weight B), so ``from:`` and the like are probed there.
    """
    terms, cjk_prefix = query_terms(node.value)
    prefix = node.prefix or cjk_prefix
    last = len(terms) - 1
    return " & ".join(
        _lexeme(f"{user_id}:{term}") + (":*" if prefix and i == last else "") for i, term in enumerate(terms)
    )


_ITEMS = MailboxItem._meta.db_table
_FTS_RANK = (
    f"SELECT -bm25(search_fts, 10, 4, 4, 4, 2, 1) FROM search_fts WHERE search_fts MATCH %s AND rowid = {_ITEMS}.id"  # noqa: S608, E501
)
# One statement of fixed text per batch: each column one array parameter (the statement is not
# re-parsed for each size of batch, in psycopg or by the server, as a VALUES list of its rows was).
_PG_UPSERT = (
    "INSERT INTO search_document (item_id, user_id, received_at, size, has_attachments, subject, body, "
    "indexed_at, tsv, from_tsv, to_tsv, cc_tsv) "
    "SELECT d.item_id, d.user_id, d.received_at, d.size, d.has_attachments, d.subject, d.body, %s, "
    "d.tsv, d.from_tsv, d.to_tsv, d.cc_tsv FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[], "
    "%s::bigint[], %s::boolean[], %s::text[], %s::text[], %s::tsvector[], %s::tsvector[], %s::tsvector[], "
    "%s::tsvector[]) AS d (item_id, user_id, received_at, size, has_attachments, subject, body, tsv, from_tsv, "
    "to_tsv, cc_tsv) "
    "ON CONFLICT (item_id) DO UPDATE SET "
    "user_id = EXCLUDED.user_id, received_at = EXCLUDED.received_at, size = EXCLUDED.size, "
    "has_attachments = EXCLUDED.has_attachments, subject = EXCLUDED.subject, body = EXCLUDED.body, "
    "indexed_at = EXCLUDED.indexed_at, tsv = EXCLUDED.tsv, from_tsv = EXCLUDED.from_tsv, "
    "to_tsv = EXCLUDED.to_tsv, cc_tsv = EXCLUDED.cc_tsv"
)

# Which tsvector column and weight a field is matched in.
_PG_FIELDS = {None: ("tsv", ""), "subject": ("tsv", "A"), "filename": ("tsv", "D")}
_PG_FIELDS |= {"from": ("from_tsv", ""), "to": ("to_tsv", ""), "cc": ("cc_tsv", "")}


# Candidates are (microseconds since the epoch, id): psycopg's timestamptz loader, as Django
# installs it, costs ~7 us a value in Python, more than reading the row.
_PG_MICROS = "(extract(epoch FROM {table}received_at) * 1000000)::bigint"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


# The probe is a cursor: after its first rows, the block where they ended tells how many there are.
# It reads the GIN index of (user, term) keys (migration search/0004): one user's matches only, with
# no ``user_id = %s`` beside it, which the planner would rather answer from the user's btree.
_PG_PROBE = (
    f"DECLARE search_probe NO SCROLL CURSOR FOR SELECT {_PG_MICROS.format(table='')}, item_id, "  # noqa: S608
    "(ctid::text::point)[0] FROM search_document WHERE search_user_terms(user_id, tsv) @@ %s::tsquery LIMIT %s"
)
# Bitmap scans only, for the probe: the GIN index, never a walk of the user's rows that a misjudged
# word would make read them all. Restored right after (set_config's third argument: this transaction).
_PG_BITMAP_ONLY = (
    "SELECT current_setting('enable_seqscan'), current_setting('enable_indexscan'), "
    "set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true)"
)
_PG_RESTORE = "SELECT set_config('enable_seqscan', %s, true), set_config('enable_indexscan', %s, true)"
# The walk only, for a page by date that no probe narrowed: newest first on search_doc_user_recent until
# the page is full. Once a user's documents are spread through the table (delivery interleaves users)
# that index's correlation is gone and the planner would rather bitmap-scan all the user's rows and sort
# them (the whole share read for one page); without a bitmap or a sort the ordered walk is the plan.
# Restored right after, as the probe's.
_PG_WALK_ONLY = (
    "SELECT current_setting('enable_bitmapscan'), current_setting('enable_sort'), "
    "set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)"
)
_PG_WALK_RESTORE = "SELECT set_config('enable_bitmapscan', %s, true), set_config('enable_sort', %s, true)"


_LABELS = MailboxItem.labels.through._meta.db_table
_PG_LABEL_PROBE = (
    f"SELECT DISTINCT {_PG_MICROS.format(table='d.')}, d.item_id FROM mailboxes_label l "  # noqa: S608
    f"JOIN {_LABELS} il ON il.label_id = l.id JOIN search_document d ON d.item_id = il.mailboxitem_id "
    "WHERE l.user_id = %s AND upper(l.name) = ANY(%s) AND d.user_id = %s LIMIT %s"
)

_CJK_BIGRAM = re.compile(f"[{CJK_CHARACTERS}]{{2}}")
_PG_LABEL_COUNT = (
    f"SELECT count(*) FROM (SELECT 1 FROM mailboxes_label l JOIN {_LABELS} il ON il.label_id = l.id "  # noqa: S608
    "WHERE l.user_id = %s AND upper(l.name) = ANY(%s) LIMIT %s) AS labelled"
)
_PG_COMMON = (
    "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
    "WHERE schemaname = current_schema() AND tablename = 'search_document' AND attname = %s"
)
_common_words: dict[str, tuple[float, dict[str, float]]] = {}


def common_words(column: str) -> dict[str, float]:
    """Lexeme -> frequency from ANALYZE's most-common-elements statistics of a tsvector column (cached).

    Reliable for common words (sampled often), unlike the estimate of a word they do not list.
    """
    cached = _common_words.get(column)
    if cached and time.monotonic() - cached[0] < COMMON_WORDS_TTL:
        return cached[1]
    with connection.cursor() as cursor:
        cursor.execute(_PG_COMMON, [column])
        row = cursor.fetchone()
    words = dict(zip(row[0], row[1], strict=False)) if row and row[0] else {}
    _common_words[column] = (time.monotonic(), words)
    return words


def forget_statistics() -> None:
    """Drops the cached column and mailbox statistics (tests that ANALYZE call this)."""
    _common_words.clear()
    _mailbox_sizes.clear()


_PG_MAILBOX_SIZES = (
    "SELECT c.reltuples, s.most_common_vals::text::bigint[], s.most_common_freqs, s.n_distinct, c.relpages "
    "FROM pg_class c "
    "LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = c.relname AND s.attname = 'user_id' "
    "WHERE c.oid = 'search_document'::regclass"
)
_mailbox_sizes: dict[str, tuple[float, dict[int, float], float, int]] = {}


def mailbox_size(user_id: int) -> float:
    """About how many documents ``user_id`` has, from ANALYZE's statistics (cached); 0 if never analysed.

    The largest mailboxes are among the statistics' most common values; any other
    user is given the average of the users they do not list.
    """
    cached = _table_statistics()
    return cached[1].get(user_id, cached[2])


def table_pages() -> int:
    """The pages of ``search_document`` when it was last analysed (0: never)."""
    return _table_statistics()[3]


def _table_statistics() -> tuple[float, dict[int, float], float, int]:
    cached = _mailbox_sizes.get("sizes")
    if not cached or time.monotonic() - cached[0] >= COMMON_WORDS_TTL:
        with connection.cursor() as cursor:
            cursor.execute(_PG_MAILBOX_SIZES)
            row = cursor.fetchone()
        listed, others = {}, 0.0
        if row and row[0] > 0 and row[3] is not None:
            rows, values, frequencies, distinct, _ = row
            listed = {int(uid): rows * freq for uid, freq in zip(values or [], frequencies or [], strict=False)}
            distinct = -distinct * rows if distinct < 0 else distinct  # negative: a fraction of the rows
            unlisted_rows = max(rows - sum(listed.values()), 0.0)
            others = unlisted_rows / max(distinct - len(listed), 1.0)
        pages = int(row[4]) if row and row[4] else 0
        cached = _mailbox_sizes["sizes"] = (time.monotonic(), listed, others, pages)
    return cached


class _Postgres(_Vendor):
    def __init__(self):
        # Whether text is matched by ts_match_vq (no index) rather than @@ (the planner may take the GIN).
        self.planned = False

    def text_q(self, node: Text) -> Q:
        column, weight = _PG_FIELDS[node.field]
        lookup = "checks" if self.planned else "matches"
        return Q(**{f"search_document__{column}__{lookup}": tsquery_text(node, weight=weight)})

    def has_many(self, node: Text, *, user_id: int, cap: int) -> bool:
        """Whether the statistics show ``node`` matches more than ``cap`` documents (walk it, no probe).

        One word, or the bigrams of one CJK word, which occur together: two words may be rare
        together however common each is. Without the user's mailbox size, a word listed at
        ``COMMON_FREQUENCY`` or more.
        """
        terms, cjk_prefix = query_terms(node.value)
        if not terms or node.prefix or cjk_prefix:
            return False
        if len(terms) > 1 and (len(node.value.split()) > 1 or not all(_CJK_BIGRAM.fullmatch(t) for t in terms)):
            return False
        frequencies = common_words(_PG_FIELDS[node.field][0])
        frequency = min(frequencies.get(term, 0.0) for term in terms)
        size = mailbox_size(user_id)
        return frequency * size > cap if size else frequency >= COMMON_FREQUENCY

    def probe(self, node: Text, *, user_id: int, first: int, cap: int) -> list[tuple[int, int]] | None:
        """Up to ``cap + 1`` (microseconds, id) of the user's documents with all the terms of ``node``, by GIN.

        The GIN bitmap is read in the table's order: when ``first`` rows did not exhaust it, the
        block they reached estimates the total, and if that is over ``cap`` the probe stops (None):
        a walk finds such a word's matches soon, and reading them would cost more.
        """
        query = user_tsquery(node, user_id=user_id)
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            cursor.execute(_PG_BITMAP_ONLY)
            seqscan, indexscan, _, _ = cursor.fetchone()
            cursor.execute(_PG_PROBE, [query, cap + 1])
            cursor.execute(f"FETCH {min(first, cap) + 1} FROM search_probe")
            found = cursor.fetchall()
            if first < len(found) <= cap:
                pages = table_pages()
                estimate = len(found) * pages / (found[-1][2] + 1) if pages else 0
                if estimate > cap:
                    found = None
                else:
                    cursor.execute(f"FETCH {cap + 1 - len(found)} FROM search_probe")
                    found += cursor.fetchall()
            cursor.execute("CLOSE search_probe")
            cursor.execute(_PG_RESTORE, [seqscan, indexscan])
        return None if found is None else [(at, pk) for at, pk, _ in found]

    def probe_labels(self, node: HasLabel, *, user_id: int, cap: int) -> list[tuple[int, int]] | None:
        """The (microseconds, id) of the user's documents with the label ``node`` names; None if over ``cap``.

        Counted first, on the label's index alone: past the cap, the planner's own plan is cheaper.
        """
        names = sorted({node.name.upper(), node.name.replace("-", " ").upper()})
        with connection.cursor() as cursor:
            cursor.execute(_PG_LABEL_COUNT, [user_id, names, cap + 1])
            if cursor.fetchone()[0] > cap:
                return None
            cursor.execute(_PG_LABEL_PROBE, [user_id, names, user_id, cap + 1])
            return cursor.fetchall()

    def score(self, texts: list[Text]):
        query = " | ".join(f"({tsquery_text(text)})" for text in texts)
        as_tsquery = RawSQL("%s::tsquery", (query,))  # noqa: S611 - the query is a parameter
        return Func(F("search_document__tsv"), as_tsquery, function="ts_rank_cd", output_field=FloatField())

    def write(self, documents: list[IndexDocument]) -> None:
        columns: list[list] = [[] for _ in range(11)]
        now = timezone.now()
        for doc in documents:
            terms = _terms(doc)
            row = (
                doc.item_id,
                doc.user_id,
                doc.received_at,
                doc.size,
                doc.has_attachments,
                doc.subject,
                doc.body[:SNIPPET_BODY_CHARS],
                tsvector_literal(
                    [
                        (terms["subject"], "A"),
                        (terms["sender"], "B"),
                        (terms["to"], "B"),
                        (terms["cc"], "B"),
                        (terms["filenames"], "D"),
                        (terms["body"], "C"),
                    ]
                ),
                tsvector_literal([(terms["sender"], "D")]),
                tsvector_literal([(terms["to"], "D")]),
                tsvector_literal([(terms["cc"], "D")]),
            )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        with connection.cursor() as cursor:
            cursor.execute(_PG_UPSERT, [now, *columns])

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE search_document")


# --- SQLite ------------------------------------------------------------------

_FTS_COLUMNS = {None: "", "subject": "subject", "from": "sender", "to": "torcpt", "cc": "ccrcpt"}
_FTS_COLUMNS["filename"] = "filenames"


def fts5_match(node: Text) -> str:
    """The FTS5 MATCH expression of one text leaf: a quoted phrase, maybe a prefix, maybe in one column."""
    terms, cjk_prefix = query_terms(node.value)
    expression = '"' + " ".join(terms) + '"' + ("*" if node.prefix or cjk_prefix else "")
    column = _FTS_COLUMNS[node.field]
    return f"{column} : {expression}" if column else expression


class _SQLite(_Vendor):
    def text_q(self, node: Text) -> Q:
        sql = "SELECT rowid FROM search_fts WHERE search_fts MATCH %s"
        return Q(pk__in=RawSQL(sql, (fts5_match(node),)))  # noqa: S611 - the query is a parameter

    def score(self, texts: list[Text]):
        query = " OR ".join(f"({fts5_match(text)})" for text in texts)
        return RawSQL(_FTS_RANK, (query,), output_field=FloatField())  # noqa: S611 - the query is a parameter

    def write(self, documents: list[IndexDocument]) -> None:
        rows, fts_rows = [], []
        for doc, row in _document_rows(documents):
            rows.append(row)
            terms = _terms(doc)
            fts_rows.append(
                (
                    doc.item_id,
                    *(" ".join(terms[key]) for key in ("subject", "sender", "to", "cc", "filenames", "body")),
                )
            )
        ids = [(doc.item_id,) for doc in documents]
        with connection.cursor() as cursor:
            cursor.executemany("DELETE FROM search_fts WHERE rowid = %s", ids)
            cursor.executemany(
                "INSERT INTO search_fts (rowid, subject, sender, torcpt, ccrcpt, filenames, body) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                fts_rows,
            )
            cursor.executemany(
                "INSERT OR REPLACE INTO search_document "
                "(item_id, user_id, received_at, size, has_attachments, subject, body, indexed_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )

    def delete(self, item_ids: list[int]) -> None:
        with connection.cursor() as cursor:
            cursor.executemany("DELETE FROM search_fts WHERE rowid = %s", [(pk,) for pk in item_ids])
        super().delete(item_ids)

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM search_fts")
        super().clear()


def _terms(doc: IndexDocument) -> dict[str, list[str]]:
    return {
        "subject": index_terms(doc.subject),
        "sender": index_terms(doc.sender),
        "to": index_terms(doc.to),
        "cc": index_terms(doc.cc),
        "filenames": index_terms(" ".join(doc.filenames)),
        "body": index_terms(doc.body),
    }


# --- The backend -------------------------------------------------------------


class DatabaseBackend(SearchBackend):
    """Full-text search in the main database: nothing else to run."""

    copies_state = False  # folder, labels and flags are filtered on MailboxItem itself

    def _vendor(self) -> _Vendor:
        if connection.vendor == "postgresql":
            return _Postgres()
        if connection.vendor == "sqlite":
            return _SQLite()
        raise NotImplementedError(f"no full-text search for {connection.vendor}")

    def index(self, documents: list[IndexDocument]) -> None:
        if documents:
            with transaction.atomic(savepoint=False):  # the indexer's batch is one transaction, whole or not at all
                self._vendor().write(documents)

    def update_states(self, states) -> set[int]:
        return set()  # nothing copied, nothing stale

    def delete(self, item_ids: list[int]) -> None:
        if item_ids:
            with transaction.atomic():
                self._vendor().delete(list(item_ids))

    def clear(self) -> None:
        with transaction.atomic():
            self._vendor().clear()

    def indexed_ids(self, item_ids: list[int]) -> set[int]:
        return set(SearchDocument.objects.filter(item_id__in=item_ids).values_list("item_id", flat=True))

    def compile(self, node: Node, now: datetime | None = None, user_id: int | None = None) -> Q:
        """The ``Q`` over ``MailboxItem`` that selects what ``node`` matches."""
        return self._compile(negation_normal_form(node), self._vendor(), now or timezone.now(), user_id)

    def _compile(self, node: Node, vendor: _Vendor, now: datetime, user_id: int | None) -> Q:
        # An empty Q matches everything; Django drops it from an OR, so it is handled here.
        if isinstance(node, And):
            result = Q()
            for child in node.children:
                result &= self._compile(child, vendor, now, user_id)
            return result
        if isinstance(node, Or):
            parts = [self._compile(child, vendor, now, user_id) for child in node.children]
            if any(not part for part in parts):
                return Q()
            result = parts[0]
            for part in parts[1:]:
                result |= part
            return result
        if isinstance(node, Not):
            inner = self._compile(node.child, vendor, now, user_id)
            return ~inner if inner else Q(pk__in=[])
        if isinstance(node, Text):
            return vendor.text_q(node)
        return filter_q(node, now, user_id)

    def _plan(self, node: Node, vendor: _Vendor, user_id: int, limit: int) -> list[tuple[int, int]] | None:
        """PostgreSQL: (microseconds, id) candidates, newest first, if a required leaf has few matches; None: walk."""
        required = _required_leaves(node)
        if not isinstance(vendor, _Postgres) or not required:
            return None
        # Text is matched without the GIN index only when a required word decides the plan: a query
        # whose words are all optional (OR) may still need the index to avoid reading the mailbox.
        vendor.planned = any(isinstance(leaf, Text) for leaf in required)
        best = None
        for leaf in sorted(required, key=lambda leaf: isinstance(leaf, HasLabel)):  # words first: cheaper to cap
            cap = self.sorted_cap(user_id, limit)
            cap = cap if best is None else min(cap, len(best) - 1)  # a later leaf only matters if it has fewer
            if isinstance(leaf, HasLabel):
                found = vendor.probe_labels(leaf, user_id=user_id, cap=cap)
            elif vendor.has_many(leaf, user_id=user_id, cap=cap):
                continue  # the walk meets its matches soon, no need to count them
            else:
                found = vendor.probe(leaf, user_id=user_id, first=self.candidate_cap, cap=cap)
            if found is not None and len(found) <= cap:
                best = found
                if not found:
                    break
        return sorted(best, reverse=True) if best is not None else None

    @property
    def candidate_cap(self) -> int:
        return int(self.options.get("candidate_cap", CANDIDATE_CAP))

    def sorted_cap(self, user_id: int, limit: int) -> int:
        """How many matches are read and sorted rather than walked past (see ``SORT_OVER_WALK``)."""
        if "sorted_cap" in self.options:
            return max(int(self.options["sorted_cap"]), self.candidate_cap)
        walk = SORT_OVER_WALK * (limit + 1) * mailbox_size(user_id)
        return max(self.candidate_cap, min(SORTED_CAP, int(walk**0.5)))

    def search(self, node: Node, items, *, user_id: int, order: str, limit: int, after: tuple | None) -> Page:
        vendor = self._vendor()
        if not isinstance(vendor, _Postgres):
            return self._search(node, items, vendor, user_id=user_id, order=order, limit=limit, after=after)
        # No parallel workers: starting them costs more than a page of results takes (8-9 ms, and far
        # more on a busy machine); the plans here read a few thousand rows at most.
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('max_parallel_workers_per_gather', '0', true)")
            return self._search(node, items, vendor, user_id=user_id, order=order, limit=limit, after=after)

    def _search(self, node: Node, items, vendor: _Vendor, *, user_id, order, limit, after) -> Page:
        normal = negation_normal_form(node)
        candidates = self._plan(normal, vendor, user_id, limit)
        # Driven from the user's documents (newest first by an index of their own), so an item
        # is found once it is indexed: search is eventually consistent, as designed.
        now = timezone.now()
        queryset = items.filter(search_document__user_id=user_id).filter(self._compile(normal, vendor, now, user_id))
        if candidates is not None and len(candidates) > self.candidate_cap:
            if order == "date":
                candidates = _within_dates(candidates, normal, now)
                return self._page_of_sorted(queryset, candidates, limit=limit, after=after)
            candidates = None  # relevance: ranked among the newest matches, as for a walk
        if candidates is not None:
            queryset = queryset.filter(any_of("pk", [pk for _, pk in candidates]))
        received_at = "search_document__received_at"
        positive = list(_positive_texts(normal))
        if order == "relevance":
            if positive and candidates is None and isinstance(vendor, _Postgres) and vendor.planned:
                queryset = self._newest_to_rank(queryset, received_at)
            score = vendor.score(positive) if positive else Value(0.0)
            queryset = queryset.annotate(score=Coalesce(score, Value(0.0), output_field=FloatField()))
            ordering = ("-score", f"-{received_at}", "-pk")
            if after is not None:
                s, t, pk = after
                queryset = queryset.filter(
                    Q(score__lt=s) | Q(score=s, **{f"{received_at}__lt": t}) | Q(score=s, pk__lt=pk, **{received_at: t})
                )
        else:
            queryset = self._by_date(queryset, after)
            ordering = _DATE_ORDER
        rows = queryset.order_by(*ordering).values_list(*_ROW_FIELDS)[: limit + 1]
        if order == "date" and candidates is None and isinstance(vendor, _Postgres):
            return _page(_walked(rows), limit, order)
        return _page(list(rows), limit, order)

    def _page_of_sorted(self, queryset, candidates: list[tuple[int, int]], *, limit: int, after) -> Page:
        """A page by date from candidates sorted newest first: checked chunk by chunk until the page is full.

        The chunks double, so a query that keeps few of its candidates still takes a handful of queries,
        and each reads its rows by primary key.
        """
        if after is not None:
            position = (micros(after[0]), after[1])
            candidates = [candidate for candidate in candidates if candidate < position]
        queryset = self._by_date(queryset, after).order_by(*_DATE_ORDER).values_list(*_ROW_FIELDS)
        rows: list[tuple] = []
        start, size = 0, 2 * (limit + 1)
        while start < len(candidates) and len(rows) <= limit:
            chunk = [pk for _, pk in candidates[start : start + size]]
            rows += list(queryset.filter(any_of("pk", chunk))[: limit + 1 - len(rows)])
            start, size = start + size, size * 2
        return _page(rows, limit, "date")

    @staticmethod
    def _by_date(queryset, after):
        queryset = queryset.annotate(score=Value(None, output_field=FloatField()))
        if after is not None:
            t, pk = after
            received_at = "search_document__received_at"
            queryset = queryset.filter(Q(**{f"{received_at}__lt": t}) | Q(pk__lt=pk, **{received_at: t}))
        return queryset

    def _newest_to_rank(self, queryset, received_at: str):
        """Only the newest ``RANK_CAP`` matches: ranking a word found in most mail would read every match."""
        cap = int(self.options.get("rank_cap", RANK_CAP))
        newest = queryset.order_by(f"-{received_at}", "-search_document__item_id").values_list(received_at, flat=True)
        boundary = list(newest[cap - 1 : cap])
        return queryset.filter(**{f"{received_at}__gte": boundary[0]}) if boundary else queryset

    def decode_key(self, order: str, values: list) -> tuple:
        if order == "relevance":
            score, received_at, pk = values
            return (float(score), datetime.fromisoformat(received_at), int(pk))
        return super().decode_key(order, values)


_DATE_ORDER = ("-search_document__received_at", "-search_document__item_id")
_ROW_FIELDS = ("pk", "thread_id", "score", "search_document__received_at", "search_document__body")


def _page(rows: list[tuple], limit: int, order: str) -> Page:
    """The page of up to ``limit`` rows (of ``_ROW_FIELDS``) and its keyset position, if there are more."""
    more = len(rows) > limit
    rows = rows[:limit]
    next_key = None
    if more:
        pk, _, score, last_at, _ = rows[-1]
        next_key = (score, last_at, pk) if order == "relevance" else (last_at, pk)
    return Page(rows=[Row(item_id=r[0], thread_id=r[1], score=r[2], text=r[4]) for r in rows], next_key=next_key)


def _walked(rows) -> list[tuple]:
    """PostgreSQL: the rows of a page by date, read by the walk (no bitmap scan, no sort; see ``_PG_WALK_ONLY``)."""
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(_PG_WALK_ONLY)
        bitmapscan, sort, _, _ = cursor.fetchone()
        rows = list(rows)
        cursor.execute(_PG_WALK_RESTORE, [bitmapscan, sort])
    return rows


def _within_dates(candidates: list[tuple[int, int]], node: Node, now: datetime) -> list[tuple[int, int]]:
    """The (microseconds, id) candidates inside the query's required date bounds, which need no query to check."""
    for bound in _conjuncts(node):
        if isinstance(bound, RelativeAge):
            bound = bound.resolve(now)
        if isinstance(bound, DateBound):
            at = micros(bound.at)
            candidates = [c for c in candidates if (c[0] >= at if bound.after else c[0] < at)]
    return candidates


def _conjuncts(node: Node) -> list[Node]:
    """What every match must satisfy: the node, or the children of its nested ``And``s."""
    if isinstance(node, And):
        return [leaf for child in node.children for leaf in _conjuncts(child)]
    return [node]


def _required_leaves(node: Node) -> list[Text | HasLabel]:
    """The text and label leaves every match must satisfy, in a query in negation normal form."""
    return [leaf for leaf in _conjuncts(node) if isinstance(leaf, Text | HasLabel)]


def _positive_texts(node: Node):
    """Text leaves that are not negated, in a query already in negation normal form."""
    if isinstance(node, Text):
        yield node
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _positive_texts(child)
