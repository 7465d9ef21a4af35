"""Leaving and rejoining a workspace's marketing mail: suppression entries, list memberships, contact consent.

One service for every way in: the one-click POST of a mailbox provider, the
preference page, mail to the mailto: address, a marketer. Unsubscribing from
a list writes a LIST entry and ends the membership; from all marketing mail,
a STREAM entry for the workspace's bulk stream and the contact's consent
becomes "opted out". Transactional mail is left alone either way (see
``delivery.services.suppression``). A resubscribe undoes only what an
unsubscribe did: it never removes a GLOBAL entry (a bounce or complaint) nor
an entry a marketer or an admin made.

A token from a campaign's mail names its campaign recipient: the first
unsubscribe through it is also that campaign's "unsubscribed" delivery event
(``unsubscribed_at`` is set by a conditional UPDATE, so a second click or a
one-click POST after the page records nothing more).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Domain
from campaigns.models import CampaignRecipient, Contact, ContactList, ListMembership
from campaigns.unsubscribe import BadToken, TokenData
from delivery.models import Suppression
from delivery.services.events import record_delivery_event
from delivery.services.suppression import suppress_address

MARKETING = "bulk"  # Message.Stream.BULK, the stream a workspace's marketing mail is sent on


@dataclass(frozen=True)
class Subscription:
    """What a token names, read back from the database: the workspace, the address, the list if it still exists."""

    domain: Domain
    address: str
    contact_list: ContactList | None
    # The campaign recipient whose mail carried the link (its outbox row loaded), if the token names one.
    campaign_recipient: CampaignRecipient | None = None


def subscription_of(token_data: TokenData) -> Subscription:
    """The token's workspace, list and campaign recipient; a deleted list falls back to the workspace.

    A workspace that no longer exists has nothing to unsubscribe from: ``BadToken``.
    """
    domain = Domain.objects.filter(pk=token_data.domain_id).first()
    if domain is None:
        raise BadToken("the workspace no longer exists")
    contact_list = None
    if token_data.contact_list_id is not None:
        contact_list = ContactList.objects.filter(pk=token_data.contact_list_id, domain=domain).first()
    address = token_data.address.strip().lower()
    campaign_recipient = None
    if token_data.recipient_id is not None:
        campaign_recipient = (
            CampaignRecipient.objects.select_related("recipient")
            .filter(pk=token_data.recipient_id, campaign__domain=domain, address=address)
            .first()
        )
    return Subscription(
        domain=domain, address=address, contact_list=contact_list, campaign_recipient=campaign_recipient
    )


def unsubscribe(
    *,
    subscription: Subscription,
    scope: str,
    source: str,
    ip: str | None = None,
    user_agent: str = "",
    now: datetime | None = None,
) -> Suppression:
    """Stop the workspace's marketing mail to the address: from its list (``scope`` LIST), or all of it (STREAM).

    Idempotent: a second call finds the entry and changes nothing. LIST without
    a list (none in the token, or deleted since) means all marketing mail.
    """
    now = now or timezone.now()
    detail = _who(source, ip, user_agent)
    address, domain, contact_list = subscription.address, subscription.domain, subscription.contact_list
    with transaction.atomic():
        _record_unsubscribed(subscription.campaign_recipient, scope=scope, source=source, now=now)
        if scope == Suppression.Scope.LIST and contact_list is not None:
            entry = suppress_address(
                address=address, reason=Suppression.Reason.UNSUBSCRIBE, source=source, detail=detail, now=now,
                scope=Suppression.Scope.LIST, contact_list=contact_list,
            )  # fmt: skip
            ListMembership.objects.filter(contact_list=contact_list, contact__address=address).exclude(
                status=ListMembership.Status.UNSUBSCRIBED
            ).update(status=ListMembership.Status.UNSUBSCRIBED, source=source, updated_at=now)
            return entry
        entry = suppress_address(
            address=address, reason=Suppression.Reason.UNSUBSCRIBE, source=source, detail=detail, now=now,
            scope=Suppression.Scope.STREAM, domain=domain, stream=MARKETING,
        )  # fmt: skip
        # The opt-in's IP and user agent stay: they are the evidence of the consent that was given.
        Contact.objects.filter(domain=domain, address=address).exclude(consent=Contact.Consent.OPTED_OUT).update(
            consent=Contact.Consent.OPTED_OUT, consent_source=f"unsubscribe ({source})", consent_at=now, updated_at=now
        )
    return entry


def resubscribe(
    *, subscription: Subscription, source: str, ip: str | None = None, user_agent: str = "", now: datetime | None = None
) -> int:
    """Undo the unsubscribes this subscription allows (its list, the workspace's marketing); how many entries went.

    Only entries whose reason is an unsubscribe: a bounce or complaint (GLOBAL)
    or a marketer's entry stays. Rejoining is an opt-in of its own, recorded
    with its IP and user agent.
    """
    now = now or timezone.now()
    address, domain, contact_list = subscription.address, subscription.domain, subscription.contact_list
    own = Suppression.objects.filter(address=address, reason=Suppression.Reason.UNSUBSCRIBE)
    with transaction.atomic():
        removed, _ = own.filter(scope=Suppression.Scope.STREAM, domain=domain, stream=MARKETING).delete()
        if contact_list is not None:
            removed += own.filter(scope=Suppression.Scope.LIST, contact_list=contact_list).delete()[0]
            ListMembership.objects.filter(
                contact_list=contact_list, contact__address=address, status=ListMembership.Status.UNSUBSCRIBED
            ).update(status=ListMembership.Status.SUBSCRIBED, source=f"resubscribe ({source})", updated_at=now)
        Contact.objects.filter(domain=domain, address=address, consent=Contact.Consent.OPTED_OUT).update(
            consent=Contact.Consent.OPTED_IN, consent_source=f"resubscribe ({source})", consent_at=now,
            consent_ip=ip or None, consent_user_agent=user_agent[:500], updated_at=now,
        )  # fmt: skip
    return removed


def unsubscribed_from(subscription: Subscription) -> dict[str, bool]:
    """``{"list": …, "all": …}``: whether the address has left the list, and the workspace's marketing mail."""
    scopes = set(
        Suppression.objects.filter(address=subscription.address, domain=subscription.domain)
        .filter(
            Q(scope=Suppression.Scope.LIST, contact_list=subscription.contact_list)
            | Q(scope=Suppression.Scope.STREAM, stream=MARKETING)
        )
        .values_list("scope", flat=True)
    )
    return {"list": Suppression.Scope.LIST in scopes, "all": Suppression.Scope.STREAM in scopes}


def _record_unsubscribed(campaign_recipient: CampaignRecipient | None, *, scope: str, source: str, now) -> None:
    """The campaign's "unsubscribed" event, the first time its recipient leaves through its mail."""
    if campaign_recipient is None or campaign_recipient.recipient is None:
        return
    if CampaignRecipient.objects.filter(pk=campaign_recipient.pk, unsubscribed_at=None).update(unsubscribed_at=now):
        record_delivery_event(
            recipient=campaign_recipient.recipient, event_type="unsubscribed", transport="unsubscribe",
            metadata={"scope": scope, "source": source}, update_status=False, timestamp=now,
        )  # fmt: skip


def _who(source: str, ip: str | None, user_agent: str) -> str:
    parts = [dict(Suppression.Source.choices).get(source, source)]
    if ip:
        parts.append(f"from {ip}")
    if user_agent:
        parts.append(f"({user_agent[:200]})")
    return " ".join(parts)
