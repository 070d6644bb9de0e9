// The idle timeout, said a minute before it happens (docs/security.md#sessions). The server
// ends a session after TEAMLINE_IDLE_TIMEOUT_MINUTES without a request; this counts from the
// page load and the last htmx request, warns in an alert with a "Stay signed in" button a
// minute before, and reloads when the time is up (the server then shows the sign-in page).
(() => {
  "use strict";
  // The desk's strings in the agent's language (Django's JavaScript catalog, /desk/jsi18n/).
  const _ = (text) => (window.gettext ? window.gettext(text) : text);
  const script = document.currentScript;
  const seconds = Number(script && script.dataset.idleSeconds);
  if (!seconds || !document.body.dataset.userId) return;
  const warnAfter = Math.max(0, seconds - 60) * 1000;
  let warnTimer = null;
  let endTimer = null;
  let warning = null;

  function clearWarning() {
    if (warning) warning.remove();
    warning = null;
  }

  function warn() {
    const main = document.getElementById("main") || document.body;
    warning = document.createElement("div");
    warning.className = "callout idle-warning";
    warning.setAttribute("role", "alert");
    const text = document.createElement("p");
    text.textContent = _("You will be signed out in a minute because nothing happened here for a while.");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button-primary";
    button.textContent = _("Stay signed in");
    button.addEventListener("click", () => {
      // Any request counts as activity; this one is small and changes nothing.
      fetch(script.dataset.pingUrl, { credentials: "same-origin", headers: { "HX-Request": "true" } })
        .then((response) => { if (response.ok) restart(); else window.location.reload(); });
    });
    warning.append(text, button);
    main.prepend(warning);
  }

  function restart() {
    clearWarning();
    window.clearTimeout(warnTimer);
    window.clearTimeout(endTimer);
    warnTimer = window.setTimeout(warn, warnAfter);
    endTimer = window.setTimeout(() => window.location.reload(), seconds * 1000 + 2000);
  }

  document.body.addEventListener("htmx:afterRequest", restart);
  restart();
})();
