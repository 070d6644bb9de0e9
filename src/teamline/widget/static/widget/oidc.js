/* The Teamline-origin window of the brand sign-in (widget/oidc_views.py): after the brand's
 * provider sent the browser back, tell the widget that opened it ("oidc.verified" only, nothing
 * secret: the widget hears the new level on its socket anyway) and close. A refusal stays open
 * so its message can be read; the button closes it. */
(function () {
  "use strict";
  var main = document.getElementById("main");
  var close = document.getElementById("window-close");
  if (close) {
    close.addEventListener("click", function () {
      window.close();
    });
  }
  if (!main || main.getAttribute("data-done") !== "verified") return;
  if (window.opener) window.opener.postMessage({ teamline: "oidc.verified" }, "*");
  setTimeout(function () {
    window.close();
  }, 1500);
})();
