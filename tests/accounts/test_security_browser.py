"""Sign-in and security in the browser, at desktop and phone widths, with axe-core on every page and state."""

import re
import time

import pyotp
import pytest
from django.core.cache import cache

from accounts import two_factor
from tests.accounts.security_support import NEW_PASSWORD, PASSWORD, link_in, mail_to
from tests.support.browser import BROWSER_MARKS, DESKTOP, assert_accessible, shot, sign_in, sign_out

pytestmark = BROWSER_MARKS


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def width(page) -> str:
    return "phone" if page.is_phone else "desktop"


def password_step(page, address, password=PASSWORD):
    page.goto(page.base + "/signin/")
    page.fill("#id_username", address)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def next_code(secret: str) -> str:
    """A code of the next 30-second step: accepted (one step of drift) and newer than any code used before."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_change_password(any_page, alice):
    page = any_page
    sign_in(page, alice.email)
    page.goto(page.base + "/settings/security/")
    shot(page, f"security-settings-{width(page)}")
    assert_accessible(page, "security settings")
    page.fill("#id_old_password", "not my password")
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    page.click("[data-change-password] button[type=submit]")
    page.wait_for_selector("#old-password-error")
    assert_accessible(page, "password change refused")
    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    page.click("[data-change-password] button[type=submit]")
    page.wait_for_selector(".flash >> text=Password changed")
    assert_accessible(page, "password changed")
    sign_out(page)
    sign_in(page, alice.email, NEW_PASSWORD)


def test_turn_on_two_step_sign_in_and_sign_in_with_a_code(any_page, alice):
    page = any_page
    sign_in(page, alice.email)
    page.goto(page.base + "/settings/security/")
    page.click("[data-two-factor-start]")
    secret = page.inner_text("[data-totp-secret]").strip()
    assert page.locator(".qr-code svg").is_visible()
    shot(page, f"two-step-setup-{width(page)}")
    assert_accessible(page, "two-step setup")
    page.fill("#id_setup_code", "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.click(".two-factor-setup button[type=submit]")
    page.wait_for_selector("#setup-error")
    assert_accessible(page, "two-step setup, wrong code")
    page.fill("#id_setup_code", pyotp.TOTP(secret).now())
    page.click(".two-factor-setup button[type=submit]")
    page.wait_for_selector("[data-new-recovery-codes]")
    assert page.locator("[data-recovery-code]").count() == 10
    shot(page, f"two-step-recovery-codes-{width(page)}")
    assert_accessible(page, "recovery codes")
    sign_out(page)

    password_step(page, alice.email)
    page.wait_for_url(re.compile(r"/signin/code/$"))
    shot(page, f"two-step-code-{width(page)}")
    assert_accessible(page, "code step")
    page.fill("#id_code", "12345x")
    page.click("button[type=submit]")
    page.wait_for_selector("#code-error")
    assert_accessible(page, "code step, wrong code")
    page.fill("#id_code", next_code(secret))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/mail/$"))


def test_sign_in_with_a_recovery_code_uses_it_up(any_page, alice):
    secret = two_factor.start_setup(user=alice)
    codes = two_factor.confirm_setup(user=alice, code=pyotp.TOTP(secret).now())
    page = any_page
    password_step(page, alice.email)
    page.wait_for_url(re.compile(r"/signin/code/$"))
    page.fill("#id_code", codes[0])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/mail/$"))
    page.goto(page.base + "/settings/security/")
    page.wait_for_selector("[data-two-factor-state=on] >> text=9 recovery codes left")
    sign_out(page)
    password_step(page, alice.email)
    page.wait_for_url(re.compile(r"/signin/code/$"))
    page.fill("#id_code", codes[0])
    page.click("button[type=submit]")
    page.wait_for_selector("#code-error")
    assert "/signin/code/" in page.url


def test_sign_out_one_session_then_everywhere_else(any_page, browser, alice):
    contexts = [browser.new_context(**DESKTOP), browser.new_context(**DESKTOP)]
    first, second = (context.new_page() for context in contexts)
    try:
        for other in (first, second):
            other.base = any_page.base
            sign_in(other, alice.email)
        page = any_page
        sign_in(page, alice.email)
        page.goto(page.base + "/settings/security/")
        assert page.locator("[data-session]").count() == 3
        assert page.locator("[data-this-session]").count() == 1
        shot(page, f"security-sessions-{width(page)}")
        assert_accessible(page, "sessions list")
        page.locator("[data-session]:not(:has([data-this-session])) button").first.click()
        page.wait_for_selector(".flash >> text=That session is signed out")
        assert page.locator("[data-session]").count() == 2
        page.click("[data-end-others]")
        page.wait_for_selector(".flash >> text=Signed out everywhere else")
        assert page.locator("[data-session]").count() == 1
        assert_accessible(page, "signed out everywhere else")
        for other in (first, second):
            other.goto(other.base + "/mail/")
            other.wait_for_url(re.compile(r"/signin/"))
        page.goto(page.base + "/mail/")
        page.wait_for_url(re.compile(r"/mail/$"))
    finally:
        for context in contexts:
            context.close()


def test_new_recovery_codes_and_turning_two_step_off(any_page, alice):
    secret = two_factor.start_setup(user=alice)
    old_codes = two_factor.confirm_setup(user=alice, code=pyotp.TOTP(secret).now())
    page = any_page
    password_step(page, alice.email)
    page.wait_for_url(re.compile(r"/signin/code/$"))
    page.fill("#id_code", old_codes[0])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/mail/$"))
    page.goto(page.base + "/settings/security/")
    page.fill("#id_codes_password", PASSWORD)
    page.click("button:has-text('New recovery codes')")
    page.wait_for_selector("[data-new-recovery-codes]")
    fresh = page.locator("[data-recovery-code]").all_inner_texts()
    assert len(fresh) == 10 and not set(fresh) & set(old_codes)
    assert_accessible(page, "new recovery codes")
    page.fill("#id_disable_password", PASSWORD)
    page.fill("#id_disable_code", "000000x")
    page.click("[data-two-factor-off] button[type=submit]")
    page.wait_for_selector("#disable-code-error")
    assert_accessible(page, "turning off refused")
    page.fill("#id_disable_password", PASSWORD)
    page.fill("#id_disable_code", fresh[0])
    page.click("[data-two-factor-off] button[type=submit]")
    page.wait_for_selector("[data-two-factor-state=off]")
    assert_accessible(page, "two-step off")
    sign_out(page)
    sign_in(page, alice.email)  # the password alone again


def test_forgot_password_end_to_end(any_page, alice):
    page = any_page
    sign_in(page, alice.email)
    page.goto(page.base + "/settings/security/")
    page.fill("#id_recovery_address", "alice.home@elsewhere.example")
    page.click("[data-recovery-form] button[type=submit]")
    page.wait_for_selector("[data-recovery-state=pending]")
    assert_accessible(page, "recovery address pending")
    page.goto(page.base + link_in(mail_to("alice.home@elsewhere.example")[0], "/recovery/verify/"))
    shot(page, f"recovery-verify-{width(page)}")
    assert_accessible(page, "recovery address confirmation")
    page.click("button:has-text('Confirm this address')")
    page.wait_for_selector("[data-recovery-verified]")
    assert_accessible(page, "recovery address confirmed")
    page.goto(page.base + "/settings/security/")
    page.wait_for_selector("[data-recovery-state=verified]")
    sign_out(page)

    page.click("[data-forgot-password]")
    page.wait_for_url(re.compile(r"/signin/forgot/$"))
    shot(page, f"forgot-password-{width(page)}")
    assert_accessible(page, "forgot password")
    page.fill("#id_address", alice.email)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-reset-requested]")
    assert_accessible(page, "reset requested")
    page.goto(page.base + link_in(mail_to("alice.home@elsewhere.example")[-1], "/signin/reset/"))
    shot(page, f"reset-password-{width(page)}")
    assert_accessible(page, "reset password")
    page.fill("#id_new_password1", "short")
    page.fill("#id_new_password2", "short")
    page.click("button[type=submit]")
    page.wait_for_selector("#new-password1-error")
    assert_accessible(page, "reset password refused")
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/signin/$"))
    page.wait_for_selector(".flash >> text=Your password is changed")
    sign_in(page, alice.email, NEW_PASSWORD)


def test_lockout_page(any_page, alice, settings):
    settings.SIGNIN_MAX_FAILURES = 2
    settings.ADMIN_CONTACT = "postmaster@example.test"
    page = any_page
    for _ in range(3):
        password_step(page, alice.email, "a wrong guess")
        page.wait_for_selector(".form-error")
    lockout = page.locator("[data-locked-out]")
    assert re.search(r"Try again in \d+ minutes?", lockout.inner_text())
    assert lockout.locator("a[href='mailto:postmaster@example.test']").count() == 1
    assert lockout.locator("a[href='/signin/forgot/']").count() == 1
    shot(page, f"sign-in-locked-out-{width(page)}")
    assert_accessible(page, "locked out")
