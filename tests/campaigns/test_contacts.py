"""Contacts, lists and consent through the services: normalisation, typed attributes, consent, scoping."""

from datetime import UTC, date, datetime

import pytest

from accounts.addresses import InvalidAddress
from campaigns.models import Contact, ContactList, ListMembership
from campaigns.services import contacts as services
from campaigns.services.consent import record_opt_in
from tests.campaigns import contacts_support as support
from webmail.errors import Conflict, NotFound, UserError

alice, mallory, workspace = support.alice, support.mallory, support.workspace

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
def evil(mallory):
    from accounts.models import Domain

    return Domain.objects.get(name="evil.test")


def test_addresses_are_validated_and_kept_lower_case(workspace):
    contact = services.create_contact(workspace=workspace, address="  Zoe.Smith@Example.ORG ", name=" Zoë ")
    idn = services.create_contact(workspace=workspace, address="Anna@Bücher.example")

    assert (contact.address, contact.name) == ("zoe.smith@example.org", "Zoë")
    assert idn.address == "anna@xn--bcher-kva.example"
    with pytest.raises(Conflict):
        services.create_contact(workspace=workspace, address="ZOE.SMITH@example.org")
    for bad in ("no-at-sign", "a@b", "two@@example.org", "x@exa mple.org", "a@example.org\r\nBcc: x@y.org"):
        with pytest.raises(InvalidAddress):
            services.create_contact(workspace=workspace, address=bad)


def test_names_with_line_breaks_are_refused(workspace):
    with pytest.raises(UserError, match="line breaks"):
        services.create_contact(workspace=workspace, address="a@example.org", name="Eve\r\nBcc: all@example.org")


def test_the_same_address_may_be_a_contact_of_two_workspaces(workspace, evil):
    services.create_contact(workspace=workspace, address="shared@example.org")
    services.create_contact(workspace=evil, address="shared@example.org")

    assert Contact.objects.filter(address="shared@example.org").count() == 2


def test_attributes_are_typed_json(workspace):
    contact = services.create_contact(
        workspace=workspace,
        address="a@example.org",
        attributes={"plan": "pro", "orders": 3, "spent": 12.5, "vip": True, "signed_up": date(2024, 5, 1)},
    )

    assert contact.attributes == {"plan": "pro", "orders": 3, "spent": 12.5, "vip": True, "signed_up": "2024-05-01"}
    assert [services.attribute_type(contact.attributes[k]) for k in ("plan", "orders", "vip", "signed_up")] == [
        "string",
        "number",
        "boolean",
        "date",
    ]


@pytest.mark.parametrize(
    "attributes",
    [
        {"nested": {"a": 1}},
        {"items": [1, 2]},
        {"Bad Name": "x"},
        {"__class__": object()},
        {"n": float("nan")},
        {"long": "x" * 5000},
    ],
    ids=["object", "list", "name", "python-object", "nan", "too-long"],
)
def test_attributes_that_are_not_flat_typed_values_are_refused(workspace, attributes):
    with pytest.raises(services.InvalidAttribute):
        services.create_contact(workspace=workspace, address="a@example.org", attributes=attributes)


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("number", "42", 42),
        ("number", "1,234.5", 1234.5),
        ("boolean", "Yes", True),
        ("boolean", "0", False),
        ("boolean", "是", True),
        ("date", "2024-02-29", "2024-02-29"),
        ("string", "  padded ", "padded"),
    ],
)
def test_typed_values_are_parsed_from_text(kind, raw, value):
    assert services.parse_typed_value(kind, raw) == value


@pytest.mark.parametrize(
    ("kind", "raw"), [("number", "twelve"), ("number", "inf"), ("boolean", "maybe"), ("date", "2023-02-30")]
)
def test_text_that_is_not_of_its_type_is_refused(kind, raw):
    with pytest.raises(services.InvalidAttribute):
        services.parse_typed_value(kind, raw)


def test_locales_are_normalised_and_checked(workspace):
    contact = services.create_contact(workspace=workspace, address="a@example.org", locale="zh_Hans")

    assert contact.locale == "zh-hans"
    with pytest.raises(UserError):
        services.update_contact(
            workspace=workspace, contact_id=contact.pk, name="", locale="not a locale!", attributes={}
        )


def test_an_opt_in_records_its_source_time_ip_and_browser(workspace):
    contact = services.create_contact(
        workspace=workspace, address="a@example.org", consent_source="newsletter form", consent_ip="2001:db8::1",
        consent_user_agent="Firefox", now=NOW,
    )  # fmt: skip

    assert contact.consent == Contact.Consent.OPTED_IN
    assert (contact.consent_source, contact.consent_at, contact.consent_ip) == ("newsletter form", NOW, "2001:db8::1")
    assert contact.consent_user_agent == "Firefox"
    later = record_opt_in(contact=services.create_contact(workspace=workspace, address="b@example.org"), source="api")
    assert later.consent == Contact.Consent.OPTED_IN


