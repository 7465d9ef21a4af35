"""A naive-Bayes spam classifier trained from users' "spam" / "not spam" actions.

Graham's token probabilities with Robinson's smoothing, combined with Fisher's
chi-square method (as in SpamBayes and SpamAssassin). Counts are kept per user
and globally (``SpamToken``, ``SpamTrainingCount``; ``scope_user`` None is the
global scope). A user's estimate for a token is pulled towards the global one
(the global estimate is its prior), so a new user profits from everybody's
training and an experienced one from their own.

Tokens are stored hashed (24 hex digits of BLAKE2b): the tables hold no words
from anyone's mail.

Training is idempotent per (user, message content): a marker row in
``SpamToken`` (token ``"msg:" + the blob's SHA-256``, which no hashed token can
equal) records how the message was last trained, so training it the same way
again does nothing and training it the other way moves its counts over.
"""

import hashlib
import math
import re
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import F, Q

from inbound.spam_models import SpamToken, SpamTrainingCount
from mailboxes.blobstore import open_blob
from mailboxes.parsing import ParsedMessage, parse_message
from mailboxes.text import html_to_text

MAX_TRAIN_BYTES = 512 * 1024  # a message is trained on its first this many bytes
MAX_TEXT_CHARS = 100_000  # of body text tokenised
MAX_WORDS = 5000
MAX_TOKENS = 1500
MAX_CLUES = 150  # the most decisive tokens that decide
MIN_DEVIATION = 0.1  # a token whose probability is within this of 0.5 is no clue
STRENGTH = 1.0  # Robinson's s: how much the prior weighs against one sighting
_BATCH = 500

_WORD = re.compile(r"[^\W_][\w'’$€£%.-]*[\w$€£%]|[^\W_]", re.UNICODE)
_URL = re.compile(r"""(?i)\b(?:https?://|www\.)[^\s<>"'()]{1,300}""")
_HREF = re.compile(r"""(?i)\bhref\s*=\s*["']?([^"'\s>]{1,500})""")
_DIGITS = re.compile(r"\d")


@dataclass(frozen=True)
class BayesResult:
    """The spam probability (0 ham … 1 spam) and how it was reached."""

    probability: float
    clues: int
    scope: str  # "user" when the user's own training took part, else "global"


def token_key(token: str) -> str:
    return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


# --- tokens ------------------------------------------------------------------------


def tokenize(parsed: ParsedMessage) -> list[str]:
    """The message's tokens, bounded in number and length; the same message always gives the same ones."""
    tokens: dict[str, None] = {}

    def add(token: str) -> None:
        if len(tokens) < MAX_TOKENS:
            tokens[token] = None

    for word in _words(parsed.subject, limit=200):
        add(f"subject:{word}")
    address = parsed.from_address.lower()
    if "@" in address:
        add(f"from:{address}")
        add(f"from-domain:{address.rpartition('@')[2]}")
    if parsed.from_name:
        for word in _words(parsed.from_name, limit=20):
            add(f"from-name:{word}")
    reply_to = parsed.headers.get("reply-to", "").lower()
    if "@" in reply_to:
        add(f"reply-to-domain:{reply_to.rpartition('@')[2].strip('> ')}")
    for name in ("x-mailer", "user-agent"):
        for word in _words(parsed.headers.get(name, ""), limit=5):
            add(f"{name}:{word}")
    for name in ("list-id", "list-unsubscribe", "precedence", "auto-submitted"):
        if name in parsed.headers:
            add(f"header:{name}")
    for attachment in parsed.attachments[:20]:
        add(f"attachment-type:{attachment.content_type}")
        if "." in attachment.filename:
            add(f"attachment-ext:{attachment.filename.rpartition('.')[2].lower()[:10]}")
    html = parsed.html[:MAX_TEXT_CHARS]
    text = (parsed.text or html_to_text(html))[:MAX_TEXT_CHARS]
    if html and not parsed.text:
        add("body:html-only")
    for host in _url_hosts(text, html):
        add(f"url:{host}")
        add(f"url-domain:{registrable_domain(host)}")
    for word in _words(text, limit=MAX_WORDS):
        add(word)
    return list(tokens)


def _words(text: str, *, limit: int):
    for count, match in enumerate(_WORD.finditer(text)):
        if count >= limit:
            return
        word = match.group().lower().strip(".-'’")
        if len(word) < 3:
            continue
        if len(word) > 40:  # Graham: long strings are noise, but that there was one is a clue
            yield f"skip:{word[0]}{len(word) // 10 * 10}"
        elif len(word) > 4 and not word.isalpha() and sum(1 for _ in _DIGITS.finditer(word)) > 4:  # letters: no \d
            yield f"number:{len(word)}"
        else:
            yield word


def _url_hosts(text: str, html: str) -> list[str]:
    hosts = []
    for raw in [*_URL.findall(text), *_HREF.findall(html)][:200]:
        host = url_host(raw)
        if host and host not in hosts:
            hosts.append(host)
    return hosts


