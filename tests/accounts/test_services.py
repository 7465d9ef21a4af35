"""Domains, users, aliases, and how an address resolves to a hosted user."""

import pytest

from accounts.addresses import InvalidAddress, InvalidDomain
from accounts.models import Address, Domain, User
from accounts.roles import Role
from accounts.selectors import addresses_of, is_hosted_domain, resolve_hosted_address, resolve_hosted_addresses
from accounts.services import (
    AddressTaken,
    DomainExists,
    DomainNotHosted,
    add_alias,
    create_domain,
    create_mail_user,
    remove_alias,
)
from webmail.errors import NotFound

pytestmark = pytest.mark.django_db


# --- domains -------------------------------------------------------------------------------------


def test_create_domain_normalises_the_name():
    domain = create_domain(name=" Example.ORG. ")

    assert domain.name == "example.org"
    assert is_hosted_domain("EXAMPLE.org")


def test_create_domain_stores_internationalised_names_in_ascii():
    assert create_domain(name="bücher.example").name == "xn--bcher-kva.example"


def test_duplicate_domain_is_refused():
    create_domain(name="example.org")

    with pytest.raises(DomainExists) as excinfo:
        create_domain(name="EXAMPLE.org")

    assert excinfo.value.field == "domain"


@pytest.mark.parametrize("name", ["", "localhost", "-bad.example", "a..b", "exa mple.org"])
def test_invalid_domain_is_refused(name):
    with pytest.raises(InvalidDomain):
        create_domain(name=name)


def test_inactive_domain_is_not_hosted():
    Domain.objects.create(name="old.example", is_active=False)

    assert not is_hosted_domain("old.example")
    assert not is_hosted_domain("never.example")


# --- users ---------------------------------------------------------------------------------------


def test_create_mail_user_lowercases_the_address_and_makes_it_the_primary():
    create_domain(name="example.test")

    user = create_mail_user(address="Alice@Example.TEST", password="correct horse battery", display_name=" Alice ")

    assert user.username == user.email == "alice@example.test"
    assert user.display_name == "Alice"
    assert user.check_password("correct horse battery")
    primary = Address.objects.get(user=user)
    assert (primary.kind, primary.email) == (Address.Kind.PRIMARY, "alice@example.test")
    assert user.roles == {Role.END_USER}


def test_user_without_password_cannot_sign_in_with_one():
    create_domain(name="example.test")

    user = create_mail_user(address="robot@example.test", password=None)

    assert not user.has_usable_password()


def test_admin_and_marketer_roles():
    create_domain(name="example.test")

    admin = create_mail_user(address="root@example.test", password="pw", admin=True)
    marketer = create_mail_user(address="promo@example.test", password="pw", marketer=True)

    assert admin.is_staff and admin.is_superuser
    assert Role.ADMIN in admin.roles
    assert marketer.roles == {Role.END_USER, Role.MARKETER}


def test_user_on_an_unhosted_domain_is_refused():
    with pytest.raises(DomainNotHosted) as excinfo:
        create_mail_user(address="someone@nowhere.example", password="pw")

    assert excinfo.value.field == "address"
    assert not User.objects.exists()


def test_plus_in_a_mailbox_address_is_refused():
    create_domain(name="example.test")

    with pytest.raises(InvalidAddress) as excinfo:
        create_mail_user(address="bob+work@example.test", password="pw")

    assert excinfo.value.field == "address"


def test_taken_address_is_refused_case_insensitively(alice):
    with pytest.raises(AddressTaken) as excinfo:
        create_mail_user(address="ALICE@example.test", password="pw")

    assert excinfo.value.field == "address"
    assert User.objects.count() == 1


def test_address_taken_as_an_alias_cannot_become_a_user(alice):
    add_alias(user=alice, address="wonderland@example.test")

    with pytest.raises(AddressTaken):
        create_mail_user(address="wonderland@example.test", password="pw")

    assert User.objects.count() == 1


@pytest.mark.parametrize("address", ["", "alice", "alice@", "@example.test", "a b@example.test", "a@b@example.test"])
def test_invalid_user_address_is_refused(address):
    create_domain(name="example.test")

    with pytest.raises(InvalidAddress):
        create_mail_user(address=address, password="pw")


# --- aliases -------------------------------------------------------------------------------------


def test_add_alias_and_list_addresses_primary_first(alice):
    add_alias(user=alice, address="Wonderland@example.test")
    add_alias(user=alice, address="aaa@example.test")

    assert addresses_of(alice) == ["alice@example.test", "aaa@example.test", "wonderland@example.test"]


