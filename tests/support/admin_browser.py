"""Signing in to the Django admin in the browser tests (Playwright)."""

import re

from tests.support import browser as webmail_browser


def sign_in_to_the_admin(page, user) -> None:
    page.goto(page.base + "/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", webmail_browser.PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
