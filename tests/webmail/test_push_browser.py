"""Push in the browser, at desktop and phone widths, against the production web stack.

The pages come from gunicorn with uvicorn's worker (tests/support/stack.py), not from the
test live server: that one is a threaded WSGI server, which cannot hold event streams (the
endpoint answers it 204 and the page keeps polling: checked last). Mail is delivered by the
stack's agent process, so nothing here waits for the clock, only for what the page shows.

The browser's Notification API is replaced by a stand-in before the page's scripts run: it
records permission prompts and notifications, and the tab's visibility is the test's to set.
"""

import itertools

import pytest

from tests.support.browser import BROWSER_MARKS, DESKTOP, PHONE, _open, assert_accessible, shot, sign_in
from tests.support.stack import WebStack

pytestmark = BROWSER_MARKS

NOTIFICATIONS = """
window.__asks = 0; window.__notes = []; window.__permission = "default";
(function () {
  function Stand(title, options) { window.__notes.push({title: title, body: options && options.body}); }
  Stand.prototype.addEventListener = function () {};
  Stand.prototype.close = function () {};
  Object.defineProperty(Stand, "permission", {get: function () { return window.__permission; }});
  Stand.requestPermission = function () {
    window.__asks += 1; window.__permission = "granted"; return Promise.resolve("granted");
  };
  window.Notification = Stand;
  var hidden = false;
  window.__setHidden = function (value) { hidden = value; };
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true, get: function () { return hidden ? "hidden" : "visible"; }});
})();
"""
_readers = itertools.count(1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = WebStack(tmp_path_factory.mktemp("push-stack"))
    yield stack
    stack.stop()


@pytest.fixture(params=["desktop", "phone"])
def stack_page(request, browser, stack):
    context, page = _open(browser, stack, DESKTOP if request.param == "desktop" else PHONE)
    context.add_init_script(NOTIFICATIONS)
    page.is_phone = request.param == "phone"
    page.reader = f"reader{next(_readers)}@example.test"
    stack.create_user(page.reader, "Reader")
    yield page
    context.close()
    assert not page.problems, page.problems


def test_new_mail_is_pushed_into_the_open_inbox_and_notifies_only_a_hidden_tab(stack_page, stack):
    page, width = stack_page, "phone" if stack_page.is_phone else "desktop"
    sign_in(page, page.reader)
    page.wait_for_selector("html[data-push=live]")
    assert page.evaluate("window.__asks") == 0  # no prompt on page load
    shot(page, f"push-{width}")
    assert_accessible(page)

    page.evaluate("window.__pushed = []; document.addEventListener('mail:pushed', e => __pushed.push(e.detail))")
    stack.deliver(page.reader, "Arrived by push")
    page.wait_for_function("() => window.__pushed.length === 1")  # the stream brought it, not the 20 s poll
    page.wait_for_selector("li.thread:has-text('Arrived by push')")
    page.wait_for_function("() => document.title === '(1) Inbox'")
    assert page.evaluate("window.__notes") == []  # notifications are off until asked for

    if page.is_phone:
        page.click("[data-menu-toggle]")
    toggle = page.locator("[data-notify-toggle]")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    page.wait_for_selector("[data-notify-toggle][aria-pressed=true]")
    assert page.evaluate("window.__asks") == 1
    shot(page, f"push-notifications-{width}")
    assert_accessible(page)

    stack.deliver(page.reader, "Seen in the open tab")
    page.wait_for_selector("li.thread:has-text('Seen in the open tab')")
    page.evaluate("window.__setHidden(true)")
    stack.deliver(page.reader, "While you were away", sender="Bob Builder <bob@remote.example>")
    page.wait_for_selector("li.thread:has-text('While you were away')")
    assert page.evaluate("window.__notes") == [{"title": "Bob Builder", "body": "While you were away"}]
    page.wait_for_function("() => document.title === '(3) Inbox'")

    # Pressed again: off, without asking again.
    page.locator("[data-notify-toggle]").click()
    page.wait_for_selector("[data-notify-toggle][aria-pressed=false]")
    assert page.evaluate("window.__asks") == 1


def test_without_an_asgi_server_the_page_keeps_polling(page, alice):
    sign_in(page, "alice@example.test")  # the test live server: WSGI
    page.wait_for_selector("html[data-push=off]")
    assert page.locator("#sidebar[hx-trigger*='every']").count() == 1
