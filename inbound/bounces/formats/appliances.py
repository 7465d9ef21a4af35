"""Mail security gateways: McAfee, Trend Micro InterScan, Cisco IronPort, Mimecast, and the codes of
Barracuda, FortiMail, Proofpoint and Symantec MessageLabs.

- **McAfee** Email Gateway (``X-NAI-Header``, subject "Delivery Status"): its
  delivery-status part often has no Diagnostic-Code; the reason stands in the
  text part, ``<user@host>   (User unknown user@host)``.
- **Trend Micro InterScan MSS** ("Mail could not be delivered"): no
  delivery-status part; "Unable to deliver message to <user@host>", then the
  dialogue, ``Sent <<< RCPT TO:<user@host>`` and ``Received >>> 550 …``.
- **Cisco IronPort** (AsyncOS, also Amazon SES): "The reason for the problem: 5.1.0 - Unknown
  address error 550-'5.7.1 …'": its own status (5.1.0 says little more than
  "the remote server refused") wraps the remote server's reply in quotes; the
  reply's status is the one that tells. "5.4.7 - Delivery expired" is expired.
- **Mimecast** ("Email Delivery Failure", Message-Id ``…mimecast.lan``): lines
  starting ``-- ``: the address, "The problem appears to be", "Additional
  information follows" (the remote reply).
- **Active!Hunter** (``X-AHMAILID``): a ``multipart/report`` with no
  delivery-status part; sendmail's wording in the text, each failed address on
  a ``>>> user@host <user@host>`` line, the remote reply after "Transcript of
  session follows".
- **MailFoundry** ("Message delivery has failed"): text only, "Unable to
  deliver message to: <user@host>", "Delivery failed for the following
  reason:", then "Server host[ip] failed with: 550 …".
- Barracuda (``UBE``, its reputation list), FortiMail (FortiGuard),
  Proofpoint (ipcheck) and MessageLabs (``policy [7.7]``, SPF failures) write
  their own words into the replies they give.
"""

import re
from dataclasses import replace

from core.bounce_reasons import Reason
from inbound.bounces.formats.common import (
    ADDRESS,
    Letter,
    Report,
    address_in,
    dsn,
    hinted,
    lines_before_copy,
    recipient,
)
from inbound.bounces.reading import _enhanced, _lines, generic_report
from mailboxes.text import decode_bytes

VENDOR_CODES = (
    (re.compile(r"Barracuda Reputation|barracudanetworks\.com/reputation|\bBRBL\b", re.I), Reason.BLOCKED),
    (re.compile(r"Message content rejected, UBE, id="), Reason.SPAM_DETECTED),
    (re.compile(r"FortiGuard (?:IP reputation|AntiSpam)", re.I), Reason.BLOCKED),
    (re.compile(r"ipcheck\.proofpoint\.com|proofpoint\.com/dnsbl-lookup", re.I), Reason.BLOCKED),
    (re.compile(r"rejected by policy \[7\.7\]", re.I), Reason.BLOCKED),
    (
        re.compile(r"SPF \(Sender Policy Framework\) domain authentication\s*(?:\d{3}-)?\s*fail", re.I),
        Reason.AUTH_FAILURE,
    ),
    (re.compile(r"Invalid Recipient - https?://community\.mimecast\.com", re.I), Reason.USER_UNKNOWN),
)
# IronPort: "5.1.0 - Unknown address error 550-'5.7.1 …'" — its status, its words, then the reply in quotes.
_IRONPORT = re.compile(
    r"^(?P<status>[245]\.\d\.\d{1,3}) - (?P<words>[^'\"]{3,80}?)\s*(?:\d{3}-)?['\"](?P<reply>.*?)['\"]?\s*$"
)


def read(letter: Letter) -> Report | None:
    subject = letter.parsed.subject
    if letter.header("x-nai-header").startswith("Modified by McAfee"):
        return _mcafee(letter)
    if re.match(r'"?InterScan', letter.parsed.from_name) or subject == "Mail could not be delivered":
        return _interscan(letter)
    if "Email Delivery Failure" in subject or ".mimecast.lan" in letter.parsed.message_id:
        return _mimecast(letter)
    if subject == "Message delivery has failed" and "Delivery failed for the following reason" in letter.human:
        return _mailfoundry(letter)
    if letter.header("x-ahmailid") and not letter.status_parts:
        return _active_hunter(letter)
    return None


