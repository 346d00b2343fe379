// The workbench: a page at / of pgmcp's HTTP server that is an MCP client
// of /mcp like any other (JSON-RPC over streamable HTTP: initialize, then
// tools/call and resources/list). It has no API of its own. A bearer token,
// when the server asks for one, is pasted once and kept for the tab
// (sessionStorage).
"use strict";

(() => {
  const { el } = PgmcpRender;
  const $ = (id) => document.getElementById(id);
  const PROTOCOL = "2025-11-25";
  const TOKEN_KEY = "pgmcp-token";
  const HISTORY_KEY = "pgmcp-history";

  const state = { session: "", protocol: "", id: 0, token: sessionStorage.getItem(TOKEN_KEY) || "", maxRows: 1000, ready: null };

  class AuthRequired extends Error {}

  // readSSE returns the JSON-RPC message of id in an event-stream body.
  function fromEventStream(text, id) {
    for (const block of text.split(/\r?\n\r?\n/)) {
      const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (!data) continue;
      try {
        const msg = JSON.parse(data);
        if (msg.id === id) return msg;
      } catch { /* not JSON: skip */ }
    }
    throw new Error("the server's answer holds no response");
  }

  async function post(body) {
    const headers = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
    if (state.session) headers["Mcp-Session-Id"] = state.session;
    if (state.protocol) headers["MCP-Protocol-Version"] = state.protocol;
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const r = await fetch("mcp", { method: "POST", headers, body: JSON.stringify(body), credentials: "omit" });
    if (r.status === 401 || r.status === 403 && r.headers.get("WWW-Authenticate")) throw new AuthRequired();
    const sid = r.headers.get("Mcp-Session-Id");
    if (sid) state.session = sid;
    return r;
  }

  async function request(method, params, retried) {
    const id = ++state.id;
    const r = await post({ jsonrpc: "2.0", id, method, params });
    if (r.status === 404 && state.session && !retried) { // the session ended: start another
      state.session = "";
      state.ready = null;
      await connect();
      return request(method, params, true);
    }
    const text = await r.text();
    let msg;
    if ((r.headers.get("Content-Type") || "").startsWith("text/event-stream")) msg = fromEventStream(text, id);
    else {
      try { msg = JSON.parse(text); } catch { throw new Error(`HTTP ${r.status}: ${text.slice(0, 300)}`); }
    }
    if (msg.error) throw new Error(msg.error.message || "error " + msg.error.code);
    return msg.result;
  }

  function connect() {
    if (!state.ready) {
      state.ready = (async () => {
        const res = await request("initialize", { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: "pgmcp-workbench", version: "1" } });
        state.protocol = res.protocolVersion;
        await post({ jsonrpc: "2.0", method: "notifications/initialized" });
        return res;
      })();
      state.ready.catch(() => { state.ready = null; });
    }
    return state.ready;
  }

  async function call(name, args) {
    await connect();
    return request("tools/call", { name, arguments: args });
  }

  function showAuth(message) {
    $("auth").hidden = false;
    $("auth-msg").textContent = message;
    $("token").focus();
  }

  function status(text, cls) {
    const s = $("status");
    s.textContent = text;
    s.className = cls || "muted";
  }

  // run sends the box to query or explain and shows the result.
  async function run(tool, maxRows) {
    const text = $("input").value.trim();
    if (!text) return;
    const mode = document.querySelector("input[name=mode]:checked").value;
    const args = { [mode]: text };
    const db = $("database").value;
    if (db) args.database = db;
    if (tool === "query" && maxRows) args.max_rows = maxRows;
    status(tool === "query" ? "Running…" : "Reviewing…");
    const started = performance.now();
    try {
      const res = await call(tool, args);
      show(res, tool, args);
      status(`${tool} answered in ${Math.round(performance.now() - started)} ms`);
      remember({ tool, mode, text, database: db, ok: !res.isError, at: new Date().toISOString() });
    } catch (e) {
      if (e instanceof AuthRequired) showAuth("The server wants a bearer token (see pgmcp token new).");
      else status("Failed: " + e.message, "bad");
    }
  }

  function show(res, tool, args) {
    const t0 = performance.now();
    const view = PgmcpRender.render(res, {
      maxRows: state.maxRows,
      more: (n) => { if (tool === "query") run("query", n); },
    });
    $("result").replaceChildren(view);
    $("result").dataset.renderMs = String(Math.round(performance.now() - t0));
  }

  function pastQueries() {
    try { return JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]"); } catch { return []; }
  }

  function remember(item) {
    const h = [item, ...pastQueries()].slice(0, 50);
    sessionStorage.setItem(HISTORY_KEY, JSON.stringify(h));
    drawHistory();
  }

  function drawHistory() {
    const ul = $("history");
    ul.replaceChildren();
    for (const item of pastQueries()) {
      const b = el("button", { type: "button", class: "link", title: item.at }, (item.ok ? "" : "✗ ") + item.tool + ": " + item.text);
      b.addEventListener("click", () => {
        $("input").value = item.text;
        document.querySelector(`input[name=mode][value=${item.mode === "sql" ? "sql" : "question"}]`).checked = true;
        if (item.database) $("database").value = item.database;
      });
      ul.append(el("li", {}, b));
    }
  }

  // loadSchema fills the schema browser from get_schema.
  async function loadSchema() {
    const args = {};
    if ($("database").value) args.database = $("database").value;
    const res = await call("get_schema", args);
    const sc = res.structuredContent;
    const list = $("tables");
    list.replaceChildren();
    if (res.isError || !sc) {
      list.append(el("li", { class: "muted" }, "The schema could not be read."));
      return;
    }
    for (const t of sc.tables || []) {
      const name = t.schema === "public" ? t.name : t.schema + "." + t.name;
      const details = el("details", { "data-table": name });
      const words = [name, t.comment || "", ...(t.columns || []).map((c) => c.name + " " + (c.comment || ""))].join(" ").toLowerCase();
      details.dataset.search = words;
      details.append(el("summary", { title: t.comment || "" }, name, " ", el("span", { class: "muted" }, t.kind === "table" ? "" : t.kind)));
      if (t.comment) details.append(el("p", { class: "muted" }, t.comment));
      const cols = el("ul", { class: "columns" });
      for (const c of t.columns || []) {
        const li = el("li", { title: c.comment || "" }, el("code", {}, c.name), " ", el("span", { class: "muted" }, c.type || ""));
        li.addEventListener("click", () => insert(c.name));
        cols.append(li);
      }
      if (!(t.columns || []).length) {
        details.addEventListener("toggle", async () => {
          if (!details.open || cols.childElementCount) return;
          const r = await call("get_schema", { ...args, tables: [name], detail: "full" });
          const tt = r.structuredContent && (r.structuredContent.tables || [])[0];
          for (const c of (tt && tt.columns) || []) cols.append(el("li", { title: c.comment || "" }, el("code", {}, c.name), " ", el("span", { class: "muted" }, c.type || "")));
        });
      }
      details.append(cols);
      list.append(el("li", {}, details));
    }
    filterSchema();
  }

  function filterSchema() {
    const q = $("schema-search").value.trim().toLowerCase();
    for (const d of $("tables").querySelectorAll("details")) {
      d.parentElement.hidden = q !== "" && !d.dataset.search.includes(q);
    }
  }

  function insert(word) {
    const box = $("input");
    const at = box.selectionStart ?? box.value.length;
    box.value = box.value.slice(0, at) + word + box.value.slice(box.selectionEnd ?? at);
    box.focus();
  }

  async function loadDatabases() {
    const res = await request("resources/list", {});
    const names = [];
    for (const r of res.resources || []) {
      const m = /^pgmcp:\/\/([^/]+)\/schema$/.exec(r.uri);
      if (m) names.push(decodeURIComponent(m[1]));
    }
    const sel = $("database");
    sel.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    sel.hidden = names.length < 2;
  }

  async function start() {
    try {
      await connect();
      const tools = await request("tools/list", {});
      const q = (tools.tools || []).find((t) => t.name === "query");
      const max = q && q.inputSchema && q.inputSchema.properties && q.inputSchema.properties.max_rows && q.inputSchema.properties.max_rows.maximum;
      if (max) state.maxRows = max;
      await loadDatabases();
      status("Connected.");
      loadSchema().catch((e) => status("Schema: " + e.message, "bad"));
    } catch (e) {
      if (e instanceof AuthRequired) showAuth("This server needs a bearer token.");
      else status("Cannot reach the server: " + e.message, "bad");
      return;
    }
    // ?sql=… or ?question=… fills the box; &run=1 runs it.
    const p = new URLSearchParams(location.search);
    const given = p.has("sql") ? "sql" : p.has("question") ? "question" : "";
    if (given) {
      $("input").value = p.get(given);
      document.querySelector(`input[name=mode][value=${given}]`).checked = true;
      if (p.get("database")) $("database").value = p.get("database");
      if (p.get("run") === "1") run(p.get("explain") === "1" ? "explain" : "query");
    }
  }

  function permalink() {
    const mode = document.querySelector("input[name=mode]:checked").value;
    const p = new URLSearchParams({ [mode]: $("input").value.trim(), run: "1" });
    if ($("database").value && !$("database").hidden) p.set("database", $("database").value);
    return location.origin + location.pathname + "?" + p.toString();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("run").addEventListener("click", () => run("query"));
    $("explain").addEventListener("click", () => run("explain"));
    $("input").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run("query"); }
    });
    $("link").addEventListener("click", async () => {
      const url = permalink();
      window.history.replaceState(null, "", url);
      try { await navigator.clipboard.writeText(url); status("Link copied."); } catch { status("Link in the address bar."); }
    });
    $("schema-search").addEventListener("input", filterSchema);
    $("database").addEventListener("change", () => loadSchema().catch((e) => status("Schema: " + e.message, "bad")));
    $("auth").addEventListener("submit", (e) => {
      e.preventDefault();
      state.token = $("token").value.trim();
      sessionStorage.setItem(TOKEN_KEY, state.token);
      $("token").value = "";
      $("auth").hidden = true;
      state.session = "";
      state.ready = null;
      start();
    });
    drawHistory();
    start();
  });
})();
