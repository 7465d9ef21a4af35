// The marketing area's behaviour: the template editor's variables table, preview width, Ctrl/Cmd+Enter to save.
// Loaded from static files only: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // A row added or removed changes the form without an input event: tell the live preview.
  function variablesChanged(form) { form.dispatchEvent(new CustomEvent("variables:changed", { bubbles: true })); }

  function setupEditor() {
    var form = $("[data-template-form]");
    if (!form) { return; }
    var rows = $("[data-var-rows]", form);
    var template = $("template[data-var-template]", form);
    form.addEventListener("click", function (ev) {
      if (ev.target.closest("[data-add-var]")) {
        var row = template.content.firstElementChild.cloneNode(true);
        rows.appendChild(row);
        $('input[name="var_name"]', row).focus();
        variablesChanged(form);
      }
      var remove = ev.target.closest("[data-remove-var]");
      if (remove) {
        var gone = remove.closest("[data-var-row]");
        var next = gone.nextElementSibling || gone.previousElementSibling;
        gone.remove();
        (next ? $('input[name="var_name"]', next) : $("[data-add-var]", form)).focus();
        variablesChanged(form);
      }
    });
    form.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        form.requestSubmit($("[data-save]", form));
      }
    });
    form.addEventListener("submit", function (ev) {
      if (form.hasAttribute("data-submitting")) { ev.preventDefault(); return; }  // a double press saves once
      form.setAttribute("data-submitting", "");
    });
    window.addEventListener("pageshow", function () { form.removeAttribute("data-submitting"); });
  }

  // Desktop (600 px, the usual mail width) or phone (375 px) preview frame.
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("[data-preview-width]");
    if (!button) { return; }
    var frames = $("[data-preview-frames]");
    if (!frames) { return; }
    frames.setAttribute("data-width", button.getAttribute("data-preview-width"));
    $$("[data-preview-width]").forEach(function (b) { b.setAttribute("aria-pressed", b === button ? "true" : "false"); });
  });

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setupEditor); } else { setupEditor(); }
})();
