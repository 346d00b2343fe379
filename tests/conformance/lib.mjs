// Shared pieces of the conformance scripts: command-line parsing, the
// report (one PASS/FAIL/SKIP line per check, "STATUS CHECK TRANSPORT ERA
// CLIENT — detail"; NOTE lines inform without failing), the explicit JSON Schema
// validation of structuredContent, and the checks both TypeScript SDK
// clients run (their Client classes have the same method names).
//
// A target is given the same way to every script:
//
//	node <script>.mjs [options] stdio [--env KEY=VALUE]... -- COMMAND [ARG]...
//	node <script>.mjs [options] http URL
//
// Options: --question TEXT (the question asked in question mode),
// --skip-question (no model is configured: skip question mode),
// --era E (scripts that speak several protocol eras: which ones).

import { AjvJsonSchemaValidator } from "@modelcontextprotocol/client/validators/ajv";

// SQL is the SQL-mode query; the demo database has orders with a status.
export const SQL = "SELECT status, count(*) AS orders FROM orders GROUP BY status ORDER BY status";
// REFUSED is SQL the guard must refuse: a tool error, never a thrown one.
export const REFUSED = "DELETE FROM orders";
export const DEFAULT_QUESTION = "How many orders are there?";

const USAGE = `usage:
  node SCRIPT [--question TEXT | --skip-question] [--era ERA] stdio [--env KEY=VALUE]... -- COMMAND [ARG]...
  node SCRIPT [--question TEXT | --skip-question] [--era ERA] http URL`;

