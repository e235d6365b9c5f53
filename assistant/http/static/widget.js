/*
 * Neptune's embeddable chat widget: no build step, no dependencies, nothing loaded from
 * anywhere else. A host page adds it with one tag:
 *
 *   <script src="<neptune-host>/widget.js" data-token="..."></script>
 *   <script src="/widget.js" data-token-url="/my/token"></script>   (answers {"token": "..."})
 *
 * Optional attributes: data-api (the API's base URL; default: the origin this script came
 * from), data-page, data-record-type, data-record-id (what the user is looking at). The page
 * can update that context with Neptune.setContext({page, record_type, record_id, selection})
 * and open or close the panel with Neptune.open() / Neptune.close().
 *
 * Safety: model and tool text is untrusted. It is rendered by building DOM nodes
 * (createElement, textContent, a small Markdown subset, links only for http(s) URLs), never
 * by parsing it as HTML. The UI lives in a shadow root, so the host page's CSS does not reach
 * in and ours does not leak out; its styles are a constructed stylesheet, which a strict
 * Content-Security-Policy (no 'unsafe-inline') still allows.
 *
 * Transport: a short-lived ticket (POST /v1/ws/tickets with the bearer token) opens /v1/ws.
 * Every event carries its conversation's seq; the widget drops seqs it has already seen, and
 * after a dropped connection it reconnects with backoff, gets a new ticket and sends `resume`
 * after the last seq it saw, so nothing is missed or shown twice.
 */
