// The MCP Apps view (io.modelcontextprotocol/ui): the host renders this
// document in a sandboxed iframe and talks to it with JSON-RPC over
// postMessage. The view introduces itself (ui/initialize, then
// ui/notifications/initialized), shows the tool result the host pushes
// (ui/notifications/tool-result), and reports its size. Its follow-ups
// ("fetch more rows") are tools/call requests that the host sends to the
// server: the same tool, guard and limits as any call.
"use strict";

(() => {
  const PROTOCOL = "2026-01-26";
  const root = document.getElementById("app");
  let nextId = 1, hostCaps = {}, lastArgs = null, toolName = "query";
  const pending = new Map();

  function send(msg) {
    window.parent.postMessage(msg, "*");
  }

  function request(method, params) {
    const id = nextId++;
    send({ jsonrpc: "2.0", id, method, params });
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      setTimeout(() => {
        if (pending.delete(id)) reject(new Error(method + ": no answer from the host"));
      }, 120000);
    });
  }

  function notify(method, params) {
    send({ jsonrpc: "2.0", method, params });
  }

  function reportSize() {
    const r = document.documentElement.getBoundingClientRect();
    notify("ui/notifications/size-changed", { width: Math.ceil(r.width), height: Math.ceil(r.height) });
  }

  function show(result) {
    const opts = {
      maxRows: 1000,
      more: toolName === "query" && lastArgs ? (n) => follow({ ...lastArgs, max_rows: n }) : null,
      download: hostCaps.downloadFile ? (name, text) => request("ui/download-file", {
        contents: [{ type: "resource", resource: { uri: "file:///" + name, mimeType: "text/csv", text } }],
      }).then(() => true) : null,
    };
    root.replaceChildren(PgmcpRender.render(result, opts));
    requestAnimationFrame(reportSize);
  }

  async function follow(args) {
    root.setAttribute("aria-busy", "true");
    try {
      show(await request("tools/call", { name: toolName, arguments: args }));
      lastArgs = args;
    } catch (e) {
      root.replaceChildren(PgmcpRender.error(String(e.message || e)));
    } finally {
      root.removeAttribute("aria-busy");
    }
  }

  window.addEventListener("message", (ev) => {
    if (ev.source !== window.parent) return;
    const msg = ev.data;
    if (!msg || msg.jsonrpc !== "2.0") return;
    if (msg.id !== undefined && !msg.method) { // a response
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error.message || "error " + msg.error.code));
      else p.resolve(msg.result);
      return;
    }
    switch (msg.method) {
      case "ui/notifications/tool-input":
        lastArgs = (msg.params && msg.params.arguments) || null;
        break;
      case "ui/notifications/tool-result":
        show(msg.params || {});
        break;
      case "ui/notifications/tool-cancelled":
        root.replaceChildren(PgmcpRender.error("The call was cancelled."));
        break;
      case "ui/resource-teardown":
        if (msg.id !== undefined) send({ jsonrpc: "2.0", id: msg.id, result: {} });
        break;
      default:
        if (msg.id !== undefined) send({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: "method not found" } });
    }
  });

  (async () => {
    try {
      const res = await request("ui/initialize", {
        protocolVersion: PROTOCOL,
        appInfo: { name: "pgmcp result view", version: "1" },
        appCapabilities: {},
      });
      hostCaps = (res && res.hostCapabilities) || {};
      const ctx = (res && res.hostContext) || {};
      if (ctx.toolInfo && ctx.toolInfo.tool && ctx.toolInfo.tool.name) toolName = ctx.toolInfo.tool.name;
      if (ctx.theme) document.documentElement.style.colorScheme = ctx.theme;
      notify("ui/notifications/initialized", {});
      reportSize();
    } catch (e) {
      root.replaceChildren(PgmcpRender.error("The host did not answer: " + (e.message || e)));
    }
  })();
  new ResizeObserver(reportSize).observe(document.documentElement);
})();
