/*
 * Teamline desk: the canned-reply picker (templates/desk/_canned_picker.html).
 *
 * An ARIA 1.2 combobox: the search input (#canned-picker) controls a listbox of the replies
 * the agent may use, each already filled in for this conversation by the server (the
 * customer's language and first name, the agent's name, the team's hours today). The list is
 * asked for once, when the picker first opens, and filtered here as the agent types. Arrow
 * keys move the active option (aria-activedescendant: focus stays in the input), Enter or a
 * click inserts it, Escape closes. Typing "/" at the start of the reply box opens the picker
 * with the words after the slash as its filter and moves focus to it; choosing then replaces
 * the "/…" in the reply box. The text goes into the reply box only: nothing is sent.
 */
(() => {
  "use strict";

  const byId = (id) => document.getElementById(id);
  const SLASH = /^\/(\S*)$/;
  let items = null;
  let loading = null;
  let shown = [];
  let active = -1;
  let fromSlash = false;

  function announce(text) {
    const region = byId("canned-picker-status");
    if (!region || !text) return;
    region.textContent = "";
    window.setTimeout(() => { region.textContent = text; }, 60);
  }

  function load(root) {
    if (items) return Promise.resolve(items);
    if (!loading) {
      loading = fetch(root.dataset.source, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then((response) => {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then((data) => { items = data.items || []; return items; })
        .catch((error) => { loading = null; throw error; });
    }
    return loading;
  }

  function matches(item, words) {
    if (!words) return true;
    const hay = `${item.title}\n${item.shortcut}\n${item.text}`.toLowerCase();
    return words.toLowerCase().split(/\s+/).every((word) => hay.includes(word));
  }

  function setActive(index) {
    const input = byId("canned-picker");
    const list = byId("canned-picker-list");
    active = index;
    Array.from(list.children).forEach((option, i) => {
      option.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    if (index >= 0 && list.children[index]) {
      input.setAttribute("aria-activedescendant", list.children[index].id);
      list.children[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function render(root, words) {
    const list = byId("canned-picker-list");
    const input = byId("canned-picker");
    shown = (items || []).filter((item) => matches(item, words.trim()));
    list.replaceChildren();
    shown.forEach((item, index) => {
      const option = document.createElement("li");
      option.id = `canned-option-${item.id}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.dataset.index = String(index);
      const title = document.createElement("span");
      title.className = "canned-title";
      title.textContent = item.shortcut ? `${item.title} (/${item.shortcut})` : item.title;
      const meta = document.createElement("span");
      meta.className = "canned-meta";
      meta.lang = item.language;
      meta.textContent = ` — ${item.language_name}: ${item.text}`;
      option.append(title, meta);
      list.append(option);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    setActive(shown.length ? 0 : -1);
    announce(shown.length ? root.dataset.count.replace("{n}", String(shown.length)) : root.dataset.none);
  }

  function open(root, words) {
    load(root)
      .then(() => render(root, words))
      .catch(() => announce(root.dataset.failed));
  }

  function close() {
    const list = byId("canned-picker-list");
    const input = byId("canned-picker");
    if (!list || !input) return;
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function choose(root, item) {
    const box = byId("reply-text");
    const input = byId("canned-picker");
    if (!box || !item) return;
    if (fromSlash && SLASH.test(box.value)) {
      box.value = item.text;
      box.setSelectionRange(box.value.length, box.value.length);
    } else {
      const start = box.selectionStart ?? box.value.length;
      const end = box.selectionEnd ?? start;
      box.setRangeText(item.text, start, end, "end");
    }
    fromSlash = false;
    close();
    input.value = "";
    box.dispatchEvent(new Event("input", { bubbles: true }));
    box.focus();
    const region = byId("desk-announcer");
    const sentence = root.dataset.inserted.replace("{title}", item.title);
    if (region) {
      region.textContent = "";
      window.setTimeout(() => { region.textContent = sentence; }, 60);
    }
  }

  function init() {
    const root = byId("canned-replies");
    const input = byId("canned-picker");
    const list = byId("canned-picker-list");
    if (!root || !input || !list || root.dataset.ready) return;
    root.dataset.ready = "1";

    input.addEventListener("input", () => open(root, input.value));
    input.addEventListener("focus", () => { if (input.value) open(root, input.value); });
    input.addEventListener("keydown", (event) => {
      const expanded = input.getAttribute("aria-expanded") === "true";
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (!expanded) { open(root, input.value); return; }
        if (shown.length) setActive((active + 1) % shown.length);
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        if (expanded && shown.length) setActive((active - 1 + shown.length) % shown.length);
      } else if (event.key === "Enter") {
        if (expanded && active >= 0) {
          event.preventDefault();
          choose(root, shown[active]);
        }
      } else if (event.key === "Escape") {
        if (expanded) {
          event.preventDefault();
          close();
          if (fromSlash) { fromSlash = false; const box = byId("reply-text"); if (box) box.focus(); }
        }
      }
    });
    // mousedown, not click: the choice is made before the input loses focus.
    list.addEventListener("mousedown", (event) => {
      const option = event.target.closest('[role="option"]');
      if (!option) return;
      event.preventDefault();
      choose(root, shown[Number(option.dataset.index)]);
    });
    input.addEventListener("blur", () => window.setTimeout(close, 150));

    // "/" at the start of the reply box (which htmx replaces after a reply: delegated).
    document.addEventListener("input", (event) => {
      if (!event.target || event.target.id !== "reply-text" || !event.isTrusted) return;
      const found = SLASH.exec(event.target.value);
      if (!found) return;
      fromSlash = true;
      input.value = found[1];
      input.focus();
      open(root, found[1]);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
  document.addEventListener("htmx:afterSettle", init);
})();
