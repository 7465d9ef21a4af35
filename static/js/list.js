// list — see templates/base.html. Loaded after app.js (defer, in order); uses window.Mail.
// The reading pane (a conversation beside the list on wide screens), label menus, the General
// settings' detected time zone.
(function () {
  "use strict";
  var M = window.Mail;
  if (!M) { return; }
  var $ = M.$, $$ = M.$$;
  // Below this width the pane is ignored: a conversation opens as its own page.
  var wide = window.matchMedia("(min-width: 1000px)");

  function pane() { return document.body.getAttribute("data-reading-pane") === "right" && wide.matches ? $("#reading-pane") : null; }
  function currentRow() { return $("li.thread.current"); }
  function rowOf(url) {
    var path = url.split("?")[0];
    return $$("li.thread").filter(function (row) { return row.getAttribute("data-thread-url").split("?")[0] === path; })[0] || null;
  }
  function markCurrent(row) {
    $$("li.thread").forEach(function (r) { r.classList.remove("current", "open"); r.removeAttribute("aria-current"); });
    if (row) { row.classList.add("current", "open"); row.setAttribute("aria-current", "true"); }
  }
  // Message frames loaded into the pane fit their content like on the conversation page.
  function fitFrames(root) {
    $$("iframe[data-message-frame]", root).forEach(function (frame) {
      function fit() {
        try {
          var doc = frame.contentDocument;
          if (!doc || !doc.body) { return; }
          frame.style.height = Math.max(40, doc.documentElement.scrollHeight + 8) + "px";
          var note = frame.parentNode.querySelector("[data-images-note]");
          if (note) { note.hidden = !doc.querySelector('meta[name="remote-images"]'); }
        } catch (e) { /* not same-origin */ }
      }
      frame.addEventListener("load", fit);
      if (frame.contentDocument && frame.contentDocument.readyState === "complete") { fit(); }
    });
  }

  // Loads the conversation at ``url`` into the pane. ``how``: "open" moves focus into it (click, Enter,
  // o), "cursor" leaves it on the list (j/k), "history" is a back/forward step.
  function openInPane(url, how) {
    var target = pane();
    if (!target || !window.htmx) { return false; }
    var row = rowOf(url);
    markCurrent(row);
    target.setAttribute("aria-busy", "true");
    window.htmx.ajax("GET", url, { target: "#reading-pane", select: "article.conversation", swap: "innerHTML" }).then(function () {
      target.setAttribute("aria-busy", "false");
      target.setAttribute("data-open-url", url);
      if (row) { row.classList.remove("unread"); }
      fitFrames(target);
      M.paintLabels(target);
      // A click or o adds a step to the history; j/k replace the pane's step (Back returns to the list).
      var inPane = window.history.state && window.history.state.readingPane;
      if (how === "open" && url !== window.location.pathname + window.location.search) {
        window.history.pushState({ readingPane: url }, "", url);
      } else if (how === "cursor") {
        window.history[inPane ? "replaceState" : "pushState"]({ readingPane: url }, "", url);
      }
      if (how === "open") {
        var heading = $("h1", target) || target;
        heading.setAttribute("tabindex", "-1");
        heading.focus();
      } else if (row) {
        row.querySelector("a.thread-link").focus();
      }
    });
    return true;
  }
  function closePane() {
    var target = pane();
    if (!target) { return; }
    var empty = document.createElement("p");
    empty.className = "reading-pane-empty";
    empty.textContent = target.getAttribute("data-empty-text") || "";
    target.replaceChildren(empty);
    target.removeAttribute("data-open-url");
    markCurrent(null);
  }

  document.addEventListener("click", function (ev) {
    var link = ev.target.closest("a.thread-link");
    if (!link || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey || !pane()) { return; }
    ev.preventDefault();
    openInPane(link.getAttribute("href"), "open");
  });

  // Before app.js's own keys (capture phase): with the pane, o opens the current row there and j/k
  // move through the list (not through the neighbours of the conversation the pane shows).
  window.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !pane()) { return; }
    var t = ev.target;
    if (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(t.tagName) || $("dialog[open]")) { return; }
    var list = $$("li.thread");
    if (!list.length) { return; }
    var acted = false;
    if (ev.key === "j" || ev.key === "k") {
      var index = list.indexOf(currentRow());
      index = index < 0 ? 0 : Math.min(list.length - 1, Math.max(0, index + (ev.key === "j" ? 1 : -1)));
      acted = openInPane(list[index].getAttribute("data-thread-url"), "cursor");
    } else if ((ev.key === "o" || (ev.key === "Enter" && !t.closest("li.thread"))) && currentRow()) {
      acted = openInPane(currentRow().getAttribute("data-thread-url"), "open");
    } else if (ev.key === "u" && $("#reading-pane[data-open-url]")) {
      var row = currentRow();
      window.history.back();
      if (row) { row.querySelector("a.thread-link").focus(); }
      acted = true;
    }
    if (acted) { ev.preventDefault(); ev.stopPropagation(); }
  }, true);

  window.addEventListener("popstate", function (ev) {
    if (!pane()) { return; }
    var state = ev.state || {};
    if (state.readingPane) { openInPane(state.readingPane, "history"); } else if (state.readingPaneList) { closePane(); }
  });

  function setupPane() {
    var target = $("#reading-pane");
    if (!target) { return; }
    var empty = $("[data-reading-pane-empty]", target);
    target.setAttribute("data-empty-text", empty ? empty.textContent : "");
    // The list's own history entry, so that Back from an opened conversation empties the pane.
    window.history.replaceState({ readingPaneList: true }, "", window.location.href);
  }

  // The list refreshes itself when new mail comes: keep the open conversation's row marked.
  document.addEventListener("htmx:afterSwap", function (ev) {
    var open = $("#reading-pane[data-open-url]");
    if (open && ev.detail.target && ev.detail.target.id === "conversation-list") {
      markCurrent(rowOf(open.getAttribute("data-open-url")));
    }
  });

  // The sidebar refreshes itself every few seconds: not while a label menu is open in it.
  document.addEventListener("htmx:confirm", function (ev) {
    if (ev.detail.elt && ev.detail.elt.id === "sidebar" && $("#sidebar details[data-label-menu][open]")) { ev.preventDefault(); }
  });
  // One label menu open at a time.
  document.addEventListener("toggle", function (ev) {
    var menu = ev.target;
    if (!menu.matches || !menu.matches("details[data-label-menu]") || !menu.open) { return; }
    $$("details[data-label-menu][open]").forEach(function (other) { if (other !== menu) { other.open = false; } });
  }, true);

  // General settings: offer the time zone this device is set to.
  function setupTimeZone() {
    var select = $("[data-time-zone-select]");
    var note = $("[data-detected-zone-note]");
    if (!select || !note) { return; }
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    var option = zone ? $$("option", select).filter(function (o) { return o.value === zone; })[0] : null;
    // Nothing to offer when the device's zone is the one in use (chosen, or the server's by default).
    var inUse = select.value || select.getAttribute("data-server-time-zone");
    if (!option || inUse === zone) { return; }
    $("[data-detected-zone]", note).textContent = option.textContent;
    note.hidden = false;
    $("[data-use-detected-zone]", note).addEventListener("click", function () {
      select.value = zone;
      note.hidden = true;
      select.focus();
    });
  }

  function init() { setupPane(); setupTimeZone(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
