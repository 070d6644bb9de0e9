/*
 * Teamline desk: live updates.
 *
 * The server renders everything. This script keeps one socket to /ws/desk/ and, when an event
 * arrives, asks the server for the same partials the page was built from (htmx.ajax with the
 * partial's id as target: the view picks the partial from the HX-Target header). A push is only
 * a notification: on every (re)connect the open partials are fetched again from the database.
 */
(() => {
  "use strict";

  const me = Number(document.body.dataset.userId || 0);
  const main = document.getElementById("main");
  const conversationId = Number((main && main.dataset.conversationId) || 0) || null;
  const byId = (id) => document.getElementById(id);

  // --- Announcements (polite live region) ------------------------------------------------

  function announce(text) {
    const region = byId("desk-announcer");
    if (!region || !text) return;
    // Clear first so the same sentence twice is announced twice.
    region.textContent = "";
    window.setTimeout(() => { region.textContent = text; }, 60);
  }

  let connectionTimer = null;
  function connectionStatus(text, clearAfterMs) {
    const region = byId("desk-connection");
    if (!region) return;
    window.clearTimeout(connectionTimer);
    region.textContent = text;
    if (clearAfterMs) {
      connectionTimer = window.setTimeout(() => { region.textContent = ""; }, clearAfterMs);
    }
  }

  // Server-sent HX-Trigger events.
  document.body.addEventListener("desk:announce", (event) => announce(event.detail.value));
  document.body.addEventListener("desk:history", () => { refreshHistory(); });

  // --- Focus after swaps -----------------------------------------------------------------

  // htmx keeps focus on an element whose id survives the swap; when the focused control went
  // away (e.g. "Resolve" became "Reopen"), the form says where focus goes instead.
  document.body.addEventListener("htmx:afterSettle", (event) => {
    const config = event.detail.requestConfig;
    const source = config && config.elt;
    const selector = source && source.getAttribute && source.getAttribute("data-focus-after");
    const active = document.activeElement;
    if (!selector || (active && active !== document.body && active.isConnected)) return;
    const next = document.querySelector(selector);
    if (next) next.focus();
  });

  // A callback's call (Call now) follows call.updated: the status partial is read again and
  // its call line ("Dialling…", "On the call…", "Last call at 14:05: the customer did not
  // answer.") is said once each time it changes — not at page load.
  let callNote = null;
  function noteCall(say) {
    const note = document.querySelector("#conversation-status [data-call-note]");
    const key = note ? note.dataset.callNote : "";
    if (say && key && key !== callNote) announce(note.textContent.trim());
    callNote = key;
  }
  noteCall(false);
  document.body.addEventListener("htmx:afterSettle", (event) => {
    const target = event.detail && event.detail.target;
    if (target && target.id === "conversation-status") noteCall(true);
  });

  // Tell a screen reader what the status filter now shows.
  document.body.addEventListener("htmx:afterSettle", (event) => {
    const config = event.detail.requestConfig;
    if (config && config.elt && config.elt.matches && config.elt.matches("form.filter")) {
      const summary = byId("inbox-summary");
      const heading = byId("inbox-list-heading");
      if (summary && heading) announce(`${heading.textContent}. ${summary.textContent}`);
    }
  });

  // --- Teamline temporarily unavailable (503: its database cannot be reached) -------------

  // The desk says so once in its status region, asks /health/ until Teamline answers again
  // (waiting longer each time, at most 10 s), then reads what it shows again and says it is
  // back. Nothing needs a reload.
  let unavailable = false;
  // Set by the socket code below (signed-in pages only): reconnect at once when Teamline is back.
  const liveHooks = { back: null };
  function checkHealth(delay) {
    window.setTimeout(async () => {
      let healthy = false;
      try {
        const response = await fetch("/health/", {
          headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin",
        });
        healthy = response.ok;
      } catch (_) {
        healthy = false;
      }
      if (!healthy) { checkHealth(Math.min(10000, delay * 2)); return; }
      unavailable = false;
      connectionStatus("Teamline is back.", 4000);
      whenHtmx(resync);
      if (liveHooks.back) liveHooks.back();
    }, delay);
  }
  function teamlineUnavailable() {
    if (unavailable) return;
    unavailable = true;
    connectionStatus("Teamline is temporarily unavailable. Reconnecting…");
    checkHealth(1000);
  }

  document.body.addEventListener("htmx:responseError", (event) => {
    if (event.detail.xhr && event.detail.xhr.status === 503) { teamlineUnavailable(); return; }
    announce("Something went wrong on the server. Please try again.");
  });
  document.body.addEventListener("htmx:sendError", () => {
    announce("The server could not be reached. Please try again.");
  });

  // Drop any message rendered twice (a reply's own refresh racing the socket event).
  document.body.addEventListener("htmx:afterSwap", (event) => {
    const list = event.detail.target;
    if (!list || list.id !== "history-list") return;
    const seen = new Set();
    for (const item of Array.from(list.querySelectorAll("li[data-message-id]"))) {
      if (seen.has(item.id)) item.remove();
      else seen.add(item.id);
    }
  });

  // A live refresh that brings nothing new is not swapped in: re-rendering identical content
  // would move a screen reader's reading position for no reason.
  function comparable(root) {
    const clone = root.cloneNode(true);
    for (const field of clone.querySelectorAll('input[name="csrfmiddlewaretoken"], input[name="client_id"]')) {
      field.remove();
    }
    return clone.innerHTML.replace(/\s+/g, " ").trim();
  }
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const config = event.detail.requestConfig;
    const target = event.detail.target;
    if (!config || !config.headers || !config.headers["X-Desk-Refresh"] || !target) return;
    if (!event.detail.shouldSwap || event.detail.xhr.status !== 200) return;
    const incoming = document.createElement("template");
    incoming.innerHTML = event.detail.serverResponse;
    const oob = Array.from(incoming.content.querySelectorAll("[hx-swap-oob]"));
    for (const piece of oob) piece.remove();
    const wrapper = document.createElement("div");
    wrapper.append(incoming.content.cloneNode(true));
    if (comparable(wrapper) !== comparable(target)) return;
    for (const piece of oob) {
      const current = piece.id && document.getElementById(piece.id);
      if (!current) return;
      piece.removeAttribute("hx-swap-oob");
      const a = document.createElement("div");
      const b = document.createElement("div");
      a.append(piece.cloneNode(true));
      b.append(current.cloneNode(true));
      if (comparable(a) !== comparable(b)) return;
    }
    event.detail.shouldSwap = false;
  });

  // "Copy token" (only with JS: without it the field is still selectable).
  function enableCopyButtons(root) {
    for (const button of root.querySelectorAll("button[data-copy]")) {
      if (button.dataset.copyReady) continue;
      button.dataset.copyReady = "1";
      button.hidden = false;
      button.addEventListener("click", async () => {
        const field = document.querySelector(button.dataset.copy);
        if (!field) return;
        try {
          await navigator.clipboard.writeText(field.value);
          announce("Token copied to the clipboard.");
        } catch (_) {
          field.select();
          announce("Copying is not allowed here: the token is selected, copy it with your keyboard.");
        }
      });
    }
  }

  if (!me) return; // signed out (login page): nothing live

  // --- Re-rendering partials -------------------------------------------------------------

  function whenHtmx(fn) {
    if (window.htmx) return fn();
    document.addEventListener("DOMContentLoaded", fn, { once: true });
    return undefined;
  }

  let inboxTimer = null;
  function refreshInbox() {
    if (!byId("inbox-list")) return;
    window.clearTimeout(inboxTimer);
    // Coalesce bursts of events into one re-render.
    inboxTimer = window.setTimeout(() => {
      htmx.ajax("GET", location.pathname + location.search, {
        target: "#inbox-list", swap: "innerHTML", headers: { "X-Desk-Refresh": "1" },
      });
    }, 200);
  }

  // --- Patching from the pushed payload ------------------------------------------------------
  //
  // A conversation event carries the whole conversation (docs/events.md). When nothing that
  // decides which list a row belongs to or what the status partial shows has changed (status,
  // priority, team, assignee, waiting since), the row is updated in place from the payload — its
  // time and unread count, moved to where the inbox's order puts it — and the status partial is
  // not read again. Anything else (a row we do not have, a changed state, a focused row that would
  // have to move) falls back to reading the partial again. Text goes in as text, never as HTML.

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const pad = (n) => String(n).padStart(2, "0");
  // The server renders times in UTC (settings.TIME_ZONE) as "j M H:i".
  function shortTime(date) {
    return `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}`;
  }

  function rowState(data) {
    const assignee = data.assignee ? data.assignee.id : "";
    const team = data.team ? data.team.id : "";
    return `${data.status}|${data.priority}|${team}|${assignee}|${data.waiting_since || ""}`;
  }

  function rowKey(row) {
    return [Number(row.dataset.priority), Number(row.dataset.lastMessageAt || 0),
      Number(row.dataset.conversationId)];
  }
  // True when row a comes before row b: -priority, -last_message_at, -pk.
  function before(a, b) {
    for (let i = 0; i < 3; i += 1) {
      if (a[i] !== b[i]) return a[i] > b[i];
    }
    return false;
  }

  // Returns false when the row cannot be patched and the list must be read again.
  function patchInboxRow(data) {
    const list = byId("inbox-list");
    const row = list && list.querySelector(`li[data-conversation-id="${Number(data.id)}"]`);
    if (!row || row.dataset.rowState !== rowState(data)) return false;
    const customer = row.querySelector(".row-customer");
    const last = row.querySelector(".row-last");
    const unread = row.querySelector(".row-unread");
    if (!customer || !last || !unread || !data.last_message_at) return false;
    if (customer.textContent !== ((data.customer && data.customer.name) || "")) return false;
    const at = new Date(data.last_message_at);
    if (Number.isNaN(at.getTime())) return false;
    const seconds = Math.floor(at.getTime() / 1000);
    // Where the inbox's order puts the row now; a row holding focus is not moved by hand.
    const rows = Array.from(row.parentElement.children).filter((r) => r !== row);
    if (rows.some((r) => !r.dataset.lastMessageAt)) return false;
    const key = [Number(data.priority), seconds, Number(data.id)];
    const next = rows.find((r) => before(key, rowKey(r))) || null;
    if (next !== row.nextElementSibling && row.contains(document.activeElement)) return false;

    if (row.dataset.lastMessageAt !== String(seconds)) {
      const time = document.createElement("time");
      time.setAttribute("datetime", data.last_message_at);
      time.textContent = shortTime(at);
      last.replaceChildren("Last message ", time);
      row.dataset.lastMessageAt = String(seconds);
    }
    const count = Number(data.unread_count) || 0;
    const shown = unread.querySelector(".badge.unread");
    if (!count) unread.replaceChildren();
    else if (!shown || shown.textContent !== `${count} unread`) {
      const comma = document.createElement("span");
      comma.className = "visually-hidden";
      comma.textContent = ",";
      const badge = document.createElement("span");
      badge.className = "badge unread";
      badge.textContent = `${count} unread`;
      unread.replaceChildren(comma, " ", badge);
    }
    if (next !== row.nextElementSibling) row.parentElement.insertBefore(row, next);
    return true;
  }

  function inboxChanged(data) {
    if (!byId("inbox-list")) return;
    if (!patchInboxRow(data)) refreshInbox();
  }

  // The status partial shows the conversation's state; a new message alone leaves it as it is.
  let statusState = null;
  const statusRoot = byId("conversation-status");
  if (statusRoot && statusRoot.dataset.state) statusState = statusRoot.dataset.state;
  function statusChanged(data) {
    const state = rowState(data);
    if (statusState !== null && state === statusState) return;
    statusState = state;
    refreshStatus();
  }

  let statusTimer = null;
  function refreshStatus() {
    if (!byId("conversation-status")) return;
    window.clearTimeout(statusTimer);
    statusTimer = window.setTimeout(() => {
      htmx.ajax("GET", location.pathname, {
        target: "#conversation-status", swap: "innerHTML", headers: { "X-Desk-Refresh": "1" },
      });
    }, 200);
  }

  // One history fetch at a time, each asking only for what is newer than the last item shown,
  // so the log region announces new messages and nothing is appended twice.
  let historyChain = Promise.resolve();
  function refreshHistory() {
    if (!byId("history-list") || !conversationId) return historyChain;
    historyChain = historyChain
      .then(() => {
        const list = byId("history-list");
        const items = list.querySelectorAll("li[data-message-id]");
        const last = items.length ? items[items.length - 1].dataset.messageId : "";
        const url = `${location.pathname}?after=${encodeURIComponent(last || "0")}`;
        return htmx.ajax("GET", url, { target: "#history-list", swap: "beforeend" });
      })
      .catch(() => {});
    return historyChain;
  }

  function refreshMessage(data) {
    const item = byId(`message-${data.id}`);
    if (!item) { refreshHistory(); return; }
    htmx.ajax("GET", location.pathname, {
      target: `#message-${data.id}`, swap: "outerHTML", headers: { "X-Desk-Refresh": "1" },
    });
    if (data.delivery_status === "failed") {
      // Teamline's own messages (promises, reminders) fail too: say which kind it was.
      const what = data.sender_kind === "system" ? "A message from Teamline" : "A reply";
      announce(`${what} could not be delivered: ${data.delivery_error || "no reason given"}.`);
    }
  }

  // The supervisors' live calls: at most one refresh every LIVE_CALLS_EVERY_MS however many
  // calls change (a busy contact center changes several a second), and a summary announced
  // only when it changed and at most every LIVE_CALLS_ANNOUNCE_MS — never per second.
  const LIVE_CALLS_EVERY_MS = 3000;
  const LIVE_CALLS_ANNOUNCE_MS = 15000;
  let liveCallsTimer = null;
  let liveCallsAt = 0;
  let liveCallsSaid = null;
  let liveCallsSaidAt = 0;
  function refreshLiveCalls() {
    if (!byId("live-calls") || liveCallsTimer) return;
    const wait = Math.max(0, liveCallsAt + LIVE_CALLS_EVERY_MS - Date.now());
    liveCallsTimer = window.setTimeout(() => {
      liveCallsTimer = null;
      liveCallsAt = Date.now();
      htmx.ajax("GET", location.pathname, {
        target: "#live-calls", swap: "innerHTML", headers: { "X-Desk-Refresh": "1" },
      });
    }, wait);
  }
  function liveCallsSummary() {
    const summary = byId("live-calls-summary");
    const counts = summary && summary.firstChild;
    return counts ? counts.textContent.trim() : "";
  }
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (!event.detail.target || event.detail.target.id !== "live-calls") return;
    const text = liveCallsSummary();
    const now = Date.now();
    if (liveCallsSaid === null) liveCallsSaid = text;
    if (text === liveCallsSaid || now - liveCallsSaidAt < LIVE_CALLS_ANNOUNCE_MS) return;
    const config = event.detail.requestConfig;
    if (!config || !config.headers || !config.headers["X-Desk-Refresh"]) {
      liveCallsSaid = text; // a button's own response announces itself
      return;
    }
    liveCallsSaid = text;
    liveCallsSaidAt = now;
    announce(text);
  });
  if (byId("live-calls")) liveCallsSaid = liveCallsSummary();

  function resync() {
    refreshInbox();
    refreshStatus();
    refreshHistory();
    document.dispatchEvent(new CustomEvent("teamline:desk-resync"));
    refreshLiveCalls();
  }

  // --- Typing --------------------------------------------------------------------------

  let typingClear = null;
  function showTyping(data) {
    const indicator = byId("typing-indicator");
    const conversation = Number(data.conversation ?? data.conversation_id ?? 0);
    if (!indicator || !conversationId || conversation !== conversationId) return;
    if (data.from === "agent" && data.user && data.user.id === me) return; // my own
    const sentence = data.from === "agent"
      ? `${data.name || (data.user && data.user.name) || "Another agent"} is typing…`
      : "Customer is typing…";
    window.clearTimeout(typingClear);
    if (data.state) {
      // Unchanged text is not re-announced.
      if (indicator.textContent !== sentence) indicator.textContent = sentence;
      typingClear = window.setTimeout(() => { indicator.textContent = ""; }, 8000);
    } else {
      indicator.textContent = "";
    }
  }

  let typing = false;
  let typingSentAt = 0;
  let typingIdle = null;
  function stopTyping() {
    window.clearTimeout(typingIdle);
    if (typing) send({ type: "typing", conversation: conversationId, state: false });
    typing = false;
  }
  document.addEventListener("input", (event) => {
    if (!conversationId || !event.target || event.target.id !== "reply-text") return;
    const now = Date.now();
    // Debounced: "typing" once, repeated every few seconds while it goes on, "stopped"
    // after a pause.
    if (!typing || now - typingSentAt > 4000) {
      send({ type: "typing", conversation: conversationId, state: true });
      typing = true;
      typingSentAt = now;
    }
    window.clearTimeout(typingIdle);
    typingIdle = window.setTimeout(stopTyping, 3000);
  });
  document.addEventListener("submit", (event) => {
    if (event.target && event.target.id === "reply-form") stopTyping();
  });

  // --- Events --------------------------------------------------------------------------

  function onEvent(type, data) {
    switch (type) {
      case "conversation.created":
        refreshInbox();
        if (byId("inbox-list")) {
          announce(`New conversation from ${(data.customer && data.customer.name) || "a customer"}.`);
        }
        break;
      case "call.updated":
        refreshLiveCalls();
        if (data.conversation_id === conversationId) refreshStatus();
        break;
      case "conversation.updated":
      case "assignment.changed":
        refreshLiveCalls(); // who a waiting call rings for
        inboxChanged(data);
        if (data.id === conversationId) statusChanged(data);
        if (type === "assignment.changed" && data.assignee && data.assignee.id === me &&
            data.id !== conversationId) {
          announce(`Conversation with ${(data.customer && data.customer.name) || "a customer"} assigned to you.`);
        }
        break;
      case "verification.updated":
        // Customer step-up: the level and the request's state (never a code) are in the
        // status partial; a change the agent did not cause is said in the live region.
        if (data.conversation_id === conversationId) {
          refreshStatus();
          const state = data.step_up && data.step_up.state;
          if (state === "verified") announce("The customer is verified.");
          else if (state === "failed") announce("Verification failed: too many wrong codes.");
          else if (state === "expired") announce("Verification expired.");
        }
        break;
      case "expert.invited": {
        // Someone asked me to help in a conversation: it is in my inbox ("Helping as an expert").
        refreshInbox();
        const who = (data.invited_by && data.invited_by.name) || "A colleague";
        const customer = (data.conversation && data.conversation.customer &&
          data.conversation.customer.name) || "a customer";
        announce(`${who} invited you to help with the conversation with ${customer}.`);
        break;
      }
      case "message.updated":
        // Delivery progress (queued → sent → delivered / failed): re-render that message.
        if (data.conversation_id === conversationId) refreshMessage(data);
        break;
      case "message.created":
        if (data.conversation_id === conversationId) {
          if (data.sender_kind === "customer") {
            const indicator = byId("typing-indicator");
            if (indicator) indicator.textContent = "";
          }
          refreshHistory();
        }
        break;
      case "typing":
        showTyping(data);
        break;
      case "outage.suspected":
        // Supervisors decide on the Outages page; everyone of the region's team hears it.
        announce(`Suspected outage in ${data.region || "a region"}${data.site ? `, site ${data.site}` : ""}: ${data.observed} signals where about ${data.expected} are usual. See the Outages page.`);
        break;
      case "outage.updated": {
        const outage = data.outage || {};
        announce(outage.active ? `Outage declared: ${outage.title} (${(outage.regions || []).join(", ")}).` : `Outage ended: ${outage.title}.`);
        break;
      }
      case "presence.changed": {
        // Changed in another tab or by an admin: keep the switch truthful, silently.
        const select = byId("presence-select");
        if (select && data.user && data.user.id === me) select.value = data.presence;
        break;
      }
      default:
        break;
    }
  }

  // --- Socket --------------------------------------------------------------------------

  let socket = null;
  let reconnectTimer = null;
  let attempts = 0;
  let interrupted = false;

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/desk/`);
    socket.addEventListener("open", () => {
      attempts = 0;
      if (conversationId) send({ type: "subscribe", conversation: conversationId });
      if (interrupted) connectionStatus("Live updates are back.", 4000);
      interrupted = false;
      // Anything pushed while we were not listening (before the first connect too) is read
      // again from the database.
      whenHtmx(resync);
    });
    socket.addEventListener("message", (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch (_) { return; }
      if (frame.type === "event") {
        onEvent(frame.event, frame.data || {});
        // Other desk scripts (calls.js, webrtc.js) follow the same events.
        document.dispatchEvent(new CustomEvent("teamline:desk-event", {
          detail: { type: frame.event, data: frame.data || {} },
        }));
      }
      // An error about a call's signalling (webrtc.js says it in the call panel).
      else if (frame.type === "error" && frame.call_id !== undefined) {
        document.dispatchEvent(new CustomEvent("teamline:desk-error", { detail: frame }));
      }
      // The server may have lost pushes while this socket stayed open (its channel layer was
      // interrupted): read everything shown again from the database, quietly.
      else if (frame.type === "resync") whenHtmx(resync);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401) {
        connectionStatus("You are signed out. Sign in again to get live updates.");
        return;
      }
      // 4408: this browser's session was ended (signed out elsewhere, a password change, an
      // admin, the idle timeout). Say so, then reload: the server answers with the sign-in page.
      if (event.code === 4408) {
        connectionStatus("Your session has ended. Taking you to the sign-in page…");
        window.setTimeout(() => window.location.reload(), 2000);
        return;
      }
      if (!interrupted) {
        interrupted = true;
        connectionStatus("Live updates interrupted. Reconnecting…");
      }
      // Exponential backoff with jitter, at most 30 s.
      const delay = Math.min(30000, 1000 * 2 ** attempts) * (0.5 + Math.random() / 2);
      attempts += 1;
      reconnectTimer = window.setTimeout(connect, delay);
    });
  }

  // Other desk scripts send frames over this socket (webrtc.js: a call's signalling). A frame
  // sent while the socket is down is dropped: WebRTC's own retries and the call's end cover it.
  document.addEventListener("teamline:desk-send", (event) => {
    if (event.detail && typeof event.detail === "object") send(event.detail);
  });

  // The socket could not connect while Teamline's database was unreachable: once /health/
  // answers again, do not wait for the rest of the backoff.
  liveHooks.back = () => {
    if (socket && socket.readyState <= WebSocket.OPEN) return;
    window.clearTimeout(reconnectTimer);
    attempts = 0;
    connect();
  };

  function start() {
    enableCopyButtons(document);
    if (window.htmx) htmx.onLoad((element) => enableCopyButtons(element));
    connect();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start, { once: true });
  } else {
    start();
  }
})();
