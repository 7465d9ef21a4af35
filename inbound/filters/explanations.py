"""What a spam verdict's signals mean, in words a user reads: for the webmail and the admin.

A verdict records its signals as ``{"name", "points", "detail", "description"}``
(see ``SpamVerdict.signals``); verdicts recorded before there were signals only
have their ``reasons`` (``"SPF_FAIL +2.0 (example.com)"``), read back here.
The recorded description is in ``LANGUAGE_CODE``; ``explain`` describes each
signal again in the reader's language.
"""

import math
import re

from django.utils.translation import gettext, gettext_noop

DESCRIPTIONS = {
    "SPF_FAIL": gettext_noop("Sender failed SPF: the server it came from may not send mail for its domain"),
    "SPF_SOFTFAIL": gettext_noop("Sender's SPF record doubts the server it came from (soft fail)"),
    "SPF_PERMERROR": gettext_noop("Sender's SPF record is broken"),
    "SPF_NONE": gettext_noop("Sender's domain publishes no SPF record"),
    "HELO_SPF_FAIL": gettext_noop("The sending server's own name failed SPF"),
    "DKIM_FAIL": gettext_noop("Its DKIM signature does not verify: it may have been altered on the way"),
    "DKIM_PASS_ALIGNED": gettext_noop("Signed by the sender's own domain (DKIM)"),
    "DMARC_FAIL_REJECT": gettext_noop("Failed DMARC, and the sender's domain asks to reject such mail"),
    "DMARC_FAIL_QUARANTINE": gettext_noop("Failed DMARC, and the sender's domain asks to treat such mail as spam"),
    "DMARC_FAIL": gettext_noop("Failed the sender domain's DMARC check"),
    "DMARC_PASS": gettext_noop("Passed the sender domain's DMARC check"),
    "MISSING_FROM": gettext_noop("It has no sender address"),
    "MISSING_DATE": gettext_noop("It has no date"),
    "INVALID_DATE": gettext_noop("Its date is malformed"),
    "DATE_IN_FUTURE": gettext_noop("It is dated in the future"),
    "MISSING_MESSAGE_ID": gettext_noop("It lacks the Message-ID that mail programs add"),
    "MISSING_TO": gettext_noop("It does not say whom it is addressed to"),
    "FROM_REPLY_TO_MISMATCH": gettext_noop("Replies would go to another domain than the sender's"),
    "FROM_NAME_HAS_OTHER_ADDRESS": gettext_noop("The sender's name shows another address than the real one"),
    "SUBJECT_ALL_CAPS": gettext_noop("The subject is written in capital letters"),
    "SUBJECT_EXCLAMATIONS": gettext_noop("The subject has many exclamation marks"),
    "BODY_EXCLAMATIONS": gettext_noop("The text has many exclamation marks"),
    "HTML_LINK_HEAVY": gettext_noop("It is mostly links, with little text"),
    "HTML_IMAGE_ONLY": gettext_noop("It is mostly images, with little text"),
    "URL_IP_ADDRESS": gettext_noop("It links to a bare IP address"),
    "LINK_TEXT_MISMATCH": gettext_noop("A link shows one address but leads to another"),
    "URL_SHORTENER": gettext_noop("It uses a link shortener that hides where a link goes"),
    "BASE64_TEXT": gettext_noop("Its text is encoded the way spammers hide words from filters"),
    "SPAM_PHRASES": gettext_noop("It uses phrases common in spam"),
    "INVISIBLE_TEXT": gettext_noop("It contains hidden text"),
    "ZERO_WIDTH_CHARS": gettext_noop("It contains invisible characters that break words up"),
    "RSPAMD_SKIPPED": gettext_noop("The spam scanner skipped it"),
    # rspamd's symbols for the same things
    "BAYES_SPAM": gettext_noop("The filter learned that messages like this are spam"),
    "BAYES_HAM": gettext_noop("The filter learned that messages like this are not spam"),
    "R_SPF_FAIL": gettext_noop("Sender failed SPF: the server it came from may not send mail for its domain"),
    "R_SPF_SOFTFAIL": gettext_noop("Sender's SPF record doubts the server it came from (soft fail)"),
    "R_SPF_ALLOW": gettext_noop("Sender passed SPF"),
    "R_DKIM_REJECT": gettext_noop("Its DKIM signature does not verify: it may have been altered on the way"),
    "R_DKIM_ALLOW": gettext_noop("Signed by the sender's domain (DKIM)"),
    "DMARC_POLICY_REJECT": gettext_noop("Failed DMARC, and the sender's domain asks to reject such mail"),
    "DMARC_POLICY_QUARANTINE": gettext_noop("Failed DMARC, and the sender's domain asks to treat such mail as spam"),
    "DMARC_POLICY_ALLOW": gettext_noop("Passed the sender domain's DMARC check"),
}
# Rules whose detail (a domain, an address, the phrases) is worth showing after the description.
SHOWN_DETAIL = frozenset(
    [
        "SPF_FAIL",
        "FROM_REPLY_TO_MISMATCH",
        "FROM_NAME_HAS_OTHER_ADDRESS",
        "URL_IP_ADDRESS",
        "LINK_TEXT_MISMATCH",
        "URL_SHORTENER",
        "SPAM_PHRASES",
        "BAYES_SPAM",
        "BAYES_HAM",
        "R_SPF_FAIL",
    ]
)
_BAYES_DETAIL = re.compile(r"^p=(?P<probability>[\d.]+), \d+ clues, (?P<scope>\w+)$")
_REASON = re.compile(r"^(?P<name>\S+) (?P<points>[+-]?\d+(?:\.\d+)?)(?: \((?P<detail>.*)\))?$", re.DOTALL)


