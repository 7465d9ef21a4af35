// undo — see templates/base.html. Loaded after app.js (defer, in order); uses window.Mail.
//
// Actions on the list (toolbar, row buttons, keys e # ! s, the snooze dialog) are posted with fetch
// as htmx requests; the server answers with HX-Trigger {"mail:done": {message, undo}} and this
// script shows the toast with "Undo", binds z to the latest undo still in its window and refreshes
// the list. Pages whose htmx requests get the same header (other features) get the same toast.
(function () {
  "use strict";
  var Mail = window.Mail;
  if (!Mail) { return; }
  var $ = Mail.$, $$ = Mail.$$;
  var latest = null;  // {url, until}: what z undoes

  function settings() {
    var box = $("#toasts");
    return {
      undoLabel: (box && box.getAttribute("data-undo-label")) || "Undo",
      toastSeconds: parseInt(box && box.getAttribute("data-toast-seconds"), 10) || 8,
      windowSeconds: parseInt(box && box.getAttribute("data-undo-seconds"), 10) || 30
    };
  }

  function send(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": Mail.csrfToken(), "HX-Request": "true" },
      body: body || null,
      credentials: "same-origin"
    });
  }

  // The events of an HX-Trigger header, dispatched as htmx would (on body: they bubble there anyway).
  function triggerFrom(response) {
    var header = response.headers.get("HX-Trigger");
    if (!header) { return {}; }
    var events;
    try { events = JSON.parse(header); } catch (e) { return {}; }
    Object.keys(events).forEach(function (name) {
      var detail = events[name];
      if (detail === null || typeof detail !== "object") { detail = { value: detail }; }
      document.body.dispatchEvent(new CustomEvent(name, { bubbles: true, detail: detail }));
    });
    return events;
  }

  function refreshSidebar() { if (window.htmx) { window.htmx.trigger(document.body, "mail:refresh"); } }

  // --- the list after a change: fetched again, the keyboard cursor kept in place ---------------
  function refreshList() {
    var list = $("#conversation-list");
    if (!list || !window.htmx) { return Promise.resolve(); }
    var rows = $$("li.thread");
    var current = $("li.thread.current");
    var index = current ? rows.indexOf(current) : -1;
    var hadFocus = list.contains(document.activeElement);
    return window.htmx.ajax("GET", window.location.href, { target: "#conversation-list", swap: "outerHTML", select: "#conversation-list" })
      .then(function () {
        setupRows(document);
        // Focus goes back into the list only if it was lost with the old rows: a key pressed while
        // the list loaded (/ to search, c to compose) has put it somewhere the user chose.
        var lost = !document.activeElement || document.activeElement === document.body;
        hadFocus = hadFocus && lost;
        var fresh = $$("li.thread");
        if (index >= 0 && fresh.length) {
          var row = fresh[Math.min(index, fresh.length - 1)];
          row.classList.add("current");
          row.setAttribute("aria-current", "true");
          if (hadFocus) { row.querySelector("a.thread-link").focus(); }
        } else if (hadFocus) {
          var title = $("#list-title");
          if (title) { title.setAttribute("tabindex", "-1"); title.focus(); }
        }
      });
  }

  // --- undo -------------------------------------------------------------------------------------
  function remember(url) {
    latest = { url: url, until: Date.now() + settings().windowSeconds * 1000 };
  }
  function undo(url) {
    if (latest && latest.url === url) { latest = null; }
    return send(url).then(function (response) {
      triggerFrom(response);
      if (!response.ok) { return; }
      refreshSidebar();
      if ($("#conversation-list")) { return refreshList(); }
      if ($("article.conversation")) { window.location.reload(); }
    });
  }
  function showDone(message, url) {
    var options = { seconds: settings().toastSeconds };
    if (url) {
      remember(url);
      options.action = { label: settings().undoLabel, onClick: function () { undo(url); } };
    }
    var toast = Mail.toast(message, options);
    if (toast) { toast.setAttribute("data-done-toast", ""); }
    return toast;
  }
  document.addEventListener("mail:done", function (ev) {
    var info = ev.detail || {};
    if (info.message) { showDone(info.message, info.undo || ""); }
  });
  document.addEventListener("mail:undone", function (ev) {
    var info = ev.detail || {};
    $$("[data-done-toast]").forEach(function (toast) { toast.remove(); });
    if (info.message) { Mail.toast(info.message, { seconds: settings().toastSeconds }); }
  });
  Mail.onKey("z", function () {
    if (!latest || latest.until < Date.now()) { return false; }
    var url = latest.url;
    $$("[data-done-toast]").forEach(function (toast) { toast.remove(); });
    undo(url);
    return true;
  });

  // A message with "Undo" left by a plain form POST (the conversation's own buttons): a toast too.
  function adoptFlashes() {
    $$("[data-undo-flash]").forEach(function (item) {
      var text = $("[data-undo-message]", item).textContent;
      var url = item.getAttribute("data-undo-url");
      var list = item.parentNode;
      item.remove();
      if (list && !list.children.length) { list.remove(); }
      showDone(text, url);
    });
  }

  // --- posting the list's forms ------------------------------------------------------------------
  function toggleStar(button) {
    var on = !button.classList.contains("on");
    var id = button.value.split(":")[1];
    button.classList.toggle("on", on);
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.value = (on ? "unstar:" : "star:") + id;
    button.querySelector("span").textContent = on ? "\u2605" : "\u2606";
  }
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form.id === "bulk-form" || form.hasAttribute("data-snooze-form")) || ev.defaultPrevented) { return; }
    ev.preventDefault();
    var submitter = ev.submitter || null;
    var dialog = form.closest("dialog");
    if (dialog && dialog.open) { dialog.close(); }
    var data = new FormData(form, submitter);
    form.setAttribute("aria-busy", "true");
    // getAttribute: form.action would be the form's own controls named "action".
    send(form.getAttribute("action"), data).then(function (response) {
      form.removeAttribute("aria-busy");
      triggerFrom(response);
      if (!response.ok) { return; }
      refreshSidebar();
      if (submitter && submitter.hasAttribute("data-star")) { toggleStar(submitter); return; }
      return refreshList();
    });
  });

  // --- snooze: the dialog (a row's button, b, the checked rows) and the conversation's menu --------
  function openSnooze(threadIds) {
    var dialog = $("#snooze-dialog");
    if (!dialog || !threadIds.length) { return false; }
    var holder = $("[data-snooze-threads]", dialog);
    holder.textContent = "";
    threadIds.forEach(function (id) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "thread";
      input.value = id;
      holder.appendChild(input);
    });
    $("#snooze-at", dialog).value = "";
    dialog.showModal();
    $("[data-snooze-choice]", dialog).focus();
    return true;
  }
  function setupRows(root) {
    // Without script the row's snooze button could do nothing: it stays hidden (the toolbar has Snooze).
    $$("[data-snooze-open]", root).forEach(function (button) { button.hidden = false; });
  }
  document.addEventListener("click", function (ev) {
    var opener = ev.target.closest("[data-snooze-open]");
    if (opener) { openSnooze([opener.getAttribute("data-snooze-open")]); return; }
    var closer = ev.target.closest("[data-close-dialog]");
    if (closer) { closer.closest("dialog").close(); }
  });
  Mail.onKey("b", function () {
    var menu = $("[data-snooze-menu]");
    if (menu) {
      menu.open = true;
      $("[data-snooze-choice]", menu).focus();
      return true;
    }
    var ids = $$('input[name="thread"]:checked').map(function (box) { return box.value; });
    var current = $("li.thread.current");
    if (!ids.length && current) { ids = [current.getAttribute("data-thread-id")]; }
    return openSnooze(ids);
  });

  // "!" as in Gmail: report spam (the conversation, the checked rows or the current one).
  Mail.onKey("!", function () {
    var inConversation = $('[data-conversation-action="spam"]');
    if (inConversation) { inConversation.click(); return true; }
    var form = $("#bulk-form");
    var button = form && form.querySelector('button[name="action"][value="spam"]');
    if (!button) { return false; }
    if (!$('input[name="thread"]:checked')) {
      var current = $("li.thread.current");
      if (!current) { return false; }
      current.querySelector('input[name="thread"]').checked = true;
    }
    button.click();
    return true;
  });

  function init() {
    setupRows(document);
    adoptFlashes();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
