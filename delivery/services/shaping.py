"""Provider-aware delivery: shaping profiles, retry rules for throttling replies, provider backoffs.

The big mailbox providers judge and throttle a sender over all the domains
they host (mail to a company on Google Workspace counts with Gmail), so
delivery is shaped per destination provider (``core.providers``) on top of the
per-domain throttles:

- a **profile** per provider: workers delivering to it at once, SMTP
  transactions per connection, attempts per minute. The defaults are in
  ``DEFAULT_PROFILES``; an admin overrides any of them (``ProviderProfile``).
- **retry rules**, keyed by status and reply text: a throttling reply
  (Gmail's ``421 4.7.28``, Microsoft's ``S3150``, Yahoo's ``[TSS04]``…)
  backs off the whole provider (``ProviderBackoff``): none of its mail is
  handed to a worker until the pause ends, the pause doubling on repeats up to
  a cap; other replies (a full mailbox) retry only that message. An admin's
  ``RetryRule`` rows are tried before ``DEFAULT_RULES``.

docs/PROVIDER-SHAPING.md says where the numbers come from.
"""

import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.providers import Provider, cached_provider
from delivery.models import ProviderBackoff, ProviderProfile, RetryRule
from delivery.transports.base import Outcome, Result
from mailboxes.models import Recipient

SHORT_NAMES = {
    Provider.GMAIL: "Gmail",
    Provider.MICROSOFT: "Microsoft",
    Provider.YAHOO: "Yahoo",
    Provider.APPLE: "Apple",
    Provider.OTHER: "other providers",
}


# --- profiles ---------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    max_connections: int
    messages_per_connection: int  # 0: no limit
    messages_per_minute: int


# Conservative starting points: the providers publish no figures of their own (Gmail's, Yahoo's and
# Microsoft's sender guidelines say "ramp up, and slow down when we say so"); these follow the
# per-provider settings common in MTA configurations (PowerMTA/Postfix/Exim deliverability guides),
# lower for the providers known to defer on volume (Yahoo, Apple). See docs/PROVIDER-SHAPING.md.
DEFAULT_PROFILES: dict[Provider, Profile] = {
    Provider.GMAIL: Profile(max_connections=20, messages_per_connection=100, messages_per_minute=3000),
    Provider.MICROSOFT: Profile(max_connections=10, messages_per_connection=50, messages_per_minute=1200),
    Provider.YAHOO: Profile(max_connections=5, messages_per_connection=20, messages_per_minute=600),
    Provider.APPLE: Profile(max_connections=5, messages_per_connection=20, messages_per_minute=300),
    Provider.OTHER: Profile(max_connections=10, messages_per_connection=100, messages_per_minute=3000),
}


def effective_profiles() -> dict[Provider, Profile]:
    """Each provider's profile: the admin's overrides over the code's defaults (one query)."""
    overrides = {row.provider: row for row in ProviderProfile.objects.all()}
    return {provider: _effective(default, overrides.get(provider)) for provider, default in DEFAULT_PROFILES.items()}


# The profiles a claim read (``effective_profiles``), while it delivers: its transport asks per domain.
_claim_profiles: ContextVar[dict | None] = ContextVar("claim_profiles", default=None)


@contextmanager
def profiles_of_claim(profiles: dict[Provider, Profile] | None):
    """``profile_for`` answers from these (the claim's read) inside the block, with no query of its own."""
    token = _claim_profiles.set(profiles)
    try:
        yield
    finally:
        _claim_profiles.reset(token)


def profile_for(provider: Provider) -> Profile:
    known = _claim_profiles.get()
    if known is not None:
        return known[Provider(provider)]
    default = DEFAULT_PROFILES[Provider(provider)]
    return _effective(default, ProviderProfile.objects.filter(provider=provider).first())


def effective_profile(row: ProviderProfile) -> Profile:
    """The profile in force for a row's provider (no query)."""
    return _effective(DEFAULT_PROFILES[Provider(row.provider)], row)


def _effective(default: Profile, row: ProviderProfile | None) -> Profile:
    if row is None:
        return default
    return Profile(
        max_connections=default.max_connections if row.max_connections is None else row.max_connections,
        messages_per_connection=(
            default.messages_per_connection if row.messages_per_connection is None else row.messages_per_connection
        ),
        messages_per_minute=default.messages_per_minute if row.messages_per_minute is None else row.messages_per_minute,
    )


