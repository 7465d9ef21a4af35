"""axe-core on every page a signed-in user and a marketer see, at desktop and phone widths: no serious or
critical violation. Pages of one kind are checked in one test (one sign-in) and reported together."""

import json

import pytest
from django.urls import NoReverseMatch, reverse

from accounts.models import Domain
from accounts.settings_sections import SECTIONS
from campaigns.models import ContactList, ListMembership
from campaigns.services.contacts import create_contact
from campaigns.services.segments import create_segment
from campaigns.services.templates import create_template
from campaigns.unsubscribe import make_token
from mailboxes.models import Folder
from mailboxes.services import add_labels, create_label
from tests.campaigns.results_world import make_campaign
from tests.factories import UserFactory, deliver, raw_email
from tests.support.browser import BROWSER_MARKS, assert_accessible, axe_violations, shot, sign_in
from tests.webmail.conftest import html_email

pytestmark = BROWSER_MARKS

WITH_ATTACHMENT = (
    b"From: Bob <bob@remote.example>\r\nTo: alice@example.test\r\nSubject: Report attached\r\n"
    b"Message-ID: <report-1@remote.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n'
    b'--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="q3.pdf"\r\n\r\n'
    b"%PDF-1.4 fake\r\n--B--\r\n"
)


def width(page) -> str:
    return "phone" if page.is_phone else "desktop"


def check_all(page, paths: list[str], *, ready: str = "main") -> None:
    """Every path, then one failure listing the violations of all of them."""
    found = {}
    for path in paths:
        page.goto(page.base + path)
        page.wait_for_selector(ready)
        violations = axe_violations(page)
        if violations:
            found[path] = violations
    assert not found, "axe-core:\n" + json.dumps(found, indent=1)


@pytest.fixture
def mail(alice):
    return deliver(raw_email(subject="Lunch plans", sender="Bob <bob@remote.example>", to="alice@example.test",
                             body="Noon at the usual place?"), alice)[0]  # fmt: skip


@pytest.fixture
def mailbox(alice, mail):
    """Something in every folder, a starred and a labelled conversation, an HTML mail, an attachment."""
    for folder in (Folder.SENT, Folder.DRAFTS, Folder.ARCHIVE, Folder.SPAM, Folder.TRASH):
        deliver(raw_email(subject=f"Kept in {folder}", to="alice@example.test"), alice, folder=folder)
    work = create_label(user=alice, name="Work", color="#0f766e")
    add_labels(user=alice, item_ids=[mail.pk], label_ids=[work.pk])
    letter = "<h1>News</h1><p>An <b>HTML</b> letter with <a href='https://example.org'>a link</a>.</p>"
    html = deliver(html_email(letter), alice)[0]
    attached = deliver(WITH_ATTACHMENT, alice)[0]
    return {"label": work, "plain": mail, "html": html, "attachment": attached}


def test_sign_in_page(any_page):
    any_page.goto(any_page.base + "/signin/")
    assert_accessible(any_page, "sign-in")
    any_page.fill("#id_username", "nobody@example.test")
    any_page.fill("#id_password", "wrong")
    any_page.click("button[type=submit]")
    any_page.wait_for_selector("[role=alert]")
    shot(any_page, f"sign-in-error-{width(any_page)}")
    assert_accessible(any_page, "sign-in with an error")


def test_mail_lists(any_page, alice, mailbox):
    sign_in(any_page, alice.email)
    folders = [reverse("mailboxes:folder", args=[f]) for f in ("starred", "sent", "drafts", "archive", "spam", "trash")]
    label = mailbox["label"]
    check_all(any_page, ["/mail/", *folders, f"/mail/label/{label.pk}/", f"/mail/label/{label.pk}/edit/"])


def test_search_pages(any_page, alice, mailbox):
    sign_in(any_page, alice.email)
    check_all(any_page, ["/mail/search/?q=lunch", "/mail/search/?q=zebra", "/mail/search/?q=%22unclosed"])
    assert any_page.locator(".form-error[role=alert]").count() == 1  # the last one is a search error


def test_conversations(any_page, alice, mailbox):
    sign_in(any_page, alice.email)
    paths = [f"/mail/t/{mailbox[kind].thread_id}/" for kind in ("plain", "html", "attachment")]
    check_all(any_page, paths, ready="section.message")
    shot(any_page, f"conversation-attachment-{width(any_page)}")


def test_compose(any_page, alice, mail):
    sign_in(any_page, alice.email)
    check_all(any_page, ["/mail/compose/", f"/mail/compose/?reply={mail.pk}"])


def test_settings_sections(any_page, alice):
    sign_in(any_page, alice.email)
    paths = []
    for section in SECTIONS:
        try:
            paths.append(reverse(section.url_name))
        except NoReverseMatch:
            continue  # not on this branch
    assert "/settings/general/" in paths
    check_all(any_page, paths)


@pytest.fixture
def shop(db, settings, tmp_path):
    """A marketer of shop.test with a template, a list, a segment, a campaign with results."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    marketer = UserFactory(address="mia@shop.test", display_name="Mia Marketer", marketer=True)
    domain = Domain.objects.get(name="shop.test")
    template = create_template(
        user=marketer, key="news", name="News", stream="marketing", subject="News for {{ name }}",
        html="<h1>Hello {{ name }}</h1><p>Our news.</p>",
        variables=[{"name": "name", "type": "string", "required": False, "default": "friend", "example": "Ada"}],
    )  # fmt: skip
    news = ContactList.objects.create(domain=domain, name="Newsletter")
    contact = create_contact(workspace=domain, address="ann@remote.example", name="Ann", consent_source="test")
    ListMembership.objects.create(contact_list=news, contact=contact)
    segment = create_segment(workspace=domain, name="Readers", created_by=marketer, definition={"lists": [news.pk]})
    campaign = make_campaign(domain, ["ann@remote.example", "ben@remote.example"])
    return {
        "marketer": marketer, "domain": domain, "template": template, "list": news, "contact": contact,
        "segment": segment, "campaign": campaign,
    }  # fmt: skip


def test_marketing_pages(any_page, shop):
    sign_in(any_page, shop["marketer"].email)
    pages = [
        reverse("campaigns:home"),
        reverse("campaigns:campaigns"),
        reverse("campaigns:campaign_new"),
        reverse("campaigns:campaign", args=[shop["campaign"].pk]),
        reverse("campaigns:campaign_results", args=[shop["campaign"].pk]),
        reverse("campaigns:templates"),
        reverse("campaigns:template_edit", args=[shop["template"].pk]),
        reverse("campaigns:contacts"),
        reverse("campaigns:contact", args=[shop["contact"].pk]),
        reverse("campaigns:lists"),
        reverse("campaigns:list", args=[shop["list"].pk]),
        reverse("campaigns:imports"),
        reverse("campaigns:segments"),
        reverse("campaigns:segment", args=[shop["segment"].pk]),
        reverse("campaigns:suppressions"),
    ]
    check_all(any_page, pages)


def test_unsubscribe_page(any_page, shop):
    token = make_token(domain_id=shop["domain"].pk, address="ann@remote.example", contact_list_id=shop["list"].pk)
    any_page.goto(f"{any_page.base}/u/{token}/")
    shot(any_page, f"unsubscribe-{width(any_page)}")
    assert_accessible(any_page, "unsubscribe page")