def test_alias_on_another_hosted_domain(alice):
    create_domain(name="other.example")

    alias = add_alias(user=alice, address="alice@other.example")

    assert resolve_hosted_address("alice@other.example") == alice
    assert alias.kind == Address.Kind.ALIAS


def test_alias_taken_by_someone_else_is_refused(alice, bob):
    with pytest.raises(AddressTaken) as excinfo:
        add_alias(user=alice, address="BOB@example.test")

    assert excinfo.value.field == "address"
    assert resolve_hosted_address("bob@example.test") == bob


def test_alias_on_an_unhosted_domain_is_refused(alice):
    with pytest.raises(DomainNotHosted):
        add_alias(user=alice, address="alice@nowhere.example")


def test_alias_with_a_plus_is_refused_so_nobody_can_take_a_sub_address(alice, bob):
    """Otherwise Alice could own "bob+bank@…" and read what was meant for Bob."""
    with pytest.raises(InvalidAddress) as excinfo:
        add_alias(user=alice, address="bob+bank@example.test")

    assert excinfo.value.field == "address"
    assert resolve_hosted_address("bob+bank@example.test") == bob


def test_remove_alias(alice):
    alias = add_alias(user=alice, address="wonderland@example.test")

    remove_alias(user=alice, address_id=alias.pk)

    assert addresses_of(alice) == ["alice@example.test"]
    assert resolve_hosted_address("wonderland@example.test") is None


def test_someone_elses_alias_cannot_be_removed(alice, mallory):
    alias = add_alias(user=alice, address="wonderland@example.test")

    with pytest.raises(NotFound):
        remove_alias(user=mallory, address_id=alias.pk)

    assert resolve_hosted_address("wonderland@example.test") == alice


def test_primary_address_is_not_an_alias_to_remove(alice):
    primary = Address.objects.get(user=alice)

    with pytest.raises(NotFound):
        remove_alias(user=alice, address_id=primary.pk)

    assert addresses_of(alice) == ["alice@example.test"]


@pytest.mark.parametrize("bad", ["abc", None, "", 1.5, 10**20])
def test_non_integer_alias_id_is_not_found(alice, bad):
    add_alias(user=alice, address="wonderland@example.test")

    with pytest.raises(NotFound):
        remove_alias(user=alice, address_id=bad)

    assert len(addresses_of(alice)) == 2


# --- resolving -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "bob@example.test",
        "BOB@EXAMPLE.TEST",
        "  bob@example.test ",
        "bob+anything@example.test",
        "Bob+Shopping+More@example.test",
        "builder@example.test",
        "builder+tag@example.test",
    ],
)
def test_resolve_finds_the_user_by_primary_alias_case_and_sub_address(bob, address):
    add_alias(user=bob, address="builder@example.test")

    assert resolve_hosted_address(address) == bob


@pytest.mark.parametrize(
    "address", ["nobody@example.test", "bob@remote.example", "bob", "+tag@example.test", "bob@example.test.evil"]
)
def test_resolve_finds_nobody_for_unknown_or_foreign_addresses(bob, address):
    assert resolve_hosted_address(address) is None


def test_an_existing_address_with_a_plus_wins_over_sub_addressing(alice, bob):
    """Addresses made before '+' was reserved still get their own mail."""
    Address.objects.create(user=alice, domain=Domain.objects.get(name="example.test"), local_part="bob+legacy")

    assert resolve_hosted_address("bob+legacy@example.test") == alice
    assert resolve_hosted_address("bob+other@example.test") == bob


def test_many_addresses_resolve_in_one_query_as_each_would_alone(alice, bob, django_assert_num_queries):
    add_alias(user=bob, address="builder@example.test")
    Domain.objects.create(name="other.test")
    carol = create_mail_user(address="carol@other.test", password=None)
    Address.objects.create(user=alice, domain=Domain.objects.get(name="example.test"), local_part="bob+legacy")
    addresses = ["bob@example.test", "BOB+x@Example.Test", "builder@example.test", "bob+legacy@example.test",
                 "carol@other.test", "carol@example.test", "alice@other.test", "nobody@example.test",
                 "bob"]  # fmt: skip

    with django_assert_num_queries(1):
        users = resolve_hosted_addresses(addresses)

    assert users == {address: resolve_hosted_address(address) for address in addresses}
    assert [users[a] for a in addresses[:5]] == [bob, bob, bob, alice, carol]


def test_inactive_user_or_domain_resolves_to_nobody(alice, bob):
    bob.is_active = False
    bob.save()
    Domain.objects.filter(name="example.test").update(is_active=False)

    assert resolve_hosted_address("bob@example.test") is None
    assert resolve_hosted_address("alice@example.test") is None