def ensure_profile_rows() -> None:
    """A row per provider (all fields empty: the defaults), so the admin lists all five. Not a data migration:
    the admin calls it when it lists them."""
    ProviderProfile.objects.bulk_create([ProviderProfile(provider=p.value) for p in Provider], ignore_conflicts=True)


def known_providers(domains) -> dict[str, Provider]:
    """The provider of each of ``domains`` known without a DNS lookup (by name or cached); the others are left out.

    The claim calls this inside its transaction: a DNS lookup there would hold
    the claim's row locks for as long as a resolver takes (seconds for a
    broken domain, and on every claim, since failures are not cached). The MX
    the transport resolves anyway fills the cache (``remember_provider``); a
    domain still unknown counts as "other" in the claim and is looked up before
    its delivery, outside any transaction (``engine._paused_provider``).
    """
    known = {}
    for domain in domains:
        provider = cached_provider(domain)
        if provider is not None:
            known[domain] = provider
    return known


# --- retry rules ------------------------------------------------------------------

BACK_OFF = RetryRule.Action.BACK_OFF_PROVIDER
RETRY_MESSAGE = RetryRule.Action.RETRY_MESSAGE


@dataclass(frozen=True)
class Rule:
    provider: str  # "" for any
    status_prefix: str
    text_pattern: str
    action: str
    backoff_seconds: int = 300
    max_backoff_seconds: int = 3600
    note: str = ""

    def matches(self, provider: str, result: Result) -> bool:
        if self.provider and self.provider != provider:
            return False
        if not _status_matches(self.status_prefix, result):
            return False
        return not self.text_pattern or _pattern(self.text_pattern).search(result.response or "") is not None


def _status_matches(prefix: str, result: Result) -> bool:
    """ "421", "4.7.28", "4.7" or "421 4.7.28": the code, and the enhanced status component by component."""
    for part in prefix.split():
        if part.isdigit() and len(part) == 3:
            if str(result.smtp_code or "") != part:
                return False
        elif not (result.enhanced_status == part or result.enhanced_status.startswith(part + ".")):
            return False
    return True


@lru_cache(maxsize=256)
def _pattern(text: str) -> re.Pattern:
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error:  # an admin's broken pattern matches its literal text rather than crash delivery
        return re.compile(re.escape(text), re.IGNORECASE)


# The replies the providers document for "you are sending too fast / too much": back off the whole
# provider. A full mailbox or one recipient over its own rate: that message only.
DEFAULT_RULES: tuple[Rule, ...] = (
    # Gmail: "421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP".
    Rule(Provider.GMAIL, "4.7.28", "", BACK_OFF, note="Gmail: unusual rate of unsolicited mail"),
    # Gmail: "421-4.7.0 … Try again later, closing connection" / "… rate limited".
    Rule(Provider.GMAIL, "4.7.0", r"rate.?limit|try again later|unusual rate", BACK_OFF, note="Gmail: rate limited"),
    # Gmail: "450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional
    # messages from being delivered": that one mailbox's rate, not ours; its mail waits a while.
    Rule(
        Provider.GMAIL,
        "4.2.1",
        r"receiving mail at a rate|too many messages",
        RETRY_MESSAGE,
        900,
        900,
        note="Gmail: that recipient receives too much",
    ),  # fmt: skip
    # Microsoft: "… part of their network is on our block list (S3150)" (it comes as 550 5.7.1 too).
    Rule(Provider.MICROSOFT, "", r"\bS3150\b", BACK_OFF, 900, 7200, note="Microsoft: network on the block list"),
    # Microsoft: "451 4.7.500 Server busy. Please try again later from [ip]. (S77714)".
    Rule(Provider.MICROSOFT, "4.7.500", "", BACK_OFF, note="Microsoft: server busy"),
    # Microsoft: "451 4.7.650 The mail server [ip] has been temporarily rate limited due to IP reputation."
    Rule(Provider.MICROSOFT, "4.7.650", "", BACK_OFF, 900, 7200, note="Microsoft: rate limited (IP reputation)"),
    # Yahoo: "421 4.7.0 [TSS04] Messages from ip temporarily deferred due to unexpected volume or user
    # complaints"; [TS01]/[TS02]: deferred for the sender's reputation.
    Rule(Provider.YAHOO, "4", r"\[TSS?0[1-4]\]", BACK_OFF, note="Yahoo: temporarily deferred (volume, complaints)"),
    # Apple: "421 4.7.0 … rate limited" / "450 4.7.1 … too much mail".
    Rule(Provider.APPLE, "4", r"rate.?limit|too much mail|try again later", BACK_OFF, note="Apple: rate limited"),
    # Anyone: "452 4.2.2 mailbox full": that mailbox's trouble, the usual backoff for that message.
    Rule("", "4.2.2", "", RETRY_MESSAGE, 0, 0, note="Mailbox full"),
)


