// Drives pgmcp with the official MCP Inspector CLI
// (@modelcontextprotocol/inspector, `mcp-inspector --cli … --format json`),
// in both protocol eras (--protocol-era legacy: initialize, 2025-11-25;
// --protocol-era modern: server/discover, 2026-07-28). Each check is one
// inspector run, as a user would type it; its exit code is checked against
// the inspector's table (0 ok, 1 error — e.g. structuredContent not matching
// the outputSchema, 3 auth_required, 4 unreachable, 5 tool_is_error or
// tool_not_found, 6 --strict found an error-severity schema problem) and
// every structuredContent is also validated explicitly (lib.mjs). A NOTE
// line reports what `tools/list --strict` finds unportable in the tool
// schemas, without failing.
//
//	node inspector-cli.mjs [--era 2025-11-25|2026-07-28|all] stdio --env PGMCP_DATABASE_URL=postgres://… -- /path/to/pgmcp serve
//	node inspector-cli.mjs [--era …] http http://127.0.0.1:8080/mcp
//
// The inspector writes ~/.mcp-inspector: it runs with HOME set to a
// temporary directory, removed at the end. On Node 20 npm warns that the
// inspector wants Node ≥ 22.19 (EBADENGINE); the CLI works on Node 20.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import {
  REFUSED, Report, SQL, Skip, assert, expectQuestionResult, expectSQLResult, expectSchema,
  expectToolError, expectToolsList, parseArgs, promptArgs, short, textOf, validateStructured,
} from "./lib.mjs";

const MODERN = "2026-07-28";
const LEGACY = "2025-11-25";
const protocolEra = { [MODERN]: "modern", [LEGACY]: "legacy" };
const EXIT = { 0: "ok", 1: "error", 2: "usage or no app", 3: "auth_required", 4: "unreachable", 5: "tool_is_error or tool_not_found", 6: "strict schema error" };

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = join(here, "node_modules", "@modelcontextprotocol", "inspector");
const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
const bin = join(pkgDir, typeof pkg.bin === "string" ? pkg.bin : pkg.bin["mcp-inspector"]);

const opts = parseArgs(process.argv.slice(2), [LEGACY, MODERN]);
const report = new Report(`inspector-cli@${pkg.version}`);
const home = mkdtempSync(join(tmpdir(), "pgmcp-inspector-home-"));
const JOBS = Math.max(1, Number(process.env.INSPECTOR_JOBS) || 3);

// The target as inspector arguments.
const targetArgs = opts.target.kind === "stdio"
  ? [...Object.entries(opts.target.env).flatMap(([k, v]) => ["-e", `${k}=${v}`]), opts.target.command, ...opts.target.args]
  : ["--transport", "http", "--server-url", opts.target.url];

// inspect runs the inspector once and returns {code, out (parsed JSON), stderr}.
function inspect(era, method, extra = []) {
  const args = [bin, "--cli", ...targetArgs, "--protocol-era", protocolEra[era], "--format", "json", "--method", method, ...extra];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, HOME: home, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let out;
      try {
        out = JSON.parse(stdout);
      } catch {
        out = undefined;
      }
      resolve({ code: code ?? `signal ${signal}`, out, stdout, stderr, cmd: `mcp-inspector --cli … --protocol-era ${protocolEra[era]} --method ${method} ${extra.join(" ")}` });
    });
  });
}

function tail(s, n = 15) {
  const lines = s.split("\n").filter((l) => l.trim() !== "");
  return lines.slice(-n).join("\n");
}

// expectExit checks the exit code and returns the JSON result.
function expectExit(r, want) {
  if (r.code !== want) {
    throw new Error(`exit ${r.code} (${EXIT[r.code] ?? "?"}), want ${want} (${EXIT[want]}): ${r.cmd}\nstdout: ${short(r.stdout, 600)}\nstderr:\n${tail(r.stderr)}`);
  }
  assert(r.out && typeof r.out === "object", `stdout is not one JSON object: ${short(r.stdout)}`);
  if (want === 0) assert(r.out.result !== undefined, `no result: ${short(r.out)}`);
  return r.out.result;
}

