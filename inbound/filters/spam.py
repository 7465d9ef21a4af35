"""Spam filters: a built-in rule-and-Bayes scorer, and an rspamd adapter.

Configured by ``INBOUND_SPAM_FILTER`` (shaped like ``CACHES``); the built-in
filter compares its score with ``INBOUND_SPAM_THRESHOLD``. A filter never
raises: a verdict with ``error`` set could not be (fully) computed, and its
``is_spam`` is False unless what did run says otherwise.

Users train the built-in Bayes classifier through ``train_spam`` (called when
they mark mail as spam or not spam), whichever filter scores incoming mail.
"""

import html as html_lib
import ipaddress
import json
import logging
import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.utils import getaddresses
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from inbound.filters import bayes, build_backend
from inbound.filters.explanations import describe, describe_bayes
from mailboxes.parsing import ParsedMessage
from mailboxes.text import html_to_text

logger = logging.getLogger(__name__)

__all__ = ["BuiltinSpamFilter", "RspamdFilter", "SpamFilter", "SpamVerdict", "get_spam_filter", "train_spam"]

DEFAULT_BACKEND = "inbound.filters.spam.BuiltinSpamFilter"
DEFAULT_THRESHOLD = 5.0


@dataclass(frozen=True)
class SpamVerdict:
    """A spam score and what made it; every field is JSON-safe.

    ``reasons`` read like ``"SPF_FAIL +2.0"``; ``signals`` are the same
    contributions for people: ``{"name", "points", "detail", "description"}``,
    the description in plain words. ``threshold`` is the score at which mail
    counts as spam, ``bayes`` the classifier's spam probability (None when it
    did not take part), ``action`` rspamd's recommended action.
    """

    score: float
    is_spam: bool
    reasons: list[str]
    filter: str
    error: str = ""
    threshold: float = DEFAULT_THRESHOLD
    bayes: float | None = None
    action: str = ""
    signals: list[dict] = field(default_factory=list)


class SpamFilter:
    """The filter contract: ``score`` returns a verdict and never raises.

    ``envelope`` is optional: ``{"client_ip", "client_hostname", "helo",
    "mail_from", "rcpt_tos"}`` as the MX received them, for filters (rspamd)
    that check them again.
    """

    name = "base"

    def score(self, *, raw: bytes, parsed: ParsedMessage, auth: dict, user=None, envelope=None) -> SpamVerdict:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (nothing to release by default)."""

    def batch(self):
        """A context for scoring a batch of messages together: a filter may read what they share once."""
        return nullcontext()


def get_spam_filter() -> SpamFilter:
    """The configured filter (``INBOUND_SPAM_FILTER``), the built-in one by default."""
    config = getattr(settings, "INBOUND_SPAM_FILTER", None) or {}
    return build_backend(config, default_backend=DEFAULT_BACKEND)


def spam_threshold() -> float:
    return float(getattr(settings, "INBOUND_SPAM_THRESHOLD", DEFAULT_THRESHOLD))


def train_spam(*, user, message, is_spam: bool) -> None:
    """Learn from a user marking ``message`` (a ``mailboxes.Message``) as spam or not spam.

    Trains the user's and the global Bayes counts. Training a message the same
    way twice counts it once; training it the other way moves its counts over.
    Cheap (one bounded read of the message and a few bulk queries) and never
    raises: a failure is logged, and the user's action stands.
    """
    try:
        bayes.train(user=user, message=message, is_spam=is_spam)
    except Exception:
        logger.exception("spam training failed for message %s", getattr(message, "pk", None))


def spam_training_of(*, user, message) -> str | None:
    """How the user's filter was taught about ``message``: "spam", "ham" or None."""
    return bayes.trained_as(user=user, message=message)


def restore_spam_training(*, user, message, state: str | None) -> None:
    """Put the training of ``message`` back to ``state`` (from ``spam_training_of``): an undone spam report.

    Never raises, like ``train_spam``.
    """
    try:
        if state is None:
            bayes.untrain(user=user, message=message)
        else:
            bayes.train(user=user, message=message, is_spam=state == "spam")
    except Exception:
        logger.exception("spam untraining failed for message %s", getattr(message, "pk", None))


