"""What a workspace's suppression page shows: its own entries, and the global ones that concern its contacts."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from campaigns.models import Contact, ContactList
from delivery.models import Suppression
from webmail.errors import NotFound


def can_remove_suppressions(user) -> bool:
    """Only admins remove entries: a marketer removing a complaint or an unsubscribe would mail people who said no."""
    return user.is_superuser


def suppressions_for_workspace(*, user, workspace, query: str = "", scope: str = "", reason: str = "") -> QuerySet:
    """The workspace's STREAM and LIST entries, and the GLOBAL entries of addresses among its contacts.

    An admin sees every GLOBAL entry (bounces and complaints are the whole
    platform's); a marketer only those of people their workspace knows, so a
    marketer cannot use the page to learn which addresses bounce elsewhere.
    """
    if can_remove_suppressions(user):
        global_entries = Q(scope=Suppression.Scope.GLOBAL)
    else:
        contact = Contact.objects.filter(domain=workspace, address=OuterRef("address"))
        global_entries = Q(scope=Suppression.Scope.GLOBAL) & Q(Exists(contact))
    entries = Suppression.objects.filter(Q(domain=workspace) | global_entries).select_related("domain", "contact_list")
    if query:
        entries = entries.filter(address__icontains=query.strip().lower())
    if scope in Suppression.Scope.values:
        entries = entries.filter(scope=scope)
    if reason in Suppression.Reason.values:
        entries = entries.filter(reason=reason)
    return entries.order_by("-created_at", "-pk")


def get_suppression_for_user(*, user, workspace, entry_id: int) -> Suppression:
    """One entry the user may see on the page, or ``NotFound`` (another workspace's looks as if it did not exist)."""
    entry = suppressions_for_workspace(user=user, workspace=workspace).filter(pk=entry_id).first()
    if entry is None:
        raise NotFound("No such suppression entry.")
    return entry


def get_list_for_workspace(*, workspace, list_id) -> ContactList:
    contact_list = ContactList.objects.filter(domain=workspace, pk=list_id).first()
    if contact_list is None:
        raise NotFound("No such list.", field="target")
    return contact_list
