"""A segment's audience: which of a workspace's contacts it holds, and which of them a campaign may send to.

A segment's ``definition`` is JSON::

    {
      "lists": [1, 2],               # subscribed members of any of these; empty or absent: every contact
      "match": "all",                # "all" or "any": how the rules combine
      "rules": [
        {"field": "attributes.plan", "op": "equals", "value": "pro"},
        {"field": "engagement", "op": "opened_within", "value": 30}
      ],
      "exclude_lists": [3],          # nobody who is a subscribed member of these
      "exclude_segments": [4]        # nobody in these segments' audiences
    }

``audience`` is who the segment holds; ``sendable`` leaves out whom a
campaign must not mail (suppressed for the workspace's marketing, or opted
out): the count a marketer sees is ``counts``, and ``sendable`` is exactly
what a campaign freezes when it starts.
"""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from campaigns.models import Contact, ListMembership, Segment
from delivery.models import Suppression


def audience(segment: Segment, *, now=None) -> QuerySet:
    """The workspace's contacts the segment holds (suppressed ones included)."""
    definition = segment.definition or {}
    contacts = Contact.objects.filter(domain_id=segment.domain_id)
    lists = [int(i) for i in definition.get("lists") or ()]
    if lists:
        contacts = contacts.filter(_member_of(lists))
    excluded = [int(i) for i in definition.get("exclude_lists") or ()]
    if excluded:
        contacts = contacts.exclude(_member_of(excluded))
    return contacts


def _member_of(list_ids: list[int]) -> Exists:
    return Exists(
        ListMembership.objects.filter(
            contact_id=OuterRef("pk"), contact_list_id__in=list_ids, status=ListMembership.Status.SUBSCRIBED
        )
    )


def unsendable(domain_id: int, *, now=None) -> Q:
    """Contacts a workspace's campaign must not mail: opted out, or suppressed globally or for its marketing."""
    now = now or timezone.now()
    entries = Suppression.objects.filter(address=OuterRef("address")).filter(
        Q(scope=Suppression.Scope.GLOBAL) | Q(scope=Suppression.Scope.STREAM, domain_id=domain_id, stream="bulk"),
        Q(expires_at__isnull=True) | Q(expires_at__gt=now),
    )
    return Q(consent=Contact.Consent.OPTED_OUT) | Q(Exists(entries))


def sendable(segment: Segment, *, now=None) -> QuerySet:
    """The audience a campaign to ``segment`` sends to now."""
    return audience(segment, now=now).exclude(unsendable(segment.domain_id, now=now))


@dataclass(frozen=True)
class Counts:
    audience: int
    suppressed: int

    @property
    def sendable(self) -> int:
        return self.audience - self.suppressed


def counts(segment: Segment, *, now=None) -> Counts:
    held = audience(segment, now=now)
    return Counts(audience=held.count(), suppressed=held.filter(unsendable(segment.domain_id, now=now)).count())
