// Global Privacy Control: when the browser sends the signal and the server says some
// purpose the policy pack honours has no GPC opt-out yet, post the form the page shows
// (POST /me/gpc, with the page's CSRF token) and say what was recorded. A file, not an
// inline script: the Content-Security-Policy allows scripts from this origin only.
(function () {
  "use strict";
  var form = document.getElementById("gpc-form");
  if (!form || form.dataset.pending !== "1") { return; }
  var signal = navigator.globalPrivacyControl === true || document.body.dataset.gpc === "1";
  if (!signal) { return; }
  var status = document.getElementById("gpc-status");
  fetch(form.action, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Accept": "application/json" },
    body: new URLSearchParams(new FormData(form))
  }).then(function (r) {
    if (!r.ok) { throw new Error("HTTP " + r.status); }
    return r.json();
  }).then(function (data) {
    form.dataset.pending = "0";
    form.hidden = true;
    status.textContent = "Recorded as an opt-out (receipts " + data.receipts.join(", ") + ").";
  }).catch(function () {
    status.textContent = "We could not record it automatically; use the button to record it.";
  });
})();
