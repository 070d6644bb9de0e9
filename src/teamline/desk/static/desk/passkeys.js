// Passkeys and security keys (allauth's webauthn.js) report failures as an `allauth.error`
// event and to the console only. Say it where a person (and a screen reader) notices: the
// page's alert, made on demand. Loaded with the request's nonce on allauth's pages.
(function () {
  "use strict";
  document.addEventListener("allauth.error", function (event) {
    event.preventDefault();
    let alert = document.getElementById("passkey-error");
    if (!alert) {
      alert = document.createElement("p");
      alert.id = "passkey-error";
      alert.className = "error-summary";
      alert.setAttribute("role", "alert");
      const main = document.getElementById("main");
      (main || document.body).appendChild(alert);
    }
    const name = event.detail && event.detail.exception && event.detail.exception.name;
    alert.textContent = name === "NotAllowedError"
      ? (alert.dataset.cancelled || "The passkey request was cancelled or timed out. Try again.")
      : (alert.dataset.failed || "This device could not use a passkey. Try again, or sign in with your password.");
    alert.hidden = false;
  });
})();
