"""Users' "spam" / "not spam" actions train their spam filter."""

from inbound.models import SpamTrainingCount
from mailboxes.services import mark_not_spam, mark_spam
from tests.factories import deliver, raw_email


def counts(user):
    row = SpamTrainingCount.objects.filter(scope_user=user).first()
    return (row.spam_messages, row.ham_messages) if row else (0, 0)


def test_marking_spam_then_not_spam_trains_the_users_filter_and_moves_the_counts(alice):
    (item,) = deliver(
        raw_email(subject="CHEAP PILLS!!!", body="Buy now, limited offer", to="alice@example.test"), alice
    )

    mark_spam(user=alice, item_ids=[item.pk])
    assert counts(alice) == (1, 0)

    mark_not_spam(user=alice, item_ids=[item.pk])
    assert counts(alice) == (0, 1)  # the same message retrained the other way, not counted twice


def test_marking_mail_already_in_spam_does_not_train_again(alice):
    (item,) = deliver(raw_email(subject="Offer", to="alice@example.test"), alice)
    mark_spam(user=alice, item_ids=[item.pk])
    mark_spam(user=alice, item_ids=[item.pk])

    assert counts(alice) == (1, 0)
