/*
 * Teamline desk: suggested articles (templates/desk/_suggestions.html).
 *
 * "Insert link" / "Insert answer" put the article's public URL or its plain text into the
 * reply box at the cursor (replacing a selection), give focus back to the reply box with the
 * cursor after the insertion, say what happened in the polite announcer, and tell the server,
 * which records which suggestion was used. When the customer writes again (the history log
 * grows), the suggestions are asked for again — once per burst of messages — and replaced only
 * if they changed, and never while the agent is in them.
 */
(() => {
  "use strict";

  const byId = (id) => document.getElementById(id);

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (_) {
      return "";
    }
  }

  function announce(text) {
    const region = byId("desk-announcer");
    if (!region || !text) return;
    region.textContent = "";
    window.setTimeout(() => { region.textContent = text; }, 60);
  }

  function insertAtCursor(box, text) {
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? start;
    const before = box.value.slice(0, start);
    const after = box.value.slice(end);
    // Keep words apart: a space (or a blank line before a whole answer) where text touches.
    let insert = text;
    if (before && !/\s$/.test(before)) insert = (text.includes("\n") ? "\n\n" : " ") + insert;
    if (after && !/^\s/.test(after)) insert += " ";
    box.setRangeText(insert, start, end, "end");
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("#suggestions [data-insert]");
    if (!button) return;
    const box = byId("reply-text");
    const section = byId("suggestions");
    if (!box || !section) return;
    insertAtCursor(box, button.dataset.text || "");
    box.focus();
    announce(button.dataset.announce || "");
    const body = new URLSearchParams({ article: button.dataset.article, how: button.dataset.insert });
    fetch(section.dataset.usedUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
      body,
    }).catch(() => { /* a measurement: the reply matters more */ });
  });

  // --- Following the conversation --------------------------------------------------------

  let refreshTimer = null;
  async function refreshSuggestions() {
    const section = byId("suggestions");
    if (!section || section.contains(document.activeElement)) return;
    let response;
    try {
      response = await fetch(window.location.pathname, {
        credentials: "same-origin",
        headers: { "HX-Request": "true", "HX-Target": "suggestions" },
      });
    } catch (_) {
      return;
    }
    if (!response.ok) return;
    const holder = document.createElement("div");
    holder.innerHTML = await response.text();
    const fresh = holder.querySelector("#suggestions");
    const current = byId("suggestions");
    if (!fresh || !current || current.contains(document.activeElement)) return;
    if (fresh.dataset.articleIds === current.dataset.articleIds) return;
    current.replaceWith(fresh);
  }

  // Once per burst of messages, not per message: 1 s after the last one, and while a busy
  // conversation keeps growing, at most 5 s after the first one of the burst.
  const QUIET_MS = 1000;
  const AT_MOST_MS = 5000;
  let burstStart = 0;
  function historyGrew() {
    const now = Date.now();
    if (refreshTimer === null) burstStart = now;
    window.clearTimeout(refreshTimer);
    const wait = Math.max(0, Math.min(QUIET_MS, burstStart + AT_MOST_MS - now));
    refreshTimer = window.setTimeout(() => {
      refreshTimer = null;
      refreshSuggestions();
    }, wait);
  }
  document.body.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail && event.detail.target;
    if (target && target.id === "history-list") historyGrew();
  });
  // A customer's message desk.js added from its push (no swap).
  document.addEventListener("teamline:history-added", historyGrew);
})();
