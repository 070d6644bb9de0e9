/*
 * Teamline desk: the call panel (desk/_call_panel.html, on every desk page).
 *
 * The server renders the panel; this script fetches it and keeps it live, and makes its
 * buttons work without a page load:
 * - it reads the panel (GET /desk/calls/panel) when the page loads (so desk pages pay nothing
 *   for it), when the desk socket says a call or an
 *   assignment changed (desk.js re-dispatches every socket event as "teamline:desk-event"),
 *   and after a reconnect ("teamline:desk-resync");
 * - every action is first POSTed to the server, which decides; then the panel is replaced by
 *   the server's answer and, for accept/hold/resume/mute/unmute/end, a "teamline:call" event
 *   {action, call} is dispatched on document for the browser-media code (webrtc.js);
 * - something new (a call ringing, a call missed, wrap-up started) is announced once, in the
 *   assertive region #call-announcer; which ones were said is kept for the browser tab, so
 *   opening another desk page does not repeat them;
 * - timers tick every second without being announced (role="timer", aria-live off); the
 *   agent asks for the time with "Announce call time" or Alt+Shift+T;
 * - focus stays where the agent is typing: incoming calls never take it. Alt+Shift+A accepts
 *   the ringing call, Alt+Shift+R rejects it;
 * - a ring sound, generated with WebAudio, plays only if the agent turned it on ("Ring sound").
 */
