"""Gmail, Google Workspace and Google Groups.

All come from ``mailer-daemon@googlemail.com`` (or ``@google.com``) with
``X-Failed-Recipients``, in three shapes:

- today's DSN (``multipart/report`` with a ``message/delivery-status`` part),
  read by the generic reader; Gmail's own help-link keys (``?p=NoSuchUser``,
  ``?p=DisabledUser``, ``?p=OverQuotaTemp``, ``?p=DmarcRejection``…) state the
  reason outright;
- Workspace's text-only notices, ``** Message not delivered **`` or
  ``** Address not found **``, then "Your message wasn't delivered to … because
  …" and "The response was:" with the remote server's reply;
- the old plain text, "Delivery to the following recipient failed
  permanently:" (or "has been delayed:") with each address indented on its
  own line and "Technical details of permanent failure:" quoting the reply,
  sometimes ending in Gmail's own ``(state 14)`` code.

Google Groups answers a post it refuses with "We're writing to let you know
that the group you tried to contact (…) may not exist, or you may not have
permission to post messages to the group", or "Your message wasn't delivered
to group@googlegroups.com because …"; the group is in X-Failed-Recipients.
"""

import re
from dataclasses import replace

from core.bounce_reasons import Reason
from inbound.bounces.formats.common import (
    Letter,
    Report,
    address_in,
    dsn,
    hinted,
    lines_before_copy,
    original_header,
    recipient,
)
from inbound.bounces.reading import _address_field, generic_report

_GOOGLE_SENDER = re.compile(r"mailer-daemon@(?:googlemail|google)\.com$", re.I)
# Gmail's own keys (its help links) and wording, most specific first.
GMAIL_HINTS = (
    (re.compile(r"\?p=NoSuchUser|account that you tried to reach does not exist", re.I), Reason.USER_UNKNOWN),
    (
        re.compile(r"\?p=DisabledUser|account that you tried to reach is (?:disabled|inactive)", re.I),
        Reason.SUSPENDED,
    ),
    (re.compile(r"\?p=OverQuota|is over quota|out of storage space", re.I), Reason.MAILBOX_FULL),
    (re.compile(r"\?p=DmarcRejection|domain's DMARC policy", re.I), Reason.AUTH_FAILURE),
    (
        re.compile(
            r"\b[45]\.7\.(?:2[4-7]|30|32)\b.{0,300}(?:SPF|DKIM|authenticat|aligned)"
            r"|fails to pass (?:SPF|authentication) checks",
            re.I | re.S,
        ),
        Reason.AUTH_FAILURE,
    ),
    (re.compile(r"\?p=ReceivingRate|receiving mail at a rate", re.I), Reason.RATE_LIMITED),
    (re.compile(r"very low reputation of the sending", re.I), Reason.BAD_REPUTATION),
    (re.compile(r"\?p=UnsolicitedRateLimitError|unusual rate of (?:unsolicited )?mail", re.I), Reason.BLOCKED),
    (
        re.compile(r"\?p=UnsolicitedMessageError|is likely unsolicited mail|rejected due to spam classification", re.I),
        Reason.SPAM_DETECTED,
    ),
    (
        re.compile(r"\?p=MsgSizeLimit|\?p=MaxSizeError|exceeded Google's message size limits", re.I),
        Reason.MESSAGE_TOO_BIG,
    ),
    (re.compile(r"\?p=RfcMessageNonCompliant|not RFC 5322 compliant", re.I), Reason.NOT_COMPLIANT_RFC),
    (re.compile(r"\?p=MailLoop|exceeded \d+ hops", re.I), Reason.NETWORK_ERROR),
    (re.compile(r"\?p=NotAuthorizedError|not authorized to send email directly", re.I), Reason.BLOCKED),
    (re.compile(r"\?p=CustomFromDenied|does not advertise AUTH capability", re.I), Reason.SECURITY_ERROR),
    (re.compile(r"\?p=IPv6AuthError|does not have a PTR record", re.I), Reason.REQUIRE_PTR),
)
# Gmail's help-link keys name the reason wherever its reply is quoted (a DSN of any MTA).
VENDOR_CODES = (
    (re.compile(r"\?p=NoSuchUser\b"), Reason.USER_UNKNOWN),
    (re.compile(r"\?p=DisabledUser\b"), Reason.SUSPENDED),
    (re.compile(r"\?p=OverQuota(?:Temp|Perm)\b"), Reason.MAILBOX_FULL),
    (re.compile(r"\?p=DmarcRejection\b"), Reason.AUTH_FAILURE),
    (re.compile(r"\?p=ReceivingRate(?:Perm)?\b"), Reason.RATE_LIMITED),
    (re.compile(r"\?p=UnsolicitedRateLimitError\b|detected an unusual rate of\s+unsolicited mail"), Reason.BLOCKED),
    (re.compile(r"\?p=UnsolicitedMessageError\b"), Reason.SPAM_DETECTED),
    (re.compile(r"\?p=(?:MsgSizeLimit|MaxSizeError)\b"), Reason.MESSAGE_TOO_BIG),
    (re.compile(r"\?p=RfcMessageNonCompliant\b"), Reason.NOT_COMPLIANT_RFC),
    (re.compile(r"\?p=MailLoop\b"), Reason.NETWORK_ERROR),
    (re.compile(r"\?p=IPv6AuthError\b"), Reason.REQUIRE_PTR),
)
# What Google's own texts say when the remote server never answered.
_DNS_HINTS = (
    (
        re.compile(
            r"DNS Error: (?:Domain name not found|DNS server returned answer with no data)"
            r"|responded with code NXDOMAIN|because the domain \S+ couldn'?t be found",
            re.I,
        ),
        Reason.HOST_UNKNOWN,
        "5.1.2",
    ),
    (re.compile(r"Null MX", re.I), Reason.NOT_ACCEPTED, "5.1.10"),
)
_NULL_MX = (re.compile(r"\bNull MX\b|rfc-editor\.org/info/rfc7505", re.I), Reason.NOT_ACCEPTED)
# "(state 14)" at the end of an old Gmail notice: Gmail's code for where the transaction failed.
_STATE_HINTS = {"12": Reason.NO_RELAYING, "13": Reason.BLOCKED}
_GROUP_REFUSAL = re.compile(
    r"the group you tried to contact .{0,200}may not exist,? or you may not have permission"
    r"|you (?:do not|don'?t) have permission to post|only (?:members|managers) can post"
    r"|グループにメッセージを投稿する権限がない",  # the same notice in Japanese
    re.I | re.S,
)


