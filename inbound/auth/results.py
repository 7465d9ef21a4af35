"""The results of sender authentication and their RFC 8601 Authentication-Results header."""

import re
from dataclasses import dataclass, fields

# RFC 2045 token: printable ASCII without SPACE and tspecials; anything else is quoted.
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")
MAX_REASON = 100


@dataclass(frozen=True)
class SPFResult:
    result: str  # pass, fail, softfail, neutral, none, temperror, permerror
    domain: str  # the domain checked: MAIL FROM's, or HELO's when MAIL FROM is <>
    scope: str  # "mailfrom" or "helo"
    explanation: str = ""


@dataclass(frozen=True)
class DKIMResult:
    result: str  # pass, fail, neutral, none, temperror, permerror
    domain: str  # d=
    selector: str  # s=
    explanation: str = ""


@dataclass(frozen=True)
class DMARCResult:
    result: str  # pass, fail, none, temperror, permerror
    domain: str  # the RFC5322.From domain
    policy: str  # the applicable p= or sp=: none, quarantine, reject; "" without a record
    disposition: str  # what the policy asks for this message: none, quarantine, reject
    explanation: str = ""
    override: str = ""  # why the disposition is not what the policy asks (RFC 7489 §6.7): "arc" or ""


@dataclass(frozen=True)
class ARCResult:
    result: str  # pass, fail, none (RFC 8617 §4.4: the chain validation status)
    instance: int = 0  # i= of the newest ARC set; 0 without one
    sealers: str = ""  # d= of each ARC-Seal, newest first, comma-separated
    explanation: str = ""
    vouched_by: str = ""  # the trusted sealer whose ARC-Authentication-Results show an aligned pass


@dataclass(frozen=True)
class AuthenticationResults:
    spf: SPFResult
    helo_spf: SPFResult
    dkim: list[DKIMResult]
    dmarc: DMARCResult
    arc: ARCResult = ARCResult("none")

    def header_value(self, authserv_id: str) -> str:
        """The Authentication-Results field value (RFC 8601), unfolded, ASCII, without CR or LF.

        ``mx.example.org; spf=pass smtp.mailfrom=a.example; spf=none smtp.helo=mx.a.example;
        dkim=pass header.d=a.example header.s=s1; dmarc=pass (p=reject dis=none) header.from=a.example``
        — the HELO result is listed separately only when MAIL FROM was not empty (with ``<>`` the SPF
        result already is the HELO's). Values that come from the message or the DNS are sanitised.
        """
        parts = [_value(authserv_id) or "unknown"]
        parts.append(_spf_resinfo(self.spf))
        if self.spf.scope == "mailfrom":
            parts.append(_spf_resinfo(self.helo_spf))
        for dkim in self.dkim:
            props = [("header.d", dkim.domain), ("header.s", dkim.selector)] if dkim.domain else []
            parts.append(_resinfo("dkim", dkim.result, dkim.explanation, props))
        dmarc = self.dmarc
        comment = f"(p={dmarc.policy} dis={dmarc.disposition})" if dmarc.policy else ""
        props = [("header.from", dmarc.domain)] if dmarc.domain else []
        if dmarc.override:
            props.append(("policy.override", dmarc.override))
        parts.append(_resinfo("dmarc", dmarc.result, dmarc.explanation, props, comment=comment))
        if self.arc.result != "none":  # without a chain there is nothing to say, nor to seal on
            parts.append(_arc_resinfo(self.arc))
        return "; ".join(parts)

    def as_dict(self) -> dict:
        """JSON-safe; ``from_dict`` reads it back."""
        return {
            "spf": _fields(self.spf),
            "helo_spf": _fields(self.helo_spf),
            "dkim": [_fields(result) for result in self.dkim],
            "dmarc": _fields(self.dmarc),
            "arc": _fields(self.arc),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "AuthenticationResults":
        return cls(
            spf=SPFResult(**data["spf"]),
            helo_spf=SPFResult(**data["helo_spf"]),
            dkim=[DKIMResult(**result) for result in data["dkim"]],
            dmarc=DMARCResult(**data["dmarc"]),
            arc=ARCResult(**data["arc"]) if "arc" in data else ARCResult("none"),  # kept before ARC was checked
        )


def _fields(result: SPFResult | DKIMResult | DMARCResult | ARCResult) -> dict:
    """``asdict(result)`` for these flat dataclasses of strings, without its deep copy."""
    return {field.name: getattr(result, field.name) for field in fields(result)}


def _spf_resinfo(spf: SPFResult) -> str:
    ptype = "smtp.mailfrom" if spf.scope == "mailfrom" else "smtp.helo"
    return _resinfo("spf", spf.result, spf.explanation, [(ptype, spf.domain)] if spf.domain else [])


def _arc_resinfo(arc: ARCResult) -> str:
    """``arc=pass (i=2 lists.example.org google.com trusted=google.com)``: the chain's sealers, newest first."""
    sealers = [_comment_word(name) for name in arc.sealers.split(",") if _comment_word(name)]
    words = [f"i={arc.instance}", *sealers[:5]] + (["..."] if len(sealers) > 5 else [])
    if arc.vouched_by:
        words.append(f"trusted={_comment_word(arc.vouched_by)}")
    return _resinfo("arc", arc.result, arc.explanation, [], comment=f"({' '.join(words)})")


def _comment_word(text: str) -> str:
    """A domain from a header, made safe for an RFC 5322 comment: no parentheses, quotes, backslashes, spaces."""
    return re.sub(r"[()\\\"\s;]+", "", _clean(text))[:100]


def _resinfo(method: str, result: str, reason: str, props: list[tuple[str, str]], comment: str = "") -> str:
    words = [f"{method}={_value(result) or 'none'}"]
    if comment:
        words.append(comment)
    if reason and result not in ("pass", "none"):  # those need no reason
        words.append(f"reason={_quoted(_clean(reason)[:MAX_REASON])}")
    words += [f"{name}={_value(value)}" for name, value in props if _clean(value)]
    return " ".join(words)


def _clean(text: str) -> str:
    """No control characters, no line breaks, nothing outside ASCII: hostile DNS and headers end up here."""
    return _UNPRINTABLE.sub(" ", text).strip()


def _value(text: str) -> str:
    text = _clean(text)[:255]
    if not text or _TOKEN.fullmatch(text):
        return text
    return _quoted(text)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
