"""Why a recipient's mail failed, and whether the address itself is gone.

One vocabulary for every failure the product learns of: a remote server's
reply during our own SMTP transaction (``delivery``), a bounce or delivery
status notification that comes back later (``inbound.bounces``), an ESP's
webhook. The reasons are those of the best open-source classifier (Sisimai),
so figures compare with it; ``classify`` reads the reason from the enhanced
status code *and* the reply text, and decides hard or soft from the reason,
not from the status class alone.

Hard means "this address will not work, stop sending to it" (suppressed);
soft means "this message failed, the address may work another time".

How a reason is decided (after Sisimai's ``Reason``/``Rhost``/``SMTP::Status``,
rewritten as tables of regexes):

1. a reason the format states outright (``hint``: an ESP's bounce subtype) wins;
2. a report that the sending MTA gave up ("retry timeout exceeded", "gave up
   after retrying 4.2.2", ``X.4.7``, Postfix's "message expired") is
   ``expired``, whatever the last temporary error was; a delayed recipient
   (``action=delayed``) is never expired and never hard: it gets the reason of
   the temporary failure;
3. a provider's own codes, where they are unambiguous (Gmail ``4.7.28``,
   Microsoft ``S3150``/``AS(…)``, Yahoo ``TSS04``…);
4. the status and the text together: each status names a reason
   (``STATUS_REASONS``, RFC 3463's meanings as Sisimai maps them). A *weak*
   status (``X.0.0``, ``X.1.0``, ``X.2.0``, ``X.3.0``, ``X.4.0``, ``X.5.0``,
   ``X.7.0``, ``X.7.1``, and ``X.1.10``, which Microsoft uses for unknown
   users) gives way to any reason the text names; a specific status
   (``5.1.1``, ``5.2.2``…) wins over the text unless the text names one of
   the *decisive* reasons (a full mailbox, blocked IP, relaying denied,
   refused sender…), as Sisimai's ``UserUnknown`` steps aside for them;
5. nothing recognised: the status class decides (``X.6`` content error,
   ``X.7`` security error, 50x syntax error), else ``on_hold`` when the report
   explains something nobody understood and ``undefined`` when it is empty.

The status is refined the RFC 3463 way, not with Sisimai's private
``X.0.9xx`` codes: a generic ``X.0.0`` (or none) becomes the more specific
status the text quotes ("5.0.0" + "550 5.1.1 …" is 5.1.1), else the standard
code of the reason when RFC 3463 has one that means exactly it (user unknown
X.1.1, host unknown X.1.2, moved X.1.6, mailbox disabled X.2.1, mailbox full
X.2.2, over a mailbox limit X.2.3, system full X.3.1, too big X.3.4, delivery
time expired X.4.7), in the class the report gives. A status is never
invented for a failure no rule recognised.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext_lazy as _


class Reason(StrEnum):
    USER_UNKNOWN = "user_unknown"  # the mailbox does not exist
    MAILBOX_FULL = "mailbox_full"
    HOST_UNKNOWN = "host_unknown"  # the domain or its mail host does not exist
    HAS_MOVED = "has_moved"  # the person has left; the reply names a new address
    SUSPENDED = "suspended"  # the mailbox exists but is disabled or not paid for
    BLOCKED = "blocked"  # our IP or domain is refused (blocklists, no PTR, reputation)
    BAD_REPUTATION = "bad_reputation"
    REQUIRE_PTR = "require_ptr"
    REJECTED = "rejected"  # the envelope sender is refused
    POLICY_VIOLATION = "policy_violation"  # the content or the sender breaks the receiver's policy
    SPAM_DETECTED = "spam_detected"
    VIRUS_DETECTED = "virus_detected"
    FILTERED = "filtered"  # refused by the recipient's own filter or settings
    CONTENT_ERROR = "content_error"  # malformed or unacceptable message content
    NOT_COMPLIANT_RFC = "not_compliant_rfc"
    MESSAGE_TOO_BIG = "message_too_big"
    EXCEED_LIMIT = "exceed_limit"  # over the recipient's size or count limits
    RATE_LIMITED = "rate_limited"  # too many messages or connections: slow down
    TOO_MANY_CONNECTIONS = "too_many_connections"
    SPEEDING = "speeding"
    AUTH_FAILURE = "auth_failure"  # SPF, DKIM or DMARC failed at the receiver
    SECURITY_ERROR = "security_error"  # authentication required, or refused for security
    FAILED_STARTTLS = "failed_starttls"
    NO_RELAYING = "no_relaying"
    NOT_ACCEPTED = "not_accepted"  # the domain accepts no mail (null MX, RFC 7505)
    SYNTAX_ERROR = "syntax_error"  # a command we sent was not understood
    NETWORK_ERROR = "network_error"  # DNS or routing trouble, loops, unreachable hosts
    SYSTEM_ERROR = "system_error"  # the receiving system failed
    SYSTEM_FULL = "system_full"  # the receiving system is out of disk
    MAILER_ERROR = "mailer_error"  # the local delivery program failed
    EXPIRED = "expired"  # the sending MTA gave up after retrying temporary failures
    ON_HOLD = "on_hold"  # a failure the report does not explain
    UNDEFINED = "undefined"  # a failure no rule recognised
    DELIVERED = "delivered"  # a success notice, not a failure
    FEEDBACK = "feedback"  # a complaint (ARF), not a delivery failure


R = Reason

# What a person reads for each reason (the webmail's delivery status, the API's ``reason_label``).
REASON_LABELS = {
    Reason.USER_UNKNOWN: _("No such mailbox"),
    Reason.MAILBOX_FULL: _("Mailbox full"),
    Reason.HOST_UNKNOWN: _("No such domain"),
    Reason.HAS_MOVED: _("Recipient has moved"),
    Reason.SUSPENDED: _("Mailbox disabled"),
    Reason.BLOCKED: _("Our server was blocked"),
    Reason.BAD_REPUTATION: _("Sender reputation too low"),
    Reason.REQUIRE_PTR: _("Our server's reverse DNS was refused"),
    Reason.REJECTED: _("Sender address refused"),
    Reason.POLICY_VIOLATION: _("Refused by the receiver's policy"),
    Reason.SPAM_DETECTED: _("Taken for spam"),
    Reason.VIRUS_DETECTED: _("Virus detected"),
    Reason.FILTERED: _("Refused by the recipient's filter"),
    Reason.CONTENT_ERROR: _("Content refused"),
    Reason.NOT_COMPLIANT_RFC: _("Message not standard-compliant"),
    Reason.MESSAGE_TOO_BIG: _("Message too big"),
    Reason.EXCEED_LIMIT: _("Over the recipient's limits"),
    Reason.RATE_LIMITED: _("Too many messages; slowed down"),
    Reason.TOO_MANY_CONNECTIONS: _("Too many connections"),
    Reason.SPEEDING: _("Recipient receiving too fast"),
    Reason.AUTH_FAILURE: _("Sender authentication failed (SPF, DKIM, DMARC)"),
    Reason.SECURITY_ERROR: _("Security check failed"),
    Reason.FAILED_STARTTLS: _("Encryption (TLS) failed"),
    Reason.NO_RELAYING: _("Relaying refused"),
    Reason.NOT_ACCEPTED: _("Domain accepts no mail"),
    Reason.SYNTAX_ERROR: _("Protocol error"),
    Reason.NETWORK_ERROR: _("Network error"),
    Reason.SYSTEM_ERROR: _("Receiving server error"),
    Reason.SYSTEM_FULL: _("Receiving server full"),
    Reason.MAILER_ERROR: _("Local delivery program failed"),
    Reason.EXPIRED: _("Gave up after retrying"),
    Reason.ON_HOLD: _("Unexplained failure"),
    Reason.UNDEFINED: _("Unknown reason"),
    Reason.DELIVERED: _("Delivered"),
    Reason.FEEDBACK: _("Spam complaint"),
}
REASON_CHOICES = [(reason.value, REASON_LABELS[reason]) for reason in Reason]


def reason_label(reason: str) -> str:
    """The human label of a stored reason ("" for none, the value itself for one this version does not know)."""
    return str(REASON_LABELS.get(reason, reason)) if reason else ""


# The address itself will never work: suppress it. Everything else is soft.
HARD_REASONS = frozenset({Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.HAS_MOVED})
# Hard only when the reply was permanent (5xx), as for a domain with a null MX.
HARD_WHEN_PERMANENT = frozenset({Reason.NOT_ACCEPTED})
# Not failures at all.
NOT_FAILURES = frozenset({Reason.DELIVERED, Reason.FEEDBACK})


@dataclass(frozen=True)
class Verdict:
    reason: Reason
    status: str  # RFC 3463 enhanced status, refined from the text where the given one was generic ("" if none)
    hard: bool

    @property
    def soft(self) -> bool:
        return not self.hard and self.reason not in NOT_FAILURES


# --- statuses ----------------------------------------------------------------------------

# RFC 3463 / IANA enhanced statuses and the reason each names ("subject.detail"; both classes).
STATUS_REASONS: dict[str, Reason] = {
    "1.0": R.USER_UNKNOWN, "1.1": R.USER_UNKNOWN, "1.2": R.HOST_UNKNOWN, "1.3": R.USER_UNKNOWN,
    "1.4": R.FILTERED, "1.6": R.HAS_MOVED, "1.7": R.REJECTED, "1.8": R.REJECTED, "1.9": R.SYSTEM_ERROR,
    "1.10": R.NOT_ACCEPTED,
    "2.0": R.FILTERED, "2.1": R.SUSPENDED, "2.2": R.MAILBOX_FULL, "2.3": R.EXCEED_LIMIT, "2.4": R.FILTERED,
    "3.0": R.SYSTEM_ERROR, "3.1": R.SYSTEM_FULL, "3.2": R.NOT_ACCEPTED, "3.3": R.SYSTEM_ERROR,
    "3.4": R.MESSAGE_TOO_BIG, "3.5": R.SYSTEM_ERROR,
    "4.0": R.NETWORK_ERROR, "4.1": R.NETWORK_ERROR, "4.2": R.NETWORK_ERROR, "4.3": R.NETWORK_ERROR,
    "4.4": R.NETWORK_ERROR, "4.5": R.TOO_MANY_CONNECTIONS, "4.6": R.NETWORK_ERROR, "4.7": R.EXPIRED,
    "5.0": R.SYSTEM_ERROR, "5.1": R.SYNTAX_ERROR, "5.2": R.SYNTAX_ERROR, "5.3": R.TOO_MANY_CONNECTIONS,
    "5.4": R.SYNTAX_ERROR, "5.5": R.SYSTEM_ERROR, "5.6": R.SECURITY_ERROR,
    "6.0": R.CONTENT_ERROR, "6.1": R.CONTENT_ERROR, "6.2": R.CONTENT_ERROR, "6.3": R.CONTENT_ERROR,
    "6.5": R.CONTENT_ERROR, "6.6": R.CONTENT_ERROR, "6.7": R.CONTENT_ERROR, "6.8": R.CONTENT_ERROR,
    "6.9": R.CONTENT_ERROR,
    "7.0": R.SECURITY_ERROR, "7.1": R.BLOCKED, "7.2": R.BLOCKED, "7.3": R.SECURITY_ERROR,
    "7.4": R.SECURITY_ERROR, "7.5": R.SECURITY_ERROR, "7.6": R.SECURITY_ERROR, "7.7": R.SECURITY_ERROR,
    "7.8": R.SECURITY_ERROR, "7.9": R.SECURITY_ERROR, "7.10": R.FAILED_STARTTLS, "7.11": R.SECURITY_ERROR,
    "7.12": R.SECURITY_ERROR, "7.13": R.SUSPENDED, "7.14": R.SECURITY_ERROR, "7.15": R.SECURITY_ERROR,
    "7.16": R.MESSAGE_TOO_BIG, "7.17": R.HAS_MOVED, "7.18": R.HAS_MOVED, "7.19": R.SECURITY_ERROR,
    "7.20": R.AUTH_FAILURE, "7.21": R.AUTH_FAILURE, "7.22": R.AUTH_FAILURE, "7.23": R.AUTH_FAILURE,
    "7.24": R.AUTH_FAILURE, "7.25": R.REQUIRE_PTR, "7.26": R.AUTH_FAILURE, "7.27": R.REJECTED,
}  # fmt: skip
# Statuses too vague to stand against a reason the text names. (Microsoft says 5.1.10 for unknown users.)
WEAK_STATUSES = frozenset({"0.0", "1.0", "1.10", "2.0", "3.0", "4.0", "5.0", "7.0", "7.1", "4.1", "3.5"})
# The status that means exactly this reason (RFC 3463), for refining a generic one.
CANONICAL_DETAIL = {
    R.USER_UNKNOWN: "1.1", R.HOST_UNKNOWN: "1.2", R.HAS_MOVED: "1.6", R.SUSPENDED: "2.1", R.MAILBOX_FULL: "2.2",
    R.EXCEED_LIMIT: "2.3", R.SYSTEM_FULL: "3.1", R.MESSAGE_TOO_BIG: "3.4", R.EXPIRED: "4.7",
}  # fmt: skip

_ENHANCED = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?![\w]|\.\d)")
_BASIC_CODE = re.compile(r"(?:^|said:|returned:?|error:?|[\s(#])([245])\d\d(?:[ -]|$)", re.I)


def _split(status: str) -> tuple[str, str]:
    """("5", "1.1") for "5.1.1"; ("", "") for anything that is not an RFC 3463 status."""
    match = _ENHANCED.fullmatch((status or "").strip())
    return (match[1], f"{int(match[2])}.{int(match[3])}") if match else ("", "")


def _quoted_status(text: str) -> str:
    """The first non-generic enhanced status the text quotes ("550 5.1.1 …", "(#5.1.1)")."""
    for match in _ENHANCED.finditer(text):
        if match[1] != "2" and (match[2], match[3]) != ("0", "0"):
            return f"{match[1]}.{int(match[2])}.{int(match[3])}"
    return ""


# --- what the text says ------------------------------------------------------------------


def _rx(*phrases: str) -> re.Pattern:
    return re.compile("|".join(phrases))


# Giving up after retries: the final word of the sending MTA, whatever the last error was.
_EXPIRED = _rx(
    r"retry time ?out exceeded", r"retry time not reached for any host after a long failure period",
    r"gave up after retrying", r"giving up after", r"delivery time expired", r"message expired",
    r"queue expired", r"expired after \d+ (?:hours|days)", r"too long in (?:the )?queue",
    r"has been in the queue too long", r"in queue (?:too long|for more than)", r"could not be delivered for \d+",
    r"was not reachable within the allowed queue period", r"message timed out", r"it has not been collected after",
    r"could not be delivered within \d+", r"maximum (?:queue|delivery) (?:time|lifetime)", r"lifetime exceeded",
    r"delivery attempts? (?:will )?(?:stop|have stopped)", r"no more retries",
    r"could not find a gateway for",
    r"message (?:has been|was) (?:queued|delayed) for (?:too long|\d+ (?:hours|days))",
)  # fmt: skip

# Provider codes, before the general phrases: (pattern, reason).
_PROVIDERS = (
    # Gmail: rate limited *because* authentication failed
    (_rx(r"aligned with either the authenticated spf or dkim", r"because (?:spf|dkim) authentication didn'?t pass"),
     R.AUTH_FAILURE),
    (_rx(r"senders to use tls/ssl", r"wasn'?t sent over a tls connection"), R.FAILED_STARTTLS),
    (_rx(r"sending messages with the same message-id"), R.POLICY_VIOLATION),
    (_rx(r"4\.7\.28\b", r"unusual rate of unsolicited mail(?!.*has been blocked)",
         r"has been rate limited"), R.RATE_LIMITED),
    (_rx(r"5\.7\.26\b.*(?:unauthenticated|dmarc|spf|dkim)", r"this message does not have authentication information",
         r"does not pass (?:dmarc|authentication)", r"sender is unauthenticated",
         r"requires all senders to authenticate", r"gmail requires all senders"), R.AUTH_FAILURE),
    (_rx(r"receiving mail at a rate that prevents"), R.RATE_LIMITED),
    (_rx(r"(?:peak|daily) smtp relay (?:sending )?limit exceeded"), R.RATE_LIMITED),
    (_rx(r"missing a valid message-id", r"unicode character in a disallowed header",
         r"encoded-word syntax is not permitted", r"is not a valid rfc ?5321 address",
         r"mail message is malformed"), R.NOT_COMPLIANT_RFC),
    (_rx(r"mail sending denied"), R.REJECTED),
    (_rx(r"p=rfcmessagenoncompliant"), R.NOT_COMPLIANT_RFC),
    (_rx(r"due to the nature of the content or the links"), R.SPAM_DETECTED),
    (_rx(r"smtp protocol violation"), R.SYNTAX_ERROR),
    (_rx(r"receiving mail too quickly"), R.SPEEDING),
    (_rx(r"please try again slower"), R.RATE_LIMITED),  # Postfix's rate limit, after "Client host rejected"
    (_rx(r"daily user sending (?:quota|limit) exceeded", r"sending limit exceeded"), R.RATE_LIMITED),
    # Microsoft (Outlook.com, Exchange Online)
    (_rx(r"\(s3150\)", r"\(s3140\)", r"\(s3114\)", r"\(s3115\)", r"\(s3116\)", r"banned sending ip",
         r"access denied, banned sender", r"using customer block ?list", r"traffic not accepted from this ip",
         r"not currently accepting mail from your ip", r"part of their network is on our block list",
         r"\bsc-00[1-4]\b", r"messages from \S+ weren'?t sent", r"access denied, please try again later",
         r"access denied, rejected by recipient", r"does not accept email over ipv6",
         r"^5\.5\.4 invalid domain name"), R.BLOCKED),
    (_rx(r"4\.7\.5\d\d\b.*server busy", r"server busy\. please try again later from \[", r"\(as8\d\d\)",
         r"temporarily rate limited(?! due to ip reputation)"), R.RATE_LIMITED),
    (_rx(r"rate limited due to ip reputation", r"\(s775\)", r"\(s844\)"), R.BAD_REPUTATION),
    (_rx(r"resolver\.adr\.recip(?:ient)? ?notfound", r"resolver\.adr\.recipnotfound", r"resolver\.adr\.exrecipnotfound",
         r"recipient address rejected: access denied\. as\(201806281\)", r"\bas\(201806281\)"), R.USER_UNKNOWN),
    (_rx(r"resolver\.rst\.recipsizelimit", r"resolver\.rst\.sendsizelimit"), R.MESSAGE_TOO_BIG),
    (_rx(r"resolver\.rst\.(?:notauthorized|sendernotauthenticatedforgroup|restrictedtorecipientspermission)",
         r"resolver\.rst\.dlneedssenderrestrictions"), R.FILTERED),
    (_rx(r"does not allow external forwarding", r"recipientnotallowedtoforward"), R.POLICY_VIOLATION),
    (_rx(r"resolver\.rst\.recipientquotaexceeded", r"quotaexceededexception"), R.MAILBOX_FULL),
    (_rx(r"mime complexity exceeds", r"message header size, or recipient list, exceeds"), R.CONTENT_ERROR),
    # Yahoo, AOL
    (_rx(r"\[tss04\]", r"due to unexpected volume"), R.RATE_LIMITED),
    (_rx(r"\[tss0[1-3]\]", r"\[ts0[12]\]", r"temporarily deferred due to user complaints",
         r"messages from \S+ temporarily deferred"), R.BAD_REPUTATION),
    (_rx(r"\[tss?0[3-9]\]", r"\[tss1\d\]", r"will be permanently deferred"), R.BLOCKED),
    (_rx(r"\[bl2\d\]", r"because the ip is in spamhaus'?s list"), R.BLOCKED),
    (_rx(r"due to unresolvable rfc\.?5321 (?:from )?domain"), R.REJECTED),
    (_rx(r"\bdd this user doesn'?t have an? \S+ account", r"this user doesn'?t have an? \S+ account"), R.USER_UNKNOWN),
    (_rx(r"\(554\.30\)", r"this mailbox is disabled", r"dd \S+ is no longer valid"), R.SUSPENDED),
    # iCloud, Proofpoint, Mimecast, Barracuda, Cloudmark
    (_rx(r"\[cs0[1-9]\]", r"\[hm0[1-9]\]"), R.POLICY_VIOLATION),
    (_rx(r"inactive email address", r"unknown or illegal alias"), R.USER_UNKNOWN),  # iCloud: no such address
    (_rx(r"messages to \S+ deferred due to excessive volume"), R.SPEEDING),
    (_rx(r"support\.proofpoint\.com/dnsbl-lookup", r"blocked using barracuda reputation",
         r"barracudacentral\.org", r"cloudmark\.com/.*(?:reputation|blocked)",
         r"mimecast\.com/.*(?:blocked|ip reputation)"), R.BLOCKED),
    # Spam named outright, before the advice that follows it ("set up SPF records")
    (_rx(r"rejected due to spam (?:url in )?(?:classification|content)"), R.SPAM_DETECTED),
    # Greylisting: a temporary refusal of our host until it retries
    (_rx(r"grey ?listed", r"gray ?listed", r"greylisting", r"graylisting"), R.BLOCKED),
    # Japanese carriers (docomo, au/ezweb, SoftBank)
    (_rx(r"too much mail data"), R.MAILBOX_FULL),
    (_rx(r"filtered by (?:user|recipient)'?s? setting", r"rejected by the recipient'?s (?:filter|setting)",
         r"refuse to receive mail", r"recipient id refuse", r"user's settings? (?:do|does) not allow"), R.FILTERED),
)  # fmt: skip

# General phrases, in precedence order: the first that matches names the text's reason.
_PHRASES = (
    (
        R.MAILBOX_FULL,
        _rx(
            r"bo[iî]te (?:aux lettres )?pleine",
            r"caixa (?:postal )?(?:cheia|lotada)",
            r"mailbox (?:quota|storage) (?:is )?(?:full|exceeded)",
            r"mailbox (?:is )?full",
            r"mail ?box (?:has )?exceeded",
            r"full mailbox",
            r"mailfolder is full",
            r"over (?:the )?(?:allowed )?quota",
            r"(?:disk|mail|storage|mailbox|user|recipient'?s?) ?quota",
            r"quota (?:exceeded|violation|full)",
            r"exceed(?:ed|s|ing)? (?:its |their |the )?(?:mailbox "
            r"|storage |disk )?(?:quota|storage allocation|disk space)",
            r"insufficient (?:disk |storage )?space",
            r"not enough (?:storage )?space",
            r"does not have enough space",
            r"user has too many messages",
            r"mailbox size limit exceeded",
            r"boite du destinataire pleine",
            r"the user'?s space has been used up",
            r"mailbox (?:would be )?over (?:the )?(?:size )?limit",
            r"mailbox (?:is )?over (?:its )?(?:storage|size)",
            r"postfach (?:ist )?voll",
            r"casella piena",
            r"buzón (?:está )?lleno",
            r"inbox is full",
            r"inbox out of storage",
            r"mail file size exceeds the maximum size allowed for mail delivery",
            r"would exceed (?:the )?maximum allowed storage",
        ),
    ),
    (
        R.MESSAGE_TOO_BIG,
        _rx(
            r"exceeded maximum inbound message size",
            r"max message size exceeded",
            r"message size exceeds maximum value",
            r"message too large for this",
            r"message (?:size )?(?:is )?too (?:big|large)",
            r"message size exceeds",
            r"exceeded .{0,20}message size limit",
            r"size exceeds (?:the )?(?:fixed |maximum )?(?:message )?(?:size|limit)",
            r"exceeds? (?:the )?(?:maximum|max) (?:message )?size",
            r"message (?:length|size) exceeds",
            r"mail (?:size|too) (?:large|big)",
            r"email too large",
            r"message file too big",
            r"size limit exceeded",
            r"line too long",
            r"too big for (?:the )?system",
            r"message too big",
            r"message exceeds .* size",
            r"(?:e-?mail|message) size (?:limit )?exceeded",
        ),
    ),
    (R.EXCEED_LIMIT, _rx(r"message (?:length )?exceeds administrative limit", r"exceeds? (?:the )?per-mailbox")),
    (
        R.SUSPENDED,
        _rx(
            r"(?:mailbox|account|user|recipient|address) (?:is |has been |was )?(?:currently |temporarily"
            r" )?(?:suspended|disabled|deactivated|inactive|locked|frozen|blocked for inactivity|closed)",
            r"(?:account|mailbox) (?:has been )?(?:disabled|discontinued|terminated|expired)",
            r"inactive (?:e-?mail )?(?:user|account|mailbox|address)",
            r"invalid/inactive user",
            r"disabled (?:account|mailbox|user)",
            r"email account that you tried to reach is (?:disabled|inactive)",
            r"user suspended",
            r"boite du destinataire archivee",
            r"recipient suspend",
            r"is a deactivated mailbox",
            r"temporarily inactive",
            r"mailbox unavailable or access denied",
            r"account is locked",
            r"due to extended inactivity",
            r"no longer (?:active|in use)",
            r"recipient(?:'s)? (?:account|mailbox) (?:is |has been )?(?:blocked|locked)",
            r"compte du destinataire est bloqu",
            r"is currently suspended",
            r"temporar(?:y|ily) locked",
        ),
    ),
    (
        R.HAS_MOVED,
        _rx(
            r"address .+ has been replaced by",
            r"user has moved",
            r"(?:user|mailbox|recipient|person|employee|account|address) has (?:been )?moved",
            r"address has changed",
            r"no longer (?:with|employed|works)",
            r"(?:new|changed) (?:e-?mail )?address is",
            r"please (?:update|resend to|use) (?:your )?(?:address|.*new address)",
            r"mailbox has moved",
            r"recipient no longer on server",
        ),
    ),
    (
        R.NO_RELAYING,
        _rx(
            r"insecure mail relay",
            r"requires authentication when attempting to send to a non-local",
            r"not allowed to relay through",
            r"relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed|authorized)|prohibited)",
            r"unable to relay",
            r"not (?:permitted|allowed|authorized) to relay",
            r"we do not relay",
            r"no relaying",
            r"relay not permitted",
            r"not a gateway",
            r"relaying mail to \S+ is not allowed",
            r"cannot relay",
            r"that domain isn'?t in my list of allowed rcpthosts",
            r"relay access",
            r"open relay",
            r"invalid credentials for relay",
        ),
    ),
    (
        R.AUTH_FAILURE,
        _rx(
            r"rejected by (?:the )?spf",
            r"spf record",
            r"domainkeys",
            r"spf\.pobox\.com",
            r"bad spf records?",
            r"inspect your spf settings",
            r"spf check: fail",
            r"per it'?s spf record",
            r"dmarc",
            r"\bspf (?:check |validation |record )?(?:fail|softfail|hardfail|error)",
            r"sender policy framework",
            r"(?:failed|fails|failing) (?:the )?spf",
            r"\bdmarc (?:policy|verification|check|fail|reject)",
            r"(?:failed|fails|not pass) (?:the )?dmarc",
            r"dkim (?:signature )?(?:fail|invalid|verification failed|not valid|required)",
            r"no (?:passing|valid|acceptable) dkim",
            r"authentication checks? (?:fail|did not pass)",
            r"not (?:pass|passed) (?:either )?(?:spf|dkim)",
            r"must pass either spf or dkim",
            r"failing both spf and dkim",
            r"(?:spf|dkim|dmarc) sender invalid",
            r"unauthenticated email",
            r"is not authorized to send on behalf",
            r"not designated .* permitted sender",
            r"sender is not permitted by spf",
            r"domain of \S+ does not designate",
        ),
    ),
    (
        R.VIRUS_DETECTED,
        _rx(
            r"(?<!spam or )(?<!spam/)\bvirus",
            r"malware",
            r"infected",
            r"\btrojan",
            r"\bworm\b",
            r"malicious (?:content|attachment|payload|url)",
            r"dangerous (?:attachment|content)",
            r"phishing",
            r"used by recent viruses",
        ),
    ),
    (
        R.NOT_ACCEPTED,
        _rx(
            r"host/domain does not accept mail",
            r"name server: \.: host not found",
            r"no mx record found for domain=",
            r"null mx",
            r"(?:domain|host|server|system) (?:\S+ )?does not accept (?:e-?)?mail(?! from)",
            r"accepts no mail",
            r"domain (?:is not|isn'?t) (?:accepting|configured to (?:accept|receive)) mail",
            r"no mail service",
            r"mail is not accepted for this domain",
            r"system not accepting network messages",
        ),
    ),
    (
        R.REQUIRE_PTR,
        _rx(
            r"ptr record",
            r"bad dns ptr",
            r"fix reverse dns",
            r"sender ip reverse lookup rejected",
            r"domain \S+ mismatches client ip",
            r"dns lookup failure: .* try again later",
            r"invalid rdns",
            r"unverifyable sending ips",
            r"unresolvable relay host name",
            r"generic dns ptr",
            r"reverse dns",
            r"\bptr\b",
            r"rdns",
            r"cannot find your (?:host ?name|reverse)",
            r"no (?:ptr|reverse)",
            r"reverse (?:lookup|hostname|dns)",
            r"client host rejected: cannot find your hostname",
            r"ip name lookup failed",
            r"cannot resolve your address",
            r"unresolvable (?:address|hostname)",
            r"(?:hostname|helo) .*does not (?:match|resolve)",
            r"not resolve to your ip",
            r"forward dns entry does not point to the sending ip",
        ),
    ),
    (
        R.BAD_REPUTATION,
        _rx(
            r"poor email reputation score",
            r"likely suspicious due to the very low reputation",
            r"mta'?s poor reputation",
            r"(?:poor|bad|low|negative) (?:ip |sender |sending |domain )?reputation",
            r"reputation (?:too low|problem|issue)",
            r"ip/domain reputation",
            r"sender reputation",
            r"due to (?:its|the) reputation",
            r"\bip reputation\b",
        ),
    ),
    (
        R.REJECTED,
        _rx(
            r"(?:do not|don't|may not) have permission to post",
            r"only members can post",
            r"sender (?:address )?(?:rejected|refused|denied|verify failed|not allowed|blocked|is spammer)",
            r"sender (?:domain|email address) (?:rejected|not allowed|is empty|must exist)",
            r"domain of sender address",
            r"(?:invalid|bogus|unroutable|unverified) sender",
            r"sender verification",
            r"envelope (?:sender|from) .*(?:rejected|blocked|invalid)",
            r"(?:mail from|from address) .*(?:rejected(?! for policy reasons)|not (?:allowed|accepted|owned))",
            r"null sender",
            r"empty envelope sender",
            r"batv",
            r"no third-party dsns",
            r"returned mail not accepted",
            r"administrative prohibition",
            r"you are sending to/from an address that has been blacklisted",
            r"sender not pre-approved",
            r"delivery not authorized, message refused",
            r"unverified (?:domain|address)",
            r"email address is not verified",
            r"access denied \(in reply to mail from command\)",
            r"fully qualified (?:email )?address required",
            r"from: domain is invalid",
            r"envelope blocked",
            r"header-based (?:manually )?blocked senders",
            r"backscatter protection",
            r"purported responsible address",
            r"bogus mail from",
            r"emetteur invalide",
            r"unsigned dsn",
            r"without a valid sender domain",
        ),
    ),
    (
        R.BLOCKED,
        _rx(
            r"connection (?:rejected|refused|denied) (?:by|due to) policy",
            r"(?:not|does not|do not|won't) accept (?:e-?)?mail from"
            r" (?:your|the|this) (?:ip|host|network|server|address)",
            r"\b(?:dns)?bl(?:ock)?(?:ed)? (?:using|by|at|in|on) \S*(?:spamhaus"
            r"|spamcop|sorbs|barracuda|uceprotect|dnsbl|rbl|bl\b)",
            r"listed (?:at|in|on|by) (?:\S+\.)?(?:zen\.|sbl\.|xbl\.|pbl\.|bl\.|b\.)?\S*(?:spamhaus"
            r"|spamcop|sorbs|barracuda|dnsbl|rbl|uceprotect|surbl|blocklist|blacklist)",
            r"(?:spamhaus|spamcop|sorbs|barracuda|uceprotect)\.(?:org|net|com|de)",
            r"\b(?:zen|sbl|xbl|pbl)\.spamhaus",
            r"on (?:our|a|the) (?:\S+ )?(?:block|black|deny|reject) ?list",
            r"(?:black|block|deny)[- ]?listed(?! url)",
            r"blacklist(?!ed url)",
            r"blocklist",
            r"client host (?:\[[^\]]*\] )?(?:blocked|rejected)",
            r"(?:your|the sending|sender|sending|client|connecting) ip(?: address)?"
            r" .*(?:blocked|block|listed|refused|rejected|banned|not allowed)",
            r"(?:ip|host|network|address) (?:\S+ )?(?:is |has been )?(?:blocked|banned|blacklisted|blocklisted)",
            r"connections? (?:will not be|not) accepted from",
            r"access denied.*\bip\b",
            r"connection refused by",
            r"rejected because .*(?:ip|host|network)",
            r"(?:dynamic|dial-?up|residential) (?:ip|address|range|pool)",
            r"hosts with dynamic ip",
            r"your (?:host|server|ip|mail server|network) (?:is |has"
            r" been )?(?:not allowed|banned|blocked|denied|rejected)",
            r"please use (?:the smtp server|a smart host) of your isp",
            r"your network is temporary blacklisted",
            r"rejecting open proxy",
            r"\bgo away\b",
            r"access denied\. ip",
            r"blocked (?:by|for|due to) (?:policy|abuse|reputation)",
            r"is not allowed to send (?:mail|email) from",
            r"mail server at \S+ is blocked",
            r"no access from mail server",
            r"\bblocked\b.*\b(?:see|visit|lookup|delist|remove)",
            r"\brbl\b",
            r"\bdnsbl\b",
            r"spamcop",
            r"spamhaus",
            r"not authorized to send (?:e-?mail )?directly",
            r"helo (?:command )?rejected",
            r"invalid helo",
            r"bad helo",
            r"suspected bounce attacks",
            r"helo/ehlo argument (?:is invalid|not allowed)",
            r"empty helo",
            r"ip not in (?:whitelist|allowlist)",
            r"esmtp not accepting connections",
            r"confirm this mail server",
            r"your server requires confirmation",
            r"remote ?host looks suspiciously like (?:a )?spammer",
        ),
    ),
    (
        R.RATE_LIMITED,
        _rx(
            r"please try again slower",
            r"throttling failure",
            r"too many errors from your ip",
            r"trop de connexions",
            r"we have already made numerous attempts",
            r"max emails per hour",
            r"temporarily rate limited",
            r"rate limit",
            r"rate-limit",
            r"ratelimit",
            r"too many (?:messages|emails|mails|recipients|rcpt)",
            r"(?:sending|message|receiving|connection) rate",
            r"(?:try|please try) (?:again )?later.*(?:volume|rate|limit)",
            r"throttl",
            r"exceeded (?:the )?(?:maximum )?(?:number of )?(?:messages|recipients|connections) (?:per|allowed)",
            r"unusual (?:volume|rate)",
            r"excessive (?:volume|traffic|mail)",
            r"slow down",
            r"max(?:imum)? message per connection",
            r"too (?:much|many) (?:mail|traffic|volume)",
            r"volume (?:limit|too high)",
            r"messages per (?:hour|minute|day|second)",
            r"frequency limited",
            r"frequency of receiving messages is limited",
        ),
    ),
    (
        R.TOO_MANY_CONNECTIONS,
        _rx(
            r"exceeds per-domain connection limit",
            r"maximum connection limit",
            r"too many (?:concurrent |simultaneous |open )?(?:smtp )?(?:connections|sessions)",
            r"connection limit",
            r"(?:maximum|max) (?:number of )?(?:concurrent )?connections",
            r"too many smtp sessions",
            r"outbound thread limit",
            r"mail system congestion",
            r"too busy",
            r"server (?:is )?busy",
            r"try again later.*busy",
        ),
    ),
    (  # the receiving system's own trouble, worded like a network or address problem
        R.SYSTEM_ERROR,
        _rx(
            r"loops back to myself",
            r"loop was found in the mail exchanger",
            r"it would create a mail loop",
            r"aliasing/forwarding loop broken",
            r"(?:local|mail system|server|system) config(?:uration)? error",
            r"remote server is misconfigured",
            r"can'?t create user output file",
            r"could not load drd",
            r"internal error reading data",
            r"interrupted system call",
            r"queue file write error",
            r"there is no mdb",
            r"temporary local problem",
            r"timeout waiting for input",
            r"local error in processing",
            r"service currently unavailable",
            r"encountered an error while being processed",
        ),
    ),
    (  # routing and DNS trouble on the way, not a missing domain
        R.NETWORK_ERROR,
        _rx(
            r"host not found, try again",
            r"dns records for the destination computer could not be found",
            r"unable to resolve route",
            r"unrout(?:e)?able mail domain",
            r"malformed (?:or unexpected )?name server reply",
            r"could not connect and send the mail to",
            r"(?:mail )?forwarding loop",
            r"routing loop",
            r"message looping",
            r"hop count exceeded",
            r"too many hops",
        ),
    ),
    (
        R.HOST_UNKNOWN,
        _rx(
            r"host (?:or domain name )?(?:not found|unknown)",
            r"unknown host",
            r"domain (?:not found|does not exist|unknown|name not found)",
            r"no such (?:domain|host)",
            r"domain \S+ (?:does not exist|not found)",
            r"unrout(?:e)?able domain",
            r"(?:mx|dns|a) (?:records? )?(?:for \S+ )?(?:not found|does not exist)",
            r"non-?existent domain",
            r"name or service not known",
            r"nxdomain",
            r"no (?:mx|mail exchanger|dns) (?:records? )?(?:found|for)",
            r"domain must exist",
            r"recipient address rejected: unknown domain",
            r"unrouteable address",
            r"mail domain mentioned in email address is unknown",
            r"the account or domain may not exist",
            r"could not resolve (?:the )?(?:domain|host)",
            r"domain (?:is )?(?:invalid|not valid|inexistent)",
            r"invalid (?:recipient )?domain(?! name)",
            r"unknown domain",
        ),
    ),
    (
        R.FILTERED,
        _rx(
            r"refused due to recipient preferences",
            r"not authori[sz]ed to (?:accept|receive) (?:e-?)?mail from",
            r"(?:safe|allowed|approved) senders? list",
            r"is only accepting mail from specific",
            r"you have been blocked by the recipient",
            r"blocked by (?:the )?recipient",
            r"recipient (?:has )?(?:blocked|rejected) (?:you|your|the sender)",
            r"user reject",
            r"has restricted sms e-mail",
            r"this account is protected by",
            r"sender (?:is )?(?:on|in) (?:the )?recipient'?s? block",
            r"(?:not )?on the (?:recipient'?s? )?(?:allow|approved|safe)(?:ed)? ?(?:senders? )?list",
            r"not an authorized sender",
            r"members-only",
            r"moderat",
            r"not (?:a )?member of",
            r"restricted to (?:members|internal)",
            r"not permitted to post",
            r"bounced address",
            r"is not accepting any mail",
            r"rejected by recipient",
            r"recipient'?s? (?:filter|rules?)",
        ),
    ),
    (
        R.USER_UNKNOWN,
        _rx(
            r"(?:mailbox|recipient|address|account|e-?mail address) (?:is )?unknown",
            r"adresse (?:e-?mail )?inconnue",
            r"destinataire inconnu",
            r"usu[aá]rio desconhecido",
            r"usuario (?:desconocido|no existe)",
            r"utente (?:sconosciuto|inesistente)",
            r"user ?unknown",
            r"unknown (?:user|recipient|mailbox|local ?part|e-?mail address|address)",
            r"(?:no such|invalid|unknown|bad|non-?existent) (?:user"
            r"|recipient|mailbox|address|person|account|local user)",
            r"(?:user|recipient|mailbox|address|account|e-?mail address)\b.{0,80}?\b(?:does"
            r" ?n[o']t|doesn'?t|did not|not) (?:exist|found|valid|known|recognized)",
            r"(?:user|recipient|mailbox|address|account) (?:is )?(?:not (?:found"
            r"|known|valid|listed|present|recognized)|unavailable|invalid|not exist)",
            r"not (?:a )?(?:valid|known|local) (?:user|recipient|mailbox|address)",
            r"address (?:rejected|not (?:found|present))",
            r"no (?:mailbox|account|user)(?: here)? (?:by that name|with that name|found)",
            r"no mail ?box (?:here|available)",
            r"not listed in (?:domino directory|public name & address book|the directory)",
            r"recipient (?:address )?rejected",
            r"there is no one at this address",
            r"the email account that you tried to reach does not exist",
            r"address couldn'?t be found",
            r"email address could not be found",
            r"mailbox unavailable",
            r"requested action not taken: mailbox",
            r"badrcptto|validrcptto|badrecipientto",
            r"rcpt (?:to )?(?:rejected|refused)",
            r"utilisateur inconnu",
            r"destinatario (?:inesistente|desconocido|sconosciuto)",
            r"unbekannt",
            r"existiert nicht",
            r"no existe",
            r"inexistente",
            r"non-?existent",
            r"undeliverable address",
            r"unrouteable local part",
            r"invalid (?:recipient|address|mailbox)",
            r"recipient (?:not found|unknown|does not exist|not exist)",
            r"addressee unknown",
            r"address (?:invalid|unknown|does not exist)",
            r"this address no longer accepts mail",
            r"account (?:is )?(?:not|no longer) (?:available|valid)",
            r"vdeliver: invalid or unknown virtual user",
            r"no valid recipients",
            r"mailbox (?:not found|invalid|is inactive)",
            r"lookup of (?:user|recipient) failed",
            r"(?:user|recipient) .{0,40}not found",
            r"can'?t accept user",
            r"(?:addresses|recipients) (?:were|are) unknown",
            r"server rejected (?:the )?recipients",
            r"not an active address",
            r"nessun utente",
            r"recipient is not local",
            r"envelope recipient (?:has been )?denied",
            r"address is wrong",
            r"user missing home directory",
            r"user not active",
            r"<[^<>\s]+@[^<>\s]+> not found",
            r"\bin name directory",
            r"rcpt\b.{0,80}?does ?n[o']t exist",
            r"unknown local[- ]?part",
            r"user \([^)]*\) unknown",
        ),
    ),
    (
        R.SPAM_DETECTED,
        _rx(
            r"\bspam\b",
            r"\bspam[- ](?:content|score|filter|message|detected|check|blocked|rejected|like)",
            r"unsolicited",
            r"\bube\b",
            r"\bbulk (?:e-?)?mail",
            r"junk mail",
            r"message content rejected",
            r"content filter",
            r"looks like spam",
            r"rejecting (?:banned|mail) content",
            r"spamassassin",
            r"spam-like",
            r"high probability of",
            r"classified as (?:spam|bulk)",
            r"rejected as spam",
            r"recurrent pattern detection",
            r"spam points",
            r"uribl",
            r"surbl",
            r"message filtered",
            r"mail content denied",
            r"spambouncer",
            r"considered (?:as )?spam",
            r"detected (?:as )?spam",
            r"identified as spam",
            r"suspected spam",
            r"probable spam",
            r"\d(?:\.\d)+ spam\b",
            r"- spam$",
            r"spamming",
            r"(?:black|block)listed urls?",
            r"anti-?spam (?:check|filter|engine|polic)",
        ),
    ),
    (
        R.POLICY_VIOLATION,
        _rx(
            r"polic(?:y|ies)",
            r"illegal attachment",
            r"content restriction",
            r"(?:executable|dangerous|forbidden|unsafe|blocked|banned) (?:attachment|file)",
            r"attachment(?:s)? (?:not allowed|blocked|prohibited|type)",
            r"prohibited (?:file|attachment|content)",
            r"not accepted for policy reasons",
            r"organization(?:al)? (?:settings|policy)",
            r"protocol violation",
            r"header error",
            r"multiple addresses in from",
            r"mass mailer",
            r"captcha",
            r"not subscribed to this group",
            r"rule imposed",
            r"content presents a potential",
            r"transport rule",
            r"data loss prevention",
            r"\bdlp\b",
            r"not (?:allowed|permitted) by (?:the )?(?:administrator|admin)",
            r"banned (?:attachment|file|content|word)",
            r"host network,? not allowed",
            r"not accepting mail with attachments",
            r"containing images or other attachments",
            r"closed mailing list",
            r"header are not accepted",
            r"message given low priority",
        ),
    ),
    (
        R.FAILED_STARTTLS,
        _rx(
            r"starttls",
            r"\btls\b.*(?:required|must|handshake|failed|not available|not offered)",
            r"must issue a starttls",
            r"encryption (?:required|needed)",
            r"requires? (?:tls|encryption|a secure connection)",
            r"secure connection required",
            r"ssl (?:handshake|error)",
            r"certificate (?:verification failed|expired|mismatch|invalid)",
            r"dane",
        ),
    ),
    (
        R.SECURITY_ERROR,
        _rx(
            r"does not advertise auth",
            r"auth capability",
            r"account not subscribed to ses",
            r"authentication failure",
            r"authentication turned on in your email client",
            r"executable files are not allowed in compressed files",
            r"unauthenticated senders not allowed",
            r"verification failure",
            r"is a dead domain",
            r"authentification (?:requise|invalide)",
            r"not authorized to perform ses:",
            r"authentication (?:required|failed|credentials invalid|is required|mechanism)",
            r"\bauth(?:entication)? required",
            r"must (?:be )?authenticated?",
            r"client (?:was )?not authenticated",
            r"smtp auth",
            r"submission requires",
            r"security (?:policy|reasons|error)",
            r"insecure",
            r"password",
            r"not authenticated",
        ),
    ),
    (
        R.NOT_COMPLIANT_RFC,
        _rx(
            r"not (?:rfc|rfc ?5322|rfc ?2822|rfc ?822)[- ]?complian",
            r"rfc ?(?:5322|2822|822|5321|2821) (?:violation|complian)",
            r"(?:headers?|message) (?:are |is )?not (?:rfc )?compliant",
            r"does not (?:comply|conform) (?:with|to) rfc",
            r"bare (?:lf|line feed|linefeed|<lf>|cr)",
            r"duplicate (?:header|message-id|from|date|subject)",
            r"missing (?:required )?(?:header|date|from|message-id)",
            r"multiple (?:from|date|subject|to) (?:header|field)",
            r"messages with multiple addresses in from",
            r"missing a valid address in the from:? header",
            r"multiple addresses in from:? header",
        ),
    ),
    (
        R.CONTENT_ERROR,
        _rx(
            r"content (?:error|rejected|not accepted)",
            r"invalid (?:mime|message content|characters|header)",
            r"malformed",
            r"(?:message|mime) (?:format|structure) (?:error|invalid)",
            r"8-?bit (?:data|mime) not",
            r"conversion (?:required|failed)",
            r"media (?:not supported|error)",
            r"too many related errors",
            r"unacceptable content",
            r"broken (?:mime|message)",
            r"encoding (?:error|not supported)",
            r"smtputf8",
            r"header size exceeds",
            r"improper use of 8-bit data",
            r"improperly-formatted binary content",
            r"unnecessary base64 encoding",
        ),
    ),
    (
        R.SYSTEM_FULL,
        _rx(
            r"(?:mail )?system (?:is )?full",
            r"(?:disk|filesystem|file system|storage) (?:is )?full",
            r"out of (?:disk|storage|space)",
            r"no (?:space|room) left",
            r"insufficient system storage",
            r"requested mail action aborted: exceeded storage allocation",
        ),
    ),
    (
        R.MAILER_ERROR,
        _rx(
            r"x-unix;",
            r"mailer error",
            r"local delivery failed",
            r"procmail",
            r"maildrop",
            r"command (?:died|failed|not found)",
            r"unknown mailer error",
            r"permission denied",
            r"exit (?:status|code) \d",
            r"pipe to \|",
            r"\|/usr/",
            r"service unavailable.*(?:mailer|program)",
            r"delivery to (?:file|pipe|command)",
        ),
    ),
    (
        R.NETWORK_ERROR,
        _rx(
            r"(?:mail )?(?:routing )?loop",
            r"too many hops",
            r"hop count exceeded",
            r"network (?:error|is unreachable|unreachable)",
            r"no route to host",
            r"connection (?:refused|reset|timed out|closed|lost|dropped)",
            r"(?:host|server) (?:is )?unreachable",
            r"could not connect",
            r"unable to connect",
            r"failed to connect",
            r"dns (?:error|failure|lookup failed|timeout|servfail)",
            r"temporary (?:dns|lookup) failure",
            r"servfail",
            r"lost connection",
            r"conversation with \S+ timed out",
            r"timed? ?out",
            r"unable to route",
            r"no answer from",
            r"server did not respond",
            r"name server",
            r"tls (?:connection|session) (?:lost|failed)",
            r"malformed or unexpected name server reply",
            r"did not accept our requests to connect",
            r"socket error",
        ),
    ),
    (
        R.SYSTEM_ERROR,
        _rx(
            r"(?:internal|system|server|local|temporary) (?:server )?(?:error|failure|problem)",
            r"try again later",
            r"temporar(?:y|ily) (?:unavailable|failure|error|rejected|deferred|not available)",
            r"service (?:temporarily )?unavailable",
            r"(?:resources?|service) (?:temporarily )?(?:unavailable|not available)",
            r"local error in processing",
            r"transaction failed",
            r"unable to (?:deliver|process|accept)",
            r"configuration error",
            r"misconfigur",
            r"internal (?:resource|error)",
            r"database error",
            r"i/o error",
            r"out of memory",
            r"shutting down",
            r"system (?:is )?(?:overloaded|unavailable|maintenance)",
            r"not capable",
            r"delivery failed",
        ),
    ),
    (
        R.SYNTAX_ERROR,
        _rx(
            r"syntax error",
            r"command (?:not )?(?:recognized|unrecognized|not implemented)",
            r"bad sequence of commands",
            r"unrecognized command",
            r"command out of sequence",
            r"invalid command",
            r"parameter not implemented",
            r"line too long",
        ),
    ),
)

# Text that names one of these wins over even a specific status (5.1.1 "… blocked using zen.spamhaus.org").
DECISIVE_TEXT = frozenset({
    R.MAILBOX_FULL, R.MESSAGE_TOO_BIG, R.EXCEED_LIMIT, R.SUSPENDED, R.HAS_MOVED, R.NO_RELAYING, R.AUTH_FAILURE,
    R.BLOCKED, R.BAD_REPUTATION, R.REQUIRE_PTR, R.REJECTED, R.NOT_ACCEPTED, R.RATE_LIMITED, R.VIRUS_DETECTED,
    R.SPEEDING, R.FILTERED,
})  # fmt: skip
# Over a status naming one of these, a reason the text names more precisely wins.
_RETRY_STATUS_REASONS = frozenset({
    R.SYSTEM_ERROR, R.NETWORK_ERROR, R.SECURITY_ERROR, R.FILTERED, R.CONTENT_ERROR, R.SYNTAX_ERROR,
    R.TOO_MANY_CONNECTIONS, R.NOT_ACCEPTED,
})  # fmt: skip
# A status naming one of these keeps it against text of these weaker kinds.
_TEXT_ONLY_REFINES = frozenset({R.SYSTEM_ERROR, R.NETWORK_ERROR, R.SYNTAX_ERROR, R.SECURITY_ERROR})

# Line prefixes of multi-line replies and status quotes, which would split phrases ("550-5.7.1 likely unsolicited").
_REPLY_PREFIX = re.compile(r"(?:(?<=\s)|^)[245]\d\d[- ](?:#?[245]\.\d{1,3}\.\d{1,3}\s)?")
_SPACE = re.compile(r"\s+")
# Only this much of a reply is read: what a server says comes first, and every phrase is tried at every
# position (about 2 ms per 1,000 characters), so a hostile or quoted-at-length text costs little.
_TEXT_CHARS = 1200


def _normalised(text: str) -> str:
    text = _SPACE.sub(" ", (text or "")[:_TEXT_CHARS]).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return _SPACE.sub(" ", _REPLY_PREFIX.sub(" ", text)).strip()


def text_reason(text: str, status: str = "") -> Reason | None:
    """The reason the reply text names (with its status, for the providers' own codes), or None."""
    normal = _normalised(text)
    if not normal:
        return None
    with_status = f"{status} {normal}" if status else normal  # the text's own status prefixes are cut off
    for pattern, reason in _PROVIDERS:
        if pattern.search(with_status):
            return reason
    for reason, pattern in _PHRASES:
        if pattern.search(normal):
            return reason
    return None


def _gave_up(text: str) -> bool:
    return bool(_EXPIRED.search(_normalised(text)))


# --- the verdict -------------------------------------------------------------------------


def classify(status: str, diagnostic: str = "", *, action: str = "", hint: str = "") -> Verdict:
    """The reason, the refined status and hard/soft for one failed (or delayed) recipient.

    ``status`` is the enhanced status the report or reply declares ("" if
    none), ``diagnostic`` the server's reply text or the report's explanation,
    ``action`` the RFC 3464 action ("failed", "delayed", "delivered"…; when
    empty, a 4xx reply is "delayed" and anything else "failed"), and
    ``hint`` a reason a format states outright (an ESP's bounce subtype), which
    wins when it is a known reason.
    """
    diagnostic = diagnostic or ""
    action = (action or "").strip().lower()
    if not action:
        action = "delayed" if _class_of(_preferred_status(status, diagnostic), diagnostic, "") == "4" else "failed"
    if action in ("delivered", "relayed", "expanded"):
        return Verdict(Reason.DELIVERED, status, hard=False)
    status = _preferred_status(status, diagnostic)
    reason = _reason(status, diagnostic, action, hint)
    if action == "delayed" and reason == R.EXPIRED:
        reason = text_reason(diagnostic, status) or R.ON_HOLD
        reason = R.ON_HOLD if reason == R.EXPIRED else reason
    status = _refined_status(status, diagnostic, action, reason)
    hard = action != "delayed" and is_hard(reason, status or _class_of(status, diagnostic, action))
    return Verdict(reason, status, hard=hard)


def is_hard(reason: str, status: str) -> bool:
    """Whether a failure with ``reason`` means the address itself is gone (and must be suppressed)."""
    if reason in HARD_REASONS:
        return True
    return reason in HARD_WHEN_PERMANENT and status.startswith("5")


def _preferred_status(declared: str, diagnostic: str) -> str:
    """The declared status, or the more specific one the text quotes when the declared one is generic or absent."""
    declared = (declared or "").strip()
    klass, detail = _split(declared)
    if klass and detail != "0.0":
        return f"{klass}.{detail}"
    quoted = _quoted_status(diagnostic)
    if quoted and (not klass or quoted[0] == klass):
        return quoted
    return f"{klass}.{detail}" if klass else ""


def _class_of(status: str, diagnostic: str, action: str) -> str:
    """ "5" or "4": the failure's class from the status, the reply code in the text, else the action."""
    if status[:1] in ("4", "5"):
        return status[:1]
    basic = _BASIC_CODE.search(diagnostic.strip()[:400])
    if basic and basic[1] in "45":
        return basic[1]
    return {"failed": "5", "delayed": "4"}.get(action, "")


def _reason(status: str, diagnostic: str, action: str, hint: str) -> Reason:
    if hint in Reason._value2member_map_ and hint not in (R.UNDEFINED, R.ON_HOLD):
        return Reason(hint)
    klass, detail = _split(status)
    by_text = text_reason(diagnostic, status)
    if by_text == R.NOT_ACCEPTED:
        return by_text  # a domain that accepts no mail (null MX): retrying longer would not have helped
    if action != "delayed" and (detail == "4.7" or _gave_up(diagnostic)):
        return R.EXPIRED
    if action == "failed" and klass == "4":
        return R.EXPIRED  # a temporary failure reported as final: the sending MTA gave up retrying
    by_status = STATUS_REASONS.get(detail) if klass else None
    if by_status is not None and detail not in WEAK_STATUSES:
        if by_text is None or by_text == by_status:
            return by_status
        if by_text in DECISIVE_TEXT:
            return by_text
        if by_status == R.SUSPENDED and by_text in (R.USER_UNKNOWN, R.HOST_UNKNOWN):
            return by_text  # many servers say 5.2.1 for "User unknown" or "Host unknown"
        if by_status in _RETRY_STATUS_REASONS and by_text not in _TEXT_ONLY_REFINES:
            return by_text
        return by_status
    if by_text is not None:
        return by_text
    if by_status is not None:
        return by_status
    if re.match(r"\s*(?:smtp;\s*)?50[0-4](?:[ -]|$)", diagnostic, re.I):
        return R.SYNTAX_ERROR  # the server did not understand a command
    if re.match(r"\s*(?:smtp;\s*)?5(?:21|56)(?:[ -]|$)", diagnostic, re.I):
        return R.NOT_ACCEPTED  # RFC 7504: the host accepts no mail
    return R.ON_HOLD if diagnostic.strip() else R.UNDEFINED


def _refined_status(status: str, diagnostic: str, action: str, reason: Reason) -> str:
    klass, detail = _split(status)
    if klass and detail != "0.0":
        return status
    canonical = CANONICAL_DETAIL.get(reason)
    if canonical is None:
        return status
    klass = klass or _class_of(status, diagnostic, action)
    if reason == R.EXPIRED and not klass:
        klass = "5"
    return f"{klass}.{canonical}" if klass else status