def url_host(url: str) -> str:
    """The host of a URL (or of ``www.…``), lower-case, without port or credentials; "" if none."""
    url = url.strip()
    if url.lower().startswith("www."):
        url = f"http://{url}"
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.strip(".").lower()[:200]


# Public suffixes with a second level that people register under; the rest take the last two labels.
_SECOND_LEVEL = frozenset(
    [
        "co.uk",
        "org.uk",
        "ac.uk",
        "gov.uk",
        "me.uk",
        "com.au",
        "net.au",
        "org.au",
        "co.nz",
        "co.jp",
        "ne.jp",
        "or.jp",
        "co.kr",
        "com.br",
        "com.cn",
        "net.cn",
        "org.cn",
        "com.tw",
        "com.hk",
        "com.mx",
        "com.ar",
        "com.tr",
        "co.in",
        "co.za",
        "com.sg",
        "com.my",
        "co.id",
        "com.ua",
    ]
)


def registrable_domain(host: str) -> str:
    """An approximation of the registrable domain ("mail.example.co.uk" → "example.co.uk")."""
    labels = host.split(".")
    if len(labels) <= 2 or host.replace(".", "").isdigit():
        return host
    keep = 3 if ".".join(labels[-2:]) in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


# --- classifying ----------------------------------------------------------------------


_totals_memo: ContextVar[dict | None] = ContextVar("bayes_training_totals", default=None)


@contextmanager
def training_totals_read_once():
    """Within this block, ``classify`` reads each scope's training totals once (a batch of messages).

    Without it, every message reads them again; the counts move slowly, and a
    batch is scored within a second or so.
    """
    token = _totals_memo.set({})
    try:
        yield
    finally:
        _totals_memo.reset(token)


def classify(tokens: list[str] | Callable[[], list[str]], *, user=None, min_messages: int) -> BayesResult | None:
    """The spam probability of a message with these tokens, or None while training is too thin.

    Enough training is ``min_messages`` spam and as many ham messages, in the
    user's own scope or the global one. ``tokens`` may be a function that
    returns them: it is called only when there is training enough to use them.
    """
    user_id = getattr(user, "pk", None)
    scopes = Q(scope_user__isnull=True) | Q(scope_user_id=user_id) if user_id else Q(scope_user__isnull=True)
    memo = _totals_memo.get()
    if memo is not None and user_id in memo:
        totals = memo[user_id]
    else:
        totals = {row.scope_user_id: row for row in SpamTrainingCount.objects.filter(scopes)}
        if memo is not None:
            memo[user_id] = totals
    global_totals, user_totals = totals.get(None), totals.get(user_id) if user_id else None

    def ready(row) -> bool:
        return row is not None and row.spam_messages >= min_messages and row.ham_messages >= min_messages

    if not (ready(global_totals) or ready(user_totals)):
        return None
    if callable(tokens):
        tokens = tokens()
    keys = {token_key(token) for token in tokens}
    counts: dict[tuple, tuple[int, int]] = {}
    key_list = list(keys)
    for start in range(0, len(key_list), _BATCH):
        rows = SpamToken.objects.filter(scopes, token__in=key_list[start : start + _BATCH]).values_list(
            "scope_user_id", "token", "spam_count", "ham_count"
        )
        for scope_user_id, key, spam, ham in rows:
            counts[(scope_user_id, key)] = (spam, ham)

    use_user = user_totals is not None and user_totals.spam_messages > 0 and user_totals.ham_messages > 0
    use_global = global_totals is not None and global_totals.spam_messages > 0 and global_totals.ham_messages > 0
    clues = []
    for key in keys:
        probability = 0.5
        if use_global and (None, key) in counts:
            probability = _estimate(*counts[(None, key)], global_totals, prior=0.5)
        if use_user and (user_id, key) in counts:
            probability = _estimate(*counts[(user_id, key)], user_totals, prior=probability)
        if abs(probability - 0.5) >= MIN_DEVIATION:
            clues.append(probability)
    clues.sort(key=lambda p: abs(p - 0.5), reverse=True)
    clues = clues[:MAX_CLUES]
    return BayesResult(probability=_combine(clues), clues=len(clues), scope="user" if ready(user_totals) else "global")


def _estimate(spam: int, ham: int, totals, *, prior: float) -> float:
    """Robinson's f(w): Graham's p(w), from per-message rates, smoothed towards ``prior``."""
    spam_rate = min(1.0, spam / totals.spam_messages)
    ham_rate = min(1.0, ham / totals.ham_messages)
    if spam_rate + ham_rate == 0:
        return prior
    p = spam_rate / (spam_rate + ham_rate)
    n = spam + ham
    return (STRENGTH * prior + n * p) / (STRENGTH + n)


