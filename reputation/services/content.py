"""Outbound content: mail is scored by the inbound spam filter and its links checked before it leaves.

Two checks, links first (cheap), then the spam score:

- links: a domain on the admins' blocklist (``LinkBlocklistEntry``, it and its
  subdomains), a known URL shortener, or an open redirect to another site
  (``reputation.links``); links to this platform's own hosts (hosted domains,
  the webmail, the mail host: unsubscribe and tracking links) are not
  shorteners nor redirects, but a blocked domain is blocked everywhere;
- the spam score: the filter inbound mail meets (``get_spam_filter()``), at its
  threshold or at ``REPUTATION_CONTENT_SPAM_THRESHOLD`` when that is set.

Who is refused:

- API, service (template, transactional) and bulk mail: refused with an error
  naming the reason (``ContentRefused``, 422 in the API; a preflight problem for
  a campaign). No person wrote it: it is the platform speaking for a service,
  and one bad template is thousands of bad messages;
- a person's webmail mail: scored too, but only noted as evidence. The filter
  is tuned for inbound mail, and a false positive there would stop someone
  from writing to their accountant about a "wire transfer"; a hijacked webmail
  account shows in its volume and new recipients, which this evidence joins.

Every objection is recorded (``ContentFlag``) and counted as compromise evidence
for the user (``compromise.record_content_flag``).
"""

from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Domain
from inbound.filters.spam import get_spam_filter
from mailboxes.models import Message
from mailboxes.parsing import parse_message
from reputation import links
from reputation.models import ContentFlag, LinkBlocklistEntry, normalised_domain
from webmail.errors import UserError

Kind = ContentFlag.Finding


class ContentRefused(UserError):
    """Outbound mail the content check refused; the message names why."""

    code = "content_refused"
    status = 422


class Source:
    API = "api"
    SERVICE = "service"
    WEBMAIL = "webmail"
    CAMPAIGN = "campaign"


@dataclass(frozen=True)
class Finding:
    kind: str  # a ContentFlag.Finding
    detail: str  # for the record: the link, or the score and rules
    message: str  # for the sender: what is wrong and what to do


# --- the checks -----------------------------------------------------------------------------------


def link_findings(urls: list[str]) -> list[Finding]:
    """What is wrong with these links: blocked domains, shorteners, open redirects (one query each way)."""
    hosts = {url: links.host_of(url) for url in urls}
    redirects = {url: links.redirect_of(url) for url in urls}
    names = {name for host in hosts.values() if host for name in links.parents(host)}
    names |= {name for r in redirects.values() if r for name in links.parents(r.target_host)}
    if not names:
        return []
    blocked = dict(LinkBlocklistEntry.objects.filter(domain__in=names).values_list("domain", "reason"))
    own = _own_hosts(names)
    findings = []
    for url in urls:
        host, redirect = hosts[url], redirects[url]
        if not host:
            continue
        entry = _blocked(host, blocked) or (redirect and _blocked(redirect.target_host, blocked))
        if entry:
            domain, reason = entry
            message = _("The message links to %(domain)s, which is on this server's link blocklist") % {
                "domain": domain
            }
            findings.append(Finding(Kind.BLOCKED_LINK, url, message + (f" ({reason})." if reason else ".")))
        elif any(name in own for name in links.parents(host)):
            continue
        elif links.is_shortener(host):
            findings.append(
                Finding(
                    Kind.SHORTENER,
                    url,
                    _(
                        "The message links through the URL shortener %(host)s, which hides where the link goes: "
                        "link to the destination itself."
                    )
                    % {"host": host},
                )
            )
        elif redirect:
            findings.append(
                Finding(
                    Kind.REDIRECT,
                    url,
                    _(
                        "The message links through an open redirect on %(host)s to %(target)s: "
                        "link to the destination itself."
                    )
                    % {"host": host, "target": redirect.target_host},
                )
            )
    return list({(f.kind, f.detail): f for f in findings}.values())


def _blocked(host: str, blocked: dict[str, str]) -> tuple[str, str] | None:
    return next(((name, blocked[name]) for name in links.parents(host) if name in blocked), None)


def _own_hosts(names: set[str]) -> set[str]:
    """Which of ``names`` are this platform's: its hosted domains, the webmail's host, the mail host."""
    own = {settings.MAIL_HOSTNAME.lower(), (urlsplit(settings.WEBMAIL_BASE_URL).hostname or "").lower()}
    own |= set(Domain.objects.filter(name__in=names, is_active=True).values_list("name", flat=True))
    return own & names


def spam_finding(raw: bytes) -> Finding | None:
    """The inbound spam filter's verdict on the message, as a finding when it is spam."""
    verdict = get_spam_filter().score(raw=raw, parsed=parse_message(raw), auth={}, user=None)
    threshold = settings.REPUTATION_CONTENT_SPAM_THRESHOLD or verdict.threshold
    if verdict.score < threshold:
        return None
    heaviest = sorted((s for s in verdict.signals if s.get("points", 0) > 0), key=lambda s: -s["points"])[:3]
    why = "; ".join(_(s["description"]) for s in heaviest if s.get("description"))
    scored = {"score": verdict.score, "threshold": threshold}
    message = _("The spam filter scores this message %(score).1f (mail scoring %(threshold).1f or more is not sent)")
    message %= scored
    detail = f"score {verdict.score:.1f} >= {threshold:.1f}: " + ", ".join(verdict.reasons)
    return Finding(Kind.SPAM, detail[:500], message + (f": {why}." if why else "."))


