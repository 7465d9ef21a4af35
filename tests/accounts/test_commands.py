"""The operator commands createdomain and createmailuser."""

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Address, Domain, User
from accounts.roles import Role
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


class Terminal(io.StringIO):
    def isatty(self):
        return True


# --- createdomain ------------------------------------------------------------------


def test_createdomain_hosts_the_normalised_domain_and_says_so():
    output = run("createdomain", "Mail.Example.ORG.")

    assert Domain.objects.filter(name="mail.example.org", is_active=True).exists()
    assert "mail.example.org" in output


def test_createdomain_stores_an_internationalised_domain_in_ascii():
    run("createdomain", "bücher.example")

    assert Domain.objects.filter(name="xn--bcher-kva.example").exists()


def test_createdomain_refuses_an_invalid_name():
    with pytest.raises(CommandError, match="not a valid domain name"):
        run("createdomain", "not a domain")

    assert not Domain.objects.exists()


def test_createdomain_refuses_a_domain_already_hosted():
    DomainFactory(name="example.org")

    with pytest.raises(CommandError, match="already hosted"):
        run("createdomain", "EXAMPLE.org")

    assert Domain.objects.count() == 1


# --- createmailuser ----------------------------------------------------------------


def test_createmailuser_creates_a_user_with_primary_address_and_password():
    DomainFactory(name="example.org")

    output = run("createmailuser", "Alice@Example.org", "--password", "s3cret-pass", "--name", "Alice Martin")

    user = User.objects.get(username="alice@example.org")
    assert user.check_password("s3cret-pass")
    assert user.display_name == "Alice Martin"
    assert user.roles == {Role.END_USER}
    assert not user.is_staff
    address = Address.objects.get(user=user)
    assert (address.email, address.kind) == ("alice@example.org", Address.Kind.PRIMARY)
    assert "alice@example.org" in output


def test_createmailuser_admin_flag_makes_a_staff_superuser():
    DomainFactory(name="example.org")

    output = run("createmailuser", "root@example.org", "--password", "pw", "--admin")

    user = User.objects.get(username="root@example.org")
    assert user.is_staff and user.is_superuser
    assert Role.ADMIN in user.roles
    assert "admin" in output


def test_createmailuser_marketer_flag_gives_the_marketer_role():
    DomainFactory(name="example.org")

    run("createmailuser", "promo@example.org", "--password", "pw", "--marketer")

    user = User.objects.get(username="promo@example.org")
    assert user.roles == {Role.END_USER, Role.MARKETER}
    assert not user.is_staff


def test_createmailuser_refuses_an_address_on_a_domain_not_hosted():
    with pytest.raises(CommandError, match="not a hosted domain"):
        run("createmailuser", "eve@elsewhere.example", "--password", "pw")

    assert not User.objects.exists()


def test_createmailuser_refuses_an_address_already_taken(alice):
    with pytest.raises(CommandError, match="already in use"):
        run("createmailuser", "ALICE@example.test", "--password", "pw")

    assert User.objects.count() == 1


def test_createmailuser_refuses_an_invalid_address():
    DomainFactory(name="example.org")

    with pytest.raises(CommandError, match="not an email address"):
        run("createmailuser", "no-at-sign", "--password", "pw")


def test_createmailuser_without_password_and_without_a_terminal_fails_clearly():
    DomainFactory(name="example.org")

    with pytest.raises(CommandError, match="--password is required"):
        run("createmailuser", "bob@example.org", stdin=io.StringIO("typed\n"))

    assert not User.objects.exists()


def test_createmailuser_asks_for_the_password_on_a_terminal(monkeypatch):
    DomainFactory(name="example.org")
    answers = iter(["typed-pass", "typed-pass"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    run("createmailuser", "bob@example.org", stdin=Terminal())

    assert User.objects.get(username="bob@example.org").check_password("typed-pass")


def test_createmailuser_refuses_mismatched_passwords_typed_on_a_terminal(monkeypatch):
    DomainFactory(name="example.org")
    answers = iter(["one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    with pytest.raises(CommandError, match="did not match"):
        run("createmailuser", "bob@example.org", stdin=Terminal())

    assert not User.objects.exists()


def test_createmailuser_refuses_an_empty_password():
    DomainFactory(name="example.org")

    with pytest.raises(CommandError, match="cannot be empty"):
        run("createmailuser", "bob@example.org", "--password", "")


def test_dkimkey_makes_a_key_once_and_prints_the_records_to_publish(db):
    call_command("createdomain", "mail.example")
    out, err = io.StringIO(), io.StringIO()
    call_command("dkimkey", "mail.example", stdout=out, stderr=err)

    domain = Domain.objects.get(name="mail.example")
    records = out.getvalue().splitlines()
    assert "Made a new DKIM key" in err.getvalue()
    assert [r.split("\t")[3] for r in records] == ["MX", "TXT", "TXT", "TXT", "TXT"]
    assert records[-1] == f'_webmail-verify.mail.example.\t3600\tIN\tTXT\t"webmail-verify={domain.verification_token}"'
    dkim_record = next(r for r in records if "_domainkey" in r)
    assert dkim_record.startswith(f"{domain.dkim_selector}._domainkey.mail.example.\t")
    assert all(len(chunk) <= 255 for chunk in dkim_record.split('"')[1::2])
    assert any(r.startswith("_dmarc.mail.example.\t") and "v=DMARC1" in r for r in records)

    again = io.StringIO()
    call_command("dkimkey", "mail.example", stdout=again, stderr=io.StringIO())
    assert again.getvalue() == out.getvalue()  # same key, same records


def test_dkimkey_for_a_domain_we_do_not_host_is_an_error(db):
    with pytest.raises(CommandError, match="not a hosted domain"):
        call_command("dkimkey", "elsewhere.example", stdout=io.StringIO(), stderr=io.StringIO())
