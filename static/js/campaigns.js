// The campaign form: a new campaign starts in the browser's time zone; typing a send time chooses "at a time";
// after a refused save the list of problems takes the focus. Static file only: the CSP forbids inline script.
(function () {
  "use strict";

  function setup() {
    var form = document.querySelector("[data-campaign-form]");
    if (!form) { return; }
    var zone = form.querySelector("select[data-browser-zone]");
    var browserZone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && browserZone && zone.querySelector('option[value="' + browserZone + '"]')) { zone.value = browserZone; }
    var sendAt = form.querySelector("[data-send-at]");
    var later = form.querySelector("#id_send_mode_later");
    if (sendAt && later) {
      sendAt.addEventListener("input", function () { if (sendAt.value) { later.checked = true; } });
    }
    var errors = document.querySelector("[data-focus-on-load]");
    if (errors) { errors.focus(); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setup); } else { setup(); }
})();
