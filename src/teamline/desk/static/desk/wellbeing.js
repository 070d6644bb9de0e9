// Wellbeing on the desk (docs/analytics.md, "Wellbeing").
//
// 1. The #wellbeing-notice region (base.html) is reloaded by htmx when a wellbeing event
//    arrives on the desk's socket: the agent's private suggestion, a supervisor's alerts.
// 2. Typing rhythm, only when the agent opted in (the notice says so: data-typing-rhythm="on").
//    Per minute the desk counts keys, corrections (Backspace, Delete) and the variance of the
//    pauses between keys, and sends those three numbers. Which key was pressed is never kept
//    or sent; nothing at all is counted while the agent has not opted in.
(() => {
  "use strict";

  const script = document.currentScript;
  const typingUrl = script ? script.dataset.typingUrl : "";
  const MINUTE = 60 * 1000;
  const LONGEST_PAUSE = 5; // seconds: a longer pause is a rest, not rhythm

  document.addEventListener("teamline:desk-event", (event) => {
    const type = event.detail && event.detail.type;
    if (type === "wellbeing.suggestion" || type === "wellbeing.alert") {
      document.dispatchEvent(new CustomEvent("teamline:wellbeing"));
    }
  });

  let measuring = false;
  let keys = 0;
  let corrections = 0;
  let last = 0;
  let pauses = 0;
  let sum = 0;
  let squares = 0;

  function reset() {
    keys = 0;
    corrections = 0;
    pauses = 0;
    sum = 0;
    squares = 0;
  }

  function onKey(event) {
    if (!measuring || event.repeat) return;
    keys += 1;
    if (event.key === "Backspace" || event.key === "Delete") corrections += 1;
    const now = performance.now();
    if (last) {
      const pause = (now - last) / 1000;
      if (pause <= LONGEST_PAUSE) {
        pauses += 1;
        sum += pause;
        squares += pause * pause;
      }
    }
    last = now;
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (_error) {
      return "";
    }
  }

  function flush() {
    if (!measuring || !keys || !typingUrl) {
      reset();
      return;
    }
    const mean = pauses ? sum / pauses : 0;
    const variance = pauses ? Math.max(0, squares / pauses - mean * mean) : 0;
    const body = JSON.stringify({
      keys: Math.min(keys, 2000),
      corrections: Math.min(corrections, keys, 2000),
      pause_variance: Math.min(Math.round(variance * 1000) / 1000, 3600),
    });
    reset();
    fetch(typingUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body,
      keepalive: true, // the minute so far still arrives when the agent leaves the page
    }).catch(() => {});
  }

  function followChoice() {
    const flag = document.querySelector("#wellbeing-notice [data-typing-rhythm]");
    const on = Boolean(flag && flag.dataset.typingRhythm === "on");
    if (on !== measuring) {
      measuring = on;
      reset();
    }
  }

  document.addEventListener("keydown", onKey, true);
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.target && event.target.id === "wellbeing-notice") followChoice();
  });
  setInterval(flush, MINUTE);
  window.addEventListener("pagehide", flush);
})();