def _mcafee(letter: Letter) -> Report | None:
    said = {}
    # the explanation is a text part named "deliveryproblems.txt": an attachment, not the body
    named = [a.content for a in letter.parsed.attachments if a.content_type == "text/plain"][:3]
    texts = [letter.human, *(decode_bytes(content[:65536], "utf-8") for content in named)]
    for line in (line for text in texts for line in _lines(text)):
        if match := re.match(rf"^\s*<(?P<address>{ADDRESS})>\s+\((?P<why>.+)\)\s*$", line):
            said[match["address"].lower()] = match["why"]
    report = generic_report(letter)
    if report is None:
        return dsn(letter, [recipient(address, why) for address, why in said.items()])
    recipients = []
    for found in report.recipients:
        why = said.get(found.address.lower(), "")
        if why and not found.diagnostic:
            refined = recipient(found.address, why, action=found.action, status=found.status)
            found = replace(found, diagnostic=refined.diagnostic, status=refined.status)
        recipients.append(found)
    return replace(report, recipients=recipients)


def _interscan(letter: Letter) -> Report | None:
    found: dict[str, str] = {}
    current = ""
    for line in lines_before_copy(letter):
        line = line.strip()
        if match := re.match(r"^(?:Unable to deliver message to|Sent <<< RCPT TO:)\s*<([^<>]+@[^<>]+)>", line, re.I):
            current = match.group(1)
            found.setdefault(current, "")
        elif current and (match := re.match(r"^Received >>> (.+)$", line)):
            found[current] = match.group(1)
    return dsn(letter, [recipient(address, reply) for address, reply in found.items()])


def _mailfoundry(letter: Letter) -> Report | None:
    found: dict[str, list[str]] = {}
    current = ""
    for line in lines_before_copy(letter):
        line = line.strip()
        if match := re.match(r"^Unable to deliver message to:?\s*<?([^<>\s]+@[^<>\s]+?)>?$", line, re.I):
            current = match.group(1)
            found.setdefault(current, [])
        elif current and line and not re.match(r"^(?:Delivery failed for the following reason|This has been a)", line):
            found[current].append(line)
    recipients = []
    for address, notes in found.items():
        text = " ".join(notes)
        reply = re.search(r"failed with:\s*(.+)$", text)
        recipients.append(recipient(address, reply.group(1) if reply else text))
    return dsn(letter, recipients)


def _active_hunter(letter: Letter) -> Report | None:
    addresses, transcript, in_transcript = [], [], False
    for line in lines_before_copy(letter):
        line = line.strip()
        if re.match(r"^-{3,}\s*Transcript of session follows", line, re.I):
            in_transcript = True
        elif re.match(r"^-{3,}", line):
            in_transcript = False
        elif in_transcript and line:
            transcript.append(line)
        elif line.startswith(">>>") and address_in(line):
            addresses.append(address_in(line))
    reply = " ".join(transcript)
    return dsn(letter, [recipient(address, reply) for address in dict.fromkeys(addresses)])


def _mimecast(letter: Letter) -> Report | None:
    recipients = []
    address, notes = "", []
    for line in lines_before_copy(letter) + [""]:
        match = re.match(r"^-- (.+)$", line.strip())
        if match and "@" in match.group(1) and " " not in match.group(1).strip():
            if address:
                recipients.append(_mimecast_recipient(address, notes))
            address, notes = address_in(match.group(1)), []
        elif match and address:
            notes.append(match.group(1))
    if address:
        recipients.append(_mimecast_recipient(address, notes))
    return hinted(dsn(letter, recipients), VENDOR_CODES)


def _mimecast_recipient(address: str, notes: list[str]):
    # the last note is the remote server's reply when there is one; the first is Mimecast's summary
    reply = next((note for note in reversed(notes) if re.match(r"^[245](?:\d\d|\.\d)", note)), "")
    return recipient(address, f"{reply} ({notes[0]})" if reply and notes else " ".join(notes))


def with_quoted_replies(report: Report | None) -> Report | None:
    """IronPort's (and Amazon SES's) "5.1.0 - Unknown address error 550-'5.1.1 …'": the quoted reply tells.

    Applied to every report: the form is theirs alone, whichever MTA relays it.
    """
    if report is None or report.kind != "dsn":
        return report
    recipients = []
    for found in report.recipients:
        match = _IRONPORT.match(found.diagnostic)
        if match:
            status = _enhanced(match["reply"]) or found.status
            expired = re.search(r"delivery expired", match["words"], re.I)
            reason = found.reason or (Reason.EXPIRED if expired else "")
            found = replace(found, status=status, diagnostic=f"{match['reply']} ({match['words']})", reason=reason)
        elif re.match(r"^[245]\.4\.7 - Delivery expired", found.diagnostic, re.I) and not found.reason:
            found = replace(found, reason=Reason.EXPIRED)
        recipients.append(found)
    return replace(report, recipients=recipients)