async function pool(tasks, n) {
  const results = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  return results;
}

// A check run later in parallel: its outcome is reported in order.
function check(name, fn) {
  return async () => {
    try {
      return { name, ok: true, detail: await fn() };
    } catch (err) {
      return { name, ok: false, err };
    }
  };
}

// portability prints (never fails on) what `tools/list --strict` finds
// unportable in the tool schemas: such a schema is legal JSON Schema, but
// some clients may reject or misread it.
async function portability(era, where) {
  const r = await inspect(era, "tools/list", ["--strict"]);
  const findings = (r.out?.schemaFindings ?? []).flatMap((t) => t.findings.map((f) => ({ tool: t.toolName, ...f })));
  const errors = findings.filter((f) => f.severity === "error");
  const detail = errors.map((f) => `${f.tool} ${f.schema}.${f.path}: ${f.rule}`).join("; ");
  const rules = new Map();
  for (const f of findings) if (f.severity !== "error") rules.set(f.rule, (rules.get(f.rule) ?? 0) + 1);
  const kinds = [...rules].map(([rule, n]) => `${rule} x${n}`).join(", ");
  report.line("NOTE", "tools/list --strict", where,
    `exit ${r.code}: ${errors.length} error(s), ${findings.length - errors.length} warning(s) of schema portability` +
    `${detail ? " — " + detail : ""}${kinds ? " (warnings: " + kinds + ")" : ""}`);
}

