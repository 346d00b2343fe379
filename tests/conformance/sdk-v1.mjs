// Drives pgmcp with the TypeScript SDK v1 client (@modelcontextprotocol/sdk),
// which speaks the 2025-11-25 revision (initialize handshake). Its callTool
// validates structuredContent against the tool's outputSchema by itself
// (and throws when it does not conform); every result is also validated
// explicitly (lib.mjs).
//
//	node sdk-v1.mjs stdio --env PGMCP_DATABASE_URL=postgres://… -- /path/to/pgmcp serve
//	node sdk-v1.mjs http http://127.0.0.1:8080/mcp

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

import { Report, assert, collectStderr, parseArgs, runSDKChecks } from "./lib.mjs";

const ERA = "2025-11-25";
const opts = parseArgs(process.argv.slice(2), [ERA]);
const report = new Report("sdk-v1@1.32.2");
const where = { transport: opts.target.kind, era: ERA };

let transport;
if (opts.target.kind === "stdio") {
  transport = new StdioClientTransport({
    command: opts.target.command,
    args: opts.target.args,
    env: { ...getDefaultEnvironment(), ...opts.target.env },
    stderr: "pipe",
  });
} else {
  transport = new StreamableHTTPClientTransport(new URL(opts.target.url));
}
const stderr = collectStderr(transport.stderr);

// The v1 client keeps the negotiated version only in the HTTP transport:
// record what initialize agreed on, for either transport.
let negotiated;
const setVersion = transport.setProtocolVersion?.bind(transport);
transport.setProtocolVersion = (v) => {
  negotiated = v;
  setVersion?.(v);
};

const client = new Client({ name: "pgmcp-conformance-sdk-v1", version: "1.0.0" }, { capabilities: {} });
const connected = await report.run("initialize", where, async () => {
  await client.connect(transport);
  const info = client.getServerVersion();
  assert(info?.name === "pgmcp", `server name ${info?.name}, want pgmcp`);
  assert(negotiated === ERA, `negotiated protocol version ${negotiated}, want ${ERA}`);
  const session = transport.sessionId ? `, session ${transport.sessionId.slice(0, 20)}…` : "";
  return `protocolVersion=${negotiated}, server ${info.name} ${info.version}${session}`;
});
if (connected) await runSDKChecks(client, report, where, opts);
await client.close().catch(() => {});
if (report.failures > 0 && stderr.length > 0) {
  console.log(`--- last lines of the server's stderr:\n${stderr.join("\n")}`);
}
report.exit();
