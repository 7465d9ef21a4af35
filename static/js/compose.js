// Compose: the form (uploads with progress, autosave, rich text, signatures, address suggestions) and, on
// wide screens, the docked panel that opens over the page and leaves the list usable. Phones and pages
// without this script get the full compose page. Loaded after app.js (window.Mail); no inline script.
(function () {
  "use strict";
  var M = window.Mail, $ = M.$, $$ = M.$$;
  var WIDE = "(min-width: 761px)";  // the layout's phone breakpoint is 760px (app.css)

  function escapeHtml(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML.replace(/\n/g, "<br>");
  }
  function changed(el) { el.dispatchEvent(new Event("input", { bubbles: true })); }

  // --- uploads with progress ------------------------------------------------------------------
  function setupUploads(form) {
    var input = $("[data-upload-input]", form);
    var list = $("[data-upload-list]", form);
    var template = $("template[data-upload-template]", form);
    var limit = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;
    function uploadsChanged() {
      form._dirty = true;
      document.body.dispatchEvent(new CustomEvent("uploads:changed", { bubbles: true }));
    }
    function failed(row, bar, text) {
      row.classList.add("error");
      $('input[name="attachment"]', row).remove();
      bar.replaceWith(document.createTextNode(text));
    }
    list.addEventListener("click", function (ev) {
      var remove = ev.target.closest("[data-remove-upload]");
      if (remove) { remove.closest("[data-upload-row]").remove(); uploadsChanged(); }
    });
    input.addEventListener("change", function () {
      Array.prototype.forEach.call(input.files, function (file) {
        var row = template.content.firstElementChild.cloneNode(true);
        $("[data-name]", row).textContent = file.name;
        var bar = $("progress", row);
        list.appendChild(row);
        if (limit && file.size > limit) { failed(row, bar, $("[data-upload-too-large]", form).textContent); return; }
        var data = new FormData();
        data.append("file", file);
        var xhr = new XMLHttpRequest();
        xhr.open("POST", form.getAttribute("data-upload-url"));
        xhr.setRequestHeader("X-CSRFToken", M.csrfToken());
        xhr.upload.addEventListener("progress", function (ev) { if (ev.lengthComputable) { bar.value = Math.round(ev.loaded / ev.total * 100); } });
        xhr.addEventListener("load", function () {
          var reply = {};
          try { reply = JSON.parse(xhr.responseText); } catch (e) { reply = {}; }
          if (xhr.status === 201) {
            $('input[name="attachment"]', row).value = reply.id;
            bar.remove();
            $("[data-size]", row).textContent = Math.max(1, Math.round(reply.size / 1024)) + " KB";
            row.setAttribute("data-uploaded", "");
            uploadsChanged();
          } else {
            failed(row, bar, reply.error || $("[data-upload-failed]", form).textContent);
          }
        });
        xhr.addEventListener("error", function () { failed(row, bar, $("[data-upload-failed]", form).textContent); });
        xhr.send(data);
      });
      input.value = "";
    });
  }

  // --- submitting: once, never with a half-finished upload, after an autosave in flight -------------
  function setupSubmit(form) {
    var status = $("#save-status", form);
    form.addEventListener("submit", function (ev) {
      if ($$("[data-upload-row] progress", form).length) { ev.preventDefault(); M.toast($("[data-upload-failed]", form).textContent); return; }
      if (form.hasAttribute("data-submitting")) { ev.preventDefault(); return; }  // a double click sends once
      // Wait for an autosave in flight: it may be creating the draft this submission must reuse.
      if (status && status.classList.contains("htmx-request")) {
        ev.preventDefault();
        var submitter = ev.submitter;
        status.addEventListener("htmx:afterSettle", function () { form.requestSubmit(submitter); }, { once: true });
        return;
      }
      form.setAttribute("data-submitting", "");
    });
    window.addEventListener("pageshow", function () { form.removeAttribute("data-submitting"); });
    // No autosave once the form is on its way (it could create a second draft).
    if (status) {
      status.addEventListener("htmx:confirm", function (ev) { if (form.hasAttribute("data-submitting")) { ev.preventDefault(); } });
    }
    // Enter in a one-line field must not send the message (the browser's implicit submission).
    form.addEventListener("keydown", function (ev) {
      var t = ev.target;
      if (ev.key === "Enter" && t.tagName === "INPUT" && !/^(submit|button|checkbox|radio|file)$/.test(t.type)) { ev.preventDefault(); }
    });
    form.addEventListener("input", function () { form._dirty = true; });
  }

  // --- the optional rich-text editor (HTML part; the textarea keeps the plain text) -------------------
  function setupRichText(form) {
    var toggle = $("[data-rich-toggle]", form);
    if (!toggle) { return; }
    var editor = $("[data-rich-editor]", form), toolbar = $("[data-rich-toolbar]", form), buttons = $("[data-rich-buttons]", form);
    var field = $("[data-rich-html]", form), textarea = $("#id_body", form);
    function plain() { return editor.innerText.replace(/\u00a0/g, " "); }
    function sync() { field.value = editor.innerHTML; textarea.value = plain(); }
    function showPressed() {
      $$("[data-command][aria-pressed]", toolbar).forEach(function (button) {
        var on = false;
        try { on = document.queryCommandState(button.getAttribute("data-command")); } catch (e) { on = false; }
        button.setAttribute("aria-pressed", on ? "true" : "false");
      });
    }
    toggle.addEventListener("change", function () {
      if (toggle.checked) {
        editor.innerHTML = escapeHtml(textarea.value);
        sync();
      } else {
        textarea.value = plain();
        field.value = "";
      }
      editor.hidden = buttons.hidden = !toggle.checked;
      textarea.hidden = toggle.checked;
      (toggle.checked ? editor : textarea).focus();
    });
    editor.addEventListener("input", sync);
    editor.addEventListener("keyup", showPressed);
    editor.addEventListener("mouseup", showPressed);
    toolbar.addEventListener("click", function (ev) {
      var button = ev.target.closest("[data-command]");
      if (!button) { return; }
      var command = button.getAttribute("data-command"), value = null;
      if (command === "createLink") {
        value = window.prompt(button.getAttribute("data-prompt"), "https://");
        if (!value || !/^(https?:|mailto:)/i.test(value)) { return; }
      }
      editor.focus();
      document.execCommand(command, false, value);
      sync();
      changed(editor);
      showPressed();
    });
  }

  // --- signatures: switched with the From identity, only while the user has not edited them ----------
  function replaceSignature(text, old, next, quote) {
    if (old) {
      var at = text.indexOf(old);
      if (at < 0) { return null; }  // edited or removed: the user's text now, leave it alone
      if (next) { return text.slice(0, at) + next + text.slice(at + old.length); }
      return text.slice(0, at).replace(/(\n|<br>){1,2}$/, "") + text.slice(at + old.length);
    }
    if (!next) { return text; }
    var q = quote ? text.indexOf(quote) : -1;
    if (q >= 0) { return text.slice(0, q) + next + "\n\n" + text.slice(q); }  // above the quote of a reply
    return text.replace(/\s+$/, "") + "\n\n" + next;
  }
  function setupSignature(form) {
    var select = $("select[data-identity-select]", form);
    if (!select) { return; }
    var textarea = $("#id_body", form), editor = $("[data-rich-editor]", form), toggle = $("[data-rich-toggle]", form);
    var quote = form.getAttribute("data-quote-start") || "";
    function signatureOf() { var o = select.options[select.selectedIndex]; return (o && o.getAttribute("data-signature")) || ""; }
    var current = signatureOf(), managed = true;
    select.addEventListener("change", function () {
      var next = signatureOf();
      if (managed && toggle && toggle.checked) {
        var html = replaceSignature(editor.innerHTML, current ? escapeHtml(current) : "", next ? escapeHtml(next) : "", quote ? escapeHtml(quote) : "");
        if (html === null) { managed = false; } else { editor.innerHTML = html; changed(editor); }
      } else if (managed) {
        var text = replaceSignature(textarea.value, current, next, quote);
        if (text === null) { managed = false; } else { textarea.value = text; changed(textarea); }
      }
      current = next;
    });
  }

  // --- address suggestions: the ARIA combobox pattern, for the last address of the field ----------
  function setupCombobox(input, url) {
    var list = document.getElementById(input.getAttribute("aria-controls"));
    var options = [], active = -1, timer = null, asked = 0;
    function close() {
      list.hidden = true;
      list.textContent = "";
      options = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }
    function highlight(index) {
      active = index;
      options.forEach(function (o, n) { o.el.setAttribute("aria-selected", n === index ? "true" : "false"); });
      if (index >= 0) {
        input.setAttribute("aria-activedescendant", options[index].el.id);
        options[index].el.scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }
    function accept(index) {
      var option = options[index];
      if (!option) { return; }
      var comma = input.value.lastIndexOf(",");
      var head = comma >= 0 ? input.value.slice(0, comma + 1).replace(/\s*$/, " ") : "";
      input.value = head + option.value + ", ";
      close();
      changed(input);
      input.dispatchEvent(new Event("change", { bubbles: true }));  // the bounce warnings follow the field
      input.setSelectionRange(input.value.length, input.value.length);
    }
    function show(items) {
      list.textContent = "";
      options = [];
      items.forEach(function (s, n) {
        var li = document.createElement("li");
        li.id = list.id + "-" + n;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        if (s.name) {
          var name = document.createElement("span");
          name.className = "suggestion-name";
          name.textContent = s.name;
          li.appendChild(name);
        }
        var address = document.createElement("span");
        address.className = "suggestion-address";
        address.textContent = s.address;
        li.appendChild(address);
        // mousedown, not click: the field keeps its focus (and the list is not closed by its blur first).
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); accept(n); });
        list.appendChild(li);
        options.push({ el: li, value: s.value });
      });
      if (!options.length) { close(); return; }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      highlight(-1);
    }
    function ask() {
      var last = input.value.split(",").pop().trim();
      if (!last) { close(); return; }
      var mine = ++asked;
      fetch(url + "?q=" + encodeURIComponent(input.value), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
        .then(function (data) { if (mine === asked && document.activeElement === input) { show(data.suggestions || []); } })
        .catch(function () { close(); });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 150); });
    input.addEventListener("blur", function () { clearTimeout(timer); asked++; close(); });
    input.addEventListener("keydown", function (ev) {
      var open = !list.hidden && options.length > 0;
      if (ev.key === "ArrowDown") {
        ev.preventDefault();
        if (open) { highlight((active + 1) % options.length); } else { ask(); }
      } else if (ev.key === "ArrowUp" && open) {
        ev.preventDefault();
        highlight(active <= 0 ? options.length - 1 : active - 1);
      } else if ((ev.key === "Enter" || ev.key === "Tab") && open && active >= 0) {
        ev.preventDefault();
        accept(active);
      } else if (ev.key === "Escape" && open) {
        ev.preventDefault();
        ev.stopPropagation();  // closes the list only, not the compose panel
        close();
      }
    });
  }

  function setupForm(form) {
    if (!form || form._ready) { return; }
    form._ready = true;
    form._dirty = false;
    setupUploads(form);
    setupSubmit(form);
    setupRichText(form);
    setupSignature(form);
    $$("[data-address-input]", form).forEach(function (input) { setupCombobox(input, form.getAttribute("data-suggest-url")); });
  }

  // --- the docked panel (wide screens) ---------------------------------------------------------
  var dock = null, opener = null;
  function composePath() {
    var button = $(".compose-button");
    return button ? new URL(button.href, window.location.href).pathname : "/mail/compose/";
  }
  function panelForm() { return dock && $("[data-compose]", dock); }

  // Save what the panel holds (when anything changed) and resolve to {id, saved}; waits for an autosave in flight.
  function saveNow(form) {
    var id = function () { return $("[data-draft-id]", form).value; };
    if (!form._dirty) { return Promise.resolve({ id: id(), saved: false }); }
    var status = $("#save-status", form);
    var wait = status && status.classList.contains("htmx-request")
      ? new Promise(function (done) { status.addEventListener("htmx:afterSettle", done, { once: true }); })
      : Promise.resolve();
    return wait.then(function () {
      return fetch(form.getAttribute("data-save-url"), {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { "X-CSRFToken": M.csrfToken(), Accept: "application/json" }
      });
    }).then(function (r) {
      return r.json().then(function (reply) {
        if (!r.ok) { throw reply; }
        $("[data-draft-id]", form).value = String(reply.draft_id);
        $("[data-draft-id]", form).setAttribute("value", String(reply.draft_id));
        form._dirty = false;
        return { id: String(reply.draft_id), saved: true };
      });
    });
  }
  function failedToSave(reply) {
    var form = panelForm();
    if (form) { form.removeAttribute("data-submitting"); }
    M.toast((reply && reply.error) || $("[data-compose-panel]", dock).getAttribute("data-not-saved-text"));
    throw reply;
  }
  function closePanel() {
    if (!dock) { return Promise.resolve(); }
    var form = panelForm(), panel = $("[data-compose-panel]", dock);
    form.setAttribute("data-submitting", "");  // no autosave of a panel that is closing
    return saveNow(form).then(function (result) {
      dock.remove();
      dock = null;
      document.body.classList.remove("compose-open");
      if (result.saved) { M.toast(panel.getAttribute("data-saved-text")); }
      if (opener && document.body.contains(opener)) { opener.focus(); }
    }, failedToSave);
  }
  function minimise(on) {
    var panel = $("[data-compose-panel]", dock), form = panelForm(), button = $("[data-panel-minimise]", dock);
    panel.classList.toggle("minimised", on);
    form.hidden = on;
    button.setAttribute("aria-expanded", on ? "false" : "true");
    if (on) {
      button.focus();
      saveNow(form).catch(function () { /* the autosave line says why */ });
    } else {
      firstField(form).focus();
    }
  }
  function firstField(form) {
    var to = $("#id_to", form);
    if (to && !to.value.trim()) { return to; }
    var rich = $("[data-rich-toggle]", form);
    return rich && rich.checked ? $("[data-rich-editor]", form) : $("#id_body", form);
  }
  function mount(html, source) {
    dock = document.createElement("div");
    dock.className = "compose-dock";
    dock.innerHTML = html;
    document.body.appendChild(dock);
    document.body.classList.add("compose-open");
    var panel = $("[data-compose-panel]", dock), form = panelForm();
    panel.setAttribute("data-source-url", source);
    $("[data-compose-next]", form).value = window.location.pathname + window.location.search;
    if (window.htmx) { window.htmx.process(dock); }
    setupForm(form);
    focusStart(form);
    panel.addEventListener("keydown", function (ev) {
      if (ev.key !== "Escape" || ev.defaultPrevented) { return; }
      ev.preventDefault();
      ev.stopPropagation();
      if (panel.classList.contains("minimised")) { closePanel().catch(function () {}); } else { minimise(true); }
    });
    panel.addEventListener("click", function (ev) {
      if (ev.target.closest("[data-panel-minimise]")) { minimise(!panel.classList.contains("minimised")); }
      if (ev.target.closest("[data-panel-close]")) { closePanel().catch(function () {}); }
      if (ev.target.closest("[data-panel-expand]")) {
        saveNow(form).then(function (result) {
          form.setAttribute("data-submitting", "");
          window.location.href = result.id ? panel.getAttribute("data-page-url") + "?draft=" + result.id : source;
        }, failedToSave).catch(function () {});
      }
    });
  }
  function openPanel(url) {
    opener = document.activeElement;
    closePanel().then(function () {
      return fetch(url, { credentials: "same-origin", headers: { "X-Compose-Panel": "1" } });
    }).then(function (response) {
      // A conversation (not a draft on its own) or an error: show that page instead.
      if (!response.ok || new URL(response.url).pathname !== composePath()) { window.location.href = response.ok ? response.url : url; return; }
      return response.text().then(function (html) { mount(html, url); });
    }).catch(function () { /* not saved: the panel stays, with its toast */ });
  }
  document.addEventListener("click", function (ev) {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) { return; }
    var link = ev.target.closest("a[href]");
    if (!link || !window.matchMedia(WIDE).matches || document.body.classList.contains("compose-page")) { return; }
    var url = new URL(link.href, window.location.href);
    var compose = url.origin === window.location.origin && url.pathname === composePath();
    var draftRow = link.matches("a.thread-link") && link.closest('[data-view="drafts"]');
    if (!compose && !draftRow) { return; }
    ev.preventDefault();
    openPanel(url.href);
  });

  function focusStart(form) {
    var field = firstField(form);
    field.focus();
    if (field.setSelectionRange) { field.setSelectionRange(0, 0); field.scrollTop = 0; }
  }
  function init() {
    var form = $("[data-compose]");
    setupForm(form);
    // The compose page starts where one writes (To, or the reply's first line), unless it shows an error.
    if (form && !$("#compose-error")) { focusStart(form); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