async function runEra(era) {
  const where = { transport: opts.target.kind, era };
  let caps = {};
  const up = await report.run("initialize", where, async () => {
    const res = expectExit(await inspect(era, "initialize"), 0);
    assert(res.protocolVersion === era, `protocolVersion ${res.protocolVersion}, want ${era}`);
    assert(res.serverInfo?.name === "pgmcp", `server name ${res.serverInfo?.name}, want pgmcp`);
    caps = res.capabilities ?? {};
    return `--protocol-era ${protocolEra[era]}: protocolVersion=${res.protocolVersion}, server ${res.serverInfo.name} ${res.serverInfo.version}, capabilities ${Object.keys(caps).join(",")}`;
  });
  if (!up) return;
  let tools;
  const listed = await report.run("tools/list", where, async () => {
    const res = expectExit(await inspect(era, "tools/list"), 0);
    tools = expectToolsList(res.tools);
    return `${res.tools.length} tools: ${[...tools.keys()].join(", ")}; annotations and outputSchemas ok`;
  });
  if (!listed) return;
  if (era === opts.eras[0]) await portability(era, where);

  const callOK = async (name, args) => {
    const res = expectExit(await inspect(era, "tools/call", ["--tool-name", name, "--tool-args-json", JSON.stringify(args)]), 0);
    assert(res.isError !== true, `${name} returned isError: ${short(textOf(res.content))}`);
    return { res, valid: validateStructured(tools.get(name), res) };
  };
  let database;
  await report.run("tools/call get_schema", where, async () => {
    const { res, valid } = await callOK("get_schema", {});
    database = expectSchema(res.structuredContent);
    return `database=${database}, ${res.structuredContent.tables.length} tables, ${valid}`;
  });

  const checks = [
    check("tools/call get_schema detail=summary", async () => {
      // --tool-arg key=value, the inspector's other argument syntax.
      const res = expectExit(await inspect(era, "tools/call", ["--tool-name", "get_schema", "--tool-arg", "detail=summary"]), 0);
      expectSchema(res.structuredContent, "summary");
      return `${res.structuredContent.tables.length} tables, ${validateStructured(tools.get("get_schema"), res)}`;
    }),
    check("tools/call query sql", async () => {
      const { res, valid } = await callOK("query", { sql: SQL });
      return `${expectSQLResult(res.structuredContent)}, ${valid}`;
    }),
    check("tools/call query question", async () => {
      if (opts.skipQuestion) throw new Skip("--skip-question: no model configured");
      const { res, valid } = await callOK("query", { question: opts.question });
      return `${expectQuestionResult(res.structuredContent)}, ${valid}`;
    }),
    check("tools/call query refused", async () => {
      const res = expectExit(await inspect(era, "tools/call", ["--tool-name", "query", "--tool-args-json", JSON.stringify({ sql: REFUSED })]), 5);
      return `exit 5 (tool_is_error), code ${expectToolError(res)}`;
    }),
    check("tools/call explain sql", async () => {
      if (!tools.has("explain")) throw new Skip("explain is not listed by the server yet");
      const { res, valid } = await callOK("explain", { sql: SQL });
      assert(res.structuredContent && typeof res.structuredContent === "object", "explain: no structured output");
      return `keys ${Object.keys(res.structuredContent).join(",")}, ${valid}`;
    }),
    check("tools/call explain question", async () => {
      if (opts.skipQuestion) throw new Skip("--skip-question: no model configured");
      const { res, valid } = await callOK("explain", { question: opts.question });
      const out = res.structuredContent;
      assert(out?.verdict?.allowed === true && out.plan && typeof out.plan.total_cost === "number" && out.summary,
        `explain question: ${short(out)}`);
      return `allowed, cost ${out.plan.total_cost}, summary by ${out.summary_by}, ${valid}`;
    }),
    check("resources/list", async () => {
      const res = expectExit(await inspect(era, "resources/list"), 0);
      const uris = res.resources.map((r) => r.uri);
      if (database) assert(uris.includes(`pgmcp://${database}/schema`), `no pgmcp://${database}/schema in ${uris.join(", ")}`);
      return uris.join(", ");
    }),
    check("resources/templates/list", async () => {
      const res = expectExit(await inspect(era, "resources/templates/list"), 0);
      const t = res.resourceTemplates.map((r) => r.uriTemplate);
      assert(t.includes("pgmcp://{database}/table/{name}"), `no pgmcp://{database}/table/{name} in ${t.join(", ")}`);
      return t.join(", ");
    }),
    check("resources/read schema", async () => {
      assert(database, "no database name: get_schema failed");
      const uri = `pgmcp://${database}/schema`;
      const res = expectExit(await inspect(era, "resources/read", ["--uri", uri]), 0);
      const text = textOf(res.contents);
      assert(text.includes("orders"), `the schema resource does not describe orders: ${short(text)}`);
      return `${uri}: ${text.length} chars`;
    }),
    check("prompts/list", async () => {
      const res = expectExit(await inspect(era, "prompts/list"), 0);
      const names = res.prompts.map((p) => p.name);
      if (!caps.prompts) {
        assert(names.length === 0, `prompts listed without the prompts capability: ${names.join(", ")}`);
        return "the server does not declare prompts: the inspector lists none, exit 0";
      }
      const got = [];
      for (const p of res.prompts) {
        const args = promptArgs(p, opts.question);
        if (!args) {
          got.push(`${p.name} (get skipped: required arguments)`);
          continue;
        }
        // --prompt-args takes one or more pairs: leave it out for none.
        const pairs = Object.entries(args).map(([k, v]) => `${k}=${v}`);
        const g = expectExit(await inspect(era, "prompts/get", ["--prompt-name", p.name, ...(pairs.length ? ["--prompt-args", ...pairs] : [])]), 0);
        assert(g.messages?.length > 0, `prompts/get ${p.name}: no messages`);
        got.push(`${p.name} (get: ${g.messages.length} message(s))`);
      }
      return `${names.length} prompt(s): ${got.join(", ") || "none"}`;
    }),
  ];
  for (const r of await pool(checks, JOBS)) {
    if (r.ok) report.pass(r.name, where, r.detail);
    else if (r.err instanceof Skip) report.skip(r.name, where, r.err.message);
    else report.fail(r.name, where, r.err);
  }
}

try {
  for (const era of opts.eras) await runEra(era);
} finally {
  rmSync(home, { recursive: true, force: true });
}
report.exit();