// parseArgs parses the command line (see the top of this file). eras lists
// the eras the script speaks, the first being the default.
export function parseArgs(argv, eras) {
  const opts = { question: DEFAULT_QUESTION, skipQuestion: false, eras: [...eras], target: null };
  const args = [...argv];
  const fail = (msg) => {
    console.error(`${msg}\n${USAGE}`);
    process.exit(2);
  };
  while (args.length > 0 && args[0].startsWith("--")) {
    const flag = args.shift();
    switch (flag) {
      case "--question":
        opts.question = args.shift() ?? fail("--question needs a value");
        break;
      case "--skip-question":
        opts.skipQuestion = true;
        break;
      case "--era": {
        const e = args.shift() ?? fail("--era needs a value");
        opts.eras = e === "all" ? [...eras] : e.split(",");
        for (const x of opts.eras) if (!eras.includes(x)) fail(`unknown era ${x}: this script speaks ${eras.join(", ")} (or all)`);
        break;
      }
      default:
        fail(`unknown option ${flag}`);
    }
  }
  const kind = args.shift();
  if (kind === "http") {
    const url = args.shift();
    if (!url || args.length > 0) fail("http takes exactly one URL");
    opts.target = { kind: "http", url };
  } else if (kind === "stdio") {
    const env = {};
    while (args.length > 0 && args[0] !== "--") {
      const flag = args.shift();
      if (flag !== "--env") fail(`unknown stdio option ${flag}`);
      const kv = args.shift() ?? fail("--env needs KEY=VALUE");
      const i = kv.indexOf("=");
      if (i <= 0) fail(`--env ${kv}: want KEY=VALUE`);
      env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    if (args.shift() !== "--" || args.length === 0) fail("stdio needs -- COMMAND [ARG]...");
    opts.target = { kind: "stdio", command: args[0], args: args.slice(1), env };
  } else {
    fail(kind ? `unknown transport ${kind}` : "no target given");
  }
  return opts;
}

// Report prints one line per check and remembers whether any failed.
export class Report {
  constructor(client) {
    this.client = client;
    this.failures = 0;
    this.passes = 0;
  }

  line(status, check, where, detail) {
    const text = `${status} ${check} ${where.transport} ${where.era} ${this.client}${detail ? " — " + detail : ""}`;
    console.log(text.replace(/\s+/g, (s) => (s.includes("\n") ? " ⏎ " : s)));
  }

  pass(check, where, detail) {
    this.passes++;
    this.line("PASS", check, where, detail);
  }

  skip(check, where, detail) {
    this.line("SKIP", check, where, detail);
  }

  fail(check, where, err) {
    this.failures++;
    this.line("FAIL", check, where, errorText(err));
  }

  // run runs one check: fn returns the detail of its PASS line, or throws.
  // A Skip thrown is reported as SKIP.
  async run(check, where, fn) {
    try {
      const detail = await fn();
      this.pass(check, where, detail);
      return true;
    } catch (err) {
      if (err instanceof Skip) {
        this.skip(check, where, err.message);
        return true;
      }
      this.fail(check, where, err);
      return false;
    }
  }

  // exit ends the process: 1 when a check failed or none passed.
  exit() {
    if (this.failures > 0) {
      console.log(`${this.client}: ${this.failures} check(s) FAILED, ${this.passes} passed`);
      process.exit(1);
    }
    if (this.passes === 0) {
      console.log(`${this.client}: no check passed`);
      process.exit(1);
    }
    console.log(`${this.client}: all ${this.passes} checks passed`);
    process.exit(0);
  }
}

// Skip, thrown from a check, reports it as SKIP with the message.
export class Skip extends Error {}

export function errorText(err) {
  if (err instanceof Error) {
    const code = err.code !== undefined ? ` (code ${err.code})` : "";
    return `${err.name === "Error" ? "" : err.name + ": "}${err.message}${code}`;
  }
  return String(err);
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

export function short(v, n = 300) {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > n ? s.slice(0, n) + "…" : s;
}

// The explicit validator: Ajv (bundled with @modelcontextprotocol/client)
// with the SDK's own dialect rules — JSON Schema 2020-12 unless the schema
// declares another $schema, the default dialect since MCP 2025-11-25. It is
// independent of the SDKs' own validation in callTool (TS SDK v1 validates
// with draft-07 Ajv; v2 only when it holds a cached tools/list), so every
// structuredContent is checked the same way by every script.
const validator = new AjvJsonSchemaValidator();
const compiled = new Map();

// compileOutputSchema compiles a tool's outputSchema (throws when Ajv
// cannot compile it).
export function compileOutputSchema(tool) {
  if (!tool.outputSchema) return undefined;
  const key = tool.name + "\u0000" + JSON.stringify(tool.outputSchema);
  if (!compiled.has(key)) compiled.set(key, validator.getValidator(tool.outputSchema));
  return compiled.get(key);
}

// validateStructured checks a successful tool result against the tool's
// outputSchema: structuredContent must be there and conform.
export function validateStructured(tool, result) {
  const validate = compileOutputSchema(tool);
  if (!validate) return "no outputSchema";
  assert(result.structuredContent !== undefined && result.structuredContent !== null,
    `${tool.name} declares an outputSchema but returned no structuredContent`);
  const v = validate(result.structuredContent);
  assert(v.valid, `${tool.name} structuredContent does not match its outputSchema: ${v.errorMessage}`);
  return "structuredContent valid";
}

// textOf joins the text blocks of a tool result or resource contents.
export function textOf(blocks) {
  return (blocks ?? []).filter((b) => typeof b.text === "string").map((b) => b.text).join("\n");
}

// expectToolsList checks a tools/list result and returns the tools by name.
export function expectToolsList(tools) {
  const byName = new Map(tools.map((t) => [t.name, t]));
  for (const name of ["get_schema", "query"]) {
    assert(byName.has(name), `tools/list lacks ${name}: got ${[...byName.keys()].join(", ")}`);
  }
  for (const t of tools) {
    assert(t.inputSchema && t.inputSchema.type === "object", `${t.name}: inputSchema is not an object schema`);
    const a = t.annotations ?? {};
    assert(a.readOnlyHint === true && a.destructiveHint === false && a.idempotentHint === true && a.openWorldHint === false,
      `${t.name}: annotations ${JSON.stringify(a)}, want read-only, not destructive, idempotent, closed world`);
    if (["get_schema", "query", "explain", "find_values"].includes(t.name)) {
      assert(t.outputSchema, `${t.name} has no outputSchema`);
    }
    if (t.outputSchema) compileOutputSchema(t); // throws if Ajv cannot compile it
  }
  return byName;
}

// expectSchema checks get_schema's structured output; it returns the
// database name.
export function expectSchema(sc, detail) {
  assert(typeof sc.database === "string" && sc.database !== "", `get_schema: no database name in ${short(sc)}`);
  assert(Array.isArray(sc.tables) && sc.tables.length > 0, "get_schema: no tables");
  assert(sc.tables.some((t) => t.name === "orders"), "get_schema: the demo's orders table is missing");
  if (detail) assert(sc.detail === detail, `get_schema: detail ${sc.detail}, want ${detail}`);
  return sc.database;
}

// expectSQLResult checks query's structured output in SQL mode.
export function expectSQLResult(sc) {
  assert(Array.isArray(sc.rows) && sc.rows.length > 0, `query: no rows: ${short(sc)}`);
  assert(sc.row_count === sc.rows.length, `query: row_count ${sc.row_count} but ${sc.rows.length} rows`);
  const cols = (sc.columns ?? []).map((c) => c.name).join(",");
  assert(cols === "status,orders", `query: columns ${cols}, want status,orders`);
  assert(sc.attempts === 0, `query: attempts ${sc.attempts} in SQL mode, want 0`);
  return `${sc.row_count} rows`;
}

// expectQuestionResult checks query's structured output in question mode.
export function expectQuestionResult(sc) {
  assert(typeof sc.sql === "string" && /select/i.test(sc.sql), `query: no SQL in ${short(sc)}`);
  assert(sc.attempts >= 1, `query: attempts ${sc.attempts} in question mode, want ≥ 1`);
  assert(Array.isArray(sc.rows) && sc.row_count === sc.rows.length, `query: rows ${short(sc.rows)}, row_count ${sc.row_count}`);
  return `${sc.row_count} row(s), ${sc.attempts} attempt(s), sql=${short(sc.sql, 80)}`;
}

// expectToolError checks a tool error: isError with a JSON body {code, message}.
export function expectToolError(result) {
  assert(result.isError === true, `want isError, got ${short(result)}`);
  let body;
  try {
    body = JSON.parse(textOf(result.content));
  } catch {
    throw new Error(`the error is not a JSON body: ${short(textOf(result.content))}`);
  }
  assert(typeof body.code === "string" && body.code !== "" && typeof body.message === "string",
    `the error body lacks code or message: ${short(body)}`);
  return body.code;
}

// failIfToolError turns an isError result into a thrown error.
export function failIfToolError(name, result) {
  if (result.isError) throw new Error(`${name} returned isError: ${short(textOf(result.content))}`);
}

// promptArgs picks arguments for prompts/get: the SQL for an argument named
// sql, else the question for one named question; undefined when the prompt
// has another required argument we cannot fill.
export function promptArgs(prompt, question) {
  const names = new Set((prompt.arguments ?? []).map((a) => a.name));
  const args = {};
  if (names.has("sql")) args.sql = SQL;
  else if (names.has("question")) args.question = question;
  for (const a of prompt.arguments ?? []) {
    if (a.required && !(a.name in args)) return undefined;
  }
  return args;
}

// runSDKChecks runs every check with a connected TS SDK Client (v1 or v2).
export async function runSDKChecks(client, report, where, opts) {
  let tools;
  const ok = await report.run("tools/list", where, async () => {
    const res = await client.listTools();
    tools = expectToolsList(res.tools);
    const explain = tools.has("explain") ? "" : " (no explain yet)";
    return `${res.tools.length} tools: ${[...tools.keys()].join(", ")}; annotations and outputSchemas ok${explain}`;
  });
  if (!ok) return;

  const call = async (name, args) => {
    const result = await client.callTool({ name, arguments: args });
    failIfToolError(name, result);
    return { result, valid: validateStructured(tools.get(name), result) };
  };

  let database;
  await report.run("tools/call get_schema", where, async () => {
    const { result, valid } = await call("get_schema", {});
    database = expectSchema(result.structuredContent);
    assert(textOf(result.content).includes("orders"), "get_schema: the text content does not describe the tables");
    return `database=${database}, ${result.structuredContent.tables.length} tables, ${valid}`;
  });
  await report.run("tools/call get_schema detail=summary", where, async () => {
    const { result, valid } = await call("get_schema", { detail: "summary" });
    expectSchema(result.structuredContent, "summary");
    return `${result.structuredContent.tables.length} tables, ${valid}`;
  });
  await report.run("tools/call query sql", where, async () => {
    const { result, valid } = await call("query", { sql: SQL });
    return `${expectSQLResult(result.structuredContent)}, ${valid}`;
  });
  await report.run("tools/call query question", where, async () => {
    if (opts.skipQuestion) throw new Skip("--skip-question: no model configured");
    const { result, valid } = await call("query", { question: opts.question });
    return `${expectQuestionResult(result.structuredContent)}, ${valid}`;
  });
  await report.run("tools/call query refused", where, async () => {
    const result = await client.callTool({ name: "query", arguments: { sql: REFUSED } });
    return `isError with code ${expectToolError(result)}, the client did not throw`;
  });
  await report.run("tools/call explain sql", where, async () => {
    if (!tools.has("explain")) throw new Skip("explain is not listed by the server yet");
    const { result, valid } = await call("explain", { sql: SQL });
    assert(result.structuredContent && typeof result.structuredContent === "object", "explain: no structured output");
    return `keys ${Object.keys(result.structuredContent).join(",")}, ${valid}`;
  });
  await report.run("tools/call explain question", where, async () => {
    if (opts.skipQuestion) throw new Skip("--skip-question: no model configured");
    const { result, valid } = await call("explain", { question: opts.question });
    const out = result.structuredContent;
    assert(out?.verdict?.allowed === true && out.plan && typeof out.plan.total_cost === "number" && out.summary,
      `explain question: ${short(out)}`);
    return `allowed, cost ${out.plan.total_cost}, summary by ${out.summary_by}, ${valid}`;
  });

  await report.run("resources/list", where, async () => {
    const res = await client.listResources();
    const uris = res.resources.map((r) => r.uri);
    if (database) assert(uris.includes(`pgmcp://${database}/schema`), `no pgmcp://${database}/schema in ${uris.join(", ")}`);
    return `${uris.join(", ")}`;
  });
  await report.run("resources/templates/list", where, async () => {
    const res = await client.listResourceTemplates();
    const t = res.resourceTemplates.map((r) => r.uriTemplate);
    assert(t.includes("pgmcp://{database}/table/{name}"), `no pgmcp://{database}/table/{name} in ${t.join(", ")}`);
    return t.join(", ");
  });
  await report.run("resources/read schema", where, async () => {
    assert(database, "no database name: get_schema failed");
    const uri = `pgmcp://${database}/schema`;
    const res = await client.readResource({ uri });
    assert(res.contents.length === 1 && res.contents[0].uri === uri, `contents ${short(res.contents)}`);
    const text = textOf(res.contents);
    assert(text.includes("orders"), `the schema resource does not describe orders: ${short(text)}`);
    return `${uri}: ${text.length} chars of ${res.contents[0].mimeType}`;
  });
  await report.run("resources/read table", where, async () => {
    assert(database, "no database name: get_schema failed");
    const uri = `pgmcp://${database}/table/orders`;
    const res = await client.readResource({ uri });
    const text = textOf(res.contents);
    assert(text.includes("status"), `the table resource does not describe orders.status: ${short(text)}`);
    return `${uri}: ${text.length} chars`;
  });

  const caps = client.getServerCapabilities() ?? {};
  if (!caps.prompts) {
    report.skip("prompts/list", where, "the server does not declare the prompts capability");
    return;
  }
  let prompts = [];
  await report.run("prompts/list", where, async () => {
    prompts = (await client.listPrompts()).prompts;
    return `${prompts.length} prompt(s): ${prompts.map((p) => p.name).join(", ") || "none"}`;
  });
  await report.run("completion/complete", where, async () => {
    if (!caps.completions) throw new Error("the server does not declare the completions capability");
    const dbs = await client.complete({ ref: { type: "ref/prompt", name: "explore_database" }, argument: { name: "database", value: "" } });
    assert(database && dbs.completion.values.includes(database), `database completion ${short(dbs.completion)}`);
    const tables = await client.complete({
      ref: { type: "ref/resource", uri: "pgmcp://{database}/table/{name}" },
      argument: { name: "name", value: "ord" },
      context: { arguments: { database } },
    });
    assert(tables.completion.values.includes("public.orders"), `table completion ${short(tables.completion)}`);
    assert(!tables.completion.values.some((v) => v.includes("payment_cards")), "a blocked table was offered");
    return `database: ${dbs.completion.values.join(", ")}; tables for "ord": ${tables.completion.values.join(", ")}`;
  });
  for (const p of prompts) {
    await report.run(`prompts/get ${p.name}`, where, async () => {
      const args = promptArgs(p, opts.question);
      if (!args) throw new Skip("it has required arguments this script cannot fill");
      const res = await client.getPrompt({ name: p.name, arguments: args });
      assert(res.messages.length > 0, "no messages");
      return `${res.messages.length} message(s) with ${JSON.stringify(Object.keys(args))}`;
    });
  }
}

// collectStderr keeps the last lines of a child's stderr, shown on failure.
export function collectStderr(stream, max = 40) {
  const lines = [];
  if (!stream) return lines;
  let partial = "";
  stream.setEncoding?.("utf8");
  stream.on("data", (chunk) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop();
    for (const l of parts) {
      lines.push(l);
      if (lines.length > max) lines.shift();
    }
  });
  return lines;
}
