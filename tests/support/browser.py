"""Headless Chromium (Debian's) driven by Playwright, at desktop and phone widths, with axe-core.

The fixtures are a plugin of tests/conftest.py; a test module uses them with::

    from tests.support.browser import BROWSER_MARKS, assert_accessible, shot, sign_in

    pytestmark = BROWSER_MARKS

``page`` is a signed-out desktop page on the live server (1280×860), ``phone_page`` the same at
390×844 with touch. Both fail the test on a CSP violation or an uncaught script error.
``assert_accessible(page)`` runs axe-core (node_modules, from package.json) on what the page shows
and fails on any serious or critical violation.
"""

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
PASSWORD = "correct horse battery staple"  # tests.factories' users
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", django_settings.BASE_DIR / "artifacts" / "screenshots"))
AXE = django_settings.BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"viewport": {"width": 1280, "height": 860}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}

_HAVE_CHROMIUM = bool(shutil.which(CHROMIUM)) or Path(CHROMIUM).exists()
BROWSER_MARKS = [
    pytest.mark.browser,
    # CI installs Chromium: there a missing one is a failure, not a skip.
    pytest.mark.skipif(not _HAVE_CHROMIUM and not os.environ.get("CI"), reason="no Chromium"),
]


@pytest.fixture(scope="module")
def browser():
    playwright_sync = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
    # plain synchronous code. Only for the module using it: others keep Django's async-safety check.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with playwright_sync.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _open(browser, live_server, options):
    context = browser.new_context(locale="en-US", **options)
    page = context.new_page()
    page.set_default_timeout(60000)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.problems = problems
    page.base = live_server.url
    return context, page


@pytest.fixture
def page(browser, live_server, settings):
    settings.WEBMAIL_UNDO_SECONDS = 1
    context, page = _open(browser, live_server, DESKTOP)
    yield page
    context.close()
    assert not page.problems, page.problems


@pytest.fixture
def phone_page(browser, live_server, settings):
    settings.WEBMAIL_UNDO_SECONDS = 1
    context, page = _open(browser, live_server, PHONE)
    yield page
    context.close()
    assert not page.problems, page.problems


@pytest.fixture(params=["desktop", "phone"])
def any_page(request, browser, live_server, settings):
    """The test runs twice: at desktop width and at phone width (``page.is_phone`` tells which)."""
    settings.WEBMAIL_UNDO_SECONDS = 1
    context, page = _open(browser, live_server, DESKTOP if request.param == "desktop" else PHONE)
    page.is_phone = request.param == "phone"
    yield page
    context.close()
    assert not page.problems, page.problems


def sign_in(page, address, password=PASSWORD):
    page.goto(page.base + "/signin/")
    page.fill("#id_username", address)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/mail/$"))


def sign_out(page):
    page.click("nav.account button:has-text('Sign out')")
    page.wait_for_url(re.compile(r"/signin/"))


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    _drop_empty_styles(page)


def _drop_empty_styles(page):
    """Screenshots and axe leave empty ``style=""`` attributes on inputs; htmx carries attributes over when
    it swaps content in, and the CSP (no inline styles) would then refuse them and fail the test."""
    page.evaluate("() => document.querySelectorAll('[style=\"\"]').forEach(e => e.removeAttribute('style'))")


def axe_violations(page, *, impacts=("serious", "critical")) -> list[dict]:
    """axe-core's violations of these impacts on the page as it is now."""
    if not AXE.exists():
        if os.environ.get("CI"):
            raise AssertionError(f"{AXE} is missing: run `npm ci` (package.json)")
        pytest.skip("axe-core is not installed (npm ci)")
    # Evaluated through the DevTools protocol, so the page's CSP (script-src 'self') does not apply.
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }"""
    )
    _drop_empty_styles(page)
    return [v for v in result if v["impact"] in impacts]


def assert_accessible(page, what: str = "") -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core on {what or page.url}:\n" + json.dumps(violations, indent=1)