def test_erasing_a_contact_removes_it_and_its_memberships(workspace, alice):
    contact_list = services.create_list(workspace=workspace, name="News")
    contact = services.create_contact(workspace=workspace, address="a@example.org", consent_source="form")
    services.add_to_list(workspace=workspace, list_id=contact_list.pk, contact_id=contact.pk, added_by=alice)

    services.erase_contact(workspace=workspace, contact_id=contact.pk)

    assert not Contact.objects.exists()
    assert not ListMembership.objects.exists()
    assert ContactList.objects.filter(pk=contact_list.pk).exists()


def test_lists_are_created_renamed_and_deleted(workspace):
    news = services.create_list(workspace=workspace, name="News")
    services.create_list(workspace=workspace, name="Offers")
    with pytest.raises(Conflict):
        services.create_list(workspace=workspace, name="News")
    with pytest.raises(Conflict):
        services.update_list(workspace=workspace, list_id=news.pk, name="Offers", description="", double_opt_in=False)
    with pytest.raises(UserError):
        services.create_list(workspace=workspace, name="  ")

    renamed = services.update_list(
        workspace=workspace, list_id=news.pk, name="Weekly", description="d", double_opt_in=True
    )
    assert (renamed.name, renamed.double_opt_in) == ("Weekly", True)
    services.delete_list(workspace=workspace, list_id=news.pk)
    assert list(ContactList.objects.values_list("name", flat=True)) == ["Offers"]


def test_a_list_without_double_opt_in_needs_consent(workspace, alice):
    news = services.create_list(workspace=workspace, name="News")
    with pytest.raises(services.MissingConsent):
        services.add_address_to_list(workspace=workspace, list_id=news.pk, address="a@example.org", added_by=alice)

    membership = services.add_address_to_list(
        workspace=workspace, list_id=news.pk, address="a@example.org", added_by=alice, consent_given=True
    )
    assert membership.status == ListMembership.Status.SUBSCRIBED
    assert membership.subscribed_at is not None
    assert Contact.objects.get().consent_source == "added by a marketer"


def test_adding_a_member_again_keeps_the_membership(workspace, alice):
    news = services.create_list(workspace=workspace, name="News")
    contact = services.create_contact(workspace=workspace, address="a@example.org", consent_source="form")
    first = services.add_to_list(workspace=workspace, list_id=news.pk, contact_id=contact.pk, added_by=alice)
    second = services.add_to_list(workspace=workspace, list_id=news.pk, contact_id=contact.pk, added_by=alice)

    assert first.pk == second.pk


def test_a_marketer_cannot_put_back_someone_who_unsubscribed(workspace, alice):
    news = services.create_list(workspace=workspace, name="News")
    contact = services.create_contact(workspace=workspace, address="a@example.org", consent_source="form")
    membership = services.add_to_list(workspace=workspace, list_id=news.pk, contact_id=contact.pk, added_by=alice)
    ListMembership.objects.filter(pk=membership.pk).update(status=ListMembership.Status.UNSUBSCRIBED)

    with pytest.raises(Conflict, match="unsubscribed"):
        services.add_to_list(
            workspace=workspace, list_id=news.pk, contact_id=contact.pk, added_by=alice, consent_given=True
        )


def test_removing_a_member_deletes_the_membership_only(workspace, alice):
    news = services.create_list(workspace=workspace, name="News")
    contact = services.create_contact(workspace=workspace, address="a@example.org", consent_source="form")
    services.add_to_list(workspace=workspace, list_id=news.pk, contact_id=contact.pk, added_by=alice)

    services.remove_from_list(workspace=workspace, list_id=news.pk, contact_id=contact.pk)

    assert not ListMembership.objects.exists()
    assert Contact.objects.get().consent == Contact.Consent.OPTED_IN
    with pytest.raises(NotFound):
        services.remove_from_list(workspace=workspace, list_id=news.pk, contact_id=contact.pk)


def test_another_workspace_ids_are_not_found(workspace, evil, alice):
    news = services.create_list(workspace=workspace, name="News")
    contact = services.create_contact(workspace=workspace, address="a@example.org")

    for call in (
        lambda: services.get_contact(workspace=evil, contact_id=contact.pk),
        lambda: services.update_contact(workspace=evil, contact_id=contact.pk, name="x", locale="", attributes={}),
        lambda: services.erase_contact(workspace=evil, contact_id=contact.pk),
        lambda: services.get_list(workspace=evil, list_id=news.pk),
        lambda: services.delete_list(workspace=evil, list_id=news.pk),
        lambda: services.add_to_list(workspace=evil, list_id=news.pk, contact_id=contact.pk, added_by=alice),
        lambda: services.add_address_to_list(workspace=evil, list_id=news.pk, address="b@example.org", added_by=alice),
        lambda: services.remove_from_list(workspace=evil, list_id=news.pk, contact_id=contact.pk),
    ):
        with pytest.raises(NotFound):
            call()
    assert Contact.objects.filter(domain=evil).count() == 0


def test_role_addresses_are_recognised():
    assert services.is_role_address("postmaster@example.org")
    assert services.is_role_address("no-reply@example.org")
    assert services.is_role_address("info+news@example.org")
    assert not services.is_role_address("anna@example.org")