# --- the built-in filter --------------------------------------------------------------

# Points per rule; a negative one speaks for the message. Override with OPTIONS["SCORES"].
DEFAULT_SCORES = {
    "SPF_FAIL": 2.0,
    "SPF_SOFTFAIL": 1.0,
    "SPF_PERMERROR": 0.5,
    "SPF_NONE": 0.2,
    "HELO_SPF_FAIL": 0.5,
    "DKIM_FAIL": 1.0,
    "DKIM_PASS_ALIGNED": -0.5,
    "DMARC_FAIL_REJECT": 3.0,
    "DMARC_FAIL_QUARANTINE": 2.5,
    "DMARC_FAIL": 1.0,
    "DMARC_PASS": -0.5,
    "MISSING_FROM": 2.0,
    "MISSING_DATE": 1.0,
    "INVALID_DATE": 0.5,
    "DATE_IN_FUTURE": 1.0,
    "MISSING_MESSAGE_ID": 1.0,
    "MISSING_TO": 0.5,
    "FROM_REPLY_TO_MISMATCH": 1.0,
    "FROM_NAME_HAS_OTHER_ADDRESS": 1.5,
    "SUBJECT_ALL_CAPS": 1.0,
    "SUBJECT_EXCLAMATIONS": 0.7,
    "BODY_EXCLAMATIONS": 0.5,
    "HTML_LINK_HEAVY": 1.2,
    "HTML_IMAGE_ONLY": 1.2,
    "URL_IP_ADDRESS": 1.5,
    "LINK_TEXT_MISMATCH": 2.0,
    "URL_SHORTENER": 0.5,
    "BASE64_TEXT": 0.5,
    "SPAM_PHRASE": 0.7,  # per phrase, up to SPAM_PHRASE_MAX
    "SPAM_PHRASE_MAX": 3.5,
    "INVISIBLE_TEXT": 1.0,
    "ZERO_WIDTH_CHARS": 1.0,
}
# Bayes probability bands, as SpamAssassin's BAYES_* rules, and their points as a share of the threshold,
# roughly following the classifier's log-odds: a trained classifier that gives 19:1 or better
# (p >= 0.95) crosses the threshold alone, whatever it is set to; 4:1 (p >= 0.80) needs a rule or two
# to agree; its verdict that mail is ham (p < 0.01) outweighs a couple of rule hits. Measured with
# bench/spam_eval.py on a corpus they were not tuned on (docs/PERFORMANCE.md).
BAYES_BANDS = [
    (0.999, "BAYES_999", 1.3),
    (0.99, "BAYES_99", 1.1),
    (0.95, "BAYES_95", 1.0),
    (0.80, "BAYES_80", 0.7),
    (0.60, "BAYES_60", 0.3),
    (0.40, "BAYES_50", 0.0),
    (0.20, "BAYES_40", -0.1),
    (0.05, "BAYES_20", -0.2),
    (0.01, "BAYES_05", -0.3),
    (0.00, "BAYES_00", -0.5),
]


def bayes_points(probability: float, threshold: float) -> tuple[str, float]:
    """The band a classifier probability falls in and its points at this threshold."""
    name, share = next((name, share) for low, name, share in BAYES_BANDS if probability >= low)
    return name, round(share * threshold, 1)


