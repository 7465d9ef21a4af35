"""A template batch is admitted as a whole: holds, domain ownership and quotas, one message per personalization."""

import pytest
from django.utils import timezone

from mailboxes.models import Message
from reputation.models import SenderLimit, SendingHold
from reputation.services.holds import place_hold
from tests.api.conftest import assert_error
from tests.campaigns.template_factories import make_template
from tests.campaigns.test_send_template_api import BATCH_URL, VALUES, json_client


@pytest.fixture
def api(alice):
    make_template()
    return json_client(alice)


def _batch(count: int) -> dict:
    return {
        "templateId": "order_receipt",
        "personalizations": [{"to": [f"p{n}@remote.example"], "variables": VALUES} for n in range(count)],
    }


def test_a_held_sender_cannot_send_a_batch(api, alice):
    place_hold(kind=SendingHold.Kind.USER, key=str(alice.pk), cause=SendingHold.Cause.ADMIN, reason="Under review.",
               evidence={})  # fmt: skip

    error = assert_error(api.post(BATCH_URL, _batch(2)), 403)

    assert error["code"] == "sending_suspended"
    assert not Message.objects.exists()


def test_a_batch_counts_one_message_per_personalization(api, alice, monkeypatch):
    # The quota's clock stands still: the three requests fall in one minute however slow the machine.
    moment = timezone.now()
    monkeypatch.setattr("reputation.services.admission.timezone.now", lambda: moment)
    SenderLimit.objects.create(user=alice, per_minute=5)

    assert api.post(BATCH_URL, _batch(3)).status_code == 202
    response = api.post(BATCH_URL, _batch(3))  # 6 messages in the minute: refused whole, nothing half sent

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert Message.objects.count() == 3
    assert api.post(BATCH_URL, _batch(2)).status_code == 202


def test_an_unverified_domain_cannot_send_a_batch_out(api, settings):
    settings.DOMAIN_VERIFICATION_REQUIRED = True

    error = assert_error(api.post(BATCH_URL, _batch(1)), 403)

    assert error["code"] == "domain_not_verified"
    assert not Message.objects.exists()
