"""The smaller MTAs whose reports the generic readers cannot read alone.

- Ipswitch IMail ("Undeliverable Mail", X-Mailer ``<SMTP32 v…>``): the
  failure before the address ("Unknown user: a@b"), or "undeliverable to a@b"
  followed by "Body of message generated response:" and the server's reply.
- Trustwave MailMarshal ("Undeliverable Mail: "subject""): "Could not be
  delivered because of  <reply>" and only then "The following recipients were
  affected:" with the addresses.
- Apache James ("Error: <what>", "Error message below:" with the server's
  reply, then "Message details:" listing the envelope, "RCPT TO: a@b").
"""

import re

from core.bounce_reasons import Reason
from inbound.bounces.reading import ADDRESS, Letter, Report, one_line, recipient, text_report

_IMAIL_FAILURES = (
    (re.compile(r"^(?:Unknown user|Invalid final delivery userid)", re.I), Reason.USER_UNKNOWN),
    (re.compile(r"^User mailbox exceeds allowed size", re.I), Reason.MAILBOX_FULL),
    (re.compile(r"^Delivery failed \d+ attempts", re.I), Reason.EXPIRED),
    (re.compile(r"Unknown host", re.I), Reason.HOST_UNKNOWN),
    (re.compile(r"^Requested action not taken: virus detected", re.I), Reason.VIRUS_DETECTED),
)
_IMAIL_LINE = re.compile(rf"(?P<lead>[A-Za-z][^:]{{2,80}}):\s*<?(?P<address>{ADDRESS})>?\s*")
_IMAIL_UNDELIVERABLE = re.compile(rf"undeliverable\s+to\s+<?(?P<address>{ADDRESS})>?\s*", re.I)
_MAILMARSHAL_ADDRESS = re.compile(rf" {{2,}}<?(?P<address>{ADDRESS})>?\s*")
_JAMES_RECIPIENTS = re.compile(r"\s*RCPT TO:\s*(?P<addresses>.+)", re.I)


def read(letter: Letter) -> Report | None:
    subject = letter.parsed.subject
    if letter.header("x-mailer").startswith("<SMTP32 v") or re.fullmatch(r"Undeliverable Mail\s*", subject):
        return _imail(letter)
    if subject.startswith('Undeliverable Mail: "') and "Could not be delivered because of" in letter.human:
        return _mailmarshal(letter)
    if re.search(r"^Error message below:", letter.human, re.M) and re.search(r"^Message details:", letter.human, re.M):
        return _james(letter)
    return None


def _james(letter: Letter) -> Report | None:
    said: list[str] = []
    addresses: list[str] = []
    in_details = False
    for line in letter.report_text():
        if line.startswith("Message details:"):
            in_details = True
        elif in_details and (match := _JAMES_RECIPIENTS.fullmatch(line)):
            addresses += re.findall(ADDRESS, match["addresses"])
        elif not in_details and line.strip() and not line.startswith("Error message below:"):
            said.append(line.strip())  # "Error: Invalid user address", then the server's reply
    text = one_line(" ".join(said))
    return text_report(letter, [recipient(address, text) for address in dict.fromkeys(addresses)])


def _imail(letter: Letter) -> Report | None:
    found: list[tuple[str, list[str]]] = []
    for line in letter.report_text():
        if match := _IMAIL_UNDELIVERABLE.fullmatch(line):
            found.append((match["address"], []))
        elif match := _IMAIL_LINE.fullmatch(line):
            found.append((match["address"], [match["lead"]]))
        elif found and line.strip():
            found[-1][1].append(line.strip())
    recipients = []
    for address, said in found:
        text = " ".join(said).replace("Body of message generated response:", "").strip()
        reason = next((reason for pattern, reason in _IMAIL_FAILURES if pattern.search(text)), "")
        recipients.append(recipient(address, text, reason=reason))
    return text_report(letter, recipients)


def _mailmarshal(letter: Letter) -> Report | None:
    said: list[str] = []
    addresses: list[str] = []
    part = ""
    for line in letter.report_text(re.compile(r"^Additional Information\s*$|^\s*=+\s*$")):
        if line.startswith("Could not be delivered because of"):
            part = "error"
        elif line.startswith("The following recipients were affected"):
            part = "recipients"
        elif part == "error" and line.strip():
            said.append(line.strip())
        elif part == "recipients" and (match := _MAILMARSHAL_ADDRESS.fullmatch(line)):
            addresses.append(match["address"])
    text = one_line(" ".join(said))
    return text_report(letter, [recipient(address, text) for address in addresses])
