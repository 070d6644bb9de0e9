// Passkeys and security keys (allauth's webauthn.js) report failures as an `allauth.error`
// event and to the console only. Say it where a person (and a screen reader) notices: an alert
// at the top of the page, made when needed. The texts come translated on this script's tag.
(function () {
  "use strict";
  const texts = (document.currentScript && document.currentScript.dataset) || {};
  document.addEventListener("allauth.error", function (event) {
    event.preventDefault();
    let alert = document.getElementById("passkey-error");
    if (!alert) {
      alert = document.createElement("p");
      alert.id = "passkey-error";
      alert.className = "error-summary";
      alert.setAttribute("role", "alert");
      const main = document.getElementById("main");
      if (main) {
        main.prepend(alert);
      } else {
        document.body.prepend(alert);
      }
    }
    const name = event.detail && event.detail.exception && event.detail.exception.name;
    alert.textContent = name === "NotAllowedError"
      ? (texts.cancelled || "The passkey request was cancelled or timed out. Try again.")
      : (texts.failed || "This device could not use a passkey. Try again, or sign in with your password.");
  });
})();