def read(letter: Letter) -> Report | None:
    if not _GOOGLE_SENDER.search(letter.parsed.from_address):
        return None
    failed = [a for a in (_address_field(v) for v in letter.header("x-failed-recipients").split(",")) if a]
    if any(address.lower().endswith("@googlegroups.com") for address in failed) or _GROUP_REFUSAL.search(letter.human):
        found = _google_groups(letter, failed)
        if found is not None:
            return found
    if letter.status_parts:
        # a Null MX is final whatever class the DSN gives it (Google writes 4.0.0)
        return hinted(_explained(letter, generic_report(letter)), (*GMAIL_HINTS, _NULL_MX))
    if re.search(r"delivery to the following recipients? (?:failed|has been delayed)", letter.human, re.I):
        return _old_gmail(letter)
    return _workspace_notice(letter, failed)


def _google_groups(letter: Letter, failed: list[str]) -> Report | None:
    text = " ".join(line.strip() for line in lines_before_copy(letter) if line.strip())
    groups = failed or [address_in(_wasnt_delivered_to(text))]
    recipients = []
    for address in filter(None, groups):
        reason, status = "", ""
        if _GROUP_REFUSAL.search(text):
            reason = Reason.REJECTED
        elif re.search(r"address couldn'?t be found|group .{0,40}(?:does not|doesn'?t) exist", text, re.I):
            reason, status = Reason.USER_UNKNOWN, "5.1.1"
        recipients.append(recipient(address, _explanation(text), status=status, reason=reason))
    return dsn(letter, recipients, reporter="googlegroups.com")