def _combine(clues: list[float]) -> float:
    """Fisher's method both ways, as SpamBayes does: (S - H + 1) / 2."""
    if not clues:
        return 0.5
    clues = [min(0.99, max(0.01, p)) for p in clues]
    degrees = 2 * len(clues)
    spamminess = 1.0 - _chi2q(-2.0 * sum(math.log(1.0 - p) for p in clues), degrees)
    hamminess = 1.0 - _chi2q(-2.0 * sum(math.log(p) for p in clues), degrees)
    return (spamminess - hamminess + 1.0) / 2.0


def _chi2q(chi2: float, degrees: int) -> float:
    """P(X >= chi2) for a chi-square distribution with an even number of degrees of freedom."""
    m = chi2 / 2.0
    if m <= 0:
        return 1.0
    log_term = log_sum = -m
    for i in range(1, degrees // 2):
        log_term += math.log(m / i)
        high, low = max(log_sum, log_term), min(log_sum, log_term)
        log_sum = high + math.log1p(math.exp(low - high))
    return min(1.0, math.exp(log_sum))


# --- training --------------------------------------------------------------------------


def message_tokens(message) -> list[str]:
    """The tokens of a stored message, read from the first ``MAX_TRAIN_BYTES`` of its bytes."""
    with open_blob(message.blob) as handle:
        raw = handle.read(MAX_TRAIN_BYTES)
    return tokenize(parse_message(raw))


def train(*, user, message, is_spam: bool) -> bool:
    """Count a message as spam or ham for ``user`` and globally; False if it already was.

    Trained the other way before, its earlier counts are taken back first.
    """
    marker = f"msg:{message.blob_id}"[:64]
    scope_user = user if getattr(user, "pk", None) else None
    with transaction.atomic():
        SpamToken.objects.bulk_create([SpamToken(scope_user=scope_user, token=marker)], ignore_conflicts=True)
        seen = SpamToken.objects.select_for_update().get(scope_user=scope_user, token=marker)
        was_spam, was_ham = seen.spam_count > 0, seen.ham_count > 0
        if (is_spam and was_spam) or (not is_spam and was_ham):
            return False
        keys = sorted({token_key(token) for token in message_tokens(message)})
        scopes = [scope_user, None] if scope_user is not None else [None]
        if was_spam or was_ham:
            _count(scopes, keys, spam=was_spam, delta=-1)
        _count(scopes, keys, spam=is_spam, delta=1)
        SpamToken.objects.filter(pk=seen.pk).update(spam_count=int(is_spam), ham_count=int(not is_spam))
    return True


def trained_as(*, user, message) -> str | None:
    """How ``message`` is trained for ``user``: "spam", "ham", or None (not at all)."""
    scope_user = user if getattr(user, "pk", None) else None
    marker = f"msg:{message.blob_id}"[:64]
    row = SpamToken.objects.filter(scope_user=scope_user, token=marker).values_list("spam_count", "ham_count").first()
    if row is None or not any(row):
        return None
    return "spam" if row[0] else "ham"


def untrain(*, user, message) -> bool:
    """Take back whatever ``train`` counted for this message (an undone "Report spam"); False if nothing was."""
    marker = f"msg:{message.blob_id}"[:64]
    scope_user = user if getattr(user, "pk", None) else None
    with transaction.atomic():
        seen = SpamToken.objects.select_for_update().filter(scope_user=scope_user, token=marker).first()
        if seen is None or not (seen.spam_count or seen.ham_count):
            return False
        keys = sorted({token_key(token) for token in message_tokens(message)})
        scopes = [scope_user, None] if scope_user is not None else [None]
        _count(scopes, keys, spam=seen.spam_count > 0, delta=-1)
        SpamToken.objects.filter(pk=seen.pk).update(spam_count=0, ham_count=0)
    return True


def _count(scopes, keys: list[str], *, spam: bool, delta: int) -> None:
    token_field = "spam_count" if spam else "ham_count"
    total_field = "spam_messages" if spam else "ham_messages"
    for scope in scopes:
        if delta > 0:
            SpamToken.objects.bulk_create(
                [SpamToken(scope_user=scope, token=key) for key in keys], ignore_conflicts=True, batch_size=_BATCH
            )
            if not SpamTrainingCount.objects.filter(scope_user=scope).exists():
                SpamTrainingCount.objects.bulk_create([SpamTrainingCount(scope_user=scope)], ignore_conflicts=True)
        for start in range(0, len(keys), _BATCH):
            rows = SpamToken.objects.filter(scope_user=scope, token__in=keys[start : start + _BATCH])
            if delta < 0:
                rows = rows.filter(**{f"{token_field}__gt": 0})
            rows.update(**{token_field: F(token_field) + delta})
        totals = SpamTrainingCount.objects.filter(scope_user=scope)
        if delta < 0:
            totals = totals.filter(**{f"{total_field}__gt": 0})
        totals.update(**{total_field: F(total_field) + delta})
