"""What a spam verdict's signals mean, in words a user reads: for the webmail and the admin.

A verdict records its signals as ``{"name", "points", "detail", "description"}``
(see ``SpamVerdict.signals``); verdicts recorded before there were signals only
have their ``reasons`` (``"SPF_FAIL +2.0 (example.com)"``), read back here.
"""

import math
import re

DESCRIPTIONS = {
    "SPF_FAIL": "Sender failed SPF: the server it came from may not send mail for its domain ({detail})",
    "SPF_SOFTFAIL": "Sender's SPF record doubts the server it came from (soft fail)",
    "SPF_PERMERROR": "Sender's SPF record is broken",
    "SPF_NONE": "Sender's domain publishes no SPF record",
    "HELO_SPF_FAIL": "The sending server's own name failed SPF",
    "DKIM_FAIL": "Its DKIM signature does not verify: it may have been altered on the way",
    "DKIM_PASS_ALIGNED": "Signed by the sender's own domain (DKIM)",
    "DMARC_FAIL_REJECT": "Failed DMARC, and the sender's domain asks to reject such mail",
    "DMARC_FAIL_QUARANTINE": "Failed DMARC, and the sender's domain asks to treat such mail as spam",
    "DMARC_FAIL": "Failed the sender domain's DMARC check",
    "DMARC_PASS": "Passed the sender domain's DMARC check",
    "MISSING_FROM": "It has no sender address",
    "MISSING_DATE": "It has no date",
    "INVALID_DATE": "Its date is malformed",
    "DATE_IN_FUTURE": "It is dated in the future",
    "MISSING_MESSAGE_ID": "It lacks the Message-ID that mail programs add",
    "MISSING_TO": "It does not say whom it is addressed to",
    "FROM_REPLY_TO_MISMATCH": "Replies would go to another domain than the sender's ({detail})",
    "FROM_NAME_HAS_OTHER_ADDRESS": "The sender's name shows another address than the real one ({detail})",
    "SUBJECT_ALL_CAPS": "The subject is written in capital letters",
    "SUBJECT_EXCLAMATIONS": "The subject has many exclamation marks",
    "BODY_EXCLAMATIONS": "The text has many exclamation marks",
    "HTML_LINK_HEAVY": "It is mostly links, with little text",
    "HTML_IMAGE_ONLY": "It is mostly images, with little text",
    "URL_IP_ADDRESS": "It links to a bare IP address ({detail})",
    "LINK_TEXT_MISMATCH": "A link shows one address but leads to another ({detail})",
    "URL_SHORTENER": "It uses a link shortener that hides where a link goes ({detail})",
    "BASE64_TEXT": "Its text is encoded the way spammers hide words from filters",
    "SPAM_PHRASES": "It uses phrases common in spam ({detail})",
    "INVISIBLE_TEXT": "It contains hidden text",
    "ZERO_WIDTH_CHARS": "It contains invisible characters that break words up",
    "RSPAMD_SKIPPED": "The spam scanner skipped it",
    # rspamd's symbols for the same things
    "BAYES_SPAM": "The filter learned that messages like this are spam ({detail})",
    "BAYES_HAM": "The filter learned that messages like this are not spam ({detail})",
    "R_SPF_FAIL": "Sender failed SPF: the server it came from may not send mail for its domain ({detail})",
    "R_SPF_SOFTFAIL": "Sender's SPF record doubts the server it came from (soft fail)",
    "R_SPF_ALLOW": "Sender passed SPF",
    "R_DKIM_REJECT": "Its DKIM signature does not verify: it may have been altered on the way",
    "R_DKIM_ALLOW": "Signed by the sender's domain (DKIM)",
    "DMARC_POLICY_REJECT": "Failed DMARC, and the sender's domain asks to reject such mail",
    "DMARC_POLICY_QUARANTINE": "Failed DMARC, and the sender's domain asks to treat such mail as spam",
    "DMARC_POLICY_ALLOW": "Passed the sender domain's DMARC check",
}
_BAYES_DETAIL = re.compile(r"^p=(?P<probability>[\d.]+), \d+ clues, (?P<scope>\w+)$")
_REASON = re.compile(r"^(?P<name>\S+) (?P<points>[+-]?\d+(?:\.\d+)?)(?: \((?P<detail>.*)\))?$", re.DOTALL)


def describe(name: str, detail: str = "") -> str:
    """The plain-words description of a rule (not Bayes: see ``describe_bayes``)."""
    template = DESCRIPTIONS.get(name)
    if template is None:
        return f"Spam rule {name}" + (f" ({detail})" if detail else "")
    return template.format(detail=detail) if detail else template.replace(" ({detail})", "")


def describe_bayes(probability: float, *, scope: str) -> str:
    """What the classifier's probability says: "Your filter learned … (99.9 %)"."""
    who = "Your filter learned" if scope == "user" else "The filter learned from everyone's reports"
    shown = _percent(probability)
    if probability >= 0.6:
        return f"{who} that messages like this are spam ({shown})"
    if probability <= 0.4:
        return f"{who} that messages like this are not spam ({shown} spam)"
    return f"The filter's training says nothing either way about messages like this ({shown} spam)"


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
        "signals": signals_of(verdict),
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
                        "description": _old(name, detail),
                    }
                )
    signals = [s for s in signals if isinstance(s, dict) and "name" in s]
    return sorted(signals, key=lambda s: -float(s.get("points") or 0.0))


def _old(name: str, detail: str) -> str:
    bayes = _BAYES_DETAIL.match(detail) if name.startswith("BAYES_") else None
    if bayes:
        return describe_bayes(float(bayes["probability"]), scope=bayes["scope"])
    return describe(name, detail)
