// push — new mail without waiting for the poll (docs/PUSH.md). Loaded after app.js; uses window.Mail.
// The server's event stream (/mail/events/) says when the mailbox changed; the page then does what
// the poll does (sidebar and counts, then the list). The 20 s poll stays as the fallback: slowed to
// once a minute while the stream is healthy, back to normal when the stream fails.
(function () {
  "use strict";
  var Mail = window.Mail || {};
  var $ = Mail.$ || function (sel) { return document.querySelector(sel); };
  var SLOW_POLL_MS = 60000;
  var RETRY_AFTER_MS = 60000;
  var MAX_FAILURES = 3;
  var STORE_KEY = "mail.notifications";

  var live = false;
  var lastRefresh = Date.now();

  function setState(state) { document.documentElement.setAttribute("data-push", state); }

  function refresh() {
    if (window.htmx) { window.htmx.trigger(document.body, "mail:refresh"); }
  }

  // --- the stream ------------------------------------------------------------------------------
  function connect(url) {
    var sidebar = $("#sidebar");
    var since = sidebar ? sidebar.getAttribute("data-latest-change") || "0" : "0";
    var source = new EventSource(url + "?since=" + encodeURIComponent(since));
    var opened = false;
    var failures = 0;
    source.addEventListener("open", function () {
      opened = true;
      failures = 0;
      live = true;
      setState("live");
    });
    source.addEventListener("error", function () {
      // The server ends each stream after a few minutes: EventSource reconnects by itself (CONNECTING).
      failures += 1;
      if (source.readyState === EventSource.CONNECTING && failures < MAX_FAILURES) { return; }
      // Refused before it ever opened (204 from a WSGI server, a sign-in page): never; otherwise later.
      var refused = !opened && source.readyState === EventSource.CLOSED;
      source.close();
      live = false;
      setState("off");
      if (!refused) { setTimeout(function () { connect(url); }, RETRY_AFTER_MS); }
    });
    source.addEventListener("mail", function (ev) {
      var data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      refresh();
      if (data["new"]) { notify(data.message); }
      document.dispatchEvent(new CustomEvent("mail:pushed", { detail: data }));
    });
  }

  // While the stream is healthy the timer's polls are skipped unless the last refresh is a minute old;
  // refreshes asked for by events (mail:refresh) always go.
  document.addEventListener("htmx:confirm", function (ev) {
    var elt = ev.detail && ev.detail.elt;
    if (!elt || elt.id !== "sidebar") { return; }
    if (live && !ev.detail.triggeringEvent && Date.now() - lastRefresh < SLOW_POLL_MS) {
      ev.preventDefault();
      return;
    }
    lastRefresh = Date.now();
  });

  // --- desktop notifications -------------------------------------------------------------------
  function stored() {
    try { return window.localStorage.getItem(STORE_KEY); } catch (e) { return null; }
  }
  function store(value) {
    try { window.localStorage.setItem(STORE_KEY, value); } catch (e) { /* private mode: this page only */ }
  }
  function notificationsOn() {
    return "Notification" in window && Notification.permission === "granted" && stored() === "on";
  }
  function syncButton() {
    var button = $("[data-notify-toggle]");
    if (!button) { return; }
    button.hidden = !("Notification" in window);
    button.setAttribute("aria-pressed", notificationsOn() ? "true" : "false");
  }
  function notify(message) {
    if (!message || !notificationsOn() || document.visibilityState !== "hidden") { return; }
    var note = new Notification(message.from || "", { body: message.subject || "", tag: "new-mail" });
    note.addEventListener("click", function () { window.focus(); note.close(); });
  }
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("[data-notify-toggle]");
    if (!button || !("Notification" in window)) { return; }
    var blocked = button.getAttribute("data-blocked");
    if (Notification.permission === "granted") {
      store(notificationsOn() ? "off" : "on");
      syncButton();
    } else if (Notification.permission === "denied") {
      if (Mail.toast) { Mail.toast(blocked); }
    } else {
      // Asked here only: the browser shows its prompt for a click, never on page load.
      Notification.requestPermission().then(function (permission) {
        if (permission === "granted") { store("on"); } else if (permission === "denied" && Mail.toast) { Mail.toast(blocked); }
        syncButton();
      });
    }
  });
  // The sidebar is replaced by every refresh: its button is set again each time.
  document.addEventListener("htmx:load", syncButton);

  function start() {
    syncButton();
    var sidebar = $("#sidebar");
    var url = sidebar && sidebar.getAttribute("data-push-url");
    if (!url) { return; }
    if (!window.EventSource) { setState("off"); return; }
    setState("connecting");
    connect(url);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
