"""The General settings: time zone, language, density, reading pane; and the header's language menu."""

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.models import Preferences
from accounts.preferences import preferences_of
from accounts.services import InvalidPreference, update_preferences
from mailboxes.services import create_label

pytestmark = pytest.mark.django_db

VALID = {"time_zone": "Asia/Shanghai", "language": "", "density": "compact", "reading_pane": "right"}


def test_the_section_is_in_the_settings_navigation(alice_client):
    response = alice_client.get(reverse("accounts:settings"))
    assert response["Location"] == reverse("accounts:settings_general") == "/settings/general/"
    html = alice_client.get(reverse("accounts:api_tokens")).content.decode()
    assert 'href="/settings/general/"' in html


def test_defaults_are_shown_for_a_user_who_never_saved(alice_client, alice):
    html = alice_client.get(reverse("accounts:settings_general")).content.decode()
    assert f"Server&#x27;s time zone ({settings.TIME_ZONE})" in html
    assert 'value="comfortable" id="id_density_0" required checked' in html
    assert 'value="off" id="id_reading_pane_0" required checked' in html
    assert not Preferences.objects.filter(user=alice).exists()


def test_save_and_see_the_confirmation(alice_client, alice):
    response = alice_client.post(reverse("accounts:settings_general"), VALID, follow=True)
    assert response.redirect_chain[-1][0] == reverse("accounts:settings_general")
    html = response.content.decode()
    assert "Settings saved." in html
    saved = preferences_of(alice)
    assert (saved.time_zone, saved.language, saved.density, saved.reading_pane) == (
        "Asia/Shanghai",
        "",
        "compact",
        "right",
    )
    assert '<option value="Asia/Shanghai" selected>' in html


def test_density_and_reading_pane_mark_the_pages(alice_client, alice):
    update_preferences(user=alice, density="compact", reading_pane="right")
    html = alice_client.get(reverse("mailboxes:inbox")).content.decode()
    assert "density-compact" in html and 'data-reading-pane="right"' in html
    assert 'id="reading-pane"' in html
    label = create_label(user=alice, name="Work")
    assert 'id="reading-pane"' in alice_client.get(reverse("mailboxes:label", args=[label.pk])).content.decode()


def test_without_the_preferences_there_is_no_pane(alice_client, alice):
    html = alice_client.get(reverse("mailboxes:inbox")).content.decode()
    assert "density-compact" not in html and "data-reading-pane" not in html and 'id="reading-pane"' not in html


def test_the_chosen_language_is_activated_and_remembered(alice_client, alice):
    response = alice_client.post(reverse("accounts:settings_general"), {**VALID, "language": "zh-hans"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    page = alice_client.get(reverse("accounts:settings_general")).content.decode()
    assert '<html lang="zh-hans">' in page
    assert "设置已保存。" in page
    # The preference wins over another device's cookie and browser language.
    alice_client.cookies.pop(settings.LANGUAGE_COOKIE_NAME)
    inbox = alice_client.get(reverse("mailboxes:inbox"), headers={"accept-language": "en"}).content.decode()
    assert '<html lang="zh-hans">' in inbox


def test_the_header_language_menu_updates_the_preference(alice_client, alice):
    update_preferences(user=alice, language="zh-hans")
    response = alice_client.post(reverse("accounts:set_language"), {"language": "en", "next": "/mail/"})
    assert response.status_code == 302 and response["Location"] == "/mail/"
    assert Preferences.objects.get(user=alice).language == "en"
    assert '<html lang="en">' in alice_client.get("/mail/").content.decode()


def test_the_header_language_menu_works_signed_out(client):
    response = client.post(reverse("accounts:set_language"), {"language": "zh-hans", "next": "/signin/"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    assert '<html lang="zh-hans">' in client.get("/signin/").content.decode()
    assert not Preferences.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("time_zone", "Mars/Olympus_Mons"), ("language", "fr"), ("density", "tiny"), ("reading_pane", "below")],
)
def test_bad_choices_are_refused_with_a_message(alice_client, alice, field, value):
    response = alice_client.post(reverse("accounts:settings_general"), {**VALID, field: value})
    assert response.status_code == 400
    assert "Please correct the choices below." in response.content.decode()
    assert not Preferences.objects.filter(user=alice).exists()


@pytest.mark.parametrize(
    "values", [{"time_zone": "Nowhere/Land"}, {"language": "xx"}, {"density": "huge"}, {"colour": "red"}]
)
def test_the_service_refuses_what_the_form_would(alice, values):
    with pytest.raises(InvalidPreference):
        update_preferences(user=alice, **values)


def test_the_time_zone_changes_the_dates_in_the_list(alice_client, alice, inbox_item):
    update_preferences(user=alice, time_zone="Pacific/Kiritimati")  # UTC+14
    kiritimati = alice_client.get(reverse("mailboxes:inbox")).content.decode()
    update_preferences(user=alice, time_zone="Pacific/Pago_Pago")  # UTC-11
    pago = alice_client.get(reverse("mailboxes:inbox")).content.decode()
    stamp = kiritimati.split('<time datetime="', 1)[1].split('"', 1)[0]
    assert stamp.endswith("+14:00")
    assert pago.split('<time datetime="', 1)[1].split('"', 1)[0].endswith("-11:00")


def test_signed_out_is_sent_to_sign_in(client):
    response = client.get(reverse("accounts:settings_general"))
    assert response.status_code == 302 and "/signin/" in response["Location"]


def test_saving_needs_csrf(csrf_client, alice):
    assert csrf_client.post(reverse("accounts:settings_general"), VALID).status_code == 403
    assert not Preferences.objects.filter(user=alice).exists()


def test_the_header_language_menu_needs_csrf(csrf_client, alice):
    assert csrf_client.post(reverse("accounts:set_language"), {"language": "zh-hans"}).status_code == 403
    assert not Preferences.objects.filter(user=alice).exists()


def test_an_unknown_language_from_the_header_menu_changes_nothing(alice_client, alice):
    alice_client.post(reverse("accounts:set_language"), {"language": "xx", "next": "/mail/"})
    assert not Preferences.objects.filter(user=alice).exists()
