"""Schedule send in the webmail: the menu beside Send, the Scheduled list, Cancel send."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Preferences
from mailboxes.models import MailboxItem
from mailboxes.services.drafts import save_draft
from mailboxes.services.scheduled import schedule_draft

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _draft(user, **values):
    fields = {"to": "bob@example.test", "subject": "Later", "text": "See you tomorrow."} | values
    return save_draft(user=user, **fields)


def _form(**values):
    data = {"to": "", "cc": "", "bcc": "", "subject": "", "body": "", "draft_id": "", "in_reply_to": ""}
    return data | values


def test_the_schedule_menu_offers_the_presets_with_the_zone_name(alice_client, alice):
    Preferences.objects.create(user=alice, time_zone="Asia/Shanghai")

    def tomorrow():
        return (timezone.now().astimezone(SHANGHAI) + dt.timedelta(days=1)).date().isoformat()

    # Read before and after the page: a run crossing midnight in Shanghai accepts either day.
    before = tomorrow()
    html = alice_client.get(reverse("mailboxes:compose")).content.decode()
    after = tomorrow()
    assert "Schedule send" in html and "Asia/Shanghai" in html
    assert any(f'value="{day}T08:00"' in html for day in {before, after})
    assert 'data-schedule-option="monday-morning"' in html


def test_scheduling_from_compose_lists_it_with_its_time_in_the_users_zone(alice_client, alice):
    Preferences.objects.create(user=alice, time_zone="Asia/Shanghai")
    when = (timezone.now().astimezone(SHANGHAI) + dt.timedelta(days=1)).replace(hour=8, minute=0)
    response = alice_client.post(
        reverse("mailboxes:schedule_send"),
        _form(to="bob@example.test", subject="Morning news", send_at=when.strftime("%Y-%m-%dT%H:%M")),
    )
    assert response.status_code == 302 and response["Location"] == reverse("mailboxes:scheduled")
    item = MailboxItem.objects.get(user=alice, send_scheduled=True)
    assert item.send_at == when.replace(second=0, microsecond=0)
    page = alice_client.get(response["Location"]).content.decode()
    assert "Morning news" in page and when.strftime("%H:%M") in page and "Asia/Shanghai" in page
    assert "data-undo-toast" not in page  # no countdown for a message due tomorrow
    assert "data-scheduled-count>1<" in page  # the sidebar's count


def test_a_picked_time_in_the_past_shows_the_form_again_with_the_error(alice_client, alice):
    response = alice_client.post(
        reverse("mailboxes:schedule_send"),
        _form(to="bob@example.test", subject="Too late", custom="1", send_at_custom="2020-01-01T08:00"),
    )
    assert response.status_code == 400
    assert "in the past" in response.content.decode()
    assert not MailboxItem.objects.filter(user=alice, send_scheduled=True).exists()


def test_cancel_send_from_the_scheduled_list(alice_client, mallory_client, alice):
    draft = _draft(alice)
    schedule_draft(user=alice, draft_id=draft.pk, send_at=timezone.now() + dt.timedelta(days=1))
    url = reverse("mailboxes:cancel_scheduled", args=[draft.pk])
    assert mallory_client.post(url).status_code == 404
    response = alice_client.post(url)
    assert response.status_code == 302 and f"draft={draft.pk}" in response["Location"]
    draft.refresh_from_db()
    assert draft.send_at is None
    assert "Nothing scheduled" in alice_client.get(reverse("mailboxes:scheduled")).content.decode()