(function () {
  "use strict";
  if (window.Neptune && window.Neptune.version) return; // loaded twice: keep the first

  const VERSION = "1.0.0";
  const LIMITS = { page: 200, record_type: 64, record_id: 64, selection: 2000 };
  const MAX_MESSAGE = 32000;
  const STORE_KEY = "neptune.conversation";
  const SIGNED_OUT = "Neptune could not sign you in. Reload the page to try again.";
  const POLITE = {
    rate_limited: "You're sending messages a little fast. Please wait a moment and try again.",
    too_many_requests: "You're sending messages a little fast. Please wait a moment.",
    busy: "Neptune is still answering in this conversation. Try again when it has finished.",
    conversation_busy: "Neptune is still answering in this conversation. Try again shortly.",
    not_found: "That conversation or action no longer exists.",
    conflict: "This was already decided, or it has expired.",
    forbidden: "You don't have permission to do that.",
    invalid: "That request could not be understood.",
    invalid_frame: "That request could not be understood.",
    internal_error: "Something went wrong on our side. Please try again.",
    model_unavailable: "The assistant is unavailable right now. Please try again shortly.",
    model_timeout: "The assistant took too long to answer. Please try again.",
  };

  // -- configuration ----------------------------------------------------------------------
  const script = document.currentScript || document.querySelector("script[src*='widget.js']");
  const data = (script && script.dataset) || {};
  const scriptOrigin = script && script.src ? new URL(script.src, location.href).origin
    : location.origin;
  const config = {
    token: data.token || null,
    tokenUrl: data.tokenUrl ? new URL(data.tokenUrl, location.href).href : null,
    api: (data.api || scriptOrigin).replace(/\/+$/, ""),
  };
  const context = {};

  function setContext(values) {
    if (!values || typeof values !== "object") return;
    for (const key of Object.keys(LIMITS)) {
      if (!(key in values)) continue;
      const value = values[key];
      if (value === null || value === undefined || value === "") delete context[key];
      else context[key] = String(value).slice(0, LIMITS[key]);
    }
  }
  setContext({ page: data.page, record_type: data.recordType, record_id: data.recordId });

  function pageContext() {
    return Object.keys(context).length ? Object.assign({}, context) : null;
  }

  // -- safe DOM building --------------------------------------------------------------------
  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "className") node.className = value;
      else if (key === "on") {
        for (const [name, fn] of Object.entries(value)) node.addEventListener(name, fn);
      } else node.setAttribute(key, value === true ? "" : String(value));
    }
    if (children) node.append(...children); // strings become Text nodes, never markup
    return node;
  }

  function short(text, limit) {
    const s = String(text);
    return s.length > limit ? s.slice(0, limit - 1) + "…" : s;
  }

  function humanize(tool) {
    const words = String(tool || "tool").replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  // -- Markdown (a safe subset) -------------------------------------------------------------
  const FENCE = /^\s*(```+|~~~+)\s*([\w+#.-]*)\s*$/;
  const BULLET = /^\s*[-*+]\s+(.*)$/;
  const NUMBERED = /^\s*(\d{1,9})[.)]\s+(.*)$/;
  const HEADING = /^\s{0,3}#{1,6}\s+(.*)$/;
  const INLINE = new RegExp([
    "`([^`\\n]+)`",                                          // 1 code
    "\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*",                    // 2 bold
    "(?<!\\w)__(?=\\S)([\\s\\S]*?\\S)__(?!\\w)",             // 3 bold
    "(?<![\\w*])\\*(?=[^\\s*])([\\s\\S]*?[^\\s*])\\*(?![\\w*])", // 4 italic
    "(?<![\\w_])_(?=[^\\s_])([\\s\\S]*?[^\\s_])_(?![\\w_])", // 5 italic
    "\\[([^\\]\\n]+)\\]\\(([^()\\s]+)\\)",                   // 6 label, 7 url
    "\\bhttps?:\\/\\/[^\\s<>\"'`]+",                          // a bare URL
  ].join("|"), "g");

  function renderMarkdown(text, into) {
    into.replaceChildren();
    const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      const fence = FENCE.exec(line);
      if (fence) i = codeBlock(lines, i, fence[1], into);
      else if (!line.trim()) i += 1;
      else if (BULLET.test(line) || NUMBERED.test(line)) i = list(lines, i, into);
      else if (HEADING.test(line)) {
        const strong = el("strong");
        inline(HEADING.exec(line)[1], strong);
        into.append(el("p", { className: "heading" }, [strong]));
        i += 1;
      } else i = paragraph(lines, i, into);
    }
  }

  function codeBlock(lines, start, marker, into) {
    let end = start + 1;
    while (end < lines.length && lines[end].trim() !== marker) end += 1;
    const code = el("code", { text: lines.slice(start + 1, end).join("\n") });
    into.append(el("pre", null, [code]));
    return end + 1; // an unclosed fence (still streaming) runs to the end
  }

  function list(lines, start, into) {
    const ordered = NUMBERED.test(lines[start]);
    const pattern = ordered ? NUMBERED : BULLET;
    const node = el(ordered ? "ol" : "ul");
    if (ordered) {
      const first = Number(NUMBERED.exec(lines[start])[1]);
      if (first !== 1) node.setAttribute("start", String(first));
    }
    let i = start;
    let item = null;
    while (i < lines.length && lines[i].trim()) {
      const match = pattern.exec(lines[i]);
      if (match) {
        item = el("li");
        inline(match[ordered ? 2 : 1], item);
        node.append(item);
      } else if (/^\s+\S/.test(lines[i]) && item) {
        item.append(el("br"));
        inline(lines[i].trim(), item);
      } else break;
      i += 1;
    }
    into.append(node);
    return i;
  }

  function paragraph(lines, start, into) {
    const node = el("p");
    let i = start;
    while (i < lines.length && lines[i].trim() && !FENCE.test(lines[i])
           && !BULLET.test(lines[i]) && !NUMBERED.test(lines[i]) && !HEADING.test(lines[i])) {
      if (i > start) node.append(el("br"));
      inline(lines[i], node);
      i += 1;
    }
    into.append(node);
    return i;
  }

  function inline(text, into) {
    const pattern = new RegExp(INLINE.source, "g");
    let last = 0;
    let match;
    while ((match = pattern.exec(text))) {
      if (match.index > last) into.append(text.slice(last, match.index));
      into.append(inlineNode(match));
      last = pattern.lastIndex;
    }
    if (last < text.length) into.append(text.slice(last));
  }

  function inlineNode(m) {
    if (m[1] !== undefined) return el("code", { text: m[1] });
    if (m[2] !== undefined || m[3] !== undefined) return nested("strong", m[2] ?? m[3]);
    if (m[4] !== undefined || m[5] !== undefined) return nested("em", m[4] ?? m[5]);
    if (m[6] !== undefined) return link(m[7], m[6]) || document.createTextNode(m[0]);
    const url = m[0].replace(/[.,;:!?)\]]+$/, ""); // sentence punctuation is not the URL's
    const node = document.createDocumentFragment();
    node.append(link(url, null) || url, m[0].slice(url.length));
    return node;
  }

  function nested(tag, text) {
    const node = el(tag);
    inline(text, node);
    return node;
  }

  function safeUrl(raw) {
    try {
      const url = new URL(raw); // absolute only: no base, so "javascript:" etc. stay text
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function link(raw, label) {
    const href = safeUrl(raw);
    if (!href) return null;
    const a = el("a", { href: href, target: "_blank", rel: "noopener noreferrer" });
    if (label === null) a.textContent = raw;
    else inline(label, a);
    return a;
  }

  // -- styles -------------------------------------------------------------------------------
  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
.root { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2433; }
button { font: inherit; cursor: pointer; }
button:focus-visible, textarea:focus-visible { outline: 2px solid #3b6cff; outline-offset: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap; }
.launcher { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border: 0;
  border-radius: 50%; background: #3b6cff; color: #fff; font-size: 22px; font-weight: 700;
  box-shadow: 0 4px 14px #0004; z-index: 2147483000; }
.panel { position: fixed; right: 20px; bottom: 88px; width: min(400px, calc(100vw - 40px));
  height: min(600px, calc(100vh - 120px)); display: flex; flex-direction: column;
  background: #fff; border-radius: 12px; box-shadow: 0 8px 30px #0005; overflow: hidden;
  z-index: 2147483000; }
.panel[hidden], [hidden] { display: none !important; }
header { display: flex; align-items: center; gap: 4px; padding: 10px 12px; background: #1d2433;
  color: #fff; }
header h2 { font-size: 15px; margin: 0; flex: 1; }
header button { background: transparent; color: #fff; border: 0; border-radius: 6px;
  padding: 4px 8px; font-size: 13px; }
header button:hover { background: #ffffff22; }
.status { font-size: 12px; color: #c9d3e6; margin: 0 6px; }
.list { flex: 1; overflow: auto; padding: 8px; }
.list ul { list-style: none; margin: 0; padding: 0; }
.conv { display: block; width: 100%; text-align: left; border: 0; border-radius: 8px;
  background: transparent; padding: 8px 10px; }
.conv:hover, .conv[aria-current="true"] { background: #eef2ff; }
.conv small { display: block; color: #5b6478; }
.log { flex: 1; overflow: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; }
.msg { max-width: 88%; padding: 8px 12px; border-radius: 12px; overflow-wrap: anywhere; }
.msg.user { align-self: flex-end; background: #3b6cff; color: #fff; white-space: pre-wrap; }
.msg.user.failed { background: #b3261e; }
.msg.assistant { align-self: flex-start; background: #f1f3f8; }
.msg.assistant.pending .body::after { content: "…"; color: #5b6478; }
.msg p { margin: 0 0 6px; } .msg p:last-child { margin-bottom: 0; }
.msg ul, .msg ol { margin: 0 0 6px; padding-left: 20px; }
.msg pre { background: #1d2433; color: #f1f3f8; padding: 8px; border-radius: 6px; overflow: auto;
  margin: 0 0 6px; }
.msg code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; }
.msg :not(pre) > code { background: #e3e7f0; padding: 0 3px; border-radius: 3px; }
.msg a { color: #2448c8; }
.noticed { margin: 8px 12px 0; padding: 8px 10px; border-radius: 8px; background: #fff6dc;
  font-size: 12px; color: #3d3420; }
.noticed p { margin: 0; font-weight: 600; }
.noticed ul { margin: 4px 0 0; padding-left: 18px; }
.note { align-self: center; font-size: 12px; color: #5b6478; text-align: center; }
.note.error { color: #b3261e; }
.tool { align-self: flex-start; font-size: 12px; color: #5b6478; }
.tool::before { content: "⚙ "; }
.tool[data-status="success"]::before { content: "✓ "; color: #1b7f3b; }
.tool[data-status="error"]::before, .tool[data-status="refused"]::before,
.tool[data-status="rejected"]::before { content: "✕ "; color: #b3261e; }
.tool[data-status="awaiting_approval"]::before { content: "⏸ "; }
.approval { align-self: stretch; border: 1px solid #f0c36d; background: #fffaf0;
  border-radius: 10px; padding: 10px 12px; }
.approval-head { display: flex; justify-content: space-between; gap: 8px; }
.risk { font-size: 11px; text-transform: uppercase; border-radius: 4px; padding: 1px 6px;
  background: #e3e7f0; white-space: nowrap; align-self: start; }
.risk-high, .risk-critical { background: #b3261e; color: #fff; }
.risk-medium { background: #f0c36d; }
.approval dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; margin: 8px 0;
  font-size: 12.5px; }
.approval dt { color: #5b6478; } .approval dd { margin: 0; overflow-wrap: anywhere; }
.approval .tool-name { font-size: 12px; color: #5b6478; }
.actions { display: flex; gap: 8px; }
.actions button { border-radius: 6px; padding: 5px 14px; border: 1px solid #1d2433;
  background: #fff; }
.actions .approve { background: #1d2433; color: #fff; }
.actions button:disabled { opacity: .5; cursor: default; }
.outcome { margin: 6px 0 0; font-size: 12.5px; font-weight: 600; }
.composer { border-top: 1px solid #e6e9f0; padding: 8px; display: flex; gap: 8px;
  align-items: flex-end; }
.composer textarea { flex: 1; resize: none; border: 1px solid #c9d0de; border-radius: 8px;
  padding: 8px; font: inherit; min-height: 40px; max-height: 140px; }
.composer button { border: 0; border-radius: 8px; padding: 9px 14px; background: #3b6cff;
  color: #fff; }
.composer .stop { background: #b3261e; }
`;

  // -- the UI ---------------------------------------------------------------------------------
  const ui = {};

  function build() {
    const host = el("div", { id: "neptune-widget" });
    const shadow = host.attachShadow({ mode: "open" });
    applyStyles(shadow);
    ui.launcher = el("button", {
      type: "button", className: "launcher", "aria-label": "Open Neptune assistant",
      "aria-expanded": "false", "aria-controls": "neptune-panel", text: "N",
      on: { click: () => (ui.panel.hidden ? open() : close()) },
    });
    ui.status = el("p", { className: "status", role: "status" });
    ui.listButton = headerButton("Chats", "Show conversations", toggleList);
    ui.listButton.setAttribute("aria-expanded", "false");
    const header = el("header", null, [
      el("h2", { id: "neptune-title", text: "Neptune" }), ui.status, ui.listButton,
      headerButton("New", "New conversation", () => startNew(true)),
      headerButton("✕", "Close Neptune", close),
    ]);
    ui.list = el("nav", { className: "list", "aria-label": "Conversations", hidden: true });
    ui.noticed = el("aside", { className: "noticed", "aria-label": "Neptune noticed",
                               hidden: true });
    ui.log = el("div", { className: "log", role: "log", "aria-live": "polite",
                         "aria-label": "Conversation with Neptune" });
    ui.panel = el("section", {
      className: "panel", id: "neptune-panel", role: "dialog", "aria-labelledby": "neptune-title",
      hidden: true, on: { keydown: onPanelKey },
    }, [header, ui.list, ui.noticed, ui.log, buildComposer()]);
    shadow.append(el("div", { className: "root" }, [ui.panel, ui.launcher]));
    document.body.append(host);
    welcome();
  }

  function applyStyles(shadow) {
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } catch (_) {
      shadow.append(el("style", { text: CSS })); // older browsers
    }
  }

  function headerButton(label, name, onClick) {
    return el("button", { type: "button", "aria-label": name, title: name, text: label,
                          on: { click: onClick } });
  }

  function buildComposer() {
    ui.input = el("textarea", {
      id: "neptune-input", rows: 2, maxlength: MAX_MESSAGE, placeholder: "Ask Neptune…",
      on: { keydown: onInputKey },
    });
    ui.send = el("button", { type: "button", className: "send", text: "Send",
                             on: { click: submit } });
    ui.stop = el("button", { type: "button", className: "stop", text: "Stop", hidden: true,
                             "aria-label": "Stop the answer", on: { click: stopTurn } });
    return el("div", { className: "composer" }, [
      el("label", { for: "neptune-input", className: "sr-only", text: "Message Neptune" }),
      ui.input, ui.send, ui.stop,
    ]);
  }

  function onPanelKey(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    }
  }

  function onInputKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  }

  function open() {
    if (!ui.panel) return;
    ui.panel.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.launcher.setAttribute("aria-label", "Close Neptune assistant");
    ui.input.focus();
    start();
  }

  function close() {
    if (!ui.panel || ui.panel.hidden) return;
    ui.panel.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.setAttribute("aria-label", "Open Neptune assistant");
    ui.launcher.focus();
  }

  function setStatus(text) {
    ui.status.textContent = text;
  }

  function scrollDown() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function note(text, error) {
    const node = el("p", { className: error ? "note error" : "note", text: text });
    ui.log.append(node);
    scrollDown();
    return node;
  }

  function welcome() {
    note("Hi! Ask me about your deals, contacts, or anything in your workspace.");
  }

  function clearLog() {
    ui.log.replaceChildren();
    state.messages.clear();
    state.tools.clear();
    state.approvals.clear();
    state.pendingUser = [];
    setRunning(false);
  }

  function setRunning(on) {
    state.running = on;
    ui.stop.hidden = !on;
    ui.send.hidden = on;
    ui.log.setAttribute("aria-busy", String(on));
  }

  // -- widget state -----------------------------------------------------------------------
  const state = {
    started: false,
    token: null,
    conversationId: null,
    loading: null,       // a conversation whose history is being fetched: its events wait
    creating: null,      // the ref of a first message whose conversation is not created yet
    lastSeq: new Map(),  // conversation id -> the last seq seen
    messages: new Map(), // message id -> {node, body, text, complete}
    tools: new Map(),    // call id -> tool line
    approvals: new Map(),// pending action id -> card parts
    pendingUser: [],     // sent messages the server has not confirmed yet
    refs: new Map(),     // frame ref -> what it was for
    resolved: null,      // the tool line an approved call's run continues
    running: false,
  };
  let refCounter = 0;

  function nextRef() {
    refCounter += 1;
    return "w" + refCounter;
  }

  function remember(id) {
    try {
      if (id) sessionStorage.setItem(STORE_KEY, id);
      else sessionStorage.removeItem(STORE_KEY);
    } catch (_) { /* storage disabled: the chat simply starts fresh on the next page */ }
  }

  function remembered() {
    try {
      return sessionStorage.getItem(STORE_KEY);
    } catch (_) {
      return null;
    }
  }

  function start() {
    if (state.started) return;
    state.started = true;
    connect();
    loadPersonal();
    const id = remembered();
    if (id) openConversation(id);
  }

  // -- the user's shortcuts and what Neptune noticed (GET /v1/preferences, /v1/insights) ------
  async function loadPersonal() {
    try {
      const prefs = await api("/v1/preferences");
      const names = (prefs.shortcuts || []).map((s) => s.name).slice(0, 4);
      if (names.length) ui.input.placeholder = "Ask Neptune… or type " + names.join(", ");
    } catch (_) { /* a hint only: the widget works without it */ }
    try {
      showNoticed(await api("/v1/insights?status=open&limit=3"));
    } catch (_) { /* likewise */ }
  }

  function showNoticed(insights) {
    if (!Array.isArray(insights) || !insights.length) return;
    const items = insights.map((i) => el("li", { text: short(i.title, 140) }));
    ui.noticed.replaceChildren(el("p", { text: "Neptune noticed" }), el("ul", null, items));
    ui.noticed.hidden = false;
  }

  // -- HTTP ---------------------------------------------------------------------------------
  class WidgetError extends Error {
    constructor(kind, message, status) {
      super(message);
      this.kind = kind;
      this.status = status || 0;
    }
  }

  async function bearer() {
    if (config.token) return config.token;
    if (state.token) return state.token;
    if (!config.tokenUrl) {
      throw new WidgetError("auth", "The Neptune widget was added without a token.");
    }
    let response;
    try {
      response = await fetch(config.tokenUrl, { credentials: "same-origin",
                                                headers: { Accept: "application/json" } });
    } catch (_) {
      throw new WidgetError("network", "Neptune can't be reached right now.");
    }
    if (!response.ok) {
      const kind = response.status >= 500 ? "network" : "auth";
      throw new WidgetError(kind, "Neptune could not sign you in.", response.status);
    }
    state.token = (await response.json()).token;
    return state.token;
  }

  async function api(path, init, retried) {
    const options = Object.assign({ method: "GET" }, init || {});
    options.credentials = "omit"; // the bearer token is the credential, never cookies
    options.headers = { Accept: "application/json", Authorization: "Bearer " + (await bearer()) };
    let response;
    try {
      response = await fetch(config.api + path, options);
    } catch (_) {
      throw new WidgetError("network", "Neptune can't be reached right now.");
    }
    if (response.status === 401 && !config.token && config.tokenUrl && !retried) {
      state.token = null; // expired: fetch a fresh one once
      return api(path, init, true);
    }
    if (!response.ok) {
      let detail = "";
      try { detail = (await response.json()).detail || ""; } catch (_) { /* not JSON */ }
      const kind = response.status === 401 || response.status === 403 ? "auth"
        : response.status >= 500 || response.status === 429 ? "network" : "http";
      throw new WidgetError(kind, detail || "The request failed.", response.status);
    }
    return response.status === 204 ? null : response.json();
  }

  // -- the socket ---------------------------------------------------------------------------
  const net = { socket: null, ready: false, connecting: false, stopped: false, attempts: 0,
                timer: null, watchdog: null, heartbeat: 20, lastFrameAt: 0, queue: [] };

  async function connect() {
    if (net.socket || net.connecting || net.stopped) return;
    net.connecting = true;
    clearTimeout(net.timer);
    setStatus(net.attempts ? "Reconnecting…" : "Connecting…");
    let ticket;
    try {
      ticket = await api("/v1/ws/tickets", { method: "POST" });
    } catch (error) {
      net.connecting = false;
      if (error.kind === "auth") giveUp(SIGNED_OUT);
      else scheduleReconnect();
      return;
    }
    const url = new URL(config.api + "/v1/ws");
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("ticket", ticket.ticket);
    const socket = new WebSocket(url.href);
    net.socket = socket;
    net.connecting = false;
    socket.addEventListener("message", (event) => onFrame(socket, event.data));
    socket.addEventListener("close", (event) => onClose(socket, event));
  }

  function onClose(socket, event) {
    if (net.socket !== socket) return;
    net.socket = null;
    net.ready = false;
    clearInterval(net.watchdog);
    if (event.code === 4401 || event.code === 4403) {
      giveUp(event.code === 4403 ? "This account may not chat with Neptune." : SIGNED_OUT);
      return;
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (net.stopped) return;
    const delay = Math.min(10000, 250 * 2 ** net.attempts) * (0.8 + Math.random() * 0.4);
    net.attempts += 1;
    setStatus("Reconnecting…");
    clearTimeout(net.timer);
    net.timer = setTimeout(connect, delay);
  }

  function giveUp(message) {
    net.stopped = true;
    setStatus("Offline");
    note(message, true);
    setRunning(false);
  }

  function dropSocket() {
    // No frame for too long (not even the server's heartbeat): the link is dead.
    const socket = net.socket;
    if (!socket) return;
    net.socket = null;
    net.ready = false;
    clearInterval(net.watchdog);
    socket.close(4000, "no heartbeat");
    scheduleReconnect();
  }

  function send(frame) {
    if (net.ready && net.socket && net.socket.readyState === WebSocket.OPEN) {
      net.socket.send(JSON.stringify(frame));
      const origin = frame.ref ? state.refs.get(frame.ref) : null;
      if (origin) origin.sent = true;
    } else {
      net.queue.push(frame); // sent after the next hello
      connect();
    }
  }

  function onFrame(socket, raw) {
    if (net.socket !== socket) return;
    net.lastFrameAt = Date.now();
    let frame;
    try { frame = JSON.parse(raw); } catch (_) { return; }
    if (!frame || typeof frame !== "object") return;
    if (typeof frame.seq === "number") onEvent(frame);
    else if (frame.type === "hello") onHello(frame);
    else if (frame.type === "ping") send({ type: "pong" });
    else if (frame.type === "conversation.created") onCreated(frame);
    else if (frame.type === "decision") onDecision(frame);
    else if (frame.type === "error") onFrameError(frame);
  }

  function onHello(frame) {
    net.ready = true;
    net.attempts = 0;
    net.heartbeat = Number(frame.heartbeat_seconds) || 20;
    clearInterval(net.watchdog);
    net.watchdog = setInterval(() => {
      if (Date.now() - net.lastFrameAt > net.heartbeat * 2500) dropSocket();
    }, net.heartbeat * 1000);
    setStatus("");
    const id = state.conversationId;
    if (id && !state.loading && state.lastSeq.has(id)) {
      send({ type: "resume", conversation_id: id, after_seq: state.lastSeq.get(id) });
    } else if (state.creating && (state.refs.get(state.creating) || {}).sent) {
      adoptCreated(state.creating);
    }
    const queued = net.queue.splice(0);
    queued.forEach(send);
  }

  async function adoptCreated(ref) {
    // The socket dropped before `conversation.created` arrived: the conversation may exist
    // anyway. Its title is the message's start, so find it and resume it from the beginning.
    const pending = state.refs.get(ref);
    if (!pending) return;
    try {
      const page = await api("/v1/conversations?limit=5");
      const found = page.items.find((c) => c.title === pending.text.slice(0, 60)
        && Date.parse(c.created_at) >= pending.at - 60000);
      if (!found || state.creating !== ref) return;
      onCreated({ conversation_id: found.id, ref: ref });
      send({ type: "resume", conversation_id: found.id, after_seq: 0 });
    } catch (_) { /* the message stays marked as pending; the user can send it again */ }
  }

  // -- what the user does -------------------------------------------------------------------
  function submit() {
    const text = ui.input.value.trim();
    if (!text || state.running || state.creating || state.loading) return;
    const ref = nextRef();
    const frame = { type: "user_message", text: text, ref: ref };
    const page = pageContext();
    if (page) frame.page = page;
    if (state.conversationId) frame.conversation_id = state.conversationId;
    else state.creating = ref;
    const node = userBubble(text);
    state.pendingUser.push({ ref: ref, text: text, node: node });
    state.refs.set(ref, { kind: "message", text: text, node: node, at: Date.now() });
    ui.input.value = "";
    setRunning(true);
    send(frame);
  }

  function stopTurn() {
    if (state.conversationId) send({ type: "stop", conversation_id: state.conversationId });
  }

  function decide(id, approve) {
    const card = state.approvals.get(id);
    if (!card) return;
    disableCard(card);
    card.outcome.textContent = approve ? "Approving…" : "Rejecting…";
    const ref = nextRef();
    state.refs.set(ref, { kind: "decision", id: id });
    send({ type: approve ? "approve" : "reject", pending_action_id: id, ref: ref });
  }

  function startNew(focus) {
    state.conversationId = null;
    state.creating = null;
    state.loading = null;
    remember(null);
    showList(false);
    clearLog();
    welcome();
    if (focus) ui.input.focus();
  }

  // -- conversations --------------------------------------------------------------------------
  function toggleList() {
    showList(ui.list.hidden);
  }

  function showList(visible) {
    ui.list.hidden = !visible;
    ui.log.hidden = visible;
    ui.listButton.setAttribute("aria-expanded", String(visible));
    if (visible) loadList();
  }

  async function loadList() {
    ui.list.replaceChildren(el("p", { className: "note", text: "Loading conversations…" }));
    let page;
    try {
      page = await api("/v1/conversations?limit=20");
    } catch (error) {
      ui.list.replaceChildren(el("p", { className: "note error", text: error.message }));
      return;
    }
    if (!page.items.length) {
      ui.list.replaceChildren(el("p", { className: "note", text: "No conversations yet." }));
      return;
    }
    const items = page.items.map((c) => el("li", null, [el("button", {
      type: "button", className: "conv",
      "aria-current": c.id === state.conversationId ? "true" : null,
      on: { click: () => { showList(false); openConversation(c.id); } },
    }, [c.title || "Untitled conversation", el("small", { text: when(c.last_message_at) })])]));
    ui.list.replaceChildren(el("ul", null, items));
    const first = ui.list.querySelector("button");
    if (first) first.focus();
  }

  function when(iso) {
    const date = new Date(iso);
    return isNaN(date) ? "" : date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  async function lastSeqOf(id) {
    let after = 0;
    for (let page = 0; page < 100; page += 1) {
      const path = `/v1/conversations/${encodeURIComponent(id)}/events`;
      const got = await api(`${path}?after=${after}&limit=1000`);
      if (got.events.length < 1000) return got.last_seq;
      after = got.last_seq;
    }
    return after;
  }

  async function openConversation(id) {
    state.conversationId = id;
    state.creating = null;
    state.loading = id;
    remember(id);
    clearLog();
    const loading = note("Loading conversation…");
    try {
      const last = await lastSeqOf(id); // first: events after it may repeat, never go missing
      const [detail, pending] = await Promise.all([
        api(`/v1/conversations/${encodeURIComponent(id)}`),
        api("/v1/approvals?status=pending&limit=50").catch(() => []),
      ]);
      if (state.loading !== id) return; // the user moved on meanwhile
      loading.remove();
      renderHistory(detail, pending.filter((p) => p.conversation_id === id));
      state.lastSeq.set(id, last);
      state.loading = null;
      send({ type: "resume", conversation_id: id, after_seq: last });
    } catch (error) {
      if (state.loading !== id) return;
      state.loading = null;
      loading.remove();
      if (error.status === 404 || error.status === 422) startNew(false);
      else note(error.message, true);
    }
  }

  function renderHistory(detail, pending) {
    const calls = new Map();
    for (const call of detail.tool_calls || []) {
      if (!calls.has(call.message_id)) calls.set(call.message_id, []);
      calls.get(call.message_id).push(call);
    }
    for (const message of detail.messages || []) {
      if (message.role === "user") {
        userBubble(message.content).dataset.id = message.id;
        state.messages.set(message.id, { node: null, complete: true });
      } else if (message.role === "assistant") {
        const streaming = message.status === "streaming";
        if (message.content || streaming) {
          const m = assistantBubble(message.id, !streaming);
          m.text = message.content || "";
          renderMessage(m);
          if (streaming) setRunning(true); // a turn still running (another tab): Stop works
        }
        for (const call of calls.get(message.id) || []) {
          toolLine(call.id, call.tool, call.status, call.result && call.result.error);
        }
      }
    }
    pending.forEach((p) => approvalCard({ pending_action_id: p.id, title: p.title, tool: p.tool,
                                          arguments: p.arguments, risk: p.risk,
                                          expires_at: p.expires_at }));
    if (!ui.log.childElementCount) welcome();
    scrollDown();
  }

  // -- server frames --------------------------------------------------------------------------
  function onCreated(frame) {
    if (!frame.ref || frame.ref !== state.creating) return;
    state.creating = null;
    state.conversationId = frame.conversation_id;
    if (!state.lastSeq.has(frame.conversation_id)) state.lastSeq.set(frame.conversation_id, 0);
    remember(frame.conversation_id);
  }

  function onDecision(frame) {
    const card = state.approvals.get(frame.pending_action_id);
    if (!card) return;
    const verdict = frame.decision === "approved" ? "Approved" : "Rejected";
    card.outcome.textContent = `${verdict} (${String(frame.status || "done").replace(/_/g, " ")})`;
    settleCard(card, frame.decision);
  }

  function onFrameError(frame) {
    const polite = POLITE[frame.code] || frame.message || POLITE.internal_error;
    const origin = frame.ref ? state.refs.get(frame.ref) : null;
    if (origin && origin.kind === "message") {
      failMessage(frame.ref, origin, polite);
    } else if (origin && origin.kind === "decision") {
      const card = state.approvals.get(origin.id);
      if (card) {
        card.outcome.textContent = polite;
        const final = frame.code === "conflict" || frame.code === "not_found";
        card.approve.disabled = card.reject.disabled = final;
      }
    } else {
      note(polite, true);
    }
  }

  function failMessage(ref, origin, polite) {
    state.pendingUser = state.pendingUser.filter((p) => p.ref !== ref);
    if (state.creating === ref) state.creating = null;
    origin.node.classList.add("failed");
    origin.node.setAttribute("title", "Not sent");
    note("Not sent: " + polite, true);
    if (!ui.input.value) ui.input.value = origin.text;
    setRunning(false);
  }

  function onEvent(event) {
    const id = event.conversation_id;
    if (id === state.loading) return; // the resume after loading delivers it again
    if (event.seq <= (state.lastSeq.get(id) || 0)) return; // seen already
    state.lastSeq.set(id, event.seq);
    if (id !== state.conversationId) return;
    const handler = HANDLERS[event.type];
    if (handler) handler(event);
    scrollDown();
  }

  const HANDLERS = {
    "message.created": onMessageCreated,
    "text.delta": (e) => {
      const m = state.messages.get(e.message_id) || assistantBubble(e.message_id, false);
      if (m.complete) return;
      m.text += String(e.text);
      m.node.classList.remove("pending");
      scheduleRender(m);
    },
    "turn.restarted": (e) => {
      const m = state.messages.get(e.message_id);
      if (m && m.node) {
        m.text = ""; // the fallback model answers again: its text replaces the partial one
        m.node.classList.add("pending");
        scheduleRender(m);
      }
    },
    "message.completed": onMessageCompleted,
    "tool.started": (e) => {
      setRunning(true);
      const adopt = state.resolved;
      state.resolved = null;
      if (adopt && adopt.line && adopt.tool === e.tool && !state.tools.has(e.call_id)) {
        // An approved call runs under a call id of its own, announced right after
        // approval.resolved: it continues the line of the call that waited.
        state.tools.set(e.call_id, adopt.line);
      }
      toolLine(e.call_id, e.tool, "running");
    },
    "tool.finished": (e) => toolLine(e.call_id, e.tool, e.status, e.error),
    "approval.required": approvalCard,
    "approval.resolved": (e) => {
      const card = state.approvals.get(e.pending_action_id);
      if (!card) return;
      card.outcome.textContent = e.decision === "approved" ? "Approved" : "Rejected";
      settleCard(card, e.decision);
      state.resolved = { tool: card.tool, line: state.tools.get(card.callId) };
    },
    "error": (e) => note(POLITE[e.code] || e.message || POLITE.internal_error, true),
    "turn.completed": () => setRunning(false), // the next message may be sent now
  };

  function onMessageCreated(e) {
    if (state.messages.has(e.message_id)) return; // already shown (history, or our own echo)
    if (e.role === "user") {
      const text = String(e.content || "").trim();
      const index = state.pendingUser.findIndex((p) => p.text === text);
      const mine = index >= 0 ? state.pendingUser.splice(index, 1)[0] : null;
      if (mine) state.refs.delete(mine.ref);
      const node = mine ? mine.node : userBubble(text);
      node.dataset.id = e.message_id;
      state.messages.set(e.message_id, { node: null, complete: true });
      return;
    }
    assistantBubble(e.message_id, false);
    setRunning(true);
  }

  function onMessageCompleted(e) {
    const m = state.messages.get(e.message_id);
    if (!m || !m.node) return;
    const content = typeof e.content === "string" ? e.content : m.text;
    if (!m.complete && content !== m.text) {
      m.node.dataset.repaired = "true"; // the stream missed something; the final text wins
    }
    m.text = content;
    m.complete = true;
    m.node.classList.remove("pending");
    m.node.setAttribute("aria-busy", "false");
    if (m.text.trim()) renderMessage(m);
    else m.node.remove(); // a step that only called tools, or one that failed before any text
    if (e.status === "stopped") note("Stopped.");
  }

  // -- rendering pieces -------------------------------------------------------------------------
  function userBubble(text) {
    const node = el("div", { className: "msg user", text: text });
    ui.log.append(node);
    scrollDown();
    return node;
  }

  function assistantBubble(id, complete) {
    const body = el("div", { className: "body" });
    const node = el("div", { className: complete ? "msg assistant" : "msg assistant pending",
                             "aria-busy": String(!complete) }, [body]);
    node.dataset.id = id;
    ui.log.append(node);
    const m = { node: node, body: body, text: "", complete: complete, frame: 0 };
    state.messages.set(id, m);
    return m;
  }

  function scheduleRender(m) {
    if (m.frame) return;
    m.frame = requestAnimationFrame(() => {
      m.frame = 0;
      renderMessage(m);
      scrollDown();
    });
  }

  function renderMessage(m) {
    if (m.frame) {
      cancelAnimationFrame(m.frame);
      m.frame = 0;
    }
    renderMarkdown(m.text, m.body);
  }

  const TOOL_TEXT = {
    running: (name) => `${name}…`,
    success: (name) => `${name}: done`,
    error: (name, error) => `${name} failed${error ? ": " + short(error, 160) : ""}`,
    awaiting_approval: (name) => `${name}: waiting for your approval`,
    rejected: (name) => `${name}: rejected`,
    refused: (name, error) => `${name}: not allowed${error ? " (" + short(error, 160) + ")" : ""}`,
  };

  const STATUS_ALIAS = { pending_approval: "awaiting_approval" }; // history's wording

  function toolLine(callId, tool, status, error) {
    const kind = STATUS_ALIAS[status] || String(status);
    let line = state.tools.get(callId);
    // A call waiting for approval runs later (same call id): its line is updated, not repeated.
    if (!line || !["running", "awaiting_approval"].includes(line.dataset.status)) {
      line = el("p", { className: "tool" });
      ui.log.append(line);
      state.tools.set(callId, line);
    }
    const text = TOOL_TEXT[kind] || ((name) => `${name}: ${kind.replace(/_/g, " ")}`);
    line.dataset.status = kind;
    line.textContent = text(humanize(tool), typeof error === "string" ? error : "");
  }

  function approvalCard(e) {
    if (state.approvals.has(e.pending_action_id)) return;
    const risk = String(e.risk || "unknown").toLowerCase().replace(/[^a-z]/g, "");
    const args = el("dl");
    for (const [key, value] of Object.entries(e.arguments || {}).slice(0, 8)) {
      const shown = typeof value === "string" ? value : JSON.stringify(value);
      args.append(el("dt", { text: key.replace(/_/g, " ") }),
                  el("dd", { text: short(shown, 120) }));
    }
    const id = e.pending_action_id;
    const card = {
      tool: e.tool,
      callId: e.call_id,
      approve: el("button", { type: "button", className: "approve", text: "Approve",
                              on: { click: () => decide(id, true) } }),
      reject: el("button", { type: "button", className: "reject", text: "Reject",
                             on: { click: () => decide(id, false) } }),
      outcome: el("p", { className: "outcome", role: "status" }),
    };
    const title = e.title || humanize(e.tool);
    card.node = el("div", { className: "approval", role: "group",
                            "aria-label": "Approval needed: " + title }, [
      el("div", { className: "approval-head" }, [
        el("strong", { text: title }),
        el("span", { className: "risk risk-" + risk, text: risk + " risk" }),
      ]),
      el("div", { className: "tool-name" }, ["Tool: ", el("code", { text: String(e.tool) })]),
      args,
      el("div", { className: "actions" }, [card.approve, card.reject]),
      card.outcome,
    ]);
    state.approvals.set(id, card);
    ui.log.append(card.node);
  }

  function disableCard(card) {
    // A disabled button loses focus to the page: keep keyboard users in the panel.
    const active = card.node.getRootNode().activeElement;
    if (active === card.approve || active === card.reject) ui.input.focus();
    card.approve.disabled = card.reject.disabled = true;
  }

  function settleCard(card, decision) {
    disableCard(card);
    card.node.dataset.decision = decision;
    card.approve.hidden = card.reject.hidden = true;
  }

  // -- start --------------------------------------------------------------------------------
  window.addEventListener("online", () => {
    if (state.started && !net.socket && !net.stopped) {
      net.attempts = 0;
      connect();
    }
  });

  window.Neptune = Object.freeze({
    version: VERSION,
    open: open,
    close: close,
    setContext: setContext,
    getContext: () => Object.assign({}, context),
  });

  if (document.body) build();
  else document.addEventListener("DOMContentLoaded", build, { once: true });
})();
