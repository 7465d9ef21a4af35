from mailboxes.models import Blob, MailboxItem
from tests.factories import send_and_deliver


def test_message_sent_to_two_users_is_stored_once_with_independent_state(alice, bob, carol):
    message = send_and_deliver(user=alice, to=["bob@example.test", "carol@example.test"], subject="Hi", text="Hello")

    items = MailboxItem.objects.filter(message=message)
    assert sorted(items.values_list("user__username", "folder")) == [
        ("alice@example.test", "sent"),
        ("bob@example.test", "inbox"),
        ("carol@example.test", "inbox"),
    ]
    assert Blob.objects.filter(messages=message).count() == 1
