import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_pages_render(alice_client, inbox_item):
    for url in [
        reverse("mailboxes:inbox"),
        reverse("mailboxes:folder", args=["sent"]),
        reverse("mailboxes:folder", args=["starred"]),
        reverse("mailboxes:thread", args=[inbox_item.thread_id]),
        reverse("mailboxes:body", args=[inbox_item.pk]),
        reverse("mailboxes:original", args=[inbox_item.pk]),
        reverse("mailboxes:compose"),
        reverse("mailboxes:compose") + f"?reply={inbox_item.pk}",
        reverse("mailboxes:compose") + f"?forward={inbox_item.pk}",
        reverse("mailboxes:search") + "?q=numbers",
        reverse("mailboxes:poll"),
    ]:
        response = alice_client.get(url)
        assert response.status_code == 200, (url, response.content[:2000])
