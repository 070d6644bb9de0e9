/*
 * Teamline wallboard: the tables of desk/_wallboard_board.html, patched in place.
 *
 * On the desk (/desk/wallboard/) the board rides desk.js's socket: each time it (re)connects
 * or is told to resync, this script asks for the boards ({"type": "wallboard.subscribe"}) and
 * gets each one read afresh, then a `wallboard` frame whenever a team's board changes (at most
 * about once a second per team). On a TV (/desk/tv/<token>/) it keeps its own read-only
 * socket, /ws/wallboard/tv/, authenticated by the token of the page's address.
 *
 * Only the cells whose text changed are touched; durations count on locally from the
 * instants the server gave. What changed is summarised in a polite live region, not cell by
 * cell: a new or ended alert at once, the rest at most every SUMMARY_MS per team.
 */
(() => {
  "use strict";

  const main = document.getElementById("main");
  if (!main || !/^wallboard/.test(main.dataset.page || "")) return;
  const tv = main.dataset.page === "wallboard-tv";
  const labelsElement = document.getElementById("wallboard-labels");
  const words = labelsElement ? JSON.parse(labelsElement.textContent) : {};
  const teams = (main.dataset.teams || "").split(",").filter(Boolean).map(Number);
  const SUMMARY_MS = 10000;

  const fmt = (text, values) => String(text || "").replace(/%\((\w+)\)s/g,
    (m, key) => (values[key] === undefined || values[key] === null ? "" : String(values[key])));

  // Server time minus local time, so durations agree with the server's clock.
  let offset = 0;
  function syncClock(at) {
    const server = Date.parse(at);
    if (!Number.isNaN(server)) offset = server - Date.now();
  }
  syncClock(main.dataset.at);

  function clock(seconds) {
    if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
  }
  // Today's figures of a queue (analytics' definitions), in the order of the table's columns.
  const TODAY = ["service_level", "answered", "abandoned", "asa_seconds", "aht_seconds"];
  function percent(fraction) {
    return fraction === null || fraction === undefined ? "–" : `${Math.round(fraction * 100)} %`;
  }
  function count(value) { return value === null || value === undefined ? "–" : String(value); }
  function since(iso) {
    const t = Date.parse(iso || "");
    return Number.isNaN(t) ? null : (Date.now() + offset - t) / 1000;
  }
  function setText(element, text) {
    if (element && element.textContent !== text) element.textContent = text;
  }

  // --- Announcements -------------------------------------------------------------------

  const announcer = document.getElementById(tv ? "wb-announcer" : "desk-announcer");
  function announce(text) {
    if (!announcer || !text) return;
    announcer.textContent = "";
    window.setTimeout(() => { announcer.textContent = text; }, 60);
  }
  const pending = new Map(); // team id → summary not said yet
  const saidAt = new Map(); // team id → when its last summary was said
  let summaryTimer = null;
  function sayLater(teamId, text) {
    pending.set(teamId, text);
    if (!summaryTimer) summaryTimer = window.setTimeout(flushSummaries, 250);
  }
  function flushSummaries() {
    summaryTimer = null;
    const now = Date.now();
    const out = [];
    let wait = null;
    for (const [teamId, text] of pending) {
      const last = saidAt.get(teamId) || 0;
      if (now - last >= SUMMARY_MS) {
        out.push(text);
        pending.delete(teamId);
        saidAt.set(teamId, now);
      } else {
        const left = SUMMARY_MS - (now - last);
        wait = wait === null ? left : Math.min(wait, left);
      }
    }
    if (out.length) announce(out.join(" "));
    if (wait !== null) summaryTimer = window.setTimeout(flushSummaries, wait);
  }

  // --- Rendering -------------------------------------------------------------------------

  function alertText(alert) {
    if (alert.kind === "surge") {
      return fmt(words.surge, { waiting: alert.queue_length,
        longest: clock(alert.longest_wait_seconds), peak: alert.peak_queue_length });
    }
    return fmt(alert.critical ? words.critical : words.outage,
      { title: alert.title, regions: (alert.regions || []).join(", ") });
  }

  function loadText(load) {
    return Object.entries(load || {}).map(([kind, pair]) => fmt(words.load,
      { kind: (words.kinds && words.kinds[kind]) || kind, load: pair[0], capacity: pair[1] }))
      .join(", ");
  }

  function cell(row, field) { return row.querySelector(`[data-field="${field}"]`); }

  function patchQueues(section, board) {
    const body = section.querySelector("[data-queues]");
    const seen = new Set();
    for (const queue of board.queues || []) {
      let row = section.querySelector(`tr[data-queue="${CSS.escape(queue.kind)}"]`);
      if (!row && body) {
        row = document.createElement("tr");
        row.dataset.queue = queue.kind;
        const head = document.createElement("th");
        head.scope = "row";
        head.textContent = (words.kinds && words.kinds[queue.kind]) || queue.kind;
        row.append(head);
        for (const field of ["waiting", "longest", ...TODAY]) {
          const td = document.createElement("td");
          td.dataset.field = field;
          row.append(td);
        }
        body.append(row);
      }
      if (!row) continue;
      seen.add(queue.kind);
      setText(cell(row, "waiting"), String(queue.waiting));
      const longest = cell(row, "longest");
      longest.dataset.since = queue.oldest || "";
      setText(longest, clock(queue.oldest ? since(queue.oldest) : null));
      const today = queue.today || {};
      setText(cell(row, "service_level"), percent(today.service_level));
      setText(cell(row, "answered"), count(today.answered));
      setText(cell(row, "abandoned"), count(today.abandoned));
      setText(cell(row, "asa_seconds"), clock(today.asa_seconds));
      setText(cell(row, "aht_seconds"), clock(today.aht_seconds));
    }
    if (body) {
      for (const row of [...body.querySelectorAll("tr[data-queue]")]) {
        if (!seen.has(row.dataset.queue)) row.remove();
      }
    }
  }

  function patchAgents(section, board) {
    for (const [state, count] of Object.entries(board.states || {})) {
      setText(section.querySelector(`[data-state-count="${CSS.escape(state)}"]`), String(count));
    }
    const body = section.querySelector("[data-agents]");
    if (!body) return;
    const rows = new Map([...body.querySelectorAll("tr[data-agent]")].map((r) => [r.dataset.agent, r]));
    let previous = null;
    for (const agent of board.agents || []) {
      const key = String(agent.id);
      let row = rows.get(key);
      if (!row) {
        row = document.createElement("tr");
        row.dataset.agent = key;
        const head = document.createElement("th");
        head.scope = "row";
        head.dataset.field = "name";
        head.append(document.createElement("bdi"));
        row.append(head);
        for (const field of ["state", "since", "load"]) {
          const td = document.createElement("td");
          td.dataset.field = field;
          if (field === "state") td.append(document.createElement("span"));
          row.append(td);
        }
      }
      rows.delete(key);
      setText(row.querySelector("[data-field=name] bdi"), agent.name);
      const stateCell = cell(row, "state");
      if (stateCell.dataset.state !== agent.state) {
        stateCell.dataset.state = agent.state;
        const badge = stateCell.querySelector("span") || stateCell;
        badge.className = `wb-state wb-state-${agent.state}`;
        badge.textContent = (words.states && words.states[agent.state]) || agent.state;
      }
      const sinceCell = cell(row, "since");
      sinceCell.dataset.since = agent.since || "";
      setText(sinceCell, clock(since(agent.since)));
      setText(cell(row, "load"), loadText(agent.load));
      // Keep the server's order (by name), moving only rows that are out of place.
      const expected = previous ? previous.nextElementSibling : body.firstElementChild;
      if (expected !== row) {
        if (previous) previous.after(row);
        else body.prepend(row);
      }
      previous = row;
    }
    for (const row of rows.values()) row.remove();
    const empty = section.querySelector("[data-no-agents]");
    if (empty) empty.hidden = (board.agents || []).length > 0;
  }

  function patchAlerts(section, board, said) {
    const list = section.querySelector("[data-alerts]");
    if (!list) return;
    const old = new Map([...list.querySelectorAll("li[data-alert]")].map((li) => [li.dataset.alert, li]));
    const team = board.team.name;
    for (const alert of board.alerts || []) {
      let item = old.get(alert.id);
      if (!item) {
        item = document.createElement("li");
        item.dataset.alert = alert.id;
        item.className = `wb-alert wb-alert-${alert.kind}`;
        const icon = document.createElement("span");
        icon.setAttribute("aria-hidden", "true");
        icon.textContent = "⚠ ";
        item.append(icon, document.createElement("span"));
        list.append(item);
        said.push(alert.kind === "surge"
          ? fmt(words.surge_started, { team, waiting: alert.queue_length })
          : fmt(words.outage_started, { team, title: alert.title }));
      }
      old.delete(alert.id);
      setText(item.lastElementChild, alertText(alert));
    }
    for (const item of old.values()) {
      said.push(fmt(words.alert_ended, { team, what: item.textContent.replace("⚠", "").trim() }));
      item.remove();
    }
    const empty = section.querySelector("[data-no-alerts]");
    if (empty) empty.hidden = (board.alerts || []).length > 0;
  }

  function summary(board) {
    const all = (board.queues || []).find((q) => q.kind === "all") || { waiting: 0 };
    const states = board.states || {};
    return fmt(words.summary, {
      team: board.team.name,
      waiting: all.waiting,
      longest: clock(all.oldest ? since(all.oldest) : null),
      answered: count((all.today || {}).answered),
      available: states.available || 0,
      busy: states.busy || 0,
      wrap_up: states.wrap_up || 0,
      away: states.away || 0,
    });
  }
  // What a summary is about (not the ticking clock): said again only when it changes.
  const lastKey = new Map();
  function summaryKey(board) {
    const all = (board.queues || []).find((q) => q.kind === "all") || {};
    return JSON.stringify([all.waiting, (all.today || {}).answered, board.states]);
  }

  function applyBoard(board) {
    if (!board || !board.team) return;
    syncClock(board.at);
    const section = document.getElementById(`wb-team-${board.team.id}`);
    if (!section) return;
    const said = [];
    patchQueues(section, board);
    patchAgents(section, board);
    patchAlerts(section, board, said);
    const asOf = document.querySelector("[data-as-of] time");
    if (asOf && board.at) {
      asOf.dateTime = board.at;
      const at = new Date(board.at);
      if (!Number.isNaN(at.getTime())) asOf.textContent = at.toLocaleTimeString(document.documentElement.lang || undefined);
    }
    if (said.length) announce(said.join(" "));
    const key = summaryKey(board);
    const teamId = board.team.id;
    if (lastKey.has(teamId) && lastKey.get(teamId) !== key) sayLater(teamId, summary(board));
    lastKey.set(teamId, key);
  }

  // Durations count on between pushes (local work only: nothing is fetched).
  window.setInterval(() => {
    for (const element of document.querySelectorAll("#main [data-since]")) {
      const value = element.dataset.since;
      setText(element, clock(value ? since(value) : null));
    }
  }, 1000);

  // --- Transport -------------------------------------------------------------------------

  if (!tv) {
    // desk.js owns the socket: subscribe each time it (re)connects or resyncs.
    const subscribe = () => document.dispatchEvent(new CustomEvent("teamline:desk-send", {
      detail: { type: "wallboard.subscribe", teams },
    }));
    document.addEventListener("teamline:desk-resync", subscribe);
    document.addEventListener("teamline:wallboard", (event) => applyBoard(event.detail));
    return;
  }

  const status = document.getElementById("wb-connection");
  let attempts = 0;
  let interrupted = false;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const token = location.pathname.split("/").filter(Boolean).pop() || "";
    const socket = new WebSocket(`${scheme}://${location.host}${main.dataset.socket}?token=${encodeURIComponent(token)}`);
    socket.addEventListener("open", () => {
      attempts = 0;
      if (interrupted && status) status.textContent = words.back || "";
      interrupted = false;
    });
    socket.addEventListener("message", (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch (_err) { return; }
      if (frame.type === "wallboard") applyBoard(frame.board);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4403) {
        // Revoked (or never valid): stop showing figures, and say why.
        for (const section of document.querySelectorAll(".wallboard-team")) section.remove();
        if (status) status.textContent = words.revoked || "";
        main.dataset.revoked = "true";
        return;
      }
      if (!interrupted && status) status.textContent = words.interrupted || "";
      interrupted = true;
      const delay = Math.min(30000, 1000 * 2 ** attempts) * (0.5 + Math.random() / 2);
      attempts += 1;
      window.setTimeout(connect, delay);
    });
  }
  connect();
})();
