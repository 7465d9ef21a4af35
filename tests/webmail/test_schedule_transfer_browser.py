"""Schedule send, import and export in Chromium, at desktop and phone widths, with axe-core on every page."""

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from accounts.models import Preferences
from mailboxes.models import Folder, ImportJob, MailboxItem
from mailboxes.services.transfer import run_import_job
from tests.factories import deliver, raw_email
from tests.support.browser import BROWSER_MARKS, assert_accessible, shot, sign_in

pytestmark = BROWSER_MARKS

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "import" / "sample.mbox"


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


def _width(page) -> str:
    return "phone" if page.is_phone else "desktop"


def test_schedule_for_tomorrow_morning_then_cancel(any_page, alice, bob):
    page = any_page
    Preferences.objects.create(user=alice, time_zone="America/New_York")
    sign_in(page, "alice@example.test")
    page.goto(page.base + "/mail/compose/")
    page.fill("#id_to", "bob@example.test")
    page.fill("#id_subject", "Morning report")
    page.fill("#id_body", "Numbers attached tomorrow.")
    page.click("[data-schedule-toggle]")
    option = page.locator('[data-schedule-option="tomorrow-morning"]')
    option.wait_for(state="visible")
    assert "America/New_York" in page.inner_text(".schedule-menu")
    assert_accessible(page, "compose with the schedule menu open")
    shot(page, f"schedule-menu-{_width(page)}")
    expected = option.get_attribute("value")  # the wall-clock time on alice's clock
    option.click()

    page.wait_for_url(re.compile(r"/mail/scheduled/$"))
    row = page.locator("[data-scheduled-item]")
    assert row.count() == 1
    assert "Morning report" in row.inner_text()
    assert expected.endswith("T08:00") and "08:00" in row.inner_text() and "America/New_York" in row.inner_text()
    item = MailboxItem.objects.get(user=alice, send_scheduled=True)
    assert item.send_at.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%dT%H:%M") == expected
    assert page.locator("[data-undo-toast]").count() == 0
    assert_accessible(page, "the Scheduled list")
    shot(page, f"scheduled-{_width(page)}")

    page.click("[data-cancel-scheduled]")
    page.wait_for_url(re.compile(r"/mail/compose/\?draft=\d+$"))
    assert page.input_value("#id_subject") == "Morning report"
    item.refresh_from_db()
    assert item.send_at is None and item.folder == Folder.DRAFTS
    assert not MailboxItem.objects.filter(user=bob).exists()


def test_import_shows_progress_until_done_and_fills_the_folders(any_page, alice):
    page = any_page
    sign_in(page, "alice@example.test")
    # A job whose task was lost (the broker was down): the page polls it until a run does it.
    key = default_storage.save(f"mail-imports/{alice.pk}/waiting", ContentFile(SAMPLE.read_bytes()))
    job = ImportJob.objects.create(user=alice, filename="waiting.mbox", upload_key=key, size=SAMPLE.stat().st_size)
    page.goto(page.base + "/settings/import-export/")
    progress = page.locator(f"#import-job-{job.pk} progress")
    assert progress.get_attribute("value") == "0"
    assert_accessible(page, "import and export, an import waiting")
    shot(page, f"import-export-{_width(page)}")
    assert run_import_job(job_id=job.pk) is True
    page.wait_for_selector(f'#import-job-{job.pk}[data-status="done"]')  # htmx polled it
    assert page.locator(f"#import-job-{job.pk} progress").get_attribute("value") == "100"
    assert "4 imported" in page.inner_text(f"#import-job-{job.pk}")

    # The form: the file goes up and the job runs (inline here, as tasks do in tests).
    page.set_input_files("#import-file", str(SAMPLE))
    page.select_option("#import-folder", "archive")
    page.click(".import-form button[type=submit]")
    page.wait_for_selector('[data-import-job][data-status="done"] >> text=sample.mbox')
    assert "4 already there" in page.inner_text(".import-jobs li:first-child")
    assert_accessible(page, "import and export, imports done")
    shot(page, f"import-done-{_width(page)}")

    page.goto(page.base + "/mail/")
    assert "Minutes of the meeting" in page.inner_text("main")


def test_export_a_folder_and_download_a_message(any_page, alice):
    page = any_page
    item = deliver(raw_email(subject="Export me", to="alice@example.test"), alice)[0]
    sign_in(page, "alice@example.test")
    page.goto(page.base + "/settings/import-export/")
    page.select_option("#export-folder", "inbox")
    with page.expect_download() as download:
        page.click("[data-export=folder] button[type=submit]")
    assert re.fullmatch(r"inbox-\d{4}-\d{2}-\d{2}\.mbox", download.value.suggested_filename)
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"From ") and b"Subject: Export me" in data

    page.goto(page.base + f"/mail/t/{item.thread_id}/")
    page.click("section.message .message-more > summary")  # the message's More menu
    with page.expect_download() as download:
        page.click("[data-download-message]")
    assert download.value.suggested_filename == "Export me.eml"
    assert_accessible(page, "conversation with Download message")
