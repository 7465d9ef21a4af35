// Message frames: the "Show images" bar above each HTML message (display part, docs/HTML-MAIL.md).
// The frame's document says whether it held remote images back (<meta name="remote-images">);
// the bar shows only then. "Show images" reloads that one frame with them; "Always show images
// from …" is a plain form (the server decides whether the sender can be trusted).
(function () {
  "use strict";

  function barOf(frame) {
    var box = frame.closest("[data-html-body]");
    return box ? box.querySelector("[data-images-note]") : null;
  }
  function update(frame) {
    var bar = barOf(frame);
    if (!bar || bar.classList.contains("images-shown")) { return; }
    try {
      var doc = frame.contentDocument;
      if (!doc || !doc.body || doc.location.href === "about:blank") { return; }
      bar.hidden = !doc.querySelector('meta[name="remote-images"]');
    } catch (e) { /* not same-origin: leave the bar as it is */ }
  }
  // load does not bubble; capturing sees every frame's, including frames added later (htmx).
  document.addEventListener("load", function (ev) {
    if (ev.target.matches && ev.target.matches("iframe[data-message-frame]")) { update(ev.target); }
  }, true);
  Array.prototype.forEach.call(document.querySelectorAll("iframe[data-message-frame]"), function (frame) {
    if (frame.contentDocument && frame.contentDocument.readyState === "complete") { update(frame); }
  });
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("[data-show-images]");
    if (!button) { return; }
    var bar = button.closest("[data-images-note]");
    var frame = button.closest("[data-html-body]").querySelector("iframe[data-message-frame]");
    frame.src = button.getAttribute("data-show-images");
    // Shown for this message; the offer to always show them for this sender stays.
    bar.classList.add("images-shown");
    if (!bar.querySelector("[data-trust-images]")) { bar.hidden = true; }
    else { bar.querySelector("[data-trust-images]").focus(); }
  });
})();
