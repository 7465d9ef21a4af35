"""Schedule send over the API: POST/DELETE /api/emails/drafts/{id}/schedule."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import Preferences
from mailboxes.models import Folder, MailboxItem
from mailboxes.services.undo import send_due_messages
from tests.api.conftest import assert_error
from tests.api.test_drafts import create_draft

pytestmark = pytest.mark.django_db


def _url(draft) -> str:
    return f"/api/emails/drafts/{draft['id']}/schedule"


def test_a_time_without_offset_is_read_on_the_users_clock(api, alice):
    Preferences.objects.create(user=alice, time_zone="Asia/Tokyo")
    draft = create_draft(api)
    day = (timezone.now().astimezone(ZoneInfo("Asia/Tokyo")) + dt.timedelta(days=1)).date()
    response = api.post(_url(draft), {"send_at": f"{day}T08:00"}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["time_zone"] == "Asia/Tokyo"
    expected = dt.datetime.combine(day, dt.time(8), tzinfo=ZoneInfo("Asia/Tokyo"))
    assert dt.datetime.fromisoformat(data["send_at"]) == expected
    assert MailboxItem.objects.get(pk=draft["id"]).send_scheduled


def test_a_time_with_offset_is_an_instant_and_the_sweep_sends_it(api, alice, bob, django_capture_on_commit_callbacks):
    draft = create_draft(api)
    when = (timezone.now() + dt.timedelta(hours=3)).replace(microsecond=0)
    response = api.post(_url(draft), {"send_at": when.isoformat()}, format="json")
    assert response.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert send_due_messages(now=when) == 1
    assert MailboxItem.objects.get(pk=draft["id"]).folder == Folder.SENT
    assert_error(api.delete(_url(draft)), 409, "already_sent")


def test_past_and_unreadable_times_are_400_naming_the_field(api):
    draft = create_draft(api)
    assert_error(api.post(_url(draft), {"send_at": "2020-01-01T08:00"}, format="json"), 400, field="send_at")
    assert_error(api.post(_url(draft), {"send_at": "soon"}, format="json"), 400, field="send_at")
    assert_error(api.post(_url(draft), {"send_at": "9999-12-31T23:59"}, format="json"), 400, field="send_at")


def test_cancel_and_another_users_draft(api, mallory_api):
    draft = create_draft(api)
    when = (timezone.now() + dt.timedelta(days=1)).isoformat()
    assert mallory_api.post(_url(draft), {"send_at": when}, format="json").status_code == 404
    api.post(_url(draft), {"send_at": when}, format="json")
    assert mallory_api.delete(_url(draft)).status_code == 404
    response = api.delete(_url(draft))
    assert response.status_code == 200 and response.json()["send_at"] is None
    item = MailboxItem.objects.get(pk=draft["id"])
    assert item.send_at is None and not item.send_scheduled
