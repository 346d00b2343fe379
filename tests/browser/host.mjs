// A test host for pgmcp's MCP Apps view, bundled for the browser by
// build-host.mjs (esbuild) and run in Chromium by browser.mjs. It is a
// host the way the extension's reference host is: an MCP client
// (@modelcontextprotocol/client) that names the extension in its
// capabilities, reads the view the tool links, renders it in a sandboxed
// iframe under the extension's default CSP, and connects it to the
// extension's own AppBridge, which pushes the tool input and result and
// forwards the view's tools/call requests to the server.
import { AppBridge, PostMessageTransport, RESOURCE_MIME_TYPE } from "@modelcontextprotocol/ext-apps/app-bridge";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

// The extension's default CSP for a view that declares no domains.
const DEFAULT_CSP = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data:; media-src 'self' data:; connect-src 'none'";

const negotiation = {
  "2026-07-28": { mode: { pin: "2026-07-28" } },
  "2025-11-25": { mode: "legacy" },
};

// runHost calls tool with args as a host would and renders its view in a
// new iframe with the given id. It resolves with what it saw.
window.runHost = async ({ mcpURL, era, tool, args, frameId }) => {
  const client = new Client(
    { name: "pgmcp-test-host", version: "1.0.0" },
    { capabilities: { extensions: { "io.modelcontextprotocol/ui": { mimeTypes: [RESOURCE_MIME_TYPE] } } }, versionNegotiation: negotiation[era] },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpURL)));
  const { tools } = await client.listTools();
  const def = tools.find((t) => t.name === tool);
  const uri = def && def._meta && def._meta.ui && def._meta.ui.resourceUri;
  if (!uri) throw new Error(`${tool} links no view for a client with the extension`);
  const read = await client.readResource({ uri });
  const item = read.contents[0];
  if (item.mimeType !== RESOURCE_MIME_TYPE) throw new Error("the view's MIME type is " + item.mimeType);
  const html = item.text.replace("<head>", `<head><meta http-equiv="Content-Security-Policy" content="${DEFAULT_CSP}">`);

  const iframe = document.createElement("iframe");
  iframe.id = frameId;
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.style.cssText = "width: 100%; height: 420px; border: 1px solid #ccc; display: block; margin-bottom: 8px";
  document.body.append(iframe);

  const bridge = new AppBridge(client, { name: "pgmcp-test-host", version: "1.0.0" },
    { serverTools: {}, serverResources: {}, logging: {} },
    { hostContext: { theme: "light", displayMode: "inline", availableDisplayModes: ["inline"], platform: "web" } });
  const seen = { sizes: 0, toolCalls: 0, initialized: false };
  bridge.onsizechange = ({ height }) => {
    seen.sizes++;
    if (height) iframe.style.height = Math.min(height + 4, 900) + "px";
  };
  const initialized = new Promise((resolve) => {
    bridge.oninitialized = async () => {
      seen.initialized = true;
      await bridge.sendToolInput({ arguments: args });
      await bridge.sendToolResult(await client.callTool({ name: tool, arguments: args }));
      resolve();
    };
  });
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  iframe.srcdoc = html;
  await initialized;
  window.__hosts = window.__hosts || {};
  window.__hosts[frameId] = { bridge, client, seen, protocol: client.getNegotiatedProtocolVersion ? client.getNegotiatedProtocolVersion() : "" };
  return { uri, era };
};