def retry_rules() -> list[Rule]:
    """The admin's enabled rules (one query), then the code's defaults."""
    admin = [
        Rule(
            row.provider,
            row.status_prefix.strip(),
            row.text_pattern,
            row.action,
            row.backoff_seconds,
            max(row.max_backoff_seconds, row.backoff_seconds),
            row.note,
        )  # fmt: skip
        for row in RetryRule.objects.filter(enabled=True)
    ]
    return admin + list(DEFAULT_RULES)


def rule_for(rules: list[Rule], provider: str, result: Result) -> Rule | None:
    """The rule deciding a failed reply from a remote server, if any (sent mail and our own errors have none)."""
    if result.outcome == Outcome.SENT or result.smtp_code is None:
        return None
    return next((rule for rule in rules if rule.matches(provider, result)), None)


def backs_off(rule: Rule | None, provider: str) -> bool:
    """Whether this rule pauses the whole provider. "Other providers" are many: never paused as a whole."""
    return rule is not None and rule.action == BACK_OFF and provider != Provider.OTHER


# --- backoffs ---------------------------------------------------------------------


def active_backoffs(*, now: datetime) -> dict[str, ProviderBackoff]:
    """The providers paused at ``now`` (a table of at most five rows)."""
    return {b.provider: b for b in ProviderBackoff.objects.filter(until__gt=now)}


def back_off(*, provider: str, rule: Rule, result: Result, now: datetime) -> ProviderBackoff:
    """Pause ``provider`` after a throttling reply; returns the pause in force.

    A reply that comes while a pause is on (another worker's connection opened
    before it) adds nothing. A repeat after a pause doubles the next one, up to
    the rule's cap; a provider quiet for ``PROVIDER_BACKOFF_MEMORY_SECONDS``
    after its last pause starts again from the first step.
    """
    with transaction.atomic():
        ProviderBackoff.objects.bulk_create(
            [ProviderBackoff(provider=provider, until=now, strikes=0)], ignore_conflicts=True
        )
        backoff = ProviderBackoff.objects.select_for_update().get(provider=provider)
        if backoff.until > now:
            return backoff
        quiet = now - backoff.until >= timedelta(seconds=settings.PROVIDER_BACKOFF_MEMORY_SECONDS)
        backoff.strikes = 1 if quiet or backoff.strikes == 0 else backoff.strikes + 1
        seconds = min(rule.backoff_seconds * 2 ** (backoff.strikes - 1), rule.max_backoff_seconds)
        backoff.until = now + timedelta(seconds=seconds)
        backoff.started_at = now
        backoff.reason = result.response[:2000]
        backoff.save()
    return backoff


def end_backoffs(*, providers: list[str], now: datetime | None = None) -> int:
    """An admin ends pauses early: the providers' waiting mail is due at once. Returns how many ended.

    The waiting recipients were all given the pause's end as their next attempt
    (``engine``), so that time finds them without knowing each one's provider.
    """
    now = now or timezone.now()
    ended = 0
    with transaction.atomic():
        for backoff in ProviderBackoff.objects.select_for_update().filter(provider__in=providers, until__gt=now):
            Recipient.objects.filter(
                status__in=(Recipient.Status.QUEUED, Recipient.Status.DEFERRED), next_attempt_at=backoff.until
            ).update(next_attempt_at=now, updated_at=now)
            backoff.until = now
            backoff.save(update_fields=["until"])
            ended += 1
    return ended


def backoff_description(provider: str, backoff: ProviderBackoff, result: Result | None = None) -> str:
    """ "Gmail asked us to slow down (421 4.7.28); all Gmail mail waits until 10:42 UTC." """
    name = SHORT_NAMES.get(provider, provider)
    status = (
        f"{result.smtp_code} {result.enhanced_status}".strip() if result is not None else _status_of(backoff.reason)
    )
    return (
        f"{name} asked us to slow down ({status}); all {name} mail waits until {backoff.until:%H:%M} UTC"
        f" (pause {backoff.strikes} in a row)."
    )


def _status_of(reply: str) -> str:
    match = re.match(r"\s*(\d{3})[\s-]+(\d\.\d{1,3}\.\d{1,3})?", reply or "")
    return " ".join(g for g in match.groups() if g) if match else "a throttling reply"