(() => {
  "use strict";
  // The desk's strings in the agent's language (Django's JavaScript catalog, /desk/jsi18n/).
  const _ = (text) => (window.gettext ? window.gettext(text) : text);
  const fmt = (text, values) => (window.interpolate
    ? window.interpolate(text, values, true)
    : text.replace(/%\((\w+)\)s/g, (m, key) => String(values[key])));

  const me = Number(document.body.dataset.userId || 0);
  if (!me) return; // signed out

  const MEDIA_ACTIONS = new Set(["accepted", "held", "resumed", "muted", "unmuted", "ended"]);
  const SEEN_KEY = "teamline.calls.announced";
  const byId = (id) => document.getElementById(id);
  const panel = () => byId("call-panel");
  const body = () => byId("call-panel-body");

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (_err) {
      return "";
    }
  }

  // --- Announcements ---------------------------------------------------------------------

  function say(text) {
    const region = byId("call-announcer");
    if (!region || !text) return;
    region.textContent = "";
    // A fresh node change, so the same sentence twice is still spoken.
    window.setTimeout(() => { region.textContent = text; }, 50);
  }

  function seen() {
    try { return JSON.parse(window.sessionStorage.getItem(SEEN_KEY) || "[]"); } catch (_err) { return []; }
  }

  // Says what is new in the panel, after `first` (what the agent's own action did).
  function announceNew(first) {
    const root = panel();
    if (!root) return;
    const known = seen();
    const texts = first ? [first] : [];
    for (const element of root.querySelectorAll("[data-announce-key]")) {
      const key = element.dataset.announceKey;
      if (known.includes(key)) continue;
      known.push(key);
      texts.push(element.dataset.announce);
    }
    if (!texts.length) return;
    try { window.sessionStorage.setItem(SEEN_KEY, JSON.stringify(known.slice(-50))); } catch (_err) { /* private mode */ }
    say(texts.join(" "));
  }

  // --- Clocks ------------------------------------------------------------------------------

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const hours = Math.floor(s / 3600);
    const minutes = Math.floor((s % 3600) / 60);
    const rest = String(s % 60).padStart(2, "0");
    return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
  }

  function spoken(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const minutes = Math.floor(s / 60);
    const rest = s % 60;
    const parts = [];
    const ngettext = window.ngettext || ((one, many, n) => (n === 1 ? one : many));
    if (minutes) parts.push(fmt(ngettext("%(n)s minute", "%(n)s minutes", minutes), { n: minutes }));
    parts.push(fmt(ngettext("%(n)s second", "%(n)s seconds", rest), { n: rest }));
    return parts.join(" ");
  }

  let wrapUpOver = false;
  function tick() {
    const root = panel();
    if (!root) return;
    const now = Date.now();
    for (const element of root.querySelectorAll("[data-since]")) {
      const since = Date.parse(element.dataset.since);
      if (!Number.isNaN(since)) element.textContent = clock((now - since) / 1000);
    }
    for (const element of root.querySelectorAll("[data-until]")) {
      const until = Date.parse(element.dataset.until);
      if (Number.isNaN(until)) continue;
      const left = (until - now) / 1000;
      element.textContent = clock(Math.ceil(left));
      if (left <= 0 && !wrapUpOver) {
        wrapUpOver = true;
        refresh();
      }
    }
  }

  function announceTime() {
    const timer = panel() && panel().querySelector('[role="timer"][data-since]');
    if (!timer) { say(_("No call in progress.")); return; }
    say(fmt(_("Call time %(time)s."),
      { time: spoken((Date.now() - Date.parse(timer.dataset.since)) / 1000) }));
  }

  // --- Ring sound (optional, off unless the agent turns it on; generated, no audio file) ----

  const RING_KEY = "teamline.calls.ring-sound";
  let audio = null;
  let ringTimer = null;
  const ringWanted = () => { try { return window.localStorage.getItem(RING_KEY) === "on"; } catch (_err) { return false; } };

  function beep() {
    if (!audio) return;
    const start = audio.currentTime;
    for (const [offset, frequency] of [[0, 440], [0.4, 480], [1.0, 440], [1.4, 480]]) {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.2, start + offset + 0.05);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.35);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(start + offset);
      oscillator.stop(start + offset + 0.4);
    }
  }

  function ring() {
    const root = panel();
    const ringing = Boolean(root && !root.hidden && root.querySelector("[data-ringing]"));
    for (const button of (root ? root.querySelectorAll("[data-ring-sound]") : [])) {
      button.setAttribute("aria-pressed", ringWanted() ? "true" : "false");
    }
    if (!ringing || !ringWanted()) {
      window.clearInterval(ringTimer);
      ringTimer = null;
      return;
    }
    if (ringTimer) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume().catch(() => {});
    } catch (_err) {
      return; // no audio here: the visible panel and the announcement remain
    }
    beep();
    ringTimer = window.setInterval(beep, 3000);
  }

  document.addEventListener("click", (event) => {
    const button = event.target && event.target.closest && event.target.closest("[data-ring-sound]");
    if (!button) return;
    const on = !ringWanted();
    try { window.localStorage.setItem(RING_KEY, on ? "on" : "off"); } catch (_err) { /* private mode */ }
    say(on ? _("Ring sound on.") : _("Ring sound off."));
    window.clearInterval(ringTimer);
    ringTimer = null;
    ring();
  });

  // --- Rendering ---------------------------------------------------------------------------

  const streams = new Map(); // call id → {local, remote}, placed again after every render

  function placeMedia(callId) {
    const container = byId(`call-media-${callId}`);
    const media = streams.get(callId);
    if (!container || !media) return;
    for (const [which, stream, label] of [
      ["remote", media.remote, _("Customer's video")],
      ["local", media.local, _("Your video")],
    ]) {
      if (!stream) continue;
      let video = container.querySelector(`video[data-media="${which}"]`);
      if (!video) {
        video = document.createElement("video");
        video.dataset.media = which;
        video.autoplay = true;
        video.playsInline = true;
        video.muted = which === "local"; // never hear yourself
        video.setAttribute("aria-label", label);
        container.append(video);
      }
      if (video.srcObject !== stream) video.srcObject = stream;
    }
  }

  function render(html, said) {
    const root = panel();
    const target = body();
    if (!root || !target) return;
    const hadFocus = root.contains(document.activeElement);
    target.innerHTML = html;
    const content = target.querySelector(".call-panel-content");
    root.hidden = !content || content.dataset.empty === "1";
    wrapUpOver = false;
    for (const callId of streams.keys()) placeMedia(callId);
    tick();
    ring();
    announceNew(said);
    // The control the agent used went away with the old panel: keep them in the panel.
    if (hadFocus && !root.hidden) {
      const next = root.querySelector("button, a[href]");
      if (next) next.focus();
    }
  }

  let refreshTimer = null;
  let inFlight = null;
  function refresh() {
    window.clearTimeout(refreshTimer);
    // Coalesce bursts (a rejection sends several events).
    refreshTimer = window.setTimeout(async () => {
      const root = panel();
      if (!root) return;
      const mine = {};
      inFlight = mine;
      try {
        const response = await fetch(root.dataset.panelUrl, {
          headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
        });
        if (!response.ok) return;
        const data = await response.json();
        if (inFlight === mine) render(data.panel);
      } catch (_err) {
        // Offline for a moment: the next event or the reconnect's resync reads it again.
      }
    }, 150);
  }

  // --- Actions -----------------------------------------------------------------------------

  async function submit(form) {
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
        body: new FormData(form),
      });
    } catch (_err) {
      say(_("The server could not be reached. Please try again."));
      return;
    }
    let data = null;
    try { data = await response.json(); } catch (_err) { data = null; }
    if (!data) {
      say(response.status === 404 ? _("This call is no longer there.") : _("Something went wrong. Please try again."));
      refresh();
      return;
    }
    inFlight = null; // an older panel read must not overwrite this answer
    const said = data.ok ? data.announce : data.error;
    if (typeof data.panel === "string") render(data.panel, said);
    else say(said);
    if (!data.ok) return;
    if (MEDIA_ACTIONS.has(data.action)) {
      document.dispatchEvent(new CustomEvent("teamline:call", {
        detail: { action: data.action, call: data.call },
      }));
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form || !form.matches || !form.matches("#call-panel form[data-call-form]")) return;
    event.preventDefault();
    submit(form);
  });

  document.addEventListener("click", (event) => {
    const button = event.target && event.target.closest && event.target.closest("[data-call-time]");
    if (button) announceTime();
  });

  document.addEventListener("keydown", (event) => {
    if (!event.altKey || !event.shiftKey || event.ctrlKey || event.metaKey) return;
    const root = panel();
    if (!root) return;
    if (event.code === "KeyT") {
      event.preventDefault();
      announceTime();
      return;
    }
    const selector = { KeyA: "[data-call-accept]", KeyR: "[data-call-reject]" }[event.code];
    const button = selector && root.querySelector(selector);
    if (!button) return;
    event.preventDefault();
    submit(button.form);
  });

  // --- Live --------------------------------------------------------------------------------

  // Whether an event may change this agent's panel (team-wide events are frequent: every
  // desk of the team would otherwise read its panel again on each assignment).
  function concernsMe(type, data) {
    const root = panel();
    const shown = (id) => Boolean(root && root.querySelector(`[data-call-id="${Number(id)}"]`));
    switch (type) {
      case "call.updated":
        return data.agent_id === me || data.state === "waiting" || shown(data.id);
      case "assignment.changed":
        return Boolean((data.assignee && data.assignee.id === me) ||
          (root && root.querySelector("[data-ringing]")));
      case "presence.changed":
        return Boolean(data.user && data.user.id === me);
      case "expert.invited":
        return true; // sent to the invited expert only
      default:
        return false;
    }
  }

  document.addEventListener("teamline:desk-event", (event) => {
    const detail = event.detail || {};
    if (concernsMe(detail.type, detail.data || {})) refresh();
  });
  document.addEventListener("teamline:desk-resync", refresh);

  // The browser-media code hands over its streams for the panel to show.
  document.addEventListener("teamline:call-media", (event) => {
    const detail = event.detail || {};
    if (!detail.call_id) return;
    streams.set(Number(detail.call_id), { local: detail.local, remote: detail.remote });
    placeMedia(Number(detail.call_id));
  });
  document.addEventListener("teamline:call", (event) => {
    const detail = event.detail || {};
    if (detail.action === "ended" && detail.call) streams.delete(Number(detail.call.id));
  });

  function start() {
    refresh();
    window.setInterval(tick, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start, { once: true });
  } else {
    start();
  }
})();
