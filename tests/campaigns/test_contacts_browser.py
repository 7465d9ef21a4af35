"""The contacts area in headless Chromium at a phone's width (375 px): import with its mapping
preview, the progress bar that polls until the report, and the contacts search."""

import re

import pytest

from campaigns.models import ContactImport
from campaigns.services.contacts import add_to_list, create_contact, create_list
from campaigns.services.imports import upload_contact_import
from tests.campaigns import contacts_support as support
from tests.support import browser as webmail_browser

alice, workspace = support.alice, support.workspace
browser = webmail_browser.browser
pytestmark = webmail_browser.BROWSER_MARKS

PHONE = {"width": 375, "height": 740}


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(60000)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.base = live_server.url
    yield page
    context.close()
    assert not problems, problems


def sign_in(page):
    page.goto(page.base + "/signin/")
    page.fill("#id_username", "alice@shop.test")
    page.fill("#id_password", webmail_browser.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/mail/$"))


def fits_the_screen(page) -> bool:  # nothing makes the page scroll sideways
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_marketer_imports_a_file_on_a_phone_and_reads_the_report(phone, alice, workspace, tmp_path):
    create_list(workspace=workspace, name="Newsletter")
    upload = tmp_path / "people.csv"
    upload.write_bytes(
        "E-mail;Vorname;Stadt\nanna@example.org;Änna;Köln\npostmaster@example.org;PM;x\n".encode("cp1252")
    )
    sign_in(phone)

    phone.goto(phone.base + "/marketing/imports/")
    phone.set_input_files("#import-file", str(upload))
    phone.click("button:has-text('Upload and preview')")
    phone.wait_for_selector("text=Which column is what?")
    assert "Windows-1252" in phone.inner_text("main")
    assert phone.input_value("#field-0") == "email" and phone.input_value("#field-2") == "attribute"
    assert fits_the_screen(phone)
    webmail_browser.shot(phone, "contacts-import-mapping-375")

    phone.select_option("#field-1", "first_name")
    phone.select_option("#start-list", label="Newsletter")
    phone.check("input[name=consent]")
    phone.fill("#consent-source", "Trade fair, Cologne")
    phone.click("button:has-text('Start the import')")
    phone.wait_for_selector("text=Rows not imported, or not added to the list")
    report = phone.inner_text("main")
    assert "postmaster@example.org" in report
    assert fits_the_screen(phone)
    webmail_browser.shot(phone, "contacts-import-report-375")


def test_the_progress_bar_follows_the_run_and_gives_way_to_the_report(phone, alice, workspace):
    upload = upload_contact_import(workspace=workspace, user=alice, file=support.csv_upload("email\na@example.org\n"))
    ContactImport.objects.filter(pk=upload.pk).update(status="running", processed_rows=250, total_rows=1000)
    sign_in(phone)

    phone.goto(f"{phone.base}/marketing/imports/{upload.pk}/")
    assert phone.get_attribute("#progress-bar", "value") == "250"
    ContactImport.objects.filter(pk=upload.pk).update(processed_rows=600)
    phone.wait_for_selector("#progress-bar[value='600']")  # the next poll brought it
    ContactImport.objects.filter(pk=upload.pk).update(
        status="done", processed_rows=1000, report={"counts": {"created": 1000}, "sample": []}
    )
    phone.wait_for_selector("text=Every row was imported.")  # polling stopped: the page reloaded
    assert phone.locator("#progress-bar").count() == 0


def test_a_list_and_a_contact_fit_a_phone(phone, alice, workspace):
    news = create_list(workspace=workspace, name="Weekly news", double_opt_in=True)
    ann = create_contact(
        workspace=workspace, address="ann.with.a.long.address@example.org", name="Ann Example",
        consent_source="form at the shop", consent_user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
        attributes={"orders": 3, "vip": True, "signed_up": "2024-05-01"},
    )  # fmt: skip
    add_to_list(workspace=workspace, list_id=news.pk, contact_id=ann.pk, added_by=alice)
    sign_in(phone)

    for name, path in (("list", f"/marketing/lists/{news.pk}/"), ("contact", f"/marketing/contacts/{ann.pk}/")):
        phone.goto(phone.base + path)
        assert "ann.with.a.long.address@example.org" in phone.inner_text("main")
        assert fits_the_screen(phone), name
        webmail_browser.shot(phone, f"contacts-{name}-375")


def test_contacts_search_as_you_type_on_a_phone(phone, alice, workspace):
    for address, name in (("ann", "Ann Example"), ("bob", "Bob Example"), ("chloe", "Chloé Example")):
        create_contact(workspace=workspace, address=f"{address}@example.org", name=name)
    sign_in(phone)

    phone.goto(phone.base + "/marketing/contacts/")
    phone.keyboard.press("/")  # the keyboard habit of the mail: "/" searches (here, the contacts)
    assert phone.evaluate("document.activeElement.id") == "contact-search"
    phone.keyboard.type("chlo")
    phone.wait_for_selector("#rows:not(:has-text('bob@example.org'))")
    assert phone.locator("#rows tbody tr").count() == 1
    assert "chloe@example.org" in phone.inner_text("#rows")
    assert "q=chlo" in phone.url
    assert fits_the_screen(phone)
    webmail_browser.shot(phone, "contacts-list-375")