SPAM_PHRASES = (
    "act now",
    "limited time offer",
    "click here",
    "100% free",
    "risk-free",
    "risk free",
    "you have been selected",
    "you are a winner",
    "claim your prize",
    "lottery",
    "wire transfer",
    "western union",
    "dear friend",
    "dear beneficiary",
    "next of kin",
    "inheritance",
    "million dollars",
    "viagra",
    "cialis",
    "online pharmacy",
    "lose weight",
    "weight loss",
    "work from home",
    "make money fast",
    "earn extra cash",
    "double your income",
    "no credit check",
    "cheap meds",
    "online casino",
    "guaranteed income",
    "crypto investment",
    "once in a lifetime",
    "order now",
    "verify your account",
    "your account has been suspended",
    "confirm your password",
    "update your payment",
    "urgent response",
)
_PHRASES = re.compile(r"(?<!\w)(" + "|".join(re.escape(p) for p in SPAM_PHRASES) + r")(?!\w)")
_SHORTENERS = frozenset(
    [
        "bit.ly",
        "tinyurl.com",
        "goo.gl",
        "ow.ly",
        "is.gd",
        "buff.ly",
        "rebrand.ly",
        "cutt.ly",
        "shorturl.at",
        "t.ly",
        "tiny.cc",
        "rb.gy",
    ]
)
_ANCHOR_START = re.compile(r"(?i)<a[\s>]")
_ANCHOR_END = re.compile(r"(?i)</a\s*>")
_HREF = re.compile(r"""(?is)\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
MAX_ANCHORS = 500
_IMAGE = re.compile(r"(?i)<img\b")
_TAG = re.compile(r"<[^>]*>")
_DOMAIN_TEXT = re.compile(r"(?i)^(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:[/:?#]\S*)?$")
_HIDDEN_STYLE = re.compile(
    r"(?i)(font-size\s*:\s*0(?:\.0+)?(?:px|pt|em|rem|%)?\s*(?:[;\"'}]|$)|opacity\s*:\s*0(?:\.0+)?\s*(?:[;\"'}]|$))"
    r"|visibility\s*:\s*hidden|display\s*:\s*none"
)
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
MAX_TEXT = 200_000  # characters of body text and HTML the rules read
_BASE64_WORD = re.compile(rb"(?i)base64")
MAX_STRUCTURE_BYTES = 512 * 1024  # of the raw message read for the MIME structure rules
MAX_PARTS = 100


class BuiltinSpamFilter(SpamFilter):
    """Authentication results, header and content rules and a Bayes classifier, added up.

    Options: ``THRESHOLD`` (default ``INBOUND_SPAM_THRESHOLD``), ``SCORES``
    (rule points to override; a ``BAYES_*`` band named there gets those
    points instead of its share of the threshold), ``BAYES`` (default True) and
    ``BAYES_MIN_MESSAGES`` (spam and ham messages each, in the user's or the
    global training, before Bayes takes part; default 20).
    """

    name = "builtin"

    def __init__(self, *, THRESHOLD=None, SCORES=None, BAYES=True, BAYES_MIN_MESSAGES=20):
        self.threshold = THRESHOLD
        self.scores = {**DEFAULT_SCORES, **(SCORES or {})}
        self.bayes = BAYES
        self.bayes_min_messages = BAYES_MIN_MESSAGES

    def batch(self):
        return bayes.training_totals_read_once() if self.bayes else nullcontext()

    def score(self, *, raw: bytes, parsed: ParsedMessage, auth: dict, user=None, envelope=None) -> SpamVerdict:
        threshold = float(self.threshold if self.threshold is not None else spam_threshold())
        hits: list[tuple[str, float, str]] = []
        errors = []
        try:
            hits += _auth_rules(auth or {}, parsed, self.scores)
            hits += _header_rules(raw, parsed, self.scores)
            hits += _content_rules(raw, parsed, self.scores)
        except Exception as exc:  # a rule bug must not stop mail
            logger.exception("spam rules failed")
            errors.append(f"rules: {exc.__class__.__name__}: {exc}")
        probability = result = None
        if self.bayes:
            try:
                # Inside the caller's transaction, a savepoint keeps it usable after a failed query.
                # Outside one, no transaction: on SQLite it would take the write lock for a read.
                guard = transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext()
                with guard:
                    result = bayes.classify(
                        lambda: bayes.tokenize(parsed), user=user, min_messages=self.bayes_min_messages
                    )  # tokenised only when there is training to weigh the tokens
            except Exception as exc:
                logger.exception("Bayes classification failed")
                errors.append(f"bayes: {exc.__class__.__name__}: {exc}")
                result = None
            if result is not None:
                probability = result.probability
                name, points = bayes_points(probability, threshold)
                points = self.scores.get(name, points)
                hits.append((name, points, f"p={probability:.3f}, {result.clues} clues, {result.scope}"))
        total = round(sum(points for _, points, _ in hits), 2)
        return SpamVerdict(
            score=total,
            is_spam=total >= threshold,
            filter=self.name,
            error="; ".join(errors),
            threshold=threshold,
            bayes=probability,
            **_explained(hits, result),
        )


def _explained(hits: list[tuple[str, float, str]], bayes_result: bayes.BayesResult | None = None) -> dict:
    """``reasons`` and ``signals`` of a verdict, from its ``(name, points, detail)`` hits."""
    reasons = [f"{name} {points:+.1f}" + (f" ({detail})" if detail else "") for name, points, detail in hits]
    with translation.override(None):  # recorded in the source language; readers get theirs from explain()
        signals = [
            {
                "name": name,
                "points": points,
                "detail": detail,
                "description": describe_bayes(bayes_result.probability, scope=bayes_result.scope)
                if bayes_result and name.startswith("BAYES_")
                else describe(name, detail),
            }
            for name, points, detail in hits
        ]
    return {"reasons": reasons, "signals": signals}


def _hit(scores: dict, name: str, detail: str = "", points: float | None = None) -> tuple[str, float, str]:
    return (name, scores.get(name, 0.0) if points is None else points, detail)


def _auth_rules(auth: dict, parsed: ParsedMessage, scores: dict) -> list:
    hits = []
    spf = _result(auth.get("spf"))
    rule = {"fail": "SPF_FAIL", "softfail": "SPF_SOFTFAIL", "permerror": "SPF_PERMERROR", "none": "SPF_NONE"}.get(spf)
    if rule:
        hits.append(_hit(scores, rule, (auth.get("spf") or {}).get("domain", "")))
    if _result(auth.get("helo_spf")) == "fail":
        hits.append(_hit(scores, "HELO_SPF_FAIL"))
    dkim = [d for d in auth.get("dkim") or [] if isinstance(d, dict)]
    passed = [d.get("domain", "").lower() for d in dkim if _result(d) == "pass"]
    from_domain = parsed.from_address.rpartition("@")[2].lower()
    if any(_result(d) == "fail" for d in dkim) and not passed:
        hits.append(_hit(scores, "DKIM_FAIL"))
    aligned = [d for d in passed if from_domain and _aligned(d, from_domain)]
    if aligned:
        hits.append(_hit(scores, "DKIM_PASS_ALIGNED", aligned[0]))
    dmarc = auth.get("dmarc") or {}
    result = _result(dmarc)
    if result == "pass":
        hits.append(_hit(scores, "DMARC_PASS", dmarc.get("domain", "")))
    elif result == "fail":
        policy = (dmarc.get("policy") or "").lower()
        rule = {"reject": "DMARC_FAIL_REJECT", "quarantine": "DMARC_FAIL_QUARANTINE"}.get(policy, "DMARC_FAIL")
        if dmarc.get("override"):  # a trusted ARC sealer vouched for it: the policy's weight does not apply
            rule = "DMARC_FAIL"
        hits.append(_hit(scores, rule, f"p={policy or 'none'}"))
    return hits


def _result(value) -> str:
    return str((value or {}).get("result", "")).lower() if isinstance(value, dict) else ""


def _aligned(domain: str, from_domain: str) -> bool:
    """DMARC's relaxed alignment: the same registrable domain."""
    return bayes.registrable_domain(domain) == bayes.registrable_domain(from_domain)


def _header_block(raw: bytes) -> bytes:
    head = raw[: 64 * 1024]
    match = _HEADER_END.search(head)
    return head[: match.start()] if match else head


def _has_header(block: bytes, name: bytes) -> bool:
    return re.search(rb"(?im)^" + re.escape(name) + rb"[ \t]*:", block) is not None


def _header_rules(raw: bytes, parsed: ParsedMessage, scores: dict) -> list:
    hits = []
    block = _header_block(raw)
    if not parsed.from_address:
        hits.append(_hit(scores, "MISSING_FROM"))
    if not _has_header(block, b"date"):
        hits.append(_hit(scores, "MISSING_DATE"))
    elif parsed.date is None:
        hits.append(_hit(scores, "INVALID_DATE"))
    elif parsed.date > timezone.now() + timedelta(days=1):
        hits.append(_hit(scores, "DATE_IN_FUTURE"))
    if not _has_header(block, b"message-id") or not parsed.message_id:
        hits.append(_hit(scores, "MISSING_MESSAGE_ID"))
    if not parsed.to and not parsed.cc:
        hits.append(_hit(scores, "MISSING_TO"))
    from_domain = parsed.from_address.rpartition("@")[2].lower()
    reply_to = [addr for _, addr in getaddresses([parsed.headers.get("reply-to", "")]) if "@" in addr]
    if from_domain and reply_to:
        reply_domain = reply_to[0].rpartition("@")[2].lower()
        if not _aligned(reply_domain, from_domain):
            hits.append(_hit(scores, "FROM_REPLY_TO_MISMATCH", f"{from_domain} / {reply_domain}"))
    named = re.search(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)", parsed.from_name)
    if named and from_domain and not _aligned(named.group(1).lower(), from_domain):
        hits.append(_hit(scores, "FROM_NAME_HAS_OTHER_ADDRESS", named.group(0)))
    letters = [c for c in parsed.subject if c.isalpha()]
    if len(letters) >= 10 and sum(c.isupper() for c in letters) >= 0.9 * len(letters):
        hits.append(_hit(scores, "SUBJECT_ALL_CAPS"))
    if parsed.subject.count("!") >= 3 or "!!" in parsed.subject:
        hits.append(_hit(scores, "SUBJECT_EXCLAMATIONS"))
    return hits


def _content_rules(raw: bytes, parsed: ParsedMessage, scores: dict) -> list:
    hits = []
    html = parsed.html[:MAX_TEXT]
    text = (parsed.text or html_to_text(html))[:MAX_TEXT]
    if text.count("!!!") >= 2 or text.count("!") >= 15:
        hits.append(_hit(scores, "BODY_EXCLAMATIONS"))
    phrases = list(dict.fromkeys(_PHRASES.findall(f"{parsed.subject}\n{text}".lower())))
    if phrases:
        points = min(scores.get("SPAM_PHRASE", 0.0) * len(phrases), scores.get("SPAM_PHRASE_MAX", 0.0))
        hits.append(_hit(scores, "SPAM_PHRASES", ", ".join(phrases[:5]), points=points))
    hits += _link_rules(text, html, scores)
    # Preheaders hide a line with display:none in much legitimate mail; zero-size text is rarer.
    hidden = _HIDDEN_STYLE.findall(html)
    if any(hidden) or len(hidden) >= 3:
        hits.append(_hit(scores, "INVISIBLE_TEXT", f"{len(hidden)} hidden styles"))
    zero_width = len(_ZERO_WIDTH.findall(text))
    if zero_width >= 5:
        hits.append(_hit(scores, "ZERO_WIDTH_CHARS", str(zero_width)))
    if _base64_text_parts(raw):
        hits.append(_hit(scores, "BASE64_TEXT"))
    return hits


def _link_rules(text: str, html: str, scores: dict) -> list:
    hits = []
    anchors = _anchors(html)
    urls = [href for href, _ in anchors] + re.findall(r"(?i)\bhttps?://[^\s<>\"']{1,300}", text)
    hosts = [host for host in (bayes.url_host(url) for url in urls[:500]) if host]
    ip_hosts = [host for host in hosts if _is_ip(host)]
    if ip_hosts:
        hits.append(_hit(scores, "URL_IP_ADDRESS", ip_hosts[0]))
    shorteners = [host for host in hosts if host in _SHORTENERS]
    if shorteners:
        hits.append(_hit(scores, "URL_SHORTENER", shorteners[0]))
    for href, label in anchors:
        shown = html_lib.unescape(_TAG.sub("", label)).strip()
        match = _DOMAIN_TEXT.match(shown)
        target = bayes.url_host(href)
        if match and target and not _is_ip(target):
            shown_domain = bayes.registrable_domain(match.group(1).lower())
            if shown_domain != bayes.registrable_domain(target):
                hits.append(_hit(scores, "LINK_TEXT_MISMATCH", f"{shown_domain} → {target}"))
                break
        elif match and target and _is_ip(target):
            hits.append(_hit(scores, "LINK_TEXT_MISMATCH", f"{match.group(1).lower()} → {target}"))
            break
    if html:
        visible = len(html_to_text(html).strip())
        if len(anchors) >= 3 and visible < 300:
            hits.append(_hit(scores, "HTML_LINK_HEAVY", f"{len(anchors)} links, {visible} characters of text"))
        elif _IMAGE.search(html) and visible < 100:
            hits.append(_hit(scores, "HTML_IMAGE_ONLY", f"{visible} characters of text"))
    return hits


def _anchors(html: str) -> list[tuple[str, str]]:
    """``(href, inner HTML)`` of the links, found in one linear pass (regular expressions
    spanning a whole tag and its text backtrack badly on hostile HTML)."""
    anchors = []
    pos = 0
    while len(anchors) < MAX_ANCHORS:
        start = _ANCHOR_START.search(html, pos)
        if start is None:
            break
        close = html.find(">", start.start())
        if close < 0:
            break
        href = _HREF.search(html, start.start(), close)
        end = _ANCHOR_END.search(html, close + 1, close + 1 + 1000)
        pos = end.end() if end else close + 1
        if href:
            label = html[close + 1 : end.start()] if end else ""
            anchors.append((html_lib.unescape(next(g for g in href.groups() if g is not None)), label))
    return anchors


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.isdigit()  # http://3232235777/ is an address too
    return True


def _base64_text_parts(raw: bytes) -> bool:
    """Whether a body text part is base64-encoded (legitimate mailers rarely do it for text)."""
    head = raw[:MAX_STRUCTURE_BYTES]
    # A part is base64 only if its Content-Transfer-Encoding (compat32: the raw value, stripped and
    # lower-cased) says so: without those six letters anywhere, no part does, and parsing is no use.
    if _BASE64_WORD.search(head) is None:
        return False
    try:
        message = message_from_bytes(head, policy=email_policy.compat32)
        for count, part in enumerate(message.walk()):
            if count >= MAX_PARTS:
                break
            if part.get_content_maintype() != "text" or part.get_content_disposition() == "attachment":
                continue
            if str(part.get("content-transfer-encoding", "")).strip().lower() == "base64":
                return True
    except Exception:  # a structure the parser cannot walk is no evidence either way
        return False
    return False


# --- rspamd --------------------------------------------------------------------------

SPAM_ACTIONS = frozenset({"reject", "add header", "rewrite subject"})


class RspamdFilter(SpamFilter):
    """rspamd's normal worker, over its HTTP protocol (``POST /checkv2``).

    Options: ``URL`` (``http://rspamd:11333``), ``TIMEOUT`` seconds,
    ``PASSWORD`` (sent as the ``Password`` header, for a worker that wants one),
    ``THRESHOLD`` (default ``INBOUND_SPAM_THRESHOLD``), ``USE_ACTION``
    (default True) and ``MAX_BYTES`` (the most sent).

    Mail is spam from the threshold on, or, with ``USE_ACTION``, when rspamd's
    own action says so (reject, add header, rewrite subject), so rspamd's
    configuration keeps its say. ``score`` is rspamd's, ``reasons`` its symbols
    (biggest first, with their options).
    """

    name = "rspamd"

    def __init__(
        self,
        *,
        URL="http://127.0.0.1:11333",
        TIMEOUT=30,
        PASSWORD="",
        THRESHOLD=None,
        USE_ACTION=True,
        MAX_BYTES=25 * 1024 * 1024,
    ):
        parts = urlsplit(URL)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"rspamd URL must be http(s)://host:port, got {URL!r}")
        self.url = URL
        self._parts = parts
        self.timeout = TIMEOUT
        self.password = PASSWORD
        self.threshold = THRESHOLD
        self.use_action = USE_ACTION
        self.max_bytes = MAX_BYTES

    def score(self, *, raw: bytes, parsed: ParsedMessage, auth: dict, user=None, envelope=None) -> SpamVerdict:
        threshold = float(self.threshold) if self.threshold is not None else spam_threshold()
        try:
            status, body = self._post("/checkv2", raw[: self.max_bytes], self._headers(parsed, auth, user, envelope))
        except (OSError, HTTPException) as exc:
            return self._failed(f"rspamd at {self.url}: {exc}", threshold)
        try:
            data = json.loads(body)
        except ValueError:
            return self._failed(f"rspamd answered {status} with no JSON", threshold)
        if status != 200 or not isinstance(data, dict) or "error" in data:
            detail = data.get("error", "") if isinstance(data, dict) else ""
            return self._failed(f"rspamd answered {status}: {detail}"[:500], threshold)
        return self._verdict(data, threshold)

    def ping(self) -> bool:
        try:
            status, body = self._request("GET", "/ping", None, {})
        except (OSError, HTTPException):
            return False
        return status == 200 and body.strip() == b"pong"

    def _headers(self, parsed: ParsedMessage, auth: dict, user, envelope) -> list[tuple[str, str]]:
        envelope = envelope or {}
        headers = []
        if envelope.get("client_ip"):
            headers.append(("IP", str(envelope["client_ip"])))
        if envelope.get("client_hostname"):  # its reverse DNS name; rspamd penalises an unknown one
            headers.append(("Hostname", str(envelope["client_hostname"])))
        helo = envelope.get("helo") or ((auth or {}).get("helo_spf") or {}).get("domain", "")
        if helo:
            headers.append(("Helo", helo))
        mail_from = envelope.get("mail_from")
        if mail_from is None:
            mail_from = parsed.headers.get("return-path", "").strip().strip("<>")
        if mail_from:
            headers.append(("From", mail_from))
        recipients = list(envelope.get("rcpt_tos") or [])
        if not recipients and user is not None and getattr(user, "primary_address", ""):
            recipients = [user.primary_address]
        headers += [("Rcpt", address) for address in recipients[:100]]
        if user is not None and getattr(user, "primary_address", ""):
            headers.append(("Deliver-To", user.primary_address))
        if self.password:
            headers.append(("Password", self.password))
        # Header values travel as Latin-1: anything else is left out rather than mangled.
        return [(name, value) for name, value in headers if value.isascii() and "\n" not in value and "\r" not in value]

    def _post(self, path: str, body: bytes, headers) -> tuple[int, bytes]:
        return self._request("POST", path, body, headers)

    def _request(self, method: str, path: str, body, headers) -> tuple[int, bytes]:
        connection_class = HTTPSConnection if self._parts.scheme == "https" else HTTPConnection
        connection = connection_class(self._parts.hostname, self._parts.port, timeout=self.timeout)
        try:
            connection.putrequest(method, self._parts.path.rstrip("/") + path)
            for name, value in headers:
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, response.read(4 * 1024 * 1024)
        finally:
            connection.close()

    def _failed(self, error: str, threshold: float) -> SpamVerdict:
        return SpamVerdict(score=0.0, is_spam=False, reasons=[], filter=self.name, error=error, threshold=threshold)

    def _verdict(self, data: dict, threshold: float) -> SpamVerdict:
        score = float(data.get("score") or 0.0)
        action = str(data.get("action") or "")
        symbols = data.get("symbols") or {}
        listed = []
        for key, symbol in symbols.items() if isinstance(symbols, dict) else []:
            symbol = symbol if isinstance(symbol, dict) else {}
            points = float(symbol.get("score") or 0.0)
            if not points:  # informational symbols (ARC_NA, RCPT_COUNT_ONE …) explain nothing
                continue
            options = [str(o) for o in symbol.get("options") or []][:3]
            listed.append((symbol.get("name") or key, points, ", ".join(options)))
        listed.sort(key=lambda item: (-abs(item[1]), item[0]))
        listed = listed[:40]
        if data.get("is_skipped"):
            listed.insert(0, ("RSPAMD_SKIPPED", 0.0, ""))
        is_spam = score >= threshold or (self.use_action and action in SPAM_ACTIONS)
        return SpamVerdict(
            score=round(score, 2),
            is_spam=is_spam,
            filter=self.name,
            threshold=threshold,
            action=action,
            **_explained(listed),
        )
