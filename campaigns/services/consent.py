"""Recording that a person agreed to marketing mail: how, when, from which IP and browser.

Opting out is the unsubscribe service's (``campaigns.services.unsubscribe``).
"""

from datetime import datetime

from django.utils import timezone

from campaigns.models import Contact

CONSENT_FIELDS = ["consent", "consent_source", "consent_at", "consent_ip", "consent_user_agent", "updated_at"]


def opt_in(contact: Contact, *, source: str, ip: str | None = None, user_agent: str = "", now: datetime) -> None:
    """Set the opt-in on ``contact`` without saving it (for a contact being created or bulk-written)."""
    contact.consent = Contact.Consent.OPTED_IN
    contact.consent_source = source[: Contact._meta.get_field("consent_source").max_length]
    contact.consent_at = now
    contact.consent_ip = ip or None
    contact.consent_user_agent = (user_agent or "")[: Contact._meta.get_field("consent_user_agent").max_length]
    contact.updated_at = now


def record_opt_in(
    *, contact: Contact, source: str, ip: str | None = None, user_agent: str = "", now: datetime | None = None
) -> Contact:
    opt_in(contact, source=source, ip=ip, user_agent=user_agent, now=now or timezone.now())
    contact.save(update_fields=CONSENT_FIELDS)
    return contact
