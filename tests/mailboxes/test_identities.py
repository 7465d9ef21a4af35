"""Send-as identities: the user's own addresses, their display names, signatures and the default From."""

import pytest

from accounts.services import add_alias
from delivery.services import send_message
from mailboxes.blobstore import read_blob
from mailboxes.exceptions import SenderNotAllowed
from mailboxes.models import Identity
from mailboxes.parsing import parse_message
from mailboxes.services.drafts import save_draft
from mailboxes.services.identities import (
    IdentityNotFound,
    InvalidIdentity,
    default_identity,
    identities_of,
    set_default_identity,
    signature_block,
    update_identity,
)
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alias(alice):
    return add_alias(user=alice, address="sales@example.test")


def _identity(user, address):
    return next(i for i in identities_of(user=user) if i.address.email == address)


def test_every_owned_address_is_an_identity_primary_first(alice, alias):
    assert [i.address.email for i in identities_of(user=alice)] == ["alice@example.test", "sales@example.test"]
    assert Identity.objects.filter(user=alice).count() == 2
    identities_of(user=alice)  # lazily created once
    assert Identity.objects.filter(user=alice).count() == 2


def test_an_alias_added_later_gets_its_identity(alice):
    assert len(identities_of(user=alice)) == 1
    add_alias(user=alice, address="later@example.test")
    assert [i.address.email for i in identities_of(user=alice)] == ["alice@example.test", "later@example.test"]


def test_the_default_is_the_primary_until_another_is_chosen(alice, alias):
    assert default_identity(identities_of(user=alice)).address.email == "alice@example.test"
    set_default_identity(user=alice, identity_id=_identity(alice, "sales@example.test").pk)
    set_default_identity(user=alice, identity_id=_identity(alice, "sales@example.test").pk)
    assert default_identity(identities_of(user=alice)).address.email == "sales@example.test"
    assert Identity.objects.filter(user=alice, is_default=True).count() == 1


def test_someone_elses_identity_is_not_found(alice, mallory, alias):
    theirs = _identity(alice, "sales@example.test")
    with pytest.raises(IdentityNotFound):
        update_identity(user=mallory, identity_id=theirs.pk, display_name="Owned", signature="")
    with pytest.raises(IdentityNotFound):
        set_default_identity(user=mallory, identity_id=theirs.pk)
    theirs.refresh_from_db()
    assert theirs.display_name == "" and not theirs.is_default


def test_names_with_line_breaks_and_overlong_signatures_are_refused(alice):
    mine = identities_of(user=alice)[0]
    with pytest.raises(InvalidIdentity):
        update_identity(user=alice, identity_id=mine.pk, display_name="A\r\nBcc: x@y.z", signature="")
    with pytest.raises(InvalidIdentity):
        update_identity(user=alice, identity_id=mine.pk, display_name="A", signature="x" * 2001)


def test_signature_block_has_the_separator_line():
    assert signature_block("Alice\nExample Ltd\n") == "-- \nAlice\nExample Ltd"
    assert signature_block("  \n") == ""


def test_sending_as_an_alias_uses_its_display_name(alice, alias):
    update_identity(user=alice, identity_id=_identity(alice, "sales@example.test").pk, display_name="Sales Team",
                    signature="")  # fmt: skip
    message = send_message(user=alice, from_address="Sales@Example.test", to=["bob@remote.example"], subject="Hi")
    parsed = parse_message(read_blob(message.blob))
    assert parsed.from_address == "sales@example.test" and parsed.from_name == "Sales Team"


def test_an_identity_without_a_name_uses_the_users(alice):
    message = send_message(user=alice, to=["bob@remote.example"], subject="Hi")
    assert parse_message(read_blob(message.blob)).from_name == "Alice Liddell"


def test_without_a_from_the_default_identity_sends(alice, alias):
    set_default_identity(user=alice, identity_id=_identity(alice, "sales@example.test").pk)
    draft = save_draft(user=alice, to="bob@remote.example", subject="Default")
    assert parse_message(read_blob(draft.message.blob)).from_address == "sales@example.test"


def test_an_address_the_user_does_not_own_is_still_refused(alice, bob, alias):
    DomainFactory(name="elsewhere.example")
    for address in ("bob@example.test", "sales@elsewhere.example", "boss@example.test"):
        with pytest.raises(SenderNotAllowed):
            send_message(user=alice, from_address=address, to=["x@remote.example"], subject="Spoof")
    with pytest.raises(SenderNotAllowed):
        send_message(user=bob, from_address="sales@example.test", to=["x@remote.example"], subject="Spoof")
