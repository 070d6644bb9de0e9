/*
 * Teamline desk: keyboard shortcuts (docs/desk.md, "Keyboard shortcuts").
 *
 * Alt+Shift with a letter (Option+Shift on a Mac), read from the key's position (event.code),
 * so it works on any keyboard layout and in text fields: an agent in the reply box resolves the
 * conversation without leaving it. Screen readers keep their own keys (NVDA and JAWS use Insert
 * or Caps Lock, VoiceOver Control+Option, and their single-letter quick navigation is never
 * taken: the only key without a modifier is "?", outside text fields). The letters avoid the
 * browsers' and systems' own Alt+Shift keys (T, I, A and B in Chrome and Edge; S, N, M and L
 * in ChromeOS). Off when the agent turned them off on My profile (body[data-shortcuts]). The
 * "Keyboard shortcuts" button and "?" open the list, a native modal <dialog>.
 */
(() => {
  "use strict";

  const byId = (id) => document.getElementById(id);
  const _ = (text) => (window.gettext ? window.gettext(text) : text);

  function announce(text) {
    const region = byId("desk-announcer");
    if (!region || !text) return;
    region.textContent = "";
    window.setTimeout(() => { region.textContent = text; }, 60);
  }

  const enabled = () => document.body.dataset.shortcuts === "on";

  // --- The list of shortcuts (a modal dialog) ----------------------------------------------

  let opener = null;
  function openHelp() {
    const dialog = byId("shortcuts-dialog");
    if (!dialog || dialog.open) return;
    opener = document.activeElement;
    dialog.showModal();
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("#shortcuts-button");
    if (button) openHelp();
  });
  document.addEventListener("close", (event) => {
    if (event.target && event.target.id === "shortcuts-dialog" && opener && opener.isConnected) {
      opener.focus();
    }
  }, true);

  // --- Actions -----------------------------------------------------------------------------

  function openConversationId() {
    const main = byId("main");
    return Number((main && main.dataset.conversationId) || 0) || null;
  }

  function move(step) {
    const links = Array.from(document.querySelectorAll("#inbox-list a.conversation-row"));
    if (!links.length) { announce(_("There is no conversation in the list.")); return; }
    const open = openConversationId();
    const index = links.findIndex((link) => {
      const row = link.closest("li[data-conversation-id]");
      return row && Number(row.dataset.conversationId) === open;
    });
    let next;
    if (index === -1) next = step > 0 ? 0 : links.length - 1;
    else next = index + step;
    if (next < 0) { announce(_("This is the first conversation in the list.")); return; }
    if (next >= links.length) { announce(_("This is the last conversation in the list.")); return; }
    links[next].click();
  }

  function focusField(id, missing) {
    const field = byId(id);
    if (field && !field.disabled) {
      field.focus();
      if (field.scrollIntoView) field.scrollIntoView({ block: "nearest" });
    } else {
      announce(missing);
    }
  }

  function press(id, missing) {
    const button = byId(id);
    if (button && !button.disabled) button.click();
    else announce(missing);
  }

  function search() {
    const box = byId("search-q");
    if (box) { box.focus(); box.select(); return; }
    const dialog = byId("shortcuts-dialog");
    const url = dialog && dialog.dataset.searchUrl;
    if (url) window.location.assign(url);
  }

  const noConversation = () => _("Open a conversation first.");
  const ACTIONS = {
    KeyJ: () => move(1),
    KeyK: () => move(-1),
    KeyR: () => focusField("reply-text", openConversationId()
      ? _("This conversation has no reply box.") : noConversation()),
    KeyO: () => focusField("note-text", noConversation()),
    KeyD: () => press("resolve-button", openConversationId()
      ? _("This conversation is already resolved.") : noConversation()),
    KeyZ: () => focusField("snooze-for", openConversationId()
      ? _("This conversation cannot be snoozed now.") : noConversation()),
    KeyC: () => focusField("canned-picker", openConversationId()
      ? _("There are no canned replies here.") : noConversation()),
    KeyX: () => focusField("transfer-target", openConversationId()
      ? _("You cannot transfer this conversation.") : noConversation()),
    KeyF: search,
  };

  function inTextField(element) {
    if (!element || !element.closest) return false;
    if (element.isContentEditable) return true;
    const tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    const type = (element.getAttribute("type") || "text").toLowerCase();
    return !["button", "checkbox", "radio", "submit", "reset", "file", "image", "range",
      "color"].includes(type);
  }

  document.addEventListener("keydown", (event) => {
    if (!enabled() || event.defaultPrevented || event.isComposing) return;
    const dialog = byId("shortcuts-dialog");
    if (dialog && dialog.open) return;
    if (event.altKey && event.shiftKey && !event.ctrlKey && !event.metaKey) {
      const action = ACTIONS[event.code];
      if (!action) return;
      event.preventDefault();
      action();
      return;
    }
    if (event.key === "?" && !event.altKey && !event.ctrlKey && !event.metaKey &&
        !inTextField(event.target)) {
      event.preventDefault();
      openHelp();
    }
  });
})();
