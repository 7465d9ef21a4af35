// The webmail's behaviour: keyboard shortcuts, live counts, message frames, uploads, undo.
// Loaded from static files only: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }
  function post(url, body) {
    return fetch(url, { method: "POST", headers: { "X-CSRFToken": csrfToken() }, body: body || null, credentials: "same-origin" });
  }
  // A short notice at the bottom of the page. ``action`` ({label, onClick}) adds a button to it,
  // for example "Undo"; ``seconds`` is how long it stays.
  function toast(text, options) {
    var box = $("#toasts");
    if (!box) { return null; }
    options = options || {};
    var item = document.createElement("div");
    item.className = "toast";
    var words = document.createElement("span");
    words.textContent = text;
    item.appendChild(words);
    if (options.action) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link-button toast-action";
      button.textContent = options.action.label;
      button.addEventListener("click", function () { item.remove(); options.action.onClick(); });
      item.appendChild(button);
    }
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, (options.seconds || 6) * 1000);
    return item;
  }

  // --- colours of labels (no inline style attributes under the CSP) -----------------
  function paintLabels(root) {
    $$("[data-color]", root).forEach(function (el) {
      var c = el.getAttribute("data-color");
      if (/^#[0-9a-fA-F]{6}$/.test(c)) {
        if (el.classList.contains("swatch")) { el.style.backgroundColor = c; } else { el.style.borderColor = c; el.style.color = c; }
      }
    });
  }

  // --- message frames: fit their content (remote images: display.js) -----------------------
  function fitFrame(frame) {
    try {
      var doc = frame.contentDocument;
      if (!doc || !doc.body) { return; }
      frame.style.height = Math.max(40, doc.documentElement.scrollHeight + 8) + "px";
    } catch (e) { /* not same-origin: leave the default height */ }
  }
  function setupFrames(root) {
    $$("iframe[data-message-frame]", root).forEach(function (frame) {
      frame.addEventListener("load", function () { fitFrame(frame); });
      if (frame.contentDocument && frame.contentDocument.readyState === "complete") { fitFrame(frame); }
    });
  }
  document.addEventListener("click", function (ev) {
    var confirmButton = ev.target.closest("[data-confirm]");
    if (confirmButton && !window.confirm(confirmButton.getAttribute("data-confirm"))) { ev.preventDefault(); }
    var toggle = ev.target.closest("[data-menu-toggle]");
    if (toggle) {
      var open = document.body.classList.toggle("menu-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
  });

  // --- settings: copy a new API token ------------------------------------------------
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("[data-copy]");
    if (!button) { return; }
    var field = $(button.getAttribute("data-copy"));
    if (!field) { return; }
    field.select();
    var done = function () { toast(button.getAttribute("data-copied")); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  // --- menus (details[data-menu]): one open at a time, closed by a click elsewhere or Escape ---------
  document.addEventListener("click", function (ev) {
    $$("details[data-menu][open]").forEach(function (menu) { if (!menu.contains(ev.target)) { menu.open = false; } });
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape") { return; }
    $$("details[data-menu][open]").forEach(function (menu) { menu.open = false; menu.querySelector("summary").focus(); });
  });

  // --- the list: select all, row focus for j/k ------------------------------------------
  // The toolbar's actions show once a conversation is selected, as in other mail apps.
  function syncSelection() {
    var form = $("#bulk-form");
    if (!form) { return; }
    form.classList.add("selection-aware");
    form.classList.toggle("has-selection", !!form.querySelector('input[name="thread"]:checked'));
  }
  document.addEventListener("change", function (ev) {
    if (ev.target.matches("[data-select-all]")) {
      $$('input[name="thread"]').forEach(function (box) { box.checked = ev.target.checked; });
    }
    if (ev.target.matches('[data-select-all], input[name="thread"]')) { syncSelection(); }
    if (ev.target.matches("[data-autosubmit]")) { ev.target.form.submit(); }
  });
  document.addEventListener("htmx:afterSettle", syncSelection);
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", syncSelection); } else { syncSelection(); }
  function rows() { return $$("li.thread"); }
  function currentRow() { return $("li.thread.current"); }
  function moveCursor(delta) {
    var list = rows();
    if (!list.length) { return false; }
    var index = list.indexOf(currentRow());
    index = index < 0 ? 0 : Math.min(list.length - 1, Math.max(0, index + delta));
    list.forEach(function (row) { row.classList.remove("current"); row.removeAttribute("aria-current"); });
    list[index].classList.add("current");
    list[index].setAttribute("aria-current", "true");
    list[index].querySelector("a.thread-link").focus();
    return true;
  }
  function selectedOrCurrent() {
    var picked = $$('input[name="thread"]:checked');
    if (picked.length) { return true; }
    var row = currentRow();
    if (row) { row.querySelector('input[name="thread"]').checked = true; return true; }
    return false;
  }
  function listAction(name) {
    var form = $("#bulk-form");
    if (!form || !selectedOrCurrent()) { return false; }
    var button = form.querySelector('button[name="action"][value="' + name + '"]');
    if (!button) { return false; }
    button.click();
    return true;
  }

  // --- keyboard shortcuts -----------------------------------------------------------------
  function inConversation() { return !!$("article.conversation"); }
  function latestMessage() { var all = $$("section.message"); return all[all.length - 1]; }
  function clickIn(selector) {
    var scope = latestMessage() || document;
    var target = $(selector, scope) || $(selector);
    if (target) { target.click(); return true; }
    return false;
  }
  function conversationAction(name) {
    var button = $('[data-conversation-action="' + name + '"]');
    if (button) { button.click(); return true; }
    return false;
  }
  function follow(attribute) {
    var url = $("article.conversation").getAttribute(attribute);
    if (url) { window.location.href = url; return true; }
    return false;
  }
  var keys = {
    // A click, so that compose.js can open its panel instead (desktop); else the compose page.
    "c": function () { var b = $(".compose-button"); if (b) { b.click(); return true; } return false; },
    "r": function () { return inConversation() && clickIn("[data-shortcut-reply]"); },
    "a": function () { return inConversation() && clickIn("[data-shortcut-reply-all]"); },
    "f": function () { return inConversation() && clickIn("[data-shortcut-forward]"); },
    // In a conversation, e and # act on all of it (its own toolbar), not on its latest message.
    "e": function () { return inConversation() ? conversationAction("archive") : listAction("archive"); },
    "#": function () { return inConversation() ? conversationAction("trash") : listAction("trash"); },
    "s": function () {
      if (inConversation()) { return clickIn("[data-shortcut-star]"); }
      var row = currentRow();
      if (!row) { return false; }
      var starred = row.querySelector(".star.on");
      $$('input[name="thread"]').forEach(function (box) { box.checked = false; });
      return listAction(starred ? "unstar" : "star");
    },
    "x": function () {
      var row = currentRow();
      if (inConversation() || !row) { return false; }
      var box = row.querySelector('input[name="thread"]');
      box.checked = !box.checked;
      syncSelection();
      return true;
    },
    "j": function () { return inConversation() ? follow("data-older") : moveCursor(1); },
    "k": function () { return inConversation() ? follow("data-newer") : moveCursor(-1); },
    "o": function () { var row = currentRow(); if (row) { window.location.href = row.getAttribute("data-thread-url"); return true; } return false; },
    "u": function () { var back = $("a.back"); if (back) { window.location.href = back.href; return true; } return false; },
    // A page with its own search (contacts, list members) takes "/" for it; else the mail search.
    "/": function () { var box = $("[data-page-search]") || $("#search-box"); if (box) { box.focus(); box.select(); return true; } return false; },
    "?": function () { var d = $("#shortcuts"); if (d && !d.open) { d.showModal(); return true; } return false; }
  };
  // Keys added by the other scripts (Mail.onKey); a handler returns true when it did something.
  var extraKeys = {};
  keys.Enter = function () { return !document.activeElement.closest("li.thread") && keys.o(); };
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) { return; }
    var t = ev.target;
    if (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(t.tagName)) {
      if (ev.key === "Escape" && t.blur) { t.blur(); }
      return;
    }
    if ($("dialog[open]")) { return; }
    var own = Object.prototype.hasOwnProperty;
    var handler = own.call(keys, ev.key) ? keys[ev.key] : (own.call(extraKeys, ev.key) ? extraKeys[ev.key] : null);
    if (handler && handler()) { ev.preventDefault(); }
  });

  // --- new mail without reloading ---------------------------------------------------------
  document.addEventListener("htmx:configRequest", function (ev) {
    var elt = ev.detail.elt;
    if (elt && elt.id === "sidebar") { ev.detail.parameters.since = elt.getAttribute("data-latest-change") || ""; }
  });
  document.addEventListener("mail:counts", function (ev) {
    var info = ev.detail || {};
    var title = document.querySelector("title");
    var base = title.getAttribute("data-base-title") || document.title.replace(/^\(\d+\)\s*/, "");
    document.title = (info.unread ? "(" + info.unread + ") " : "") + base;
    if (info["new"]) {
      var list = $("[data-live]");
      if (list && !$('input[name="thread"]:checked') && window.htmx) { window.htmx.trigger(document.body, "mail:new"); }
    }
  });
  document.addEventListener("toast", function (ev) { toast(ev.detail && ev.detail.value ? ev.detail.value : String(ev.detail || "")); });
  document.addEventListener("htmx:afterSwap", function (ev) { paintLabels(ev.detail.target.parentNode || document); });
  document.addEventListener("htmx:afterSettle", function () { paintLabels(document); });

  // --- undo window --------------------------------------------------------------------------
  function setupUndo() {
    var box = $("[data-undo-toast]");
    if (!box) { return; }
    var left = parseInt(box.getAttribute("data-seconds"), 10) || 0;
    var counter = $("[data-countdown]", box);
    function tick() {
      counter.textContent = String(left);
      if (left <= 0) {
        post(box.getAttribute("data-send-now")).then(function () { box.remove(); window.htmx && window.htmx.trigger(document.body, "mail:refresh"); });
        return;
      }
      left -= 1;
      setTimeout(tick, 1000);
    }
    tick();
  }

  // What the feature scripts (static/js/*.js, loaded after this one) share with this one.
  window.Mail = {
    $: $, $$: $$, post: post, csrfToken: csrfToken, toast: toast, paintLabels: paintLabels,
    onKey: function (key, handler) { extraKeys[key] = handler; }
  };

  function init() {
    paintLabels(document);
    setupFrames(document);
    setupUndo();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
