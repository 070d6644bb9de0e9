/*
 * Teamline web chat widget. One script tag on any page:
 *
 *   <script src="https://teamline.example/static/widget/teamline.js"
 *           data-inbox="INBOX-PUBLIC-ID" async></script>
 *
 * Optional: data-user-id and data-user-hash (hex HMAC-SHA256 of the user id with the inbox
 * secret, computed by the brand's server) attach the chat to a signed-in customer.
 *
 * The UI lives in a shadow root with its own styles, so the page's CSS cannot break it and ours
 * cannot leak out. Text from people is only ever set with textContent. The server protocol is
 * documented in docs/websockets.md: a push is a notification, the `ready` frame sent on every
 * (re)connect is the truth, and messages are deduplicated by id and client id.
 */
(function () {
  "use strict";

  // --- Where we come from --------------------------------------------------------------------

  // currentScript is set while a classic script runs, async ones included; the query is a
  // fallback for unusual loaders.
  var script = document.currentScript;
  if (!script || !script.getAttribute("data-inbox")) {
    var candidates = document.querySelectorAll("script[data-inbox][src]");
    script = candidates.length ? candidates[candidates.length - 1] : null;
  }
  if (!script) return;
  var inboxId = script.getAttribute("data-inbox") || "";
  if (!inboxId) return;
  var loaded = (window.__teamlineWidgets = window.__teamlineWidgets || {});
  if (loaded[inboxId]) return; // the snippet was pasted twice
  loaded[inboxId] = true;

  var scriptUrl = new URL(script.src, document.baseURI);
  var serverOrigin = scriptUrl.origin;
  var apiBase = serverOrigin + "/widget/api/" + encodeURIComponent(inboxId) + "/";
  var sessionUrl = apiBase + "session";
  var socketUrl =
    (scriptUrl.protocol === "https:" ? "wss://" : "ws://") + scriptUrl.host + "/ws/widget/";
  var userId = script.getAttribute("data-user-id") || "";
  var userHash = script.getAttribute("data-user-hash") || "";
  var verified = Boolean(userId && userHash);

  var TOKEN_KEY = "teamline:" + inboxId + ":token";
  var OPEN_KEY = "teamline:" + inboxId + ":open";
  var SEEN_KEY = "teamline:" + inboxId + ":seen";
  var MAX_TEXT = 10000;
  var MAX_BACKOFF_MS = 10000;
  var TYPING_IDLE_MS = 3000;
  var TYPING_REFRESH_MS = 4000;
  var AGENT_TYPING_TIMEOUT_MS = 8000;
  var MEMBERS_SHOWN = 6;
  // A page the inbox does not allow sees its session requests fail exactly like a network
  // error (CORS): after this many in a row, retry only on a sign of life (online, tab shown,
  // the customer opening the chat) instead of forever.
  var MAX_SESSION_FAILURES = 6;

  // --- Small helpers ---------------------------------------------------------------------------

  function store(kind) {
    try {
      return window[kind]; // throws when storage is blocked (sandboxed frames, strict privacy)
    } catch (e) {
      return null;
    }
  }
  function load(kind, key) {
    try {
      var s = store(kind);
      return s ? s.getItem(key) || "" : "";
    } catch (e) {
      return "";
    }
  }
  function save(kind, key, value) {
    try {
      var s = store(kind);
      if (!s) return;
      if (value) s.setItem(key, value);
      else s.removeItem(key);
    } catch (e) {
      /* storage full or blocked: the chat still works for this page view */
    }
  }

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      try {
        return window.crypto.randomUUID();
      } catch (e) {
        /* not a secure context: fall through */
      }
    }
    // RFC 4122 version 4 from getRandomValues, which insecure (http) pages also have.
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(b, function (x) {
      return (x + 0x100).toString(16).slice(1);
    });
    return (
      hex.slice(0, 4).join("") + "-" + hex.slice(4, 6).join("") + "-" +
      hex.slice(6, 8).join("") + "-" + hex.slice(8, 10).join("") + "-" + hex.slice(10).join("")
    );
  }

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function svg(pathData) {
    var ns = "http://www.w3.org/2000/svg";
    var icon = document.createElementNS(ns, "svg");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("aria-hidden", "true");
    icon.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", pathData);
    icon.appendChild(path);
    return icon;
  }

  // Photos come from the Teamline server (relative URLs); only http(s) is ever loaded.
  function safeUrl(value) {
    if (!value || typeof value !== "string") return "";
    try {
      var url = new URL(value, serverOrigin);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : "";
    } catch (e) {
      return "";
    }
  }

  function initials(name) {
    var parts = String(name || "").trim().split(/\s+/).filter(Boolean);
    var letters = parts.slice(0, 2).map(function (part) {
      return Array.from(part)[0] || "";
    });
    return letters.join("").toUpperCase() || "?";
  }

  function formatTime(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    var now = new Date();
    var time = date.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
    if (date.toDateString() === now.toDateString()) return time;
    return date.toLocaleDateString(locale, { day: "numeric", month: "short" }) + ", " + time;
  }

  // --- Styles (scoped to the shadow root) ------------------------------------------------------

  var CSS = [
    ":host { all: initial; }",
    ".root { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;",
    "  color: #1b2233; text-align: left; letter-spacing: normal; }",
    ".root *, .root *::before, .root *::after { box-sizing: border-box; }",
    "[hidden] { display: none !important; }",
    ".sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0;",
    "  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }",
    "button, textarea { font: inherit; color: inherit; }",
    "button { cursor: pointer; }",
    ":focus { outline: none; }",
    ":focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px;",
    "  box-shadow: 0 0 0 6px #0b1630; }",
    ".launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;",
    "  display: flex; align-items: center; gap: 8px; padding: 12px 18px 12px 14px;",
    "  border: 2px solid transparent; border-radius: 999px; background: #1f3f8f; color: #fff;",
    "  font-weight: 600; box-shadow: 0 6px 20px rgba(11, 22, 48, .3); }",
    ".launcher:hover { background: #183474; }",
    ".launcher svg { width: 22px; height: 22px; fill: currentColor; }",
    ".badge { position: fixed; right: 14px; bottom: 58px; z-index: 2147483001; min-width: 22px;",
    "  height: 22px; padding: 0 6px; border-radius: 11px; background: #c62828; color: #fff;",
    "  font-size: 12px; font-weight: 700; line-height: 22px; text-align: center;",
    "  pointer-events: none; }",
    ".panel { position: fixed; right: 20px; bottom: 84px; z-index: 2147483001; width: 370px;",
    "  max-width: calc(100vw - 40px); height: 600px; max-height: calc(100vh - 110px);",
    "  display: flex; flex-direction: column; background: #fff; border-radius: 16px;",
    "  border: 1px solid #c9d1e3; box-shadow: 0 12px 40px rgba(11, 22, 48, .28);",
    "  overflow: hidden; }",
    "@media (max-width: 480px) {",
    "  .panel { inset: 0; width: auto; max-width: none; height: auto; max-height: none;",
    "    border-radius: 0; }",
    "}",
    ".header { background: #13244a; color: #fff; padding: 14px 14px 12px; }",
    ".outage { margin: 0; padding: 8px 14px; background: #fde7e7; color: #5a1010;",
    "  border-bottom: 1px solid #e8b4b4; font-size: 14px; }",
    ".outage h3 { margin: 0 0 2px; font-size: 14px; }",
    ".outage p { margin: 0; }",
    ".header-top { display: flex; align-items: center; gap: 10px; }",
    ".team-photo { width: 44px; height: 44px; border-radius: 50%; object-fit: cover;",
    "  border: 2px solid #fff; flex: none; }",
    ".team-text { flex: 1; min-width: 0; }",
    ".team-name { margin: 0; font-size: 17px; font-weight: 700; line-height: 1.25; }",
    ".team-region { margin: 0; font-size: 13px; color: #d4dcf2; }",
    ".close { flex: none; width: 36px; height: 36px; display: grid; place-items: center;",
    "  border: 2px solid transparent; border-radius: 50%; background: transparent;",
    "  color: #fff; }",
    ".close:hover { background: rgba(255, 255, 255, .15); }",
    ".close svg { width: 20px; height: 20px; fill: currentColor; }",
    ".members { list-style: none; margin: 12px 0 0; padding: 0; display: flex;",
    "  flex-wrap: wrap; gap: 8px 14px; }",
    ".member { display: flex; align-items: center; gap: 6px; font-size: 13px; }",
    ".avatar { width: 28px; height: 28px; border-radius: 50%; flex: none; object-fit: cover;",
    "  display: grid; place-items: center; background: #e4e9f7; color: #13244a;",
    "  font-size: 11px; font-weight: 700; }",
    ".member-text { display: flex; flex-direction: column; line-height: 1.2; }",
    ".presence { font-size: 12px; color: #d4dcf2; display: flex; align-items: center; gap: 4px; }",
    ".dot { width: 8px; height: 8px; border-radius: 50%; background: #9aa5bf; }",
    ".online .dot { background: #3ee0a6; }",
    ".more { margin: 8px 0 0; font-size: 12px; color: #d4dcf2; }",
    ".status { margin: 0; padding: 6px 14px; background: #fff4d6; color: #5c3d00;",
    "  font-size: 13px; font-weight: 600; border-bottom: 1px solid #ecd48f; }",
    ".status:empty { display: none; }",
    ".body { flex: 1; overflow-y: auto; padding: 14px; background: #f6f8fc; }",
    ".greeting { margin: 0 0 12px; padding: 10px 12px; background: #fff; border-radius: 12px;",
    "  border: 1px solid #dfe4ee; }",
    ".log { display: flex; flex-direction: column; gap: 10px; }",
    ".msg { max-width: 85%; align-self: flex-start; }",
    ".msg .who { margin: 0 0 2px; font-size: 12px; font-weight: 600; color: #4a5368; }",
    ".msg .text { margin: 0; padding: 9px 12px; border-radius: 14px; white-space: pre-wrap;",
    "  overflow-wrap: anywhere; background: #fff; border: 1px solid #dfe4ee; }",
    ".msg .meta { margin: 2px 4px 0; font-size: 12px; color: #4a5368; }",
    ".msg.mine { align-self: flex-end; }",
    ".msg.mine .text { background: #1f3f8f; border-color: #1f3f8f; color: #fff; }",
    ".msg.mine .meta { text-align: right; }",
    ".msg.system { align-self: center; max-width: 95%; }",
    ".msg.system .text { background: transparent; border: 0; font-size: 13px; color: #4a5368;",
    "  text-align: center; }",
    ".msg[data-state='sending'] .text { opacity: .75; }",
    ".msg .files { margin: 4px 0 0; padding-left: 18px; font-size: 14px; }",
    ".msg[data-state='failed'] .text { background: #fff; color: #8a1c1c; border: 2px dashed #c62828; }",
    ".retry { margin: 4px 4px 0 auto; display: block; padding: 4px 10px; border-radius: 8px;",
    "  border: 1px solid #8a1c1c; background: #fff; color: #8a1c1c; font-size: 13px; }",
    ".typing { margin: 0; min-height: 22px; padding: 2px 14px; font-size: 13px;",
    "  color: #4a5368; font-style: italic; background: #f6f8fc; }",
    ".composer { display: grid; grid-template-columns: 1fr auto; gap: 4px 8px;",
    "  padding: 10px 14px 14px; border-top: 1px solid #dfe4ee; background: #fff; }",
    ".handoffbar { padding: 0 12px 6px; text-align: right; }",
    ".handoffbar button { font: inherit; font-size: 13px; padding: 6px 10px; border-radius: 8px;",
    "  border: 1px solid #1f3f8f; background: #fff; color: #1f3f8f; cursor: pointer; }",
    ".handoffbar button:focus-visible { outline: 2px solid #1f3f8f; outline-offset: 2px; }",
    ".settingsbar { padding: 0 12px 6px; font-size: 13px; color: #4a5368; }",
    ".settingsbar input:focus-visible { outline: 2px solid #1f3f8f; outline-offset: 2px; }",
    ".composer label { grid-column: 1 / -1; font-size: 13px; font-weight: 600; color: #4a5368; }",
    ".composer textarea { resize: none; min-height: 44px; max-height: 140px; padding: 10px 12px;",
    "  border: 2px solid #8792ab; border-radius: 10px; background: #fff; line-height: 1.4; }",
    ".composer textarea:focus-visible { border-color: #1f3f8f; }",
    ".send { align-self: end; height: 44px; padding: 0 18px; border: 2px solid transparent;",
    "  border-radius: 10px; background: #1f3f8f; color: #fff; font-weight: 700; }",
    ".send:hover { background: #183474; }",
    ".waiting { padding: 10px 14px; border-top: 1px solid #dfe4ee; background: #eef3ff; }",
    ".waiting p { margin: 0 0 8px; font-weight: 600; }",
    ".waiting-actions { display: flex; flex-wrap: wrap; gap: 8px; }",
    ".waiting button, .waiting input { font: inherit; }",
    ".waiting button { padding: 6px 12px; border-radius: 8px; border: 2px solid #1f3f8f;",
    "  background: #fff; color: #1f3f8f; font-weight: 600; }",
    ".waiting form { margin-top: 8px; display: grid; gap: 6px; }",
    ".waiting fieldset { margin: 0; padding: 0; border: 0; max-height: 160px; overflow-y: auto; }",
    ".waiting legend { font-weight: 600; margin-bottom: 4px; }",
    ".waiting input[type=tel] { padding: 6px 8px; border: 2px solid #8792ab; border-radius: 8px; }",
    ".waiting .choice { display: flex; align-items: center; gap: 6px; }",
    ".callbar { display: flex; gap: 8px; padding: 8px 14px; border-bottom: 1px solid #dfe4ee;",
    "  background: #fff; }",
    ".callbar button, .call-controls button, .invite { padding: 6px 12px; border-radius: 8px;",
    "  border: 2px solid #1f3f8f; background: #fff; color: #1f3f8f; font-weight: 600; }",
    ".call-controls button[aria-pressed='true'] { background: #1f3f8f; color: #fff; }",
    ".call-controls .end { border-color: #a61b1b; background: #a61b1b; color: #fff; }",
    ".call { padding: 8px 14px; border-bottom: 1px solid #dfe4ee; background: #0b1630; color: #fff; }",
    ".call-status { margin: 0 0 6px; font-weight: 600; }",
    ".call-error { margin: 0 0 6px; color: #ffd7d7; }",
    ".call-error:empty { display: none; }",
    ".call-media { position: relative; background: #000; border-radius: 8px; overflow: hidden; }",
    ".call-media .remote { display: block; width: 100%; height: 180px; object-fit: contain; }",
    ".call-media .local { position: absolute; right: 6px; bottom: 6px; width: 30%;",
    "  max-height: 60px; border: 2px solid #fff; border-radius: 6px; object-fit: cover; }",
    ".call-controls { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }",
    ".invite { display: block; margin: 6px auto 0; }",
    ".survey { margin-top: 8px; display: grid; gap: 6px; text-align: left; }",
    ".survey fieldset { margin: 0; padding: 0; border: 0; }",
    ".survey legend { font-weight: 600; margin-bottom: 4px; }",
    ".survey .choice { display: flex; align-items: center; gap: 6px; }",
    ".survey textarea { padding: 6px 8px; border: 2px solid #8792ab; border-radius: 8px; font: inherit; }",
    ".survey button { justify-self: start; padding: 6px 12px; border-radius: 8px;",
    "  border: 2px solid #1f3f8f; background: #1f3f8f; color: #fff; font-weight: 600; }",
    ".survey .survey-status { margin: 0; font-weight: 600; }",
    ".verify { padding: 10px 14px; border-top: 1px solid #dfe4ee; background: #eef7f0; }",
    ".verify h3 { margin: 0 0 4px; font-size: 15px; }",
    ".verify p { margin: 0 0 6px; font-size: 14px; }",
    ".verify form { display: flex; flex-wrap: wrap; align-items: end; gap: 6px 8px; }",
    ".verify label { width: 100%; font-size: 13px; font-weight: 600; color: #2f3a4f; }",
    ".verify input { font: inherit; width: 9em; padding: 6px 8px; border: 2px solid #8792ab;",
    "  border-radius: 8px; letter-spacing: .15em; }",
    ".verify button { font: inherit; padding: 6px 12px; border-radius: 8px;",
    "  border: 2px solid #1f6b3a; background: #1f6b3a; color: #fff; font-weight: 600; }",
    ".verify .verify-error { color: #8a1c1c; font-weight: 600; }",
    ".verify .verify-error:empty { display: none; }",
    ".verify > button { margin: 6px 8px 0 0; background: #fff; color: #1f6b3a; }",
    ".verify .passkey-status:empty { display: none; }",
    "@media (prefers-reduced-motion: no-preference) {",
    "  .panel:not([hidden]) { animation: tl-in .16s ease-out; }",
    "  @keyframes tl-in { from { opacity: 0; transform: translateY(8px); } to { opacity: 1; } }",
    "}",
    "@media (forced-colors: active) {",
    "  .launcher, .send, .close, .panel, .msg .text { border: 2px solid CanvasText; }",
    "  :focus-visible { outline: 3px solid Highlight; }",
    "}",
  ].join("\n");

  // The host page's Content-Security-Policy governs our shadow root too: a <style> element
  // or a style attribute there needs the host's 'unsafe-inline' (or its nonce, which we do not
  // have). A constructed stylesheet (each call adds one) is not inline markup, so a strict host CSP allows it
  // (docs/security.md, "Browser hardening"). Browsers without constructable stylesheets
  // get the <style> element, which works wherever the host allows inline styles.
  function adoptStyles(root, cssText) {
    if (typeof CSSStyleSheet === "function" && "adoptedStyleSheets" in root) {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(cssText);
        root.adoptedStyleSheets = root.adoptedStyleSheets.concat([sheet]);
        return;
      } catch (error) {
        // Constructor present but not constructable (old engines): fall through.
      }
    }
    root.appendChild(h("style", { text: cssText }));
  }

  // --- Language ------------------------------------------------------------------------------
  //
  // The widget's words come from the server's catalog (GET <api>/catalog?languages=…, cached
  // by the browser), in the customer's language: the one Teamline stored for them (remembered
  // here after a session), else the brand's data-language, the browser's languages, the page's
  // `lang`; the server maps
  // the tags to one of its six languages (docs/i18n.md). The UI is built once the catalog has
  // arrived (or after CATALOG_WAIT_MS, in English), so nothing flips language under the reader.
  // Dates and numbers use the catalog's locale through the browser's Intl.

  var LANGUAGE_KEY = "teamline:" + inboxId + ":language";
  var CATALOG_WAIT_MS = 3000;
  var words = {};
  var language = "en";
  var locale = [];

  function t(text, params) {
    var out = Object.prototype.hasOwnProperty.call(words, text) ? String(words[text]) : text;
    if (!params) return out;
    return out.replace(/%\((\w+)\)s/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : all;
    });
  }
  // Plural forms as the catalog gives them: words[one] is the list of forms for n.
  function tn(one, other, count) {
    var forms = Object.prototype.hasOwnProperty.call(words, one) ? words[one] : null;
    var text = count === 1 ? one : other;
    if (Array.isArray(forms) && forms.length) {
      text = String(forms[count === 1 || forms.length === 1 ? 0 : 1] || text);
    }
    return text.replace(/%\(count\)s/g, formatNumber(count));
  }
  function formatNumber(n) {
    try {
      return new Intl.NumberFormat(locale).format(n);
    } catch (e) {
      return String(n);
    }
  }

  // The visitor's language tags, most wanted first (sent with the session): the brand's choice
  // for this widget (data-language on the script tag), else the browser's languages (the
  // visitor's own setting), else the page's `lang`.
  function pageLanguages() {
    var tags = [script.getAttribute("data-language") || ""];
    tags = tags.concat(Array.prototype.slice.call(navigator.languages || [navigator.language || ""]));
    tags.push(document.documentElement.getAttribute("lang") || "");
    return tags
      .map(function (tag) {
        return String(tag || "").trim().slice(0, 35);
      })
      .filter(Boolean)
      .slice(0, 8)
      .join(",");
  }

  function loadCatalog(done) {
    var finished = false;
    function finish() {
      if (finished) return;
      finished = true;
      done();
    }
    var timer = setTimeout(finish, CATALOG_WAIT_MS);
    var wanted = [load("localStorage", LANGUAGE_KEY), pageLanguages()].filter(Boolean).join(",");
    fetch(apiBase + "catalog?languages=" + encodeURIComponent(wanted), { mode: "cors", credentials: "omit" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (!finished && data && data.words && typeof data.words === "object") {
          words = data.words;
          language = String(data.language || "en");
          locale = [String(data.locale || language)];
        }
        clearTimeout(timer);
        finish();
      })
      .catch(function () {
        clearTimeout(timer);
        finish();
      });
  }

  // The customer's language as Teamline stored it (session answer, ready frame): used for the
  // catalog from the next page on.
  function rememberLanguage(code) {
    if (typeof code === "string" && code) save("localStorage", LANGUAGE_KEY, code);
  }

  function build() {
  // --- The UI ----------------------------------------------------------------------------------

  var host = document.createElement("div");
  host.setAttribute("data-teamline-widget", "");
  var shadow = host.attachShadow({ mode: "open" });
  adoptStyles(shadow, CSS);

  var launcher = h(
    "button",
    {
      type: "button",
      class: "launcher",
      "aria-expanded": "false",
      "aria-controls": "tl-panel",
      "aria-describedby": "tl-unread-text",
    },
    [
      svg("M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"),
      h("span", { text: t("Chat with us") }),
    ]
  );
  var badge = h("span", { class: "badge", "aria-hidden": "true", hidden: true });
  var unreadText = h("span", { id: "tl-unread-text", class: "sr-only" });

  var teamPhoto = h("img", { class: "team-photo", alt: "", hidden: true });
  var teamName = h("h2", { class: "team-name", id: "tl-title", text: t("Chat with us") });
  var teamRegion = h("p", { class: "team-region", hidden: true });
  var closeButton = h("button", { type: "button", class: "close", "aria-label": t("Close chat") }, [
    svg("M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 9.2 12 2.9 5.7l1.4-1.4 6.3 6.3 6.3-6.3z"),
  ]);
  var members = h("ul", { class: "members", "aria-label": t("Your team"), hidden: true });
  var moreMembers = h("p", { class: "more", hidden: true });
  var statusLine = h("p", { class: "status", role: "status" });
  // Outages declared for the customer's region (the `ready` frame's `outages`): a banner on
  // top of the conversation, read out when it appears.
  var outageBanner = h("div", { class: "outage", role: "status", id: "tl-outage", hidden: true });
  var greeting = h("p", { class: "greeting", hidden: true });
  var log = h("div", {
    class: "log",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-label": t("Conversation"),
  });
  // Focusable, so a keyboard user can scroll a long thread (the log holds no controls).
  var body = h("div", { class: "body", tabindex: "0", role: "region", "aria-label": t("Chat history") }, [
    greeting,
    log,
  ]);
  // Waiting in line: the place and estimated wait (a polite live region), and the choices
  // to be called back instead or to book a time.
  var queueText = h("p", { id: "tl-queue", role: "status", "aria-live": "polite" });
  var callbackButton = h("button", { type: "button", text: t("Call me back instead") });
  var bookButton = h("button", { type: "button", text: t("Book a time") });
  var waitingActions = h("div", { class: "waiting-actions" }, [callbackButton, bookButton]);
  var phoneInput = h("input", { id: "tl-phone", type: "tel", autocomplete: "tel", maxlength: "40" });
  var callbackForm = h("form", { class: "callback-form", novalidate: true, hidden: true }, [
    h("label", { for: "tl-phone", text: t("Phone number") }),
    phoneInput,
    h("button", { type: "submit", text: t("Call me") }),
  ]);
  var slotList = h("fieldset", {}, [h("legend", { text: t("Choose a time") })]);
  var kindCall = h("input", { type: "radio", name: "tl-kind", id: "tl-kind-call", value: "call" });
  var kindChat = h("input", {
    type: "radio", name: "tl-kind", id: "tl-kind-chat", value: "chat", checked: true,
  });
  var bookPhone = h("input", { id: "tl-book-phone", type: "tel", autocomplete: "tel", maxlength: "40" });
  var bookPhoneRow = h("div", { hidden: true }, [
    h("label", { for: "tl-book-phone", text: t("Phone number for the call") }),
    bookPhone,
  ]);
  var bookForm = h("form", { class: "book-form", novalidate: true, hidden: true }, [
    slotList,
    h("fieldset", {}, [
      h("legend", { text: t("How") }),
      h("div", { class: "choice" }, [kindChat, h("label", { for: "tl-kind-chat", text: t("Chat here") })]),
      h("div", { class: "choice" }, [kindCall, h("label", { for: "tl-kind-call", text: t("Phone call") })]),
    ]),
    bookPhoneRow,
    h("button", { type: "submit", text: t("Book") }),
  ]);
  var waitingBox = h("div", { class: "waiting", hidden: true }, [
    queueText,
    waitingActions,
    callbackForm,
    bookForm,
  ]);
  var typingLine = h("p", { class: "typing", role: "status" });
  var textarea = h("textarea", {
    id: "tl-input",
    rows: "2",
    maxlength: String(MAX_TEXT),
    autocomplete: "off",
  });
  var sendButton = h("button", { type: "submit", class: "send", text: t("Send") });
  var form = h("form", { class: "composer", novalidate: true }, [
    h("label", { for: "tl-input", text: t("Message") }),
    textarea,
    sendButton,
  ]);
  // --- Talk to my team (always visible): a person, whatever the bot is doing ---------------------
  // Sends a visible message flagged `handoff`: the bot hands over at once (docs/selfservice.md).
  var handoffButton = h("button", { type: "button", class: "handoff", text: t("Talk to my team") });
  var handoffBar = h("div", { class: "handoffbar" }, [handoffButton]);
  handoffButton.addEventListener("click", function () {
    var item = { client_id: newClientId(), text: t("I would like to talk to my team."), handoff: true };
    pending.push(item);
    showLocal(item, "sending");
    if (!sessionStarted) startSession();
    else if (isReady) transmit(item);
    else reconnectNow();
  });
  // --- end of Talk to my team --------------------------------------------------------------------

  // --- Notice settings (signed-in customers): data-cap reminders on or off -----------------------
  // The server says in `ready` whether the customer may switch them (docs/proactive.md).
  var dataCapBox = h("input", { type: "checkbox", id: "tl-data-cap" });
  var settingsBar = h("div", { class: "settingsbar", hidden: true }, [
    dataCapBox,
    h("label", { for: "tl-data-cap", text: " " + t("Data-cap reminders") }),
  ]);
  dataCapBox.addEventListener("change", function () {
    sendFrame({ type: "consent", topic: "data_cap", granted: dataCapBox.checked });
  });
  function applyConsents(consents) {
    var known = consents && typeof consents.data_cap === "boolean";
    settingsBar.hidden = !known;
    if (known) dataCapBox.checked = consents.data_cap;
  }
  // --- end of notice settings ----------------------------------------------------------------------

  // Calls (WebRTC): "Call us" / "Video call", and the call itself while it lasts.
  var audioCallButton = h("button", { type: "button", text: t("Call us") });
  var videoCallButton = h("button", { type: "button", text: t("Video call") });
  var callBar = h("div", { class: "callbar", hidden: true }, [audioCallButton, videoCallButton]);
  var callStatus = h("p", { class: "call-status", role: "status", "aria-live": "polite" });
  var callError = h("p", { class: "call-error", role: "alert" });
  var remoteVideo = h("video", { class: "remote", autoplay: true, playsinline: true, "aria-label": t("Your team") });
  var localVideo = h("video", { class: "local", autoplay: true, playsinline: true, "aria-label": t("You") });
  localVideo.muted = true; // never hear yourself
  var muteButton = h("button", { type: "button", text: t("Mute"), "aria-pressed": "false" });
  var cameraButton = h("button", { type: "button", text: t("Camera off"), "aria-pressed": "false" });
  var shareButton = h("button", { type: "button", text: t("Share screen"), "aria-pressed": "false" });
  var endCallButton = h("button", { type: "button", class: "end", text: t("End call") });
  var callView = h("section", { class: "call", "aria-label": t("Call"), hidden: true }, [
    callStatus,
    callError,
    h("div", { class: "call-media" }, [remoteVideo, localVideo]),
    h("div", { class: "call-controls" }, [muteButton, cameraButton, shareButton, endCallButton]),
  ]);
  // Customer step-up: the verify form (a code the team asked for), never a chat message.
  var verifyText = h("p", { id: "tl-verify-text" });
  var verifyInput = h("input", {
    id: "tl-verify-code",
    type: "text",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    maxlength: "12",
    "aria-describedby": "tl-verify-text tl-verify-error",
  });
  var verifyButton = h("button", { type: "submit", text: t("Verify") });
  var verifyError = h("p", { id: "tl-verify-error", class: "verify-error", role: "alert" });
  var verifyForm = h("form", { class: "verify-form", novalidate: true }, [
    h("label", { for: "tl-verify-code", text: t("Verification code") }),
    verifyInput,
    verifyButton,
  ]);
  var verifyDone = h("p", { class: "verify-done", role: "status" });
  // Passkeys (WebAuthn, the device's own screen lock): run here when this page is Teamline's
  // own origin; on a brand's page in a small Teamline-origin window (a passkey belongs to the
  // domain that runs its ceremony: docs/security.md, "Customer step-up").
  var passkeyVerifyButton = h("button", { type: "button", text: t("Verify with passkey"), hidden: true });
  var passkeySaveButton = h("button", {
    type: "button",
    text: t("Save a passkey for next time"),
    hidden: true,
  });
  var passkeyStatus = h("p", { class: "passkey-status", role: "status" });
  // "Sign in with <brand>": the brand's own sign-in (OpenID Connect) in a Teamline-origin
  // window, offered when the inbox names the brand's provider (connectors/brand_oidc.py).
  var brandSignInButton = h("button", { type: "button", text: t("Sign in"), hidden: true });
  var verifyBox = h(
    "section",
    { class: "verify", "aria-labelledby": "tl-verify-title", hidden: true },
    [
      h("h3", { id: "tl-verify-title", text: t("Verify it is you") }),
      verifyText,
      verifyForm,
      passkeyVerifyButton,
      brandSignInButton,
      verifyError,
      verifyDone,
      passkeySaveButton,
      passkeyStatus,
    ]
  );
  var panel = h(
    "div",
    { class: "panel", id: "tl-panel", role: "dialog", "aria-label": t("Chat with us"), hidden: true },
    [
      h("div", { class: "header" }, [
        h("div", { class: "header-top" }, [
          teamPhoto,
          h("div", { class: "team-text" }, [teamName, teamRegion]),
          closeButton,
        ]),
        members,
        moreMembers,
      ]),
      outageBanner,
      statusLine,
      callBar,
      callView,
      body,
      verifyBox,
      waitingBox,
      typingLine,
      handoffBar,
      settingsBar,
      form,
    ]
  );
  // The widget speaks its catalog's language, whatever the page around it is written in.
  shadow.appendChild(h("div", { class: "root", lang: locale[0] || "en" }, [panel, launcher, badge, unreadText]));

  // --- State -----------------------------------------------------------------------------------

  var token = verified ? "" : load("localStorage", TOKEN_KEY);
  var sessionStarted = false;
  var sessionInFlight = false;
  var sessionFailures = 0;
  var socket = null;
  var isReady = false;
  var attempt = 0;
  var reconnectTimer = null;
  var stopped = false;
  var isOpen = false;
  var pending = []; // {client_id, text} sent (or to send) and not acknowledged yet, in order
  var byId = {}; // message id -> element
  var byClientId = {}; // client id -> element
  var lastSeen = parseInt(load("localStorage", SEEN_KEY), 10) || 0;
  var unread = 0;
  var typingOn = false;
  var typingSentAt = 0;
  var typingIdleTimer = null;
  var agentTypingTimer = null;
  var callsAllowed = false;
  var call = null; // the call in progress: {id, medium, state, pc, local, remote, ...}

  function setStatus(text) {
    statusLine.textContent = text || "";
  }

  // --- Team card -------------------------------------------------------------------------------

  function applyTeam(team) {
    if (!team || typeof team !== "object") return;
    teamName.textContent = team.name || t("Chat with us");
    panel.setAttribute("aria-label", team.name ? t("Chat with %(name)s", { name: team.name }) : t("Chat with us"));
    var photo = safeUrl(team.photo);
    if (photo) teamPhoto.src = photo;
    teamPhoto.hidden = !photo;
    var region = team.region && team.region !== team.name ? team.region : "";
    teamRegion.textContent = region;
    teamRegion.hidden = !region;

    var people = Array.isArray(team.members) ? team.members.slice() : [];
    // Online people first: they are who will answer now.
    people.sort(function (a, b) {
      return (b.online ? 1 : 0) - (a.online ? 1 : 0);
    });
    members.textContent = "";
    people.slice(0, MEMBERS_SHOWN).forEach(function (person) {
      var src = safeUrl(person.photo);
      var avatar = src
        ? h("img", { class: "avatar", src: src, alt: "" })
        : h("span", { class: "avatar", "aria-hidden": "true", text: initials(person.name) });
      members.appendChild(
        h("li", { class: "member" + (person.online ? " online" : "") }, [
          avatar,
          h("span", { class: "member-text" }, [
            h("span", { class: "member-name", text: person.name || "" }),
            h("span", { class: "presence" }, [
              h("span", { class: "dot", "aria-hidden": "true" }),
              person.online ? t("online") : t("away"),
            ]),
          ]),
        ])
      );
    });
    members.hidden = people.length === 0;
    var rest = people.length - MEMBERS_SHOWN;
    moreMembers.textContent =
      rest > 0 ? tn("and %(count)s more in the team", "and %(count)s more in the team", rest) : "";
    moreMembers.hidden = rest <= 0;
  }

  function applyInbox(inbox) {
    var text = inbox && typeof inbox.greeting === "string" ? inbox.greeting : "";
    greeting.textContent = text;
    greeting.hidden = !text;
    callsAllowed = !inbox || inbox.calls !== false;
    showCallBar();
  }

  // --- Messages --------------------------------------------------------------------------------

  function nearBottom() {
    return body.scrollHeight - body.scrollTop - body.clientHeight < 80;
  }
  function scrollToBottom() {
    body.scrollTop = body.scrollHeight;
  }

  function senderLabel(m) {
    if (m.from === "customer") return t("You");
    if (m.sender_name) return m.sender_name;
    if (m.from === "bot") return t("Automatic answer");
    return lastTeamName() || t("Your team");
  }
  function lastTeamName() {
    return teamName.textContent && teamName.textContent !== t("Chat with us") ? teamName.textContent : "";
  }

  function setText(node, value) {
    if (node.textContent !== value) node.textContent = value;
  }

  // Messages are updated in place (sending → sent, a resync after reconnecting), so the live
  // log announces each message once, when it is added, and never again.
  function fillMessage(node, m, state, detail, retryable) {
    var mine = m.from === "customer";
    node.className = "msg" + (mine ? " mine" : "") + (m.from === "system" ? " system" : "");
    node.setAttribute("data-state", state);
    if (!node.firstChild) {
      node.appendChild(h("p", { class: "who" }));
      node.appendChild(h("p", { class: "text" }));
      node.appendChild(h("p", { class: "meta" }));
    }
    var who = node.children[0];
    // Other people's names are shown; "You" is for screen readers only.
    who.className = "who" + (mine ? " sr-only" : "");
    who.hidden = m.from === "system";
    setText(who, senderLabel(m));
    setText(node.children[1], String(m.text || ""));
    var meta = node.children[2];
    if (state === "sending") {
      setText(meta, t("Sending…"));
    } else if (state === "failed") {
      setText(meta, detail ? t("Not sent: %(reason)s", { reason: detail }) : t("Not sent."));
    } else {
      setText(meta, m.created_at ? formatTime(m.created_at) : "");
      if (m.created_at) meta.title = new Date(m.created_at).toLocaleString(locale);
    }
    if (m.attachments && m.attachments.length && !node.querySelector(".files")) {
      // An agent's files: links on Teamline's origin, signed and expiring (no session needed).
      var files = h("ul", { class: "files" });
      m.attachments.forEach(function (file) {
        var link = h("a", { text: "📎 " + String(file.filename || "file") });
        link.href = serverOrigin + String(file.url || "");
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        var item = h("li");
        item.appendChild(link);
        files.appendChild(item);
      });
      node.insertBefore(files, node.children[2]);
    }
    if (m.call_invite && !node.querySelector(".invite")) {
      // An agent invites the customer to continue on video (or audio).
      var medium = m.call_invite.medium === "audio" ? "audio" : "video";
      var invite = h("button", {
        type: "button",
        class: "invite",
        text: medium === "audio" ? t("Start call") : t("Start video call"),
      });
      invite.addEventListener("click", function () {
        startCall(medium);
      });
      node.appendChild(invite);
    }
    if (m.survey && m.survey.token && !node.querySelector(".survey")) {
      node.appendChild(surveyForm(m.survey));
    }
    var retry = node.querySelector(".retry");
    if (state === "failed" && retryable && m.client_id) {
      if (!retry) {
        retry = h("button", { type: "button", class: "retry", text: t("Retry") });
        retry.addEventListener("click", function () {
          retrySend(m.client_id, String(m.text || ""));
        });
        node.appendChild(retry);
      }
    } else if (retry) {
      retry.remove();
    }
  }

  // A satisfaction survey after the conversation was resolved (docs/surveys.md): a radio group
  // with a label on every score (never stars by colour alone), an optional comment, and a
  // button. Its words come with the message, in the customer's language; an answered survey
  // is remembered here so a resync does not ask again.
  var SURVEYS_KEY = "teamline:" + inboxId + ":surveys";
  function answeredSurveys() {
    return String(load("localStorage", SURVEYS_KEY) || "").split(",").filter(Boolean);
  }
  function surveyForm(survey) {
    var words = survey.words || {};
    var token = String(survey.token);
    var form = h("form", { class: "survey", novalidate: true });
    var status = h("p", { class: "survey-status", role: "status", "aria-live": "polite" });
    if (answeredSurveys().indexOf(token) >= 0) {
      status.textContent = String(words.thanks || "");
      form.appendChild(status);
      return form;
    }
    var group = h("fieldset", {}, [h("legend", { text: String(words.question || "") })]);
    var low = Number(survey.min) || 0;
    var high = Number(survey.max) || 0;
    for (var score = high; score >= low; score--) {
      var id = "tl-survey-" + token + "-" + score;
      var radio = h("input", { type: "radio", name: "tl-survey-" + token, id: id, value: String(score) });
      var label = h("label", { for: id, text: String((words.labels || {})[score] || score) });
      group.appendChild(h("div", { class: "choice" }, [radio, label]));
    }
    var commentId = "tl-survey-comment-" + token;
    var comment = h("textarea", { id: commentId, rows: 2, maxlength: 2000 });
    var optOutId = "tl-survey-optout-" + token;
    var optOut = h("input", { type: "checkbox", id: optOutId });
    var submit = h("button", { type: "submit", text: String(words.submit || "") });
    form.appendChild(group);
    form.appendChild(h("label", { for: commentId, text: String(words.comment || "") }));
    form.appendChild(comment);
    form.appendChild(h("div", { class: "choice" }, [optOut, h("label", { for: optOutId, text: String(words.opt_out || "") })]));
    form.appendChild(submit);
    form.appendChild(status);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var chosen = form.querySelector("input[type=radio]:checked");
      if (!chosen) {
        status.textContent = String(words.choose || "");
        return;
      }
      submit.disabled = true;
      customerApi("POST", "surveys/" + encodeURIComponent(token) + "/answer", {
        score: parseInt(chosen.value, 10),
        comment: comment.value,
        opt_out: optOut.checked,
      })
        .then(function () {
          save("localStorage", SURVEYS_KEY, answeredSurveys().concat([token]).slice(-20).join(","));
          Array.prototype.slice.call(form.children).forEach(function (child) {
            if (child !== status) child.remove();
          });
          status.textContent = String(words.thanks || "");
        })
        .catch(function (error) {
          submit.disabled = false;
          status.textContent = error.message;
        });
    });
    return form;
  }

  function firstUnconfirmed() {
    return log.querySelector(".msg[data-state='sending'], .msg[data-state='failed']");
  }

  function dropPending(clientId) {
    pending = pending.filter(function (item) {
      return item.client_id !== clientId;
    });
  }

  // Render a stored message (from ready, ack or push) exactly once: it may already be on
  // screen under its id, or as our own pending message under its client id.
  function showMessage(m) {
    if (!m || typeof m !== "object" || m.id === undefined || m.id === null) return;
    var node = byId[m.id] || (m.client_id ? byClientId[m.client_id] : null);
    var isNew = !node;
    var stick = nearBottom();
    if (isNew) {
      node = h("div");
      fillMessage(node, m, "sent");
      // Stored messages go before our still-unconfirmed ones, which are the newest by nature.
      log.insertBefore(node, firstUnconfirmed());
    } else {
      fillMessage(node, m, "sent");
    }
    byId[m.id] = node;
    if (m.client_id) {
      byClientId[m.client_id] = node;
      dropPending(m.client_id);
    }
    // Somebody is answering: the customer is no longer waiting in line.
    if (isNew && m.from === "agent") applyQueue(null);
    if (isNew && m.from !== "customer") {
      if (agentTypingName && m.sender_name === agentTypingName) showAgentTyping(false);
      if (!isOpen && m.id > lastSeen) setUnread(unread + 1);
    }
    if (isOpen && m.id > lastSeen) markSeen(m.id);
    if (stick || (isNew && m.from === "customer")) scrollToBottom();
  }

  function showLocal(item, state, detail, retryable) {
    var local = { from: "customer", text: item.text, client_id: item.client_id };
    var node = byClientId[item.client_id];
    if (!node) {
      node = h("div");
      fillMessage(node, local, state, detail, retryable);
      log.appendChild(node);
      byClientId[item.client_id] = node;
    } else if (node.getAttribute("data-state") === "sent") {
      return; // already stored
    } else {
      fillMessage(node, local, state, detail, retryable);
    }
    scrollToBottom();
  }

  function resetThread() {
    log.textContent = "";
    byId = {};
    byClientId = {};
    pending.forEach(function (item) {
      showLocal(item, "sending");
    });
  }

  // --- Unread ----------------------------------------------------------------------------------

  function setUnread(count) {
    unread = count;
    badge.textContent = count > 9 ? "9+" : String(count);
    badge.hidden = count === 0;
    unreadText.textContent =
      count === 0 ? "" : tn("%(count)s new message", "%(count)s new messages", count);
  }
  function markSeen(id) {
    lastSeen = Math.max(lastSeen, id);
    save("localStorage", SEEN_KEY, String(lastSeen));
  }

  // --- Sending ---------------------------------------------------------------------------------

  function transmit(item) {
    if (socket && isReady && socket.readyState === WebSocket.OPEN) {
      var frame = { type: "message", client_id: item.client_id, text: item.text };
      if (item.handoff) frame.handoff = true;
      socket.send(JSON.stringify(frame));
    }
  }

  function submit() {
    var text = textarea.value.trim();
    if (!text) return;
    if (text.length > MAX_TEXT) {
      setStatus(t("Your message is too long (at most %(count)s characters).", { count: formatNumber(MAX_TEXT) }));
      return;
    }
    var item = { client_id: newClientId(), text: text };
    pending.push(item);
    showLocal(item, "sending");
    textarea.value = "";
    autosize();
    setTyping(false);
    if (!sessionStarted) startSession();
    else if (isReady) transmit(item);
    else reconnectNow();
  }

  function retrySend(clientId, text) {
    if (!pending.some(function (item) { return item.client_id === clientId; })) {
      pending.push({ client_id: clientId, text: text });
    }
    showLocal({ client_id: clientId, text: text }, "sending");
    if (isReady) setStatus("");
    transmit({ client_id: clientId, text: text });
  }

  function retryLater(clientId, retryAfter) {
    var seconds = typeof retryAfter === "number" && retryAfter > 0 ? Math.min(retryAfter, 60) : 1;
    setTimeout(function () {
      pending.forEach(function (item) {
        if (item.client_id === clientId) transmit(item);
      });
      if (isReady) setStatus("");
    }, seconds * 1000 * (1 + Math.random()));
  }

  function sendFailed(clientId, code, detail) {
    var node = byClientId[clientId];
    var item = null;
    pending.forEach(function (p) {
      if (p.client_id === clientId) item = p;
    });
    dropPending(clientId); // not resent automatically: the customer decides (Retry)
    if (!node || !item) return;
    // Invalid text stays invalid; anything else (rate limit, a server hiccup) may be retried.
    showLocal(item, "failed", detail || "", code !== "invalid");
    setStatus(detail ? t("A message was not sent: %(reason)s", { reason: detail }) : t("A message was not sent."));
  }

  // --- Typing ----------------------------------------------------------------------------------

  function sendFrame(frame) {
    if (socket && isReady && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  function setTyping(state) {
    clearTimeout(typingIdleTimer);
    if (!state && !typingOn) return;
    var now = Date.now();
    if (state && typingOn && now - typingSentAt < TYPING_REFRESH_MS) return;
    typingOn = state;
    typingSentAt = now;
    sendFrame({ type: "typing", state: state });
  }

  function onInput() {
    autosize();
    if (!textarea.value.trim()) {
      setTyping(false);
      return;
    }
    setTyping(true);
    clearTimeout(typingIdleTimer);
    typingIdleTimer = setTimeout(function () {
      setTyping(false);
    }, TYPING_IDLE_MS);
  }

  var agentTypingName = "";
  function showAgentTyping(state, name) {
    clearTimeout(agentTypingTimer);
    if (state) {
      agentTypingName = name || "";
      typingLine.textContent = name ? t("%(name)s is typing…", { name: name }) : t("Your team is typing…");
      // A lost "stopped typing" must not leave the line forever.
      agentTypingTimer = setTimeout(function () {
        showAgentTyping(false);
      }, AGENT_TYPING_TIMEOUT_MS);
    } else {
      agentTypingName = "";
      typingLine.textContent = "";
    }
  }

  // --- Waiting in line, callbacks and bookings --------------------------------------------------

  function aboutMinutes(seconds) {
    var minutes = Math.max(1, Math.round(seconds / 60));
    if (minutes >= 90) {
      var hours = Math.round(minutes / 60);
      return tn("The wait is about %(count)s hour.", "The wait is about %(count)s hours.", hours);
    }
    return tn("The wait is about %(count)s minute.", "The wait is about %(count)s minutes.", minutes);
  }

  function queueSentence(q) {
    if (!q.serving && q.answer_from) return t("Your team will answer from %(time)s.", { time: q.answer_from });
    var place = q.position
      ? t("You are number %(position)s in line.", { position: formatNumber(q.position) })
      : t("You are in line.");
    if (q.kind === "callback") {
      return t("We will call you back when it is your turn.") + " " + place;
    }
    if (typeof q.eta_seconds === "number") return place + " " + aboutMinutes(q.eta_seconds);
    return place;
  }

  // The outages the banner shows (from `ready`/`resync`, then changed one at a time by
  // pushed `outage` frames) and the heading, in the customer's language, for pushed ones.
  var outagesShown = [];
  var outageHeading = "";

  function applyOutage(outage) {
    if (!outage || typeof outage !== "object" || typeof outage.id !== "number") return;
    var next = [];
    var placed = false;
    outagesShown.forEach(function (shown) {
      if (shown.id !== outage.id) {
        next.push(shown);
      } else if (outage.active) {
        next.push(withHeading(outage));
        placed = true;
      }
    });
    if (outage.active && !placed) next.push(withHeading(outage));
    applyOutages(next);
  }

  function withHeading(outage) {
    return {
      id: outage.id,
      heading: outageHeading,
      title: outage.title,
      message: outage.message,
      expected_end: outage.expected_end,
    };
  }

  function applyOutages(list) {
    while (outageBanner.firstChild) outageBanner.removeChild(outageBanner.firstChild);
    outagesShown = Array.isArray(list) ? list.slice() : [];
    var outages = outagesShown.slice(0, 3);
    outages.forEach(function (outage) {
      if (!outage || typeof outage !== "object") return;
      outageBanner.appendChild(h("h3", { text: String(outage.heading || "") }));
      outageBanner.appendChild(
        h("p", { text: String(outage.title || "") + ". " + String(outage.message || "") })
      );
    });
    outageBanner.hidden = !outageBanner.firstChild;
  }

  function applyQueue(q) {
    if (!q || typeof q !== "object") {
      waitingBox.hidden = true;
      setText(queueText, "");
      return;
    }
    waitingBox.hidden = false;
    setText(queueText, queueSentence(q));
    // A callback already keeps the place in line: nothing more to choose.
    waitingActions.hidden = q.kind !== "conversation";
    if (q.kind !== "conversation") callbackForm.hidden = true;
  }

  function customerApi(method, path, payload) {
    var options = {
      method: method,
      mode: "cors",
      credentials: "omit",
      headers: { Authorization: "Bearer " + token },
    };
    if (payload) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    return fetch(apiBase + path, options).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (data) {
          if (!response.ok) throw new Error((data && data.detail) || t("Please try again."));
          return data;
        });
    });
  }

  function slotLabel(iso) {
    var date = new Date(iso);
    // The customer's own time zone: the browser's.
    return date.toLocaleString(locale, {
      weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit",
    });
  }

  callbackButton.addEventListener("click", function () {
    bookForm.hidden = true;
    callbackForm.hidden = !callbackForm.hidden;
    if (!callbackForm.hidden) phoneInput.focus();
  });

  callbackForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var phone = phoneInput.value.trim();
    if (!phone) {
      setText(queueText, t("Please enter your phone number."));
      phoneInput.focus();
      return;
    }
    customerApi("POST", "callback", { phone: phone })
      .then(function (data) {
        callbackForm.hidden = true;
        waitingActions.hidden = true;
        setText(
          queueText,
          t("We will call you on %(phone)s when it is your turn. You keep your place in line.", {
            phone: data.callback.phone,
          })
        );
      })
      .catch(function (error) {
        setText(queueText, t("We could not arrange the call: %(reason)s", { reason: error.message }));
        phoneInput.focus();
      });
  });

  bookButton.addEventListener("click", function () {
    callbackForm.hidden = true;
    if (!bookForm.hidden) {
      bookForm.hidden = true;
      return;
    }
    customerApi("GET", "slots")
      .then(function (data) {
        while (slotList.children.length > 1) slotList.removeChild(slotList.lastChild);
        var slots = Array.isArray(data.slots) ? data.slots : [];
        if (!slots.length) {
          setText(queueText, t("There are no free times in the next days. You can keep waiting here."));
          return;
        }
        slots.slice(0, 40).forEach(function (slot, index) {
          var id = "tl-slot-" + index;
          var radio = h("input", { type: "radio", name: "tl-slot", id: id, value: slot.start });
          if (index === 0) radio.checked = true;
          slotList.appendChild(
            h("div", { class: "choice" }, [radio, h("label", { for: id, text: slotLabel(slot.start) })])
          );
        });
        bookForm.hidden = false;
        var first = slotList.querySelector("input");
        if (first) first.focus();
      })
      .catch(function (error) {
        setText(queueText, t("We could not load the free times: %(reason)s", { reason: error.message }));
      });
  });

  function onKindChange() {
    bookPhoneRow.hidden = !kindCall.checked;
  }
  kindCall.addEventListener("change", onKindChange);
  kindChat.addEventListener("change", onKindChange);

  bookForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var chosen = slotList.querySelector("input:checked");
    if (!chosen) {
      setText(queueText, t("Please choose a time."));
      return;
    }
    var payload = { slot_start: chosen.value, kind: kindCall.checked ? "call" : "chat" };
    if (kindCall.checked) payload.phone = bookPhone.value.trim();
    customerApi("POST", "appointments", payload)
      .then(function (data) {
        bookForm.hidden = true;
        waitingActions.hidden = true;
        var when = slotLabel(data.appointment.slot_start);
        setText(
          queueText,
          data.appointment.kind === "call"
            ? t("Booked: a call on %(phone)s, %(time)s.", { phone: data.appointment.phone, time: when })
            : t("Booked: a chat here, %(time)s.", { time: when })
        );
      })
      .catch(function (error) {
        setText(queueText, t("We could not book that time: %(reason)s", { reason: error.message }));
      });
  });

  // --- Connection ------------------------------------------------------------------------------

  function scheduleReconnect() {
    if (stopped) return;
    clearTimeout(reconnectTimer);
    setStatus(t("Reconnecting…"));
    var delay = Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, attempt));
    delay = Math.min(MAX_BACKOFF_MS, delay * (0.75 + Math.random() * 0.5));
    attempt += 1;
    reconnectTimer = setTimeout(function () {
      if (token) connect();
      else startSession();
    }, delay);
  }

  function reconnectNow() {
    if (stopped || !sessionStarted || sessionInFlight || socket) return;
    clearTimeout(reconnectTimer);
    if (token) connect();
    else startSession();
  }

  function sessionFailed() {
    sessionFailures += 1;
    if (sessionFailures >= MAX_SESSION_FAILURES) {
      clearTimeout(reconnectTimer);
      setStatus(t("Chat is not available right now."));
      return;
    }
    scheduleReconnect();
  }

  function startSession() {
    if (stopped || sessionInFlight) return;
    sessionStarted = true;
    sessionInFlight = true;
    var payload = { languages: pageLanguages() };
    if (token) payload.token = token;
    if (verified) {
      payload.user_id = userId;
      payload.user_hash = userHash;
    }
    if (!attempt) setStatus(t("Connecting…"));
    fetch(sessionUrl, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            sessionInFlight = false;
            if (response.ok && data && data.token) {
              sessionFailures = 0;
              token = data.token;
              // A verified customer's token stays in memory: on a shared device, the next
              // (signed-out) visitor must not find their thread.
              if (!verified) save("localStorage", TOKEN_KEY, token);
              rememberLanguage(data.language);
              applyTeam(data.team);
              applyInbox(data.inbox);
              connect();
            } else if (response.status === 403 || response.status === 404) {
              stopped = true;
              setStatus(t("Chat is not available right now."));
              if (window.console) console.warn("Teamline chat:", data && data.detail);
            } else if (response.status === 429) {
              scheduleReconnect();
              setStatus(t("Chat is busy; trying again shortly…"));
            } else if (response.status === 503) {
              // Teamline is temporarily unavailable (its database): it comes back by itself,
              // so this is not counted as a failure that ends the chat.
              scheduleReconnect();
              setStatus(t("Chat is temporarily unavailable; trying again shortly…"));
            } else {
              sessionFailed();
            }
          });
      })
      .catch(function () {
        sessionInFlight = false;
        sessionFailed();
      });
  }

  function connect() {
    if (stopped || !token) return;
    clearTimeout(reconnectTimer);
    var ws;
    try {
      ws = new WebSocket(socketUrl);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    isReady = false;
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: "auth", token: token }));
    };
    ws.onmessage = function (event) {
      if (ws !== socket) return;
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame === "object") handleFrame(frame);
    };
    ws.onclose = function (event) {
      if (ws !== socket) return;
      socket = null;
      isReady = false;
      typingOn = false;
      showAgentTyping(false);
      // The server ends a call whose socket closed: so does this side.
      if (call) endLocally(t("The call ended: the connection to your team was lost."));
      showCallBar();
      if (event.code === 4403) {
        stopped = true;
        setStatus(t("Chat is not available on this page."));
        return;
      }
      if (event.code === 4401) {
        // The session is gone (expired, or the customer was erased): start a new one.
        token = "";
        if (!verified) save("localStorage", TOKEN_KEY, "");
        resetThread();
      }
      scheduleReconnect();
    };
  }

  // --- Customer step-up ------------------------------------------------------------------------

  var METHOD_NAMES = {
    sms_code: "SMS code",
    email_code: "email code",
    app_code: "in-app code",
    passkey: "passkey",
    oidc: "sign-in",
  };
  var SENT_BY = {
    sms_code: "Your team asked you to confirm it is you. We sent a code by SMS to %(destination)s. Enter it here, not in the chat.",
    email_code: "Your team asked you to confirm it is you. We sent a code by email to %(destination)s. Enter it here, not in the chat.",
    app_code: "Your team asked you to confirm it is you. We sent a code to your app. Enter it here, not in the chat.",
    other: "Your team asked you to confirm it is you. We sent you a code. Enter it here, not in the chat.",
  };
  var verifyShownFor = null; // the step-up id the form is open for
  var passkeySaved = false; // the customer has a passkey (ready frame, or saved just now)
  var currentLevel = "none";
  var passkeyUsable =
    typeof window.PublicKeyCredential === "function" && Boolean(navigator.credentials);
  var passkeyInline = window.location.origin === serverOrigin;
  var passkeyWindow = null; // the Teamline-origin window, while a ceremony runs there
  var brandSignIn = null; // {name} when the inbox offers the brand's own sign-in

  function startPasskey(purpose, sentence) {
    verifyError.textContent = "";
    passkeyStatus.textContent = sentence;
    if (passkeyInline) {
      sendFrame({ type: "passkey.begin", purpose: purpose });
      return;
    }
    // Opened now, in the click, so no pop-up blocker stops it; its address follows the ticket.
    passkeyWindow = window.open("about:blank", "teamline-passkey", "popup,width=460,height=600");
    if (!passkeyWindow) {
      passkeyStatus.textContent = "";
      verifyError.textContent = t("Allow pop-up windows for this page to use a passkey.");
      return;
    }
    sendFrame({ type: "passkey.ticket", purpose: purpose });
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== serverOrigin || !event.data || typeof event.data !== "object") return;
    if (event.data.teamline === "passkey.saved") {
      passkeySaved = true;
      passkeySaveButton.hidden = true;
      passkeyStatus.textContent = t("Passkey saved. Next time you can verify with it.");
    } else if (event.data.teamline === "passkey.verified" || event.data.teamline === "oidc.verified") {
      passkeyStatus.textContent = "";
    }
  });

  // A pending request to verify by signing in: the methods it offers, the only buttons shown.
  var signInOffer = null;

  function offers(method) {
    return !signInOffer || signInOffer.indexOf(method) >= 0;
  }

  function showPasskeyButtons(state) {
    var asked = state === "pending" || state === "verified" || state === "failed" || state === "expired";
    passkeyVerifyButton.hidden = !(passkeyUsable && passkeySaved && currentLevel !== "strong" &&
      asked && offers("passkey"));
    passkeySaveButton.hidden = !(passkeyUsable && !passkeySaved && currentLevel === "code" &&
      !signInOffer);
    brandSignInButton.hidden = !(brandSignIn && currentLevel !== "strong" && asked && offers("oidc"));
  }

  function applyBrandSignIn(offer) {
    brandSignIn = offer && typeof offer === "object" && typeof offer.name === "string" ? offer : null;
    brandSignInButton.textContent = brandSignIn
      ? t("Sign in with %(name)s", { name: brandSignIn.name })
      : t("Sign in");
  }

  brandSignInButton.addEventListener("click", function () {
    verifyError.textContent = "";
    // Opened now, in the click, so no pop-up blocker stops it; its address follows the ticket.
    passkeyWindow = window.open("about:blank", "teamline-sign-in", "popup,width=520,height=680");
    if (!passkeyWindow) {
      verifyError.textContent = t("Allow pop-up windows for this page to sign in.");
      return;
    }
    passkeyStatus.textContent = t("Sign in in the window that opened…");
    sendFrame({ type: "oidc.ticket" });
  });

  function b64urlToBytes(value) {
    var base64 = String(value).replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function bytesToB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function credentialJson(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: bytesToB64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults
        ? credential.getClientExtensionResults()
        : {},
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: { clientDataJSON: bytesToB64url(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      out.response.attestationObject = bytesToB64url(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = bytesToB64url(response.authenticatorData);
      out.response.signature = bytesToB64url(response.signature);
      if (response.userHandle) out.response.userHandle = bytesToB64url(response.userHandle);
    }
    return out;
  }

  function passkeyCeremony(purpose, options) {
    var publicKey = Object.assign({}, options, { challenge: b64urlToBytes(options.challenge) });
    var described = function (list) {
      return (list || []).map(function (c) {
        return Object.assign({}, c, { id: b64urlToBytes(c.id) });
      });
    };
    var run;
    if (purpose === "register") {
      publicKey.user = Object.assign({}, options.user, { id: b64urlToBytes(options.user.id) });
      publicKey.excludeCredentials = described(options.excludeCredentials);
      run = navigator.credentials.create({ publicKey: publicKey });
    } else {
      publicKey.allowCredentials = described(options.allowCredentials);
      run = navigator.credentials.get({ publicKey: publicKey });
    }
    run
      .then(function (credential) {
        sendFrame({ type: "passkey.finish", purpose: purpose, credential: credentialJson(credential) });
      })
      .catch(function () {
        passkeyStatus.textContent = "";
        verifyError.textContent = t("The passkey was not used. You can try again.");
      });
  }

  passkeyVerifyButton.addEventListener("click", function () {
    startPasskey("authenticate", t("Use your device's screen lock to verify…"));
  });
  passkeySaveButton.addEventListener("click", function () {
    startPasskey("register", t("Use your device's screen lock to save a passkey…"));
  });

  function applyVerification(v) {
    if (!v || typeof v !== "object") return;
    var step = v.step_up && typeof v.step_up === "object" ? v.step_up : null;
    var state = step ? step.state : "";
    currentLevel = v.level || "none";
    signInOffer = state === "pending" && step.method === "sign_in" && Array.isArray(step.methods)
      ? step.methods
      : null;
    // The team offers a passkey only when one is saved for this customer.
    if (signInOffer && signInOffer.indexOf("passkey") >= 0) passkeySaved = true;
    showPasskeyButtons(state || (currentLevel !== "none" ? "verified" : ""));
    if (signInOffer) {
      var asked = verifyShownFor !== step.id;
      verifyShownFor = step.id;
      var buttons = [brandSignInButton, passkeyVerifyButton].filter(function (b) { return !b.hidden; });
      verifyText.textContent = !buttons.length
        ? t("Your team asked you to confirm it is you, but this browser cannot do it. Tell your team in the chat.")
        : buttons.length > 1
          ? t("Your team asked you to confirm it is you. Use one of the buttons below; no code is sent.")
          : t("Your team asked you to confirm it is you. Use the button below; no code is sent.");
      verifyForm.hidden = true;
      verifyDone.textContent = "";
      verifyBox.hidden = false;
      if (asked) {
        verifyError.textContent = "";
        if (isOpen && buttons.length) buttons[0].focus();
      }
      return;
    }
    if (state === "pending" && step.method !== "passkey") {
      var fresh = verifyShownFor !== step.id;
      verifyShownFor = step.id;
      var sentence = step.method === "app_code" || step.destination ? SENT_BY[step.method] : null;
      verifyText.textContent = t(sentence || SENT_BY.other, { destination: step.destination || "" });
      verifyForm.hidden = false;
      verifyDone.textContent = "";
      verifyBox.hidden = false;
      if (fresh) {
        verifyError.textContent = "";
        verifyInput.value = "";
        if (isOpen) verifyInput.focus();
      }
      return;
    }
    verifyForm.hidden = true;
    verifyText.textContent = "";
    if (v.level && v.level !== "none" && (state === "verified" || !step)) {
      verifyError.textContent = "";
      verifyDone.textContent = t("Thank you, you are verified (%(method)s).", {
        method: METHOD_NAMES[v.method] ? t(METHOD_NAMES[v.method]) : v.method,
      });
      verifyBox.hidden = false;
    } else if (state === "failed" || state === "expired") {
      verifyError.textContent =
        step.method === "sign_in"
          ? t("The request to verify has ended. Your team can ask again.")
          : state === "failed"
            ? t("Too many wrong codes. Your team can send a new one.")
            : t("The code expired. Your team can send a new one.");
      verifyBox.hidden = false;
    } else {
      verifyBox.hidden = true;
    }
  }

  verifyForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var code = verifyInput.value.replace(/[\s-]/g, "");
    if (!/^[0-9]{6}$/.test(code)) {
      verifyError.textContent = t("Enter the six-digit code.");
      verifyInput.focus();
      return;
    }
    if (!isReady) {
      verifyError.textContent = t("Not connected. Try again in a moment.");
      return;
    }
    verifyError.textContent = "";
    sendFrame({ type: "verify.code", code: code });
  });

  function handleFrame(frame) {
    switch (frame.type) {
      case "ready":
        rememberLanguage(frame.language);
        passkeySaved = frame.passkey === true;
        applyBrandSignIn(frame.brand_sign_in);
        applyVerification(frame.verification);
        followConversation(frame.conversation);
        isReady = true;
        attempt = 0;
        setStatus("");
        applyTeam(frame.team);
        if (typeof frame.outage_heading === "string") outageHeading = frame.outage_heading;
        applyOutages(frame.outages);
        applyQueue(frame.queue);
        applyConsents(frame.consents);
        (Array.isArray(frame.messages) ? frame.messages : []).forEach(showMessage);
        showCallBar();
        // Whatever the server did not store yet goes again; client ids make it idempotent.
        pending.slice().forEach(transmit);
        scrollToBottom();
        break;
      case "outage":
        // An outage of the customer's region was declared, changed or ended: the banner
        // follows live (a status region: screen readers read the change, the focus stays).
        applyOutage(frame.outage);
        break;
      case "resync":
        applyVerification(frame.verification);
        followConversation(frame.conversation);
        // Pushes may have been lost while this socket stayed open: the server sends the
        // whole picture again; what is already shown is matched by id and not repeated.
        if (typeof frame.outage_heading === "string") outageHeading = frame.outage_heading;
        applyOutages(frame.outages);
        applyQueue(frame.queue);
        (Array.isArray(frame.messages) ? frame.messages : []).forEach(showMessage);
        break;
      case "ack":
        followConversation({ status: "open" });
        if (frame.client_id) dropPending(frame.client_id);
        showMessage(frame.message);
        break;
      case "message":
        showMessage(frame.message);
        break;
      case "queue":
        applyQueue(frame.queue);
        break;
      case "consent":
        if (frame.topic === "data_cap") applyConsents({ data_cap: Boolean(frame.granted) });
        break;
      case "typing":
        if (frame.from !== "customer") showAgentTyping(Boolean(frame.state), frame.name);
        break;
      case "call.started":
        callStarted(frame);
        break;
      case "call":
        callUpdated(frame.call);
        break;
      case "call.signal":
        onSignal(frame);
        break;
      case "verification":
        passkeyStatus.textContent = "";
        applyVerification(frame.verification);
        break;
      case "passkey.options":
        if (frame.options && typeof frame.options === "object") {
          passkeyCeremony(frame.purpose, frame.options);
        }
        break;
      case "passkey.window":
      case "oidc.window":
        if (passkeyWindow && !passkeyWindow.closed && typeof frame.url === "string" &&
            frame.url.charAt(0) === "/") {
          passkeyWindow.location.href = serverOrigin + frame.url;
        }
        break;
      case "passkey.saved":
        passkeySaved = true;
        passkeySaveButton.hidden = true;
        passkeyStatus.textContent = t("Passkey saved. Next time you can verify with it.");
        break;
      case "busy":
        // Overload: the message was not stored; send it again after the hint (plus jitter, so
        // a crowd of widgets does not come back at once). Still pending: a reconnect resends it.
        if (frame.client_id) retryLater(frame.client_id, frame.retry_after);
        if (typeof frame.detail === "string") setStatus(frame.detail);
        break;
      case "error":
        if (frame.about === "verification" || frame.about === "passkey" || frame.about === "oidc") {
          passkeyStatus.textContent = "";
          if (frame.about !== "verification" && passkeyWindow && !passkeyWindow.closed) {
            passkeyWindow.close();
          }
          verifyError.textContent = frame.detail || t("That did not work.");
          verifyInput.focus();
        } else if (frame.about === "call") callFailed(frame.detail);
        else if (frame.client_id) sendFailed(frame.client_id, frame.code, frame.detail);
        else if (window.console) console.warn("Teamline chat:", frame.code, frame.detail);
        break;
      default:
        break;
    }
  }

  // --- Calls (WebRTC) -----------------------------------------------------------------------
  //
  // The customer's browser asks for the camera/microphone, sends `call.start`, and waits; the
  // agent's browser makes the offer once they accept; this side answers. Offer, answer and ICE
  // candidates travel as `call.signal` frames over this socket (docs/websockets.md). The server
  // ends the call if this socket closes. `window.teamlineCall` is a debugging handle on the
  // call in progress ({id, pc, local, remote}), e.g. for pc.getStats().

  var CALL_STATES = {
    waiting: "Calling your team…",
    connecting: "Your team answered. Connecting…",
    active: "Connected.",
    held: "You are on hold.",
  };

  // The buttons show once the socket is ready: a call needs it from the first moment.
  function showCallBar() {
    callBar.hidden = !callsAllowed || Boolean(call) || !isReady;
  }

  function setCallStatus(text) {
    if (callStatus.textContent !== text) callStatus.textContent = text;
  }

  function pressed(button, on) {
    button.setAttribute("aria-pressed", on ? "true" : "false");
  }

  function callVideoTrack() {
    return call && call.local ? call.local.getVideoTracks()[0] || null : null;
  }

  function startCall(medium) {
    if (call) return;
    if (!isReady) {
      setStatus(t("Not connected yet; try again in a moment."));
      return;
    }
    callError.textContent = "";
    call = { id: null, medium: medium, state: "starting", pc: null, local: null,
      remote: new MediaStream(), iceServers: [], pendingIce: [], screen: null };
    callView.hidden = false;
    callView.setAttribute("aria-label", medium === "video" ? t("Video call") : t("Call"));
    cameraButton.hidden = medium !== "video";
    pressed(muteButton, false);
    pressed(cameraButton, false);
    pressed(shareButton, false);
    endCallButton.textContent = t("Cancel call");
    showCallBar();
    setCallStatus(
      medium === "video" ? t("Allow your microphone and camera to call.") : t("Allow your microphone to call.")
    );
    var wanted = { audio: true, video: medium === "video" };
    var media = navigator.mediaDevices && navigator.mediaDevices.getUserMedia
      ? navigator.mediaDevices.getUserMedia(wanted)
      : Promise.reject(new Error("no media devices"));
    var mine = call;
    media
      .then(function (stream) {
        if (call !== mine) {
          stream.getTracks().forEach(function (t) { t.stop(); });
          return;
        }
        call.local = stream;
        localVideo.srcObject = stream;
        localVideo.hidden = medium !== "video";
        sendFrame({ type: "call.start", medium: medium });
        setCallStatus(t("Calling your team…"));
        endCallButton.focus();
      })
      .catch(function () {
        if (call !== mine) return;
        endLocally("");
        callError.textContent =
          medium === "video"
            ? t("We could not use your microphone or camera. Allow them in your browser to call us, or write to us here.")
            : t("We could not use your microphone. Allow it in your browser to call us, or write to us here.");
      });
  }

  function callStarted(frame) {
    if (!frame.call) return;
    if (!call || call.id !== null) {
      // Cancelled before the server answered: that call is not wanted any more.
      if (!call || call.id !== frame.call.id) sendFrame({ type: "call.end", call_id: frame.call.id });
      return;
    }
    call.id = frame.call.id;
    call.iceServers = Array.isArray(frame.ice_servers) ? frame.ice_servers : [];
    callUpdated(frame.call);
  }

  function callUpdated(data) {
    if (!data || !call || data.id !== call.id) return;
    call.state = data.state;
    if (data.state === "ended") {
      endLocally(t("The call has ended."));
      return;
    }
    if (data.state === "waiting" && call.pc) {
      // The agent let go of the call (a transfer): the next agent's browser makes a new offer.
      call.pc.close();
      call.pc = null;
      call.pendingIce = [];
    }
    endCallButton.textContent = data.state === "waiting" ? t("Cancel call") : t("End call");
    setCallStatus(CALL_STATES[data.state] ? t(CALL_STATES[data.state]) : "");
    if (call.pc) {
      // On hold the agent hears nothing; the customer's own media pauses too.
      var held = data.state === "held";
      call.local.getAudioTracks().forEach(function (t) {
        t.enabled = !held && muteButton.getAttribute("aria-pressed") !== "true";
      });
    }
  }

  function callFailed(detail) {
    callError.textContent = String(detail || t("The call could not be made."));
    if (call && call.id === null) endLocally("");
  }

  function peer() {
    if (call.pc) return call.pc;
    var pc = new RTCPeerConnection({ iceServers: call.iceServers });
    call.pc = pc;
    window.teamlineCall = { id: call.id, pc: pc, local: call.local, remote: call.remote };
    pc.ontrack = function (event) {
      if (call && call.pc === pc && call.remote.getTracks().indexOf(event.track) < 0) {
        call.remote.addTrack(event.track);
        remoteVideo.srcObject = call.remote;
      }
    };
    pc.onicecandidate = function (event) {
      if (!call || call.pc !== pc) return;
      sendFrame({ type: "call.signal", call_id: call.id, kind: "ice",
        payload: event.candidate ? event.candidate.toJSON() : null });
    };
    pc.oniceconnectionstatechange = function () {
      if (!call || call.pc !== pc) return;
      if (pc.iceConnectionState === "failed") {
        callError.textContent = t("The connection to your team failed.");
      } else if (pc.iceConnectionState === "connected") {
        callError.textContent = "";
      }
    };
    return pc;
  }

  function onSignal(frame) {
    if (!call || call.id === null || frame.call_id !== call.id || !call.local) return;
    var payload = frame.payload;
    if (frame.kind === "offer" && payload) {
      if (call.pc && call.pc.remoteDescription) {
        // The agent's desk opened another page during the call and offers afresh: the new
        // connection replaces the one their old page dropped.
        call.pc.close();
        call.pc = null;
        call.pendingIce = [];
      }
      var pc = peer();
      pc.setRemoteDescription(payload)
        .then(function () {
          // Our microphone (and camera) answer the agent's offer; for an audio call the video
          // line stays ours to send on, for sharing the screen.
          var audio = call.local.getAudioTracks()[0] || null;
          var video = callVideoTrack();
          pc.getTransceivers().forEach(function (t) {
            var kind = t.receiver && t.receiver.track ? t.receiver.track.kind : "";
            if (kind === "audio") {
              t.direction = "sendrecv";
              t.sender.replaceTrack(audio);
              call.audioSender = t.sender;
            } else if (kind === "video") {
              t.direction = call.medium === "video" ? "sendrecv" : "sendonly";
              t.sender.replaceTrack(video);
              call.videoSender = t.sender;
            }
          });
          return pc.createAnswer();
        })
        .then(function (answer) { return pc.setLocalDescription(answer); })
        .then(function () {
          sendFrame({ type: "call.signal", call_id: call.id, kind: "answer",
            payload: { type: "answer", sdp: pc.localDescription.sdp } });
          var queued = call.pendingIce;
          call.pendingIce = [];
          queued.forEach(function (c) { pc.addIceCandidate(c).catch(function () {}); });
        })
        .catch(function () {
          callError.textContent = t("The call could not be connected.");
        });
    } else if (frame.kind === "ice") {
      var candidate = payload || null;
      if (call.pc && call.pc.remoteDescription) {
        if (candidate) call.pc.addIceCandidate(candidate).catch(function () {});
      } else if (candidate) {
        call.pendingIce.push(candidate);
      }
    } else if (frame.kind === "bye") {
      endLocally(t("The call has ended."));
    }
  }

  function stopScreen() {
    if (!call || !call.screen) return;
    call.screen.getTracks().forEach(function (t) { t.stop(); });
    call.screen = null;
    if (call.videoSender) call.videoSender.replaceTrack(callVideoTrack());
    localVideo.srcObject = call.local;
    pressed(shareButton, false);
  }

  function endLocally(sentence) {
    if (!call) return;
    var ending = call;
    call = null;
    if (ending.screen) ending.screen.getTracks().forEach(function (t) { t.stop(); });
    if (ending.local) ending.local.getTracks().forEach(function (t) { t.stop(); });
    if (ending.pc) ending.pc.close();
    localVideo.srcObject = null;
    remoteVideo.srcObject = null;
    callView.hidden = true;
    showCallBar();
    if (sentence) setStatus(sentence);
    if (isOpen) (callBar.hidden ? textarea : videoCallButton).focus();
  }

  audioCallButton.addEventListener("click", function () { startCall("audio"); });
  videoCallButton.addEventListener("click", function () { startCall("video"); });
  muteButton.addEventListener("click", function () {
    if (!call || !call.local) return;
    var muting = muteButton.getAttribute("aria-pressed") !== "true";
    call.local.getAudioTracks().forEach(function (t) { t.enabled = !muting; });
    pressed(muteButton, muting);
    setCallStatus(muting ? t("You are muted.") : t("Your microphone is on."));
  });
  cameraButton.addEventListener("click", function () {
    var track = callVideoTrack();
    if (!track) return;
    var off = cameraButton.getAttribute("aria-pressed") !== "true";
    track.enabled = !off;
    pressed(cameraButton, off);
    setCallStatus(off ? t("Your camera is off.") : t("Your camera is on."));
  });
  shareButton.addEventListener("click", function () {
    if (!call || !call.pc) {
      callError.textContent = t("You can share your screen once the call is connected.");
      return;
    }
    if (call.screen) {
      stopScreen();
      setCallStatus(t("You stopped sharing your screen."));
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia || !call.videoSender) {
      callError.textContent = t("Sharing your screen is not possible in this browser.");
      return;
    }
    var mine = call;
    navigator.mediaDevices.getDisplayMedia({ video: true, audio: false })
      .then(function (screen) {
        if (call !== mine) {
          screen.getTracks().forEach(function (t) { t.stop(); });
          return;
        }
        var track = screen.getVideoTracks()[0];
        call.screen = screen;
        track.addEventListener("ended", stopScreen);
        call.videoSender.replaceTrack(track);
        localVideo.srcObject = screen;
        pressed(shareButton, true);
        setCallStatus(t("You are sharing your screen."));
      })
      .catch(function () {
        setCallStatus(t("Your screen is not shared."));
      });
  });
  endCallButton.addEventListener("click", function () {
    if (!call) return;
    if (call.id !== null) {
      if (call.pc) sendFrame({ type: "call.signal", call_id: call.id, kind: "bye", payload: null });
      sendFrame({ type: "call.end", call_id: call.id });
    }
    endLocally(call.id !== null ? t("You ended the call.") : "");
  });

  // --- Suggestions while typing ------------------------------------------------------------------
  //
  // Before a chat is under way, what the visitor types is searched (after a pause, from a few
  // characters, the last 200 sent) and the top articles are offered above the message box
  // (docs/selfservice.md, "Suggestions"): a list announced politely, never taking focus, reached
  // with Shift+Tab from the message box; Escape or "Close suggestions" closes it until the box
  // is emptied. Opening one shows it here as plain text (set with textContent) with a link to
  // the help center, and records an episode; "Yes" / "No" is stored on it, and "No" sends the
  // question to the team. The words come from the server, in the visitor's language.

  var SUGGEST_MIN_CHARS = 3;
  var SUGGEST_MAX_CHARS = 200;
  var SUGGEST_DELAY_MS = 400;
  var suggestWords = {
    heading: "These may answer you",
    close: "Close suggestions",
    help_center: "Read it in the help center (opens in a new tab)",
    question: "Did this answer your question?",
    yes: "Yes",
    no: "No",
    back: "Back to suggestions",
    thanks: "Thank you! Glad it helped.",
    to_team: "Your team will answer you here.",
    found: ["1 article may answer you.", "2 articles may answer you.", "3 articles may answer you."],
  };
  var suggestTimer = null;
  var suggestAsked = "";
  var suggestSeq = 0;
  var suggestShownIds = "";
  var suggestClosed = false;
  var chatUnderWay = false;
  var openedEpisode = null;
  var openedFrom = null;
  // The suggestions follow the widget's language (the catalog's).
  var pageLanguage = language;

  adoptStyles(
    shadow,
    [
      ".suggest { max-height: 45%; overflow-y: auto; padding: 8px 14px 10px;",
      "  border-top: 1px solid #dfe4ee; background: #fff; }",
      ".suggest-head { display: flex; align-items: center; justify-content: space-between; }",
      ".suggest h3 { margin: 0; font-size: 14px; font-weight: 700; }",
      ".suggest-close { width: 32px; height: 32px; display: grid; place-items: center;",
      "  border: 2px solid transparent; border-radius: 50%; background: transparent; }",
      ".suggest-close svg { width: 18px; height: 18px; fill: currentColor; }",
      ".suggest-list { list-style: none; margin: 4px 0 0; padding: 0; display: grid; gap: 6px; }",
      ".suggest-item { display: block; width: 100%; padding: 6px 8px; text-align: left;",
      "  border: 1px solid #c9d1e3; border-radius: 8px; background: #f6f8fc;",
      "  color: #13244a; font-weight: 600; text-decoration: underline; }",
      ".suggest-snippet { margin: 2px 8px 0; font-size: 13px; color: #4a5368; }",
      ".article h3 { margin: 6px 0; font-size: 15px; }",
      ".article-text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 14px; }",
      ".article a { color: #1f3f8f; font-size: 14px; }",
      ".article-back { padding: 2px 8px; border-radius: 8px; border: 1px solid #1f3f8f;",
      "  background: #fff; color: #1f3f8f; font-size: 13px; }",
      ".article-rate { margin-top: 8px; display: flex; flex-wrap: wrap; align-items: center;",
      "  gap: 8px; }",
      ".article-rate p { margin: 0; font-weight: 600; }",
      ".article-rate button { padding: 4px 14px; border-radius: 8px; border: 2px solid #1f3f8f;",
      "  background: #fff; color: #1f3f8f; font-weight: 600; }",
      ".article-thanks { margin: 8px 0 0; font-weight: 600; }",
      ".article-thanks:empty { display: none; }",
    ].join("\n")
  );

  var suggestTitle = h("h3", { id: "tl-suggest-title" });
  var suggestClose = h("button", { type: "button", class: "suggest-close" }, [
    svg("M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 9.2 12 2.9 5.7l1.4-1.4 6.3 6.3 6.3-6.3z"),
  ]);
  var suggestList = h("ul", { class: "suggest-list", "aria-labelledby": "tl-suggest-title" });
  var suggestListView = h("div", {}, [
    h("div", { class: "suggest-head" }, [suggestTitle, suggestClose]),
    suggestList,
  ]);
  var articleBack = h("button", { type: "button", class: "article-back" });
  var articleTitle = h("h3", { id: "tl-article-title", tabindex: "-1" });
  var articleText = h("div", { class: "article-text" });
  var articleLink = h("a", { target: "_blank", rel: "noopener noreferrer" });
  var articleQuestion = h("p", { id: "tl-article-question" });
  var articleYes = h("button", { type: "button" });
  var articleNo = h("button", { type: "button" });
  var articleRate = h("div", { class: "article-rate", role: "group", "aria-labelledby": "tl-article-question" }, [
    articleQuestion,
    articleYes,
    articleNo,
  ]);
  var articleThanks = h("p", { class: "article-thanks", tabindex: "-1" });
  var articleView = h("div", { class: "article", hidden: true }, [
    articleBack,
    articleTitle,
    articleText,
    articleLink,
    articleRate,
    articleThanks,
  ]);
  var suggestBox = h("section", { class: "suggest", "aria-labelledby": "tl-suggest-title", hidden: true }, [
    suggestListView,
    articleView,
  ]);
  // Outside the box, so it is in the page (and heard) before the box is shown.
  var suggestAnnouncer = h("p", { class: "sr-only", role: "status", "aria-live": "polite" });
  panel.insertBefore(suggestBox, form);
  panel.insertBefore(suggestAnnouncer, form);

  function applySuggestWords(words) {
    if (words && typeof words === "object") {
      Object.keys(suggestWords).forEach(function (key) {
        if (key === "found" ? Array.isArray(words.found) : typeof words[key] === "string") {
          suggestWords[key] = words[key];
        }
      });
    }
    suggestTitle.textContent = suggestWords.heading;
    suggestClose.setAttribute("aria-label", suggestWords.close);
    articleBack.textContent = suggestWords.back;
    articleLink.textContent = suggestWords.help_center;
    articleQuestion.textContent = suggestWords.question;
    articleYes.textContent = suggestWords.yes;
    articleNo.textContent = suggestWords.no;
  }
  applySuggestWords(null);

  function suggestAnnounce(text) {
    suggestAnnouncer.textContent = "";
    setTimeout(function () {
      suggestAnnouncer.textContent = text || "";
    }, 60);
  }

  function hideSuggestions() {
    clearTimeout(suggestTimer);
    suggestSeq += 1; // an answer still on its way is not shown
    suggestAsked = "";
    suggestShownIds = "";
    suggestBox.hidden = true;
    articleView.hidden = true;
    suggestListView.hidden = false;
    openedEpisode = null;
  }

  function closeSuggestions() {
    suggestClosed = true;
    hideSuggestions();
    textarea.focus();
  }

  // The chat is under way once a conversation is open: from then on the team answers.
  function followConversation(conversation) {
    chatUnderWay = Boolean(conversation && conversation.status === "open");
    if (chatUnderWay) hideSuggestions();
    else if (textarea.value.trim()) onSuggestInput(); // typed before the session was ready
  }

  function onSuggestInput() {
    clearTimeout(suggestTimer);
    var text = textarea.value.trim();
    if (!text) suggestClosed = false; // a new question may have new answers
    if (chatUnderWay || suggestClosed || text.length < SUGGEST_MIN_CHARS) {
      if (articleView.hidden) hideSuggestions();
      return;
    }
    suggestTimer = setTimeout(function () {
      askSuggestions(text.slice(-SUGGEST_MAX_CHARS));
    }, SUGGEST_DELAY_MS);
  }

  function askSuggestions(query) {
    if (!token || query === suggestAsked || !articleView.hidden) return;
    suggestAsked = query;
    var seq = (suggestSeq += 1);
    customerApi(
      "GET",
      "suggestions?q=" + encodeURIComponent(query) + "&lang=" + encodeURIComponent(pageLanguage)
    )
      .then(function (data) {
        if (seq !== suggestSeq || chatUnderWay || suggestClosed) return;
        applySuggestWords(data.words);
        showSuggestions(Array.isArray(data.results) ? data.results.slice(0, 3) : []);
      })
      .catch(function (error) {
        // Suggestions are a help, not the chat: a refusal (rate limit) only hides them.
        if (seq === suggestSeq) suggestAsked = "";
        if (window.console) console.warn("Teamline suggestions:", error && error.message);
      });
  }

  function showSuggestions(results) {
    var ids = results.map(function (r) { return String(r.id); }).join(",");
    if (!results.length) {
      hideSuggestions();
      return;
    }
    if (ids === suggestShownIds && !suggestBox.hidden) return; // the same answers: say nothing
    suggestShownIds = ids;
    suggestList.textContent = "";
    results.forEach(function (result, index) {
      var snippetId = "tl-suggest-snippet-" + index;
      var button = h("button", {
        type: "button",
        class: "suggest-item",
        "aria-describedby": result.snippet ? snippetId : null,
        text: String(result.title || ""),
      });
      button.addEventListener("click", function () {
        openArticle(result, button);
      });
      suggestList.appendChild(
        h("li", {}, [
          button,
          result.snippet ? h("p", { class: "suggest-snippet", id: snippetId, text: String(result.snippet) }) : null,
        ])
      );
    });
    suggestListView.hidden = false;
    articleView.hidden = true;
    suggestBox.hidden = false;
    suggestAnnounce(suggestWords.found[results.length - 1] || "");
  }

  function openArticle(result, from) {
    openedFrom = from;
    customerApi("POST", "articles/" + encodeURIComponent(result.id) + "/open")
      .then(function (data) {
        var article = (data && data.article) || {};
        openedEpisode = data && data.episode ? data.episode.id : null;
        articleTitle.textContent = String(article.title || result.title || "");
        articleText.textContent = String(article.text || "");
        var href = safeUrl(article.url || result.url);
        articleLink.hidden = !href;
        if (href) articleLink.setAttribute("href", href);
        articleRate.hidden = false;
        articleThanks.textContent = "";
        suggestListView.hidden = true;
        articleView.hidden = false;
        // The visitor asked for this article: reading starts at its title.
        articleTitle.focus();
      })
      .catch(function (error) {
        setStatus(error && error.message ? error.message : t("Please try again."));
      });
  }

  function rate(helpful) {
    if (openedEpisode === null) return Promise.resolve();
    return customerApi("POST", "episodes/" + encodeURIComponent(openedEpisode) + "/rating", {
      helpful: helpful,
    });
  }

  articleYes.addEventListener("click", function () {
    rate(true)
      .then(function () {
        articleRate.hidden = true;
        articleThanks.textContent = suggestWords.thanks;
        articleThanks.focus();
      })
      .catch(function (error) {
        setStatus(error && error.message ? error.message : t("Please try again."));
      });
  });
  articleNo.addEventListener("click", function () {
    // Not answered: straight to the team, with the question the visitor already wrote.
    rate(false).catch(function () {
      /* the answer is a measurement; the chat matters more */
    });
    closeSuggestions();
    setStatus(suggestWords.to_team);
    if (textarea.value.trim()) submit();
  });
  articleBack.addEventListener("click", function () {
    articleView.hidden = true;
    suggestListView.hidden = false;
    openedEpisode = null;
    if (openedFrom && openedFrom.isConnected) openedFrom.focus();
  });
  suggestClose.addEventListener("click", closeSuggestions);
  suggestBox.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      // Only the suggestions close; the chat stays open.
      event.preventDefault();
      event.stopPropagation();
      closeSuggestions();
    }
  });
  textarea.addEventListener("input", onSuggestInput);
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) hideSuggestions();
  });
  form.addEventListener("submit", hideSuggestions);

  // --- Opening and closing -----------------------------------------------------------------------

  function openPanel(focus) {
    isOpen = true;
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    save("sessionStorage", OPEN_KEY, "1");
    setUnread(0);
    var ids = Object.keys(byId).map(Number);
    if (ids.length) markSeen(Math.max.apply(null, ids));
    if (!sessionStarted) startSession();
    else reconnectNow();
    scrollToBottom();
    if (focus) textarea.focus();
  }

  function closePanel(returnFocus) {
    isOpen = false;
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    save("sessionStorage", OPEN_KEY, "");
    setTyping(false);
    if (returnFocus) launcher.focus();
  }

  function autosize() {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight + 4, 140) + "px";
  }

  launcher.addEventListener("click", function () {
    if (isOpen) closePanel(false);
    else openPanel(true);
  });
  closeButton.addEventListener("click", function () {
    closePanel(true);
  });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      closePanel(true);
    }
  });
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  textarea.addEventListener("input", onInput);
  textarea.addEventListener("blur", function () {
    setTyping(false);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
    textarea.focus();
  });
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") reconnectNow();
  });

  // --- Start -----------------------------------------------------------------------------------

  function mount() {
    document.body.appendChild(host);
    if (load("sessionStorage", OPEN_KEY)) openPanel(false); // stays open across page loads
    // A returning or signed-in visitor connects at once, to see replies that came while they
    // were away. A first-time visitor gets a session when they first open the chat, so that
    // browsing the site creates no customer (and does not use up the per-address quota of
    // new sessions that visitors behind one carrier NAT share).
    if (!sessionStarted && (token || verified)) startSession();
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
  }

  loadCatalog(build);
})();
