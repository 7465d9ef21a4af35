"""Reads of contacts, lists and imports, scoped to a workspace: another workspace's ids are ``NotFound``."""

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from campaigns.models import Contact, ContactImport, ContactList, ListMembership
from webmail.errors import NotFound


def contacts_of(*, workspace, query: str = "") -> QuerySet[Contact]:
    """The workspace's contacts by address, filtered by a piece of address or name."""
    contacts = Contact.objects.filter(domain=workspace).order_by("address", "pk")
    query = query.strip()
    if query:
        contacts = contacts.filter(Q(address__icontains=query) | Q(name__icontains=query))
    return contacts


def contact_for_page(*, workspace, contact_id) -> Contact:
    """One contact with its memberships and their lists (for its page)."""
    memberships = ListMembership.objects.select_related("contact_list").order_by("contact_list__name")
    contact = (
        Contact.objects.filter(domain=workspace, pk=contact_id)
        .prefetch_related(Prefetch("memberships", queryset=memberships))
        .first()
    )
    if contact is None:
        raise NotFound(_("No such contact."))
    return contact


def lists_with_counts(*, workspace) -> QuerySet[ContactList]:
    """Every list of the workspace with its subscribed, pending and unsubscribed counts, in one query."""
    status = ListMembership.Status
    return ContactList.objects.filter(domain=workspace).annotate(
        subscribed=Count("memberships", filter=Q(memberships__status=status.SUBSCRIBED)),
        pending=Count("memberships", filter=Q(memberships__status=status.PENDING)),
        unsubscribed=Count("memberships", filter=Q(memberships__status=status.UNSUBSCRIBED)),
    )


def list_of(*, workspace, list_id) -> ContactList:
    contact_list = lists_with_counts(workspace=workspace).filter(pk=list_id).first()
    if contact_list is None:
        raise NotFound(_("No such list."))
    return contact_list


def members_of(*, contact_list: ContactList, query: str = "", status: str = "") -> QuerySet[ListMembership]:
    members = ListMembership.objects.filter(contact_list=contact_list).select_related("contact")
    query = query.strip()
    if query:
        members = members.filter(Q(contact__address__icontains=query) | Q(contact__name__icontains=query))
    if status in ListMembership.Status.values:
        members = members.filter(status=status)
    return members.order_by("contact__address", "pk")


def imports_of(*, workspace) -> QuerySet[ContactImport]:
    return ContactImport.objects.filter(domain=workspace).select_related("contact_list", "created_by")


def import_of(*, workspace, import_id) -> ContactImport:
    contact_import = imports_of(workspace=workspace).filter(pk=import_id).first()
    if contact_import is None:
        raise NotFound(_("No such import."))
    return contact_import
