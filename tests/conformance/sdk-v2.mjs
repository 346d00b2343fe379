// Drives pgmcp with the TypeScript SDK v2 client (@modelcontextprotocol/client),
// once per protocol era: versionNegotiation pinned to 2026-07-28 (stateless:
// server/discover, no initialize, no session) and the legacy 2025-11-25
// initialize handshake. Its callTool validates structuredContent against
// the outputSchema of the tool as listed by its cached tools/list (and
// throws when it does not conform); every result is also validated
// explicitly (lib.mjs).
//
//	node sdk-v2.mjs [--era 2026-07-28|2025-11-25|all] stdio --env PGMCP_DATABASE_URL=postgres://… -- /path/to/pgmcp serve
//	node sdk-v2.mjs [--era …] http http://127.0.0.1:8080/mcp

import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/client/stdio";

import { Report, assert, collectStderr, parseArgs, runSDKChecks } from "./lib.mjs";

const MODERN = "2026-07-28";
const LEGACY = "2025-11-25";
const negotiation = {
  [MODERN]: { mode: { pin: MODERN } },
  [LEGACY]: { mode: "legacy" },
};
const opts = parseArgs(process.argv.slice(2), [MODERN, LEGACY]);
const report = new Report("sdk-v2@2.4.0");

for (const era of opts.eras) {
  const where = { transport: opts.target.kind, era };
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
  const client = new Client(
    { name: "pgmcp-conformance-sdk-v2", version: "1.0.0" },
    { capabilities: {}, versionNegotiation: negotiation[era] },
  );
  const failuresBefore = report.failures;
  const connected = await report.run(era === MODERN ? "server/discover" : "initialize", where, async () => {
    await client.connect(transport);
    const version = client.getNegotiatedProtocolVersion();
    assert(version === era, `negotiated protocol version ${version}, want ${era}`);
    const wantEra = era === MODERN ? "modern" : "legacy";
    assert(client.getProtocolEra() === wantEra, `protocol era ${client.getProtocolEra()}, want ${wantEra}`);
    const info = client.getServerVersion();
    assert(info?.name === "pgmcp", `server name ${info?.name}, want pgmcp`);
    const session = transport.sessionId ? `, session ${transport.sessionId.slice(0, 20)}…` : ", no session";
    return `protocolVersion=${version} (${client.getProtocolEra()}), server ${info.name} ${info.version}${session}`;
  });
  if (connected) await runSDKChecks(client, report, where, opts);
  await client.close().catch(() => {});
  if (report.failures > failuresBefore && stderr.length > 0) {
    console.log(`--- last lines of the server's stderr (${era}):\n${stderr.join("\n")}`);
  }
}
report.exit();