def scan(*, raw: bytes, text: str = "", html: str = "") -> list[Finding]:
    """Every objection to one message: its links, then (only if they pass) its spam score."""
    found = link_findings(links.links_in(text, html))
    if found:
        return found
    spam = spam_finding(raw)
    return [spam] if spam else []


# --- where mail is submitted ---------------------------------------------------------------------


def screen_submission(
    *, user, raw: bytes, text: str, html: str, subject: str, stream: str, via_api: bool, now: datetime | None = None
) -> list[Finding]:
    """Check a submission before it is stored; raise ``ContentRefused`` unless it is a person's webmail mail.

    Called by ``delivery.services.submission`` after the message is rendered.
    A person's mail (personal stream, not through the API) is only recorded.
    """
    source = Source.API if via_api else Source.WEBMAIL if stream == Message.Stream.PERSONAL else Source.SERVICE
    enforced = source != Source.WEBMAIL
    if not enforced and not settings.REPUTATION_CONTENT_SCAN_PERSONAL:
        return []
    findings = scan(raw=raw, text=text, html=html)
    if findings:
        record_findings(user=user, findings=findings, source=source, refused=enforced, subject=subject, now=now)
        if enforced:
            raise ContentRefused(_refusal(findings))
    return findings


def sample_findings(*, samples: list, from_address: str, now: datetime | None = None) -> list[Finding]:
    """Rendered messages of one bulk send (anything with ``subject``, ``text``, ``html``) checked as a whole.

    Links of every sample are checked (one query); the spam score of the first
    only (the template's words are the same for all, and scoring costs).
    """
    if not samples:
        return []
    findings = link_findings(links.links_in(*[part for rendered in samples for part in (rendered.text, rendered.html)]))
    if findings:
        return findings
    first = samples[0]
    raw = sample_message(
        from_address=from_address, subject=first.subject, text=first.text, html=first.html, now=now or timezone.now()
    )
    spam = spam_finding(raw)
    return [spam] if spam else []


def campaign_sample_findings(*, campaign, samples: list, now: datetime | None = None) -> list[Finding]:
    """A campaign's rendered sample (at preflight), checked as its send would be."""
    from_address = campaign.from_address or f"campaign@{settings.MAIL_HOSTNAME}"
    return sample_findings(samples=samples, from_address=from_address, now=now)


def record_campaign_findings(*, campaign, findings: list[Finding], now: datetime | None = None) -> None:
    """A campaign refused at scheduling for its content: evidence against its author (not when only shown)."""
    if findings and campaign.created_by is not None:
        record_findings(
            user=campaign.created_by, findings=findings, source=Source.CAMPAIGN, refused=True,
            subject=campaign.name, now=now,
        )  # fmt: skip


def screen_service_batch(*, user, from_address: str, samples: list, now: datetime | None = None) -> None:
    """A batch of template sends (one request, one message per person): refused as a whole if its content fails."""
    findings = sample_findings(samples=samples, from_address=from_address, now=now)
    if findings:
        subject = samples[0].subject if samples else ""
        record_findings(user=user, findings=findings, source=Source.SERVICE, refused=True, subject=subject, now=now)
        raise ContentRefused(_refusal(findings))


def sample_message(*, from_address: str, subject: str, text: str, html: str, now: datetime) -> bytes:
    """A rendered sample as the message the filter would see (headers as submission writes them)."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = from_address
    message["To"] = "recipient@example.com"
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=settings.MAIL_HOSTNAME)
    message.set_content(text or " ")
    if html:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def record_findings(*, user, findings: list[Finding], source: str, refused: bool, subject: str = "", now=None):
    """Keep the objections (for the admins) and count the message as compromise evidence for its sender."""
    from reputation.services.compromise import evaluate_account, record_content_flag

    now = now or timezone.now()
    ContentFlag.objects.bulk_create(
        ContentFlag(
            user=user,
            created_at=now,
            finding=finding.kind,
            detail=finding.detail[:500],
            source=source,
            refused=refused,
            subject=subject[:200],
        )  # fmt: skip
        for finding in findings
    )
    record_content_flag(user=user, now=now)
    evaluate_account(user=user, now=now, at_submission=True)


def _refusal(findings: list[Finding]) -> str:
    reasons = " ".join(finding.message for finding in findings[:3])
    return _("This message was not sent. %(reasons)s") % {"reasons": reasons}


# --- the admins' link blocklist --------------------------------------------------------------------


def block_link_domain(*, domain: str, reason: str = "", created_by=None) -> LinkBlocklistEntry:
    """Refuse links to ``domain`` and its subdomains in API, service and bulk mail (noted in a person's)."""
    name = normalised_domain(domain)
    if not name or "." not in name:
        raise UserError(_("Enter a domain name, such as example.com."), field="domain")
    entry, _created = LinkBlocklistEntry.objects.update_or_create(
        domain=name, defaults={"reason": reason[:300], "created_by": created_by}
    )
    return entry


def unblock_link_domains(*, entry_ids) -> int:
    deleted, _counts = LinkBlocklistEntry.objects.filter(pk__in=list(entry_ids)).delete()
    return deleted