def describe(name: str, detail: str = "") -> str:
    """The plain-words description of a rule (not Bayes: see ``describe_bayes``), in the active language."""
    text = DESCRIPTIONS.get(name)
    if text is None:
        return gettext("Spam rule %(name)s") % {"name": name} + (f" ({detail})" if detail else "")
    return gettext(text) + (f" ({detail})" if detail and name in SHOWN_DETAIL else "")


def describe_bayes(probability: float, *, scope: str) -> str:
    """What the classifier's probability says: "Your filter learned … (99.9 %)"."""
    values = {"percent": _percent(probability)}
    if 0.4 < probability < 0.6:
        return (
            gettext("The filter's training says nothing either way about messages like this (%(percent)s spam)")
            % values
        )
    if scope == "user":
        if probability >= 0.6:
            return gettext("Your filter learned that messages like this are spam (%(percent)s)") % values
        return gettext("Your filter learned that messages like this are not spam (%(percent)s spam)") % values
    if probability >= 0.6:
        return (
            gettext("The filter learned from everyone's reports that messages like this are spam (%(percent)s)")
            % values
        )
    return (
        gettext("The filter learned from everyone's reports that messages like this are not spam (%(percent)s spam)")
        % values
    )


def _percent(probability: float) -> str:
    """Rounded away from the middle only so far as never to show a certainty the classifier did not give."""
    tenths = math.floor(probability * 1000) if probability >= 0.5 else math.ceil(probability * 1000)
    return f"{tenths / 10:.1f} %"


def explain(verdict: dict) -> dict:
    """A recorded verdict as the webmail and the admin show it."""
    return {
        "is_spam": bool(verdict.get("is_spam")),
        "score": verdict.get("score"),
        "threshold": verdict.get("threshold"),
        "filter": verdict.get("filter", ""),
        "error": verdict.get("error", ""),
        "dmarc_quarantine": bool(verdict.get("dmarc_quarantine")),
        "signals": [{**signal, "description": _described(signal)} for signal in signals_of(verdict)],
    }


def signals_of(verdict: dict) -> list[dict]:
    """A recorded verdict's signals, the heaviest towards spam first; read from ``reasons`` for old records."""
    signals = verdict.get("signals")
    if not isinstance(signals, list):
        signals = []
        for reason in verdict.get("reasons") or []:
            match = _REASON.match(str(reason))
            if match:
                name, detail = match["name"], match["detail"] or ""
                signals.append(
                    {
                        "name": name,
                        "points": float(match["points"]),
                        "detail": detail,
                        "description": _description_of(name, detail),
                    }
                )
    signals = [s for s in signals if isinstance(s, dict) and "name" in s]
    return sorted(signals, key=lambda s: -float(s.get("points") or 0.0))


def _described(signal: dict) -> str:
    """The signal described again, in the reader's language (the recorded text for a rule unknown here)."""
    name, detail = str(signal["name"]), str(signal.get("detail") or "")
    if name in DESCRIPTIONS or (name.startswith("BAYES_") and _BAYES_DETAIL.match(detail)):
        return _description_of(name, detail)
    return str(signal.get("description") or describe(name, detail))


def _description_of(name: str, detail: str) -> str:
    """A rule's description, or the classifier's from the probability and scope its detail records."""
    bayes = _BAYES_DETAIL.match(detail) if name.startswith("BAYES_") else None
    if bayes:
        return describe_bayes(float(bayes["probability"]), scope=bayes["scope"])
    return describe(name, detail)
