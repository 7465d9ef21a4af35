"""axe-core on the webmail's pages, at desktop and phone widths: no serious or critical violation."""

import pytest

from tests.factories import deliver, raw_email
from tests.support.browser import BROWSER_MARKS, assert_accessible, shot, sign_in

pytestmark = BROWSER_MARKS


@pytest.fixture
def mail(alice):
    return deliver(raw_email(subject="Lunch plans", sender="Bob <bob@remote.example>", to="alice@example.test",
                             body="Noon at the usual place?"), alice)[0]  # fmt: skip


def test_sign_in_page(any_page):
    any_page.goto(any_page.base + "/signin/")
    assert_accessible(any_page, "sign-in")


PAGES = ["/mail/", "/mail/f/sent/", "/mail/search/?q=lunch", "/mail/compose/", "/settings/api-tokens/"]


@pytest.mark.parametrize("path", PAGES)
def test_pages(any_page, alice, mail, path):
    sign_in(any_page, alice.email)
    any_page.goto(any_page.base + path)
    assert_accessible(any_page, path)


def test_conversation(any_page, alice, mail):
    sign_in(any_page, alice.email)
    any_page.goto(any_page.base + f"/mail/t/{mail.thread_id}/")
    any_page.wait_for_selector("section.message")
    shot(any_page, f"conversation-{'phone' if any_page.is_phone else 'desktop'}")
    assert_accessible(any_page, "conversation")