def _workspace_notice(letter: Letter, failed: list[str]) -> Report | None:
    """``** Message not delivered **``… with the remote reply after "The response was:"."""
    text = " ".join(line.strip() for line in lines_before_copy(letter) if line.strip())
    if not re.search(r"\*\* [\w' ]{3,60} \*\*|wasn'?t delivered to|The response (?:from the remote server )?was", text):
        return None
    addresses = failed or [address_in(_wasnt_delivered_to(text)) or address_in(original_header(letter, "to"))]
    action = "delayed" if re.search(r"\*\* (?:Message )?delayed|will (?:keep )?(?:re)?try", text, re.I) else "failed"
    recipients = []
    for address in filter(None, addresses):
        reason, status = _dns_hint(text)
        recipients.append(recipient(address, _explanation(text), action=action, status=status, reason=reason))
    return hinted(dsn(letter, recipients, reporter="googlemail.com"), GMAIL_HINTS)


def _old_gmail(letter: Letter) -> Report | None:
    lines = lines_before_copy(letter)
    text = "\n".join(lines)
    action = "delayed" if re.search(r"has been delayed|will be retried", text, re.I) else "failed"
    addresses = [line.strip() for line in lines if re.fullmatch(r"\s+\S+@\S+", line)]
    details = re.split(r"technical details of (?:permanent|temporary) failure:?", text, maxsplit=1, flags=re.I)
    diagnostic = " ".join(details[-1].split()) if len(details) > 1 else ""
    reason, status = _dns_hint(diagnostic)
    state = re.search(r"\(state (\d+)\)\.?\s*$", diagnostic)
    if not reason and state:
        reason = _STATE_HINTS.get(state.group(1), "")
    if not reason and re.search(r"did not accept our requests to connect", diagnostic, re.I):
        # Gmail gave up on a host that never answered; while it still retries, that is X.4.1 (no answer)
        reason, status = (Reason.EXPIRED, status) if action == "failed" else (Reason.NETWORK_ERROR, "4.4.1")
    recipients = [
        recipient(address_in(a), _reply_of(diagnostic), action=action, status=status, reason=reason)
        for a in addresses
        if address_in(a)
    ]
    return hinted(dsn(letter, recipients, reporter="googlemail.com"), GMAIL_HINTS)


def _explained(letter: Letter, report: Report | None) -> Report | None:
    """A DSN whose recipients carry no Diagnostic-Code: Google's notice above it says why."""
    if report is None or report.kind != "dsn" or all(found.diagnostic for found in report.recipients):
        return report
    text = " ".join(line.strip() for line in lines_before_copy(letter) if line.strip())
    explanation = _explanation(text)
    reason, status = _dns_hint(text)
    if not reason and re.search(r"because the address couldn'?t be found\.", text, re.I):
        reason = Reason.USER_UNKNOWN  # nothing more: the address itself is unknown
    recipients = []
    for found in report.recipients:
        if not found.diagnostic and found.action in ("failed", "delayed"):
            refined = recipient(found.address, explanation, action=found.action, status=status or found.status,
                                reason=found.reason or reason)  # fmt: skip
            found = replace(found, diagnostic=refined.diagnostic, status=refined.status, reason=refined.reason)
        recipients.append(found)
    return replace(report, recipients=recipients)


def _dns_hint(text: str) -> tuple[str, str]:
    for pattern, reason, status in _DNS_HINTS:
        if pattern.search(text):
            return reason, status
    return "", ""


def _wasnt_delivered_to(text: str) -> str:
    match = re.search(r"(?:wasn'?t|was not) delivered to (\S+)|your message to (\S+)", text, re.I)
    return (match.group(1) or match.group(2)) if match else ""


def _reply_of(diagnostic: str) -> str:
    """The remote server's reply in Gmail's explanation, else the explanation."""
    match = re.search(r"the (?:error that the other server returned|response(?: from the remote server)?) was:?\s*(.+)",
                      diagnostic, re.I)  # fmt: skip
    return match.group(1) if match else diagnostic


def _explanation(text: str) -> str:
    text = re.sub(r"^\s*\*\* [^*]{3,60} \*\*\s*", "", text)
    reply = _reply_of(text)
    return reply if reply != text else text
