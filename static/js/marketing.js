// The marketing area's behaviour: the template editor's variables table, preview width, Ctrl/Cmd+Enter to save;
// the segment editor's rule rows.
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

  // A rule row offers only the conditions its field takes, the attribute name only for attributes,
  // and no value for conditions without one.
  function fitRule(row) {
    var field = $("[data-rule-field]", row).value;
    var op = $("[data-rule-op]", row);
    $$("option", op).forEach(function (o) {
      var fits = o.getAttribute("data-fields").split(" ").indexOf(field) !== -1;
      o.hidden = !fits;
      o.disabled = !fits;
    });
    if (op.selectedOptions.length === 0 || op.selectedOptions[0].disabled) {
      var first = $$("option", op).filter(function (o) { return !o.disabled; })[0];
      if (first) { op.value = first.value; }
    }
    $("[data-rule-key]", row).hidden = field !== "attribute";
    $("[data-rule-value]", row).hidden = op.selectedOptions[0] && op.selectedOptions[0].hasAttribute("data-no-value");
  }

  function setupSegmentEditor() {
    var form = $("[data-segment-form]");
    if (!form) { return; }
    var rows = $("[data-rule-rows]", form);
    var template = $("template[data-rule-template]", form);
    function rulesChanged() { form.dispatchEvent(new CustomEvent("rules:changed", { bubbles: true })); }
    $$("[data-rule-row]", rows).forEach(fitRule);
    form.addEventListener("change", function (ev) {
      var row = ev.target.closest("[data-rule-row]");
      if (row && (ev.target.matches("[data-rule-field]") || ev.target.matches("[data-rule-op]"))) {
        fitRule(row);
        rulesChanged();  // the op may have changed with the field, without an input event of its own
      }
    });
    form.addEventListener("click", function (ev) {
      if (ev.target.closest("[data-add-rule]")) {
        var row = template.content.firstElementChild.cloneNode(true);
        rows.appendChild(row);
        fitRule(row);
        $("[data-rule-field]", row).focus();
        rulesChanged();
      }
      var remove = ev.target.closest("[data-remove-rule]");
      if (remove) {
        var gone = remove.closest("[data-rule-row]");
        var next = gone.nextElementSibling || gone.previousElementSibling;
        gone.remove();
        (next ? $("[data-rule-field]", next) : $("[data-add-rule]", form)).focus();
        rulesChanged();
      }
    });
  }

  function setup() { setupEditor(); setupSegmentEditor(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setup); } else { setup(); }
})();
