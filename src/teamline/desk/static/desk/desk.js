/*
 * Teamline desk: live updates.
 *
 * The server renders everything. This script keeps one socket to /ws/desk/ and, when an event
 * arrives, asks the server for the same partials the page was built from (`readPart`: htmx.ajax
 * with the partial's id as target, the view picks the partial from the HX-Target header). A push
 * is only a notification: on every (re)connect the open partials are fetched again from the
 * database.
 */
(() => {
  "use strict";

  const me = Number(document.body.dataset.userId || 0);
  const byId = (id) => document.getElementById(id);

  // Reads a part of the page (`target`, a selector) again, made for that part: htmx serialises
  // reads by the element they are made for, and a read made for no element is made for <body>,
  // where a read waiting behind another is replaced by the next one of any part (a note's history
  // read lost behind a message's status read). Made for its own part, a read waits only behind a
  // read of the same part, and the newest of those wins, as a refresh should.
  function readPart(url, target, swap, headers) {
    return htmx.ajax("GET", url, { source: target, target, swap, headers });
  }

  // The open conversation: the middle pane's (#main). Switching conversations in the three
  // panes swaps that pane (htmx), so it is read again then (openedConversation below).
  const openIn = (main) => Number((main && main.dataset.conversationId) || 0) || null;
  let conversationId = openIn(byId("main"));
  // The open conversation's URL, where its partials (status, history, a message) are read.
  const conversationUrl = () => {
    const main = byId("main");
    return (main && main.dataset.conversationUrl) || location.pathname;
  };
  // The desk's strings in the agent's language: Django's JavaScript catalog (/desk/jsi18n/,
  // loaded before this script); English as written when it is missing.
  const _ = (text) => (window.gettext ? window.gettext(text) : text);
  const fmt = (text, values) => (window.interpolate
    ? window.interpolate(text, values, true)
    : text.replace(/%\((\w+)\)s/g, (m, key) => String(values[key])));

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
      } catch (_err) {
        healthy = false;
      }
      if (!healthy) { checkHealth(Math.min(10000, delay * 2)); return; }
      unavailable = false;
      connectionStatus(_("Teamline is back."), 4000);
      whenHtmx(resync);
      if (liveHooks.back) liveHooks.back();
    }, delay);
  }
  function teamlineUnavailable() {
    if (unavailable) return;
    unavailable = true;
    connectionStatus(_("Teamline is temporarily unavailable. Reconnecting…"));
    checkHealth(1000);
  }

  document.body.addEventListener("htmx:responseError", (event) => {
    if (event.detail.xhr && event.detail.xhr.status === 503) { teamlineUnavailable(); return; }
    announce(_("Something went wrong on the server. Please try again."));
  });
  document.body.addEventListener("htmx:sendError", () => {
    announce(_("The server could not be reached. Please try again."));
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
          announce(_("Token copied to the clipboard."));
        } catch (_err) {
          field.select();
          announce(_("Copying is not allowed here: the token is selected, copy it with your keyboard."));
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

  // The conversation list's own URL (the inbox view and status filter it shows): the same on
  // the inbox and beside an open conversation.
  function listUrl() {
    const pane = byId("list-pane");
    return (pane && pane.dataset.listUrl) || location.pathname + location.search;
  }

  let inboxTimer = null;
  function refreshInbox() {
    if (!byId("inbox-list")) return;
    window.clearTimeout(inboxTimer);
    // Coalesce bursts of events into one re-render.
    inboxTimer = window.setTimeout(() => {
      readPart(listUrl(), "#inbox-list", "innerHTML", { "X-Desk-Refresh": "1" });
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
  const lang = document.documentElement.lang || "en";
  // The server renders times in UTC (settings.TIME_ZONE): "j M H:i" in English, else the
  // language's day and month (CLDR, as Babel does on the server) and the 24-hour time.
  const dayMonth = /^en\b/.test(lang) ? null
    : new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", timeZone: "UTC" });
  // A message's own time ("full"): "j M Y, H:i" in English, else the language's day, month and year.
  const fullDate = /^en\b/.test(lang) ? null
    : new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  function shortTime(date) {
    const clock = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}`;
    if (dayMonth) return `${dayMonth.format(date)} ${clock}`;
    return `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${clock}`;
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
    // Label events carry the labels (conversations/labels.py): a change re-reads the row.
    if (Array.isArray(data.labels) && data.labels.map((l) => l.id).join(",") !== (row.dataset.labels || "")) return false;
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
      last.replaceChildren(`${_("Last message")} `, time);
      row.dataset.lastMessageAt = String(seconds);
    }
    const count = Number(data.unread_count) || 0;
    const shown = unread.querySelector(".badge.unread");
    if (!count) unread.replaceChildren();
    else if (!shown || shown.textContent !== fmt(_("%(n)s unread"), { n: count })) {
      const comma = document.createElement("span");
      comma.className = "visually-hidden";
      comma.textContent = ",";
      const badge = document.createElement("span");
      badge.className = "badge unread";
      badge.textContent = fmt(_("%(n)s unread"), { n: count });
      unread.replaceChildren(comma, " ", badge);
    }
    if (next !== row.nextElementSibling) row.parentElement.insertBefore(row, next);
    return true;
  }

  // --- Which conversations the list shows --------------------------------------------------
  //
  // The list is one inbox view (desk/views.py VIEWS: mine / unassigned / team, all in the agent's
  // teams) for one status and perhaps one label, and its navigation counts each view for that
  // status and label. Every desk hears its whole team, so most events are about conversations
  // the list has no row for. The list is read again only when an event can change what it shows:
  // a row that must appear (the conversation belongs in this view now), a row whose state changed
  // (it changes, moves or leaves), or a view's count that changed (the conversation entered or
  // left one of the three views). For that the desk keeps the last state it saw of every
  // conversation (`seen`), from the rows and from every pushed payload. A new message never
  // changes which views count its conversation (routing and status changes send their own
  // events, docs/events.md), so an unknown conversation's message only says where it is now.

  const seen = new Map(); // conversation id → { status, assignee, labels } (labels: null = unknown)

  function facts(data, prev) {
    let labels = prev ? prev.labels : null;
    if (Array.isArray(data.labels)) labels = data.labels.map((l) => l.id).join(",");
    return { status: data.status, assignee: data.assignee ? Number(data.assignee.id) : 0, labels };
  }

  // The list's view, status and label as the server rendered them (#inbox-summary).
  function listFilter() {
    const summary = byId("inbox-summary");
    if (!summary || !summary.dataset.view || !summary.dataset.status) return null;
    return {
      view: summary.dataset.view,
      status: summary.dataset.status,
      label: summary.dataset.label || "",
      capped: summary.dataset.capped === "1",
    };
  }

  // The views that count a conversation with these facts under the list's status and label
  // ("team" counts every conversation this desk hears of), or null when a label filter is on
  // and the conversation's labels are unknown.
  function countedIn(f, filter) {
    if (f.status !== filter.status) return "";
    if (filter.label) {
      if (f.labels === null) return null;
      if (!f.labels.split(",").includes(filter.label)) return "";
    }
    return `team${f.assignee === me ? ",mine" : ""}${f.assignee ? "" : ",unassigned"}`;
  }

  // kind: "created" (it did not exist), "message" (a new message: its views are unchanged),
  // "updated" (anything else).
  function inboxChanged(data, kind) {
    const id = Number(data.id);
    if (!id) return;
    const prev = seen.get(id);
    const now = facts(data, prev);
    seen.set(id, now);
    const list = byId("inbox-list");
    if (!list) return;
    if (patchInboxRow(data)) return;
    // A row whose state changed: it changes, moves or leaves.
    if (list.querySelector(`li[data-conversation-id="${id}"]`)) { refreshInbox(); return; }
    const filter = listFilter();
    if (!filter) { refreshInbox(); return; }
    const after = countedIn(now, filter);
    if (after === null) {
      // Labels unknown under a label filter: a message moves its conversation to the top, so
      // only a list showing the first rows of more may have to show it.
      if (kind !== "message" || filter.capped) refreshInbox();
      return;
    }
    // The row must appear.
    if (after.split(",").includes(filter.view)) { refreshInbox(); return; }
    let before;
    if (kind === "created") before = "";
    else if (prev) before = countedIn(prev, filter);
    else before = kind === "message" ? after : undefined;
    // A view's count may have changed (unknown before: read once, then it is known).
    if (before !== after) refreshInbox();
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
      readPart(conversationUrl(), "#conversation-status", "innerHTML",
        { "X-Desk-Refresh": "1", "X-Desk-Conversation": String(conversationId) });
    }, 200);
  }

  // One history fetch at a time, each asking only for what is newer than the last item shown,
  // so the log region announces new messages and nothing is appended twice.
  let historyChain = Promise.resolve();
  function refreshHistory() {
    if (!byId("history-list") || !conversationId) return historyChain;
    historyChain = historyChain.then(fetchNewer).catch(() => {});
    return historyChain;
  }
  function fetchNewer() {
    const list = byId("history-list");
    if (!list || !conversationId) return undefined;
    const items = list.querySelectorAll("li[data-message-id]");
    const last = items.length ? items[items.length - 1].dataset.messageId : "";
    const url = `${conversationUrl()}?after=${encodeURIComponent(last || "0")}`;
    return readPart(url, "#history-list", "beforeend",
      { "X-Desk-Conversation": String(conversationId) });
  }

  // A customer's plain message (no attachments, no email, no structured content) is added to
  // the history from the pushed payload instead of being read again: an earlier plain message of
  // the same customer on the same channel is the pattern (its author and channel words are the
  // server's, in the agent's language; a remote agent's socket masked the text already). Appended
  // to the log like a fetched message, so its live region announces it and focus stays where it
  // is. Having read it is said over the socket once for a burst, not per message. Anything else,
  // or no pattern to follow, is read from the server as before.
  let readTimer = null;
  function showPushedMessage(data) {
    const id = Number(data.id);
    const at = new Date(data.created_at);
    const content = data.content && typeof data.content === "object" ? data.content : {};
    // Without its conversation (it started, reopened or re-routed it: docs/events.md), the
    // history is read, which also marks it read for its assignee.
    const plain = data.conversation && data.sender_kind === "customer" && data.direction === "in" && !data.is_internal &&
      !data.automated && typeof data.text === "string" && data.text !== "" &&
      Object.keys(content).length === 0 && id > 0 && !Number.isNaN(at.getTime());
    if (!plain) { refreshHistory(); return; }
    historyChain = historyChain.then(() => {
      // Another conversation was opened meanwhile (three panes): its history is not this one's.
      if (Number(data.conversation_id) !== conversationId) return undefined;
      const list = byId("history-list");
      if (!list || byId(`message-${id}`)) return undefined;
      const items = Array.from(list.querySelectorAll("li[data-message-id]"));
      const last = items.length ? Number(items[items.length - 1].dataset.messageId) : 0;
      const pattern = items.reverse().find((item) => item.matches(".from-customer") &&
        item.dataset.channel === String(data.channel) && !item.matches(".internal-note, .automated") &&
        !item.querySelector(".attachments, .attachment-errors, .attachment-pending, .email-subject, .email-html, .proactive, .unverified, .delivery"));
      // Older than what is shown (a fetch brought it already, or it is out of order): read.
      if (!pattern || id <= last) return fetchNewer();
      const item = pattern.cloneNode(true);
      item.id = `message-${id}`;
      item.dataset.messageId = String(id);
      const time = item.querySelector(".message-meta time");
      const body = item.querySelector(".message-text");
      if (!time || !body) return fetchNewer();
      time.setAttribute("datetime", data.created_at);
      const clock = `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}`;
      time.textContent = fullDate
        ? `${fullDate.format(at)} ${clock}`
        : `${at.getUTCDate()} ${MONTHS[at.getUTCMonth()]} ${at.getUTCFullYear()}, ${clock}`;
      // As the server's linebreaksbr: text nodes and <br>, never HTML.
      const lines = data.text.replace(/\r\n?/g, "\n").split("\n");
      body.replaceChildren(...lines.flatMap((line, i) => (i ? [document.createElement("br"), line] : [line])));
      list.append(item);
      document.dispatchEvent(new CustomEvent("teamline:history-added"));
      // Only the assignee's reading counts (as when the history was read again).
      const conversation = data.conversation || {};
      if (conversation.assignee && conversation.assignee.id === me && conversation.unread_count) {
        window.clearTimeout(readTimer);
        const read = Number(data.conversation_id);
        readTimer = window.setTimeout(() => send({ type: "read", conversation: read }), 500);
      }
      return undefined;
    }).catch(() => {});
  }

  function refreshMessage(data) {
    const item = byId(`message-${data.id}`);
    if (!item) { refreshHistory(); return; }
    readPart(conversationUrl(), `#message-${data.id}`, "outerHTML",
      { "X-Desk-Refresh": "1", "X-Desk-Conversation": String(conversationId) });
    if (data.delivery_status === "failed") {
      // Teamline's own messages (promises, reminders) fail too: say which kind it was.
      const reason = data.delivery_error || _("no reason given");
      announce(data.sender_kind === "system"
        ? fmt(_("A message from Teamline could not be delivered: %(reason)s."), { reason })
        : fmt(_("A reply could not be delivered: %(reason)s."), { reason }));
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
      readPart(location.pathname, "#live-calls", "innerHTML", { "X-Desk-Refresh": "1" });
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

  // --- Supervising conversations (docs/desk.md) ---------------------------------------------
  //
  // "Conversations now" is read again when a conversation or message event arrives, at most
  // every LIVE_CALLS_EVERY_MS (a busy center changes several a second). The supervision region
  // of an open conversation — who watches it, the whispers this viewer may read — is read again
  // on supervision.updated and whisper.created.
  let liveConversationsTimer = null;
  let liveConversationsAt = 0;
  function refreshLiveConversations() {
    if (!byId("live-conversations") || liveConversationsTimer) return;
    const wait = Math.max(0, liveConversationsAt + LIVE_CALLS_EVERY_MS - Date.now());
    liveConversationsTimer = window.setTimeout(() => {
      liveConversationsTimer = null;
      liveConversationsAt = Date.now();
      readPart(location.pathname, "#live-conversations", "innerHTML", { "X-Desk-Refresh": "1" });
    }, wait);
  }

  function refreshSupervision() {
    const region = byId("supervision");
    if (!region || !region.dataset.url || !conversationId) return;
    readPart(region.dataset.url, "#supervision", "innerHTML",
      { "X-Desk-Refresh": "1", "X-Desk-Conversation": String(conversationId) });
  }

  // A whisper to me is said in the polite live region, wherever I am in the desk; what a
  // supervisor did to my conversation (barged in, took it over) too. A supervisor starting or
  // stopping to watch only changes the calm note above the history: nothing is announced.
  function onSupervision(type, data) {
    const open = Number(data.conversation_id) === conversationId;
    if (open) refreshSupervision();
    if (type === "whisper.created") {
      if (data.agent && data.agent.id === me) {
        announce(fmt(_("Whisper from %(name)s: %(text)s"),
          { name: (data.author && data.author.name) || _("a supervisor"), text: data.text || "" }));
      }
      return;
    }
    refreshLiveConversations();
    if (data.agent_id !== me || (data.supervisor && data.supervisor.id === me)) return;
    const values = {
      name: (data.supervisor && data.supervisor.name) || _("A supervisor"),
      customer: (data.customer && data.customer.name) || _("a customer"),
    };
    if (data.action === "takeover") {
      refreshInbox();
      announce(fmt(_("%(name)s took over the conversation with %(customer)s."), values));
    } else if (data.action === "barge") {
      announce(fmt(_("%(name)s joined the conversation with %(customer)s and wrote to the customer."), values));
    }
  }

  // What the list's rows show is the last state seen of their conversations.
  function seeRows() {
    const list = byId("inbox-list");
    if (!list) return;
    for (const row of list.querySelectorAll("li[data-conversation-id][data-row-state]")) {
      const [status, , , assignee] = row.dataset.rowState.split("|");
      seen.set(Number(row.dataset.conversationId), {
        status, assignee: Number(assignee) || 0, labels: row.dataset.labels || "",
      });
    }
  }
  seeRows();

  function resync() {
    // Events may have been missed: what was seen of conversations without a row is not trusted.
    seen.clear();
    refreshInbox();
    refreshStatus();
    refreshHistory();
    document.dispatchEvent(new CustomEvent("teamline:desk-resync"));
    refreshLiveCalls();
    refreshLiveConversations();
    refreshSupervision();
  }

  // --- Three panes: switching conversations ---------------------------------------------
  //
  // A row of the list (or a past conversation, or the timeline) swaps the middle and right
  // panes (#desk-panes) and pushes the conversation's URL. The live parts follow the newly
  // open conversation: the socket subscribes to it (and leaves the last one), its status and
  // history are what refreshes read, and the list marks it as the current one. Focus goes to
  // its heading — the agent asked for it. Nothing else moves focus.

  function markCurrent() {
    const list = byId("inbox-list");
    if (!list) return;
    for (const link of list.querySelectorAll("a.conversation-row")) {
      const row = link.closest("li[data-conversation-id]");
      if (row && conversationId && Number(row.dataset.conversationId) === conversationId) {
        link.setAttribute("aria-current", "true");
      } else {
        link.removeAttribute("aria-current");
      }
    }
  }

  function openedConversation() {
    const id = openIn(byId("main"));
    if (id !== conversationId) {
      stopTyping();
      if (conversationId) send({ type: "unsubscribe", conversation: conversationId });
      conversationId = id;
      if (id) send({ type: "subscribe", conversation: id });
    }
    const status = byId("conversation-status");
    statusState = status && status.dataset.state ? status.dataset.state : null;
    callNote = null;
    noteCall(false);
    markCurrent();
    const layout = document.querySelector(".layout-three-pane");
    if (layout) layout.classList.toggle("has-conversation", Boolean(id));
    // The filter now changes the list only: the URL names the open conversation.
    const filter = document.querySelector("#list-pane form.filter");
    if (filter && id) filter.setAttribute("hx-push-url", "false");
    // Unless the agent already moved into the new panes (a shortcut pressed between the swap
    // and its settling, such as Alt+Shift+R right after Alt+Shift+J): that focus is theirs.
    const heading = byId("conversation-heading");
    const panes = byId("desk-panes");
    const active = document.activeElement;
    const movedIn = panes && active && active !== heading && panes.contains(active);
    if (heading && !movedIn) heading.focus({ preventScroll: false });
  }

  document.body.addEventListener("htmx:afterSettle", (event) => {
    const target = event.detail && event.detail.target;
    if (target && target.id === "desk-panes") openedConversation();
    else if (target && target.id === "inbox-list") { markCurrent(); seeRows(); }
    const config = event.detail && event.detail.requestConfig;
    const form = config && config.elt;
    if (form && form.matches && form.matches("#list-pane form.filter")) {
      const pane = byId("list-pane");
      const query = new URLSearchParams(new FormData(form)).toString();
      if (pane) pane.dataset.listUrl = `${form.getAttribute("action")}?${query}`;
    }
  });

  // A refresh asked for one conversation never lands in another one opened meanwhile.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const config = event.detail.requestConfig;
    const asked = config && config.headers && config.headers["X-Desk-Conversation"];
    if (asked && Number(asked) !== conversationId) event.detail.shouldSwap = false;
  });

  // The list row's last message, from a pushed message (its text as this agent may see it).
  function patchPreview(message) {
    const list = byId("inbox-list");
    if (!list || message.is_internal || typeof message.text !== "string") return;
    const row = list.querySelector(
      `li[data-conversation-id="${Number(message.conversation_id)}"] .row-preview`);
    if (!row) return;
    const text = message.text.length > 80 ? `${message.text.slice(0, 79)}…` : message.text;
    const from = message.sender_kind === "customer" ? ""
      : `${SENDERS[message.sender_kind] || message.sender_kind}: `;
    if (row.textContent !== from + text) row.textContent = from + text;
  }
  const SENDERS = {
    agent: _("Agent"), bot: _("Bot"), system: _("System"), customer: _("Customer"),
  };

  // --- Typing --------------------------------------------------------------------------

  let typingClear = null;
  function showTyping(data) {
    const indicator = byId("typing-indicator");
    const conversation = Number(data.conversation ?? data.conversation_id ?? 0);
    if (!indicator || !conversationId || conversation !== conversationId) return;
    if (data.from === "agent" && data.user && data.user.id === me) return; // my own
    const sentence = data.from === "agent"
      ? (data.name || (data.user && data.user.name)
        ? fmt(_("%(name)s is typing…"), { name: data.name || data.user.name })
        : _("Another agent is typing…"))
      : _("Customer is typing…");
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
        inboxChanged(data, "created");
        refreshLiveConversations();
        if (byId("inbox-list")) {
          announce(data.customer && data.customer.name
            ? fmt(_("New conversation from %(name)s."), { name: data.customer.name })
            : _("New conversation from a customer."));
        }
        break;
      case "call.updated":
        refreshLiveCalls();
        if (data.conversation_id === conversationId) refreshStatus();
        break;
      case "conversation.updated":
      case "assignment.changed":
        refreshLiveCalls(); // who a waiting call rings for
        refreshLiveConversations();
        inboxChanged(data, "updated");
        if (data.id === conversationId) statusChanged(data);
        if (type === "assignment.changed" && data.assignee && data.assignee.id === me &&
            data.id !== conversationId) {
          announce(data.customer && data.customer.name
            ? fmt(_("Conversation with %(name)s assigned to you."), { name: data.customer.name })
            : _("Conversation with a customer assigned to you."));
        }
        break;
      case "verification.updated":
        // Customer step-up: the level and the request's state (never a code) are in the
        // status partial; a change the agent did not cause is said in the live region.
        if (data.conversation_id === conversationId) {
          refreshStatus();
          const state = data.step_up && data.step_up.state;
          if (state === "verified") announce(_("The customer is verified."));
          else if (state === "failed") announce(_("Verification failed: too many wrong codes."));
          else if (state === "expired") announce(_("Verification expired."));
        }
        break;
      case "expert.invited": {
        // Someone asked me to help in a conversation: it is in my inbox ("Helping as an expert").
        refreshInbox();
        const who = (data.invited_by && data.invited_by.name) || _("A colleague");
        const customer = (data.conversation && data.conversation.customer &&
          data.conversation.customer.name) || _("a customer");
        announce(fmt(_("%(who)s invited you to help with the conversation with %(customer)s."),
          { who, customer }));
        break;
      }
      case "message.updated":
        // Delivery progress (queued → sent → delivered / failed): re-render that message.
        if (data.conversation_id === conversationId) refreshMessage(data);
        break;
      case "message.created":
        // A new message carries its conversation as it now stands (in place of a separate
        // conversation.updated): the inbox row and the status follow from it.
        patchPreview(data);
        if (data.conversation) refreshLiveConversations();
        if (data.conversation) {
          inboxChanged(data.conversation, "message");
          if (data.conversation.id === conversationId) statusChanged(data.conversation);
        }
        if (data.conversation_id === conversationId) {
          if (data.sender_kind === "customer") {
            const indicator = byId("typing-indicator");
            if (indicator) indicator.textContent = "";
          }
          showPushedMessage(data);
        }
        break;
      case "typing":
        showTyping(data);
        break;
      case "whisper.created":
      case "supervision.updated":
        onSupervision(type, data);
        break;
      case "outage.suspected":
        // Supervisors decide on the Outages page; everyone of the region's team hears it.
        announce(fmt(data.site
          ? _("Suspected outage in %(region)s, site %(site)s: %(observed)s signals where about %(expected)s are usual. See the Outages page.")
          : _("Suspected outage in %(region)s: %(observed)s signals where about %(expected)s are usual. See the Outages page."),
        { region: data.region || _("a region"), site: data.site, observed: data.observed,
          expected: data.expected }));
        break;
      case "outage.updated": {
        const outage = data.outage || {};
        announce(outage.active
          ? fmt(_("Outage declared: %(title)s (%(regions)s)."),
            { title: outage.title, regions: (outage.regions || []).join(", ") })
          : fmt(_("Outage ended: %(title)s."), { title: outage.title }));
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

  // A frame the server refused for load is sent again after its hint plus up to as much again
  // of jitter, if it still applies then (the conversation is still the one shown). A refused
  // call signal is not: WebRTC's own retries cover it, as for a signal sent while offline.
  function sendAgainLater(busy) {
    const delay = 1000 * Math.max(1, Number(busy.retry_after) || 1) * (1 + Math.random());
    window.setTimeout(() => {
      const id = busy.conversation;
      const shown = id !== undefined && String(id) === String(conversationId);
      if (busy.frame === "subscribe" || busy.frame === "watch" || busy.frame === "read") {
        if (shown) send({ type: busy.frame, conversation: id });
      } else if (busy.frame === "unsubscribe" || busy.frame === "unwatch") {
        if (!shown) send({ type: busy.frame, conversation: id });
      } else if (busy.frame === "typing") {
        if (shown) send({ type: "typing", conversation: id, state: typing });
      } else if (busy.frame === "wallboard.subscribe") {
        document.dispatchEvent(new CustomEvent("teamline:desk-resync"));
      }
    }, delay);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/desk/`);
    socket.addEventListener("open", () => {
      attempts = 0;
      if (conversationId) send({ type: "subscribe", conversation: conversationId });
      // A supervisor's watch page: the agent is shown who watches while this socket is open.
      const main = byId("main");
      if (conversationId && main && main.dataset.watch === "1") {
        send({ type: "watch", conversation: conversationId });
      }
      if (interrupted) connectionStatus(_("Live updates are back."), 4000);
      interrupted = false;
      // Anything pushed while we were not listening (before the first connect too) is read
      // again from the database.
      whenHtmx(resync);
    });
    socket.addEventListener("message", (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch (_err) { return; }
      if (frame.type === "event") {
        onEvent(frame.event, frame.data || {});
        // Other desk scripts (calls.js, webrtc.js) follow the same events.
        document.dispatchEvent(new CustomEvent("teamline:desk-event", {
          detail: { type: frame.event, data: frame.data || {} },
        }));
      }
      // A team's wallboard, read again after a change (wallboard.js patches its tables).
      else if (frame.type === "wallboard") {
        document.dispatchEvent(new CustomEvent("teamline:wallboard", { detail: frame.board }));
      }
      // An error about a call's signalling (webrtc.js says it in the call panel).
      else if (frame.type === "error" && frame.call_id !== undefined) {
        document.dispatchEvent(new CustomEvent("teamline:desk-error", { detail: frame }));
      }
      // The server may have lost pushes while this socket stayed open (its channel layer was
      // interrupted): read everything shown again from the database, quietly.
      else if (frame.type === "resync") whenHtmx(resync);
      // Refused for load, not done (docs/websockets.md, "busy"): the same frame again later.
      else if (frame.type === "busy") sendAgainLater(frame);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401) {
        connectionStatus(_("You are signed out. Sign in again to get live updates."));
        return;
      }
      // 4408: this browser's session was ended (signed out elsewhere, a password change, an
      // admin, the idle timeout). Say so, then reload: the server answers with the sign-in page.
      if (event.code === 4408) {
        connectionStatus(_("Your session has ended. Taking you to the sign-in page…"));
        window.setTimeout(() => window.location.reload(), 2000);
        return;
      }
      if (!interrupted) {
        interrupted = true;
        connectionStatus(_("Live updates interrupted. Reconnecting…"));
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

  // The socket opens once every script of the page ran: the others (calls.js, wallboard.js,
  // all deferred, after this one) listen for "teamline:desk-resync" to ask for what they show.
  // Opened at once, a socket that connected before a later script had loaded (a slow answer
  // for wallboard.js) said "resync" to nobody, and that page never asked for its live data.
  // DOMContentLoaded comes after the deferred scripts ran; `load` is the fallback for a page
  // that ran this script later than that.
  let started = false;
  function startOnce() {
    if (started) return;
    started = true;
    start();
  }
  if (document.readyState === "complete") {
    startOnce();
  } else {
    document.addEventListener("DOMContentLoaded", startOnce, { once: true });
    window.addEventListener("load", startOnce, { once: true });
  }
})();
