// pgmcp's pages in headless Chromium (Debian's, driven by playwright-core;
// no browser is downloaded). Run by browser_test.go against `pgmcp demo
// --http`:
//
//	node browser.mjs BASE_URL ARTIFACTS_DIR HOST_BUNDLE CHROMIUM AUTH_BASE_URL TOKEN
//
// AUTH_BASE_URL is a second server that wants the bearer TOKEN.
// It prints one line per check, "PASS name: detail" or "FAIL name: why",
// saves screenshots in ARTIFACTS_DIR, and exits 1 when a check failed.
import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, artifacts, hostBundle, executablePath, authBase, token] = process.argv.slice(2);
if (!token) {
  console.error("usage: node browser.mjs BASE_URL ARTIFACTS_DIR HOST_BUNDLE CHROMIUM AUTH_BASE_URL TOKEN");
  process.exit(2);
}

let failures = 0;
const pass = (name, detail) => console.log(`PASS ${name}: ${detail}`);
const fail = (name, why) => { failures++; console.log(`FAIL ${name}: ${why}`); };
async function check(name, fn) {
  try {
    pass(name, await fn());
  } catch (e) {
    fail(name, (e && e.stack) || String(e));
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

const userData = mkdtempSync(join(tmpdir(), "pgmcp-chromium-"));
const context = await chromium.launchPersistentContext(userData, {
  executablePath,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-quic", "--disable-sync"],
});
const page = context.pages()[0] || (await context.newPage());
const problems = [];
page.on("pageerror", (e) => problems.push("page error: " + e.message));
// The 401s of the server that wants a token are the browser's own log
// of the challenge the workbench answers.
const expected = (m) => /status of 401/.test(m.text()) && (m.location().url || "").startsWith(authBase);
page.on("console", (m) => { if (m.type() === "error" && !expected(m)) problems.push("console: " + m.text() + " at " + (m.location().url || "")); });

const shot = (name) => page.screenshot({ path: join(artifacts, name), fullPage: false });

// workbench opens / with the box filled from the URL and, with run=1,
// runs it.
async function openWith(params) {
  await page.goto(base + "/?" + new URLSearchParams(params).toString());
}

const monthly = "SELECT date_trunc('month', ordered_at)::date AS month, count(*) AS orders, sum(total_amount) AS revenue\n" +
  "FROM orders WHERE status IN ('paid', 'shipped', 'delivered')\nGROUP BY 1 ORDER BY 1";

try {
  await check("workbench query", async () => {
    await openWith({ sql: monthly, run: "1" });
    await page.waitForSelector("#result table.result tbody tr", { timeout: 30000 });
    const rows = await page.locator("#result table.result tbody tr").count();
    assert(rows > 10, `${rows} rows shown`);
    assert(await page.locator("#result svg.chart polyline").count() === 1, "no line chart for a month and a number");
    const head = await page.locator("#result table.result th").allTextContents();
    assert(head.join(",") === "month,orders,revenue", "headers " + head);
    assert(await page.locator("#result pre.sql .k").count() > 3, "the SQL is not highlighted");
    await page.locator("#result select[aria-label=Chart]").selectOption({ label: "Bar: orders by month" }).catch(() => {});
    await shot("workbench-query.png");
    return `${rows} rows, a line chart, status "${await page.locator("#status").textContent()}"`;
  });

  await check("workbench chart switch", async () => {
    const pick = page.locator("#result select[aria-label=Chart]");
    const labels = await pick.locator("option").allTextContents();
    assert(labels.some((l) => l.startsWith("Scatter")) && labels.some((l) => l.startsWith("Histogram")), "options " + labels);
    await pick.selectOption({ index: labels.findIndex((l) => l.startsWith("Histogram")) });
    assert(await page.locator("#result svg.chart rect.bar").count() >= 5, "no histogram bars");
    await pick.selectOption({ value: "none" });
    assert(await page.locator("#result svg.chart").count() === 0, "the chart did not go");
    return "charts offered: " + labels.join(" | ");
  });

  await check("workbench explain", async () => {
    await page.locator("#explain").click();
    await page.waitForSelector("#result [data-kind=explain] ol.plan li", { timeout: 30000 });
    const verdict = await page.locator("#result [data-kind=explain] .badge").first().textContent();
    assert(verdict === "allowed", "verdict " + verdict);
    const steps = await page.locator("#result ol.plan li").count();
    await shot("workbench-explain.png");
    return `verdict ${verdict}, ${steps} plan steps`;
  });

  await check("workbench refused", async () => {
    await openWith({ sql: "SELECT * FROM customers", run: "1" });
    await page.waitForSelector("#result [data-kind=error]", { timeout: 30000 });
    const text = await page.locator("#result [data-kind=error] pre").textContent();
    assert(/blocked|not allowed|column/i.test(text), "message " + text);
    return text.slice(0, 120);
  });

  await check("workbench large result", async () => {
    const sql = "SELECT id, customer_id, status, channel, ordered_at, ship_city, item_count, total_amount FROM orders ORDER BY id";
    await openWith({ sql });
    const t0 = Date.now();
    await page.locator("#run").click();
    await page.waitForFunction(() => {
      const r = document.querySelector("#result");
      return r && r.dataset.renderMs && r.querySelector("table.result tbody tr");
    }, null, { timeout: 60000 });
    const total = Date.now() - t0;
    const renderMs = Number(await page.locator("#result").getAttribute("data-render-ms"));
    const info = await page.locator("#result .pager .muted").textContent();
    const shown = await page.locator("#result table.result tbody tr").count();
    assert(shown === 100, `${shown} rows in the page (paged by 100)`);
    assert(/of 1000$/.test(info), "pager " + info);
    // Sorting all 1,000 rows and paging stay quick.
    const s0 = Date.now();
    await page.locator("#result table.result th", { hasText: "total_amount" }).click();
    await page.locator("#result table.result th", { hasText: "total_amount" }).click();
    const sortMs = Date.now() - s0;
    const first = Number(await page.locator("#result table.result tbody tr:first-child td.num").last().textContent());
    const second = Number(await page.locator("#result table.result tbody tr:nth-child(2) td.num").last().textContent());
    assert(first >= second, `descending sort: ${first} then ${second}`);
    await page.locator("#result [data-page=next]").click();
    assert(/^rows 101–200/.test(await page.locator("#result .pager .muted").textContent()), "next page");
    assert(await page.locator("#result .badge", { hasText: "truncated" }).count() === 1, "no truncation badge");
    await shot("workbench-large.png");
    return `1000 rows (truncated at the row cap): rendered in ${renderMs} ms, ${total} ms from the click to the table, two sorts in ${sortMs} ms`;
  });

  await check("workbench XSS values stay inert", async () => {
    const values = ["<script>window.__xss=1</script>", '"><img src=x onerror="window.__xss=2">', "javascript:window.__xss=3",
      "<svg onload=window.__xss=4>", "=HYPERLINK(\"http://x\")"];
    const names = ['<img src=x onerror=window.__xss=5>', '"><b onmouseover=window.__xss=6>b', "javascript:alert(7)"];
    const q = (s) => "'" + s.replace(/'/g, "''") + "'";
    const n = (s) => '"' + s.replace(/"/g, '""') + '"';
    const sql = "SELECT " + values.map((v, i) => `${q(v)} AS ${n(names[i % names.length] + i)}`).join(", ");
    await openWith({ sql, run: "1" });
    await page.waitForSelector("#result table.result tbody tr", { timeout: 30000 });
    const cells = await page.locator("#result table.result tbody td").allTextContents();
    const heads = await page.locator("#result table.result th").allTextContents();
    assert(values.every((v, i) => cells[i] === v), "cells " + JSON.stringify(cells));
    assert(names.every((v, i) => heads[i] === v + i), "headers " + JSON.stringify(heads));
    await page.locator("#result table.result th").first().hover();
    await page.locator("#explain").click();
    await page.waitForSelector("#result [data-kind=explain]", { timeout: 30000 });
    const state = await page.evaluate(() => ({
      xss: window.__xss,
      imgs: document.querySelectorAll("img").length,
      scripts: document.querySelectorAll("script").length,
      handlers: [...document.querySelectorAll("*")].filter((e) => [...e.attributes].some((a) => a.name.startsWith("on"))).length,
      links: [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
      history: [...document.querySelectorAll("#history button")].map((b) => b.textContent),
    }));
    assert(state.xss === undefined, "a value ran: window.__xss = " + state.xss);
    assert(state.imgs === 0 && state.scripts === 1 && state.handlers === 0 && state.links.length === 0, "elements from data: " + JSON.stringify(state));
    assert(state.history.some((h) => h.includes("<script>window.__xss=1</script>")), "the history does not show the SQL as text");
    await page.locator("#result").evaluate((r) => r.scrollIntoView());
    await openWith({ sql, run: "1" });
    await page.waitForSelector("#result table.result tbody tr", { timeout: 30000 });
    await shot("workbench-xss.png");
    return `${values.length} hostile values and ${names.length} hostile column names shown as text; no script ran, no element or handler came from data`;
  });

  await check("workbench schema browser", async () => {
    await page.goto(base + "/");
    await page.waitForSelector("#tables details", { timeout: 30000 });
    const tables = await page.locator("#tables details").count();
    await page.locator("#schema-search").fill("coupon");
    const visible = await page.locator("#tables > li:not([hidden])").count();
    assert(visible >= 1 && visible < tables, `search "coupon": ${visible} of ${tables}`);
    await page.locator("#tables > li:not([hidden]) summary").first().click();
    assert(await page.locator("#tables ul.columns li").count() > 0, "no columns shown");
    await shot("workbench-schema.png");
    return `${tables} tables; "coupon" narrows to ${visible}`;
  });

  await check("workbench token", async () => {
    const url = authBase + "/?" + new URLSearchParams({ sql: "SELECT 1 AS one", run: "1" });
    await page.goto(url);
    await page.waitForSelector("#auth:not([hidden])", { timeout: 30000 });
    assert(await page.locator("#result table.result").count() === 0, "a result without a token");
    await page.locator("#token").fill("pgmcp_wrong_" + "x".repeat(30));
    await page.locator("#auth button[type=submit]").click();
    await page.waitForSelector("#auth:not([hidden])", { timeout: 30000 });
    await page.locator("#token").fill(token);
    await page.locator("#auth button[type=submit]").click();
    await page.waitForSelector("#result table.result tbody tr", { timeout: 30000 });
    // Kept for the tab: a reload runs at once; another tab asks again.
    await page.reload();
    await page.waitForSelector("#result table.result tbody tr", { timeout: 30000 });
    assert(await page.locator("#auth").isHidden(), "asked again in the same tab");
    const other = await context.newPage();
    await other.goto(url);
    await other.waitForSelector("#auth:not([hidden])", { timeout: 30000 });
    const stored = await other.evaluate(() => sessionStorage.getItem("pgmcp-token"));
    await other.close();
    assert(stored === null, "the token reached another tab");
    const inLocal = await page.evaluate(() => Object.keys(localStorage).length + document.cookie.length);
    assert(inLocal === 0, "the token went to local storage or a cookie");
    return "asked for the token (a wrong one is asked again), kept for the tab only";
  });

  // The MCP Apps view in the extension's own host implementation.
  const bundle = readFileSync(hostBundle, "utf8");
  await page.route(base + "/__test-host", (route) => route.fulfill({
    contentType: "text/html",
    body: `<!doctype html><html><head><meta charset="utf-8"><title>MCP Apps test host</title></head>` +
      `<body style="font: 14px system-ui; margin: 12px"><h1 style="font-size: 15px">MCP Apps host (AppBridge)</h1>` +
      `<script type="module" src="/__test-host.js"></script></body></html>`,
  }));
  await page.route(base + "/__test-host.js", (route) => route.fulfill({ contentType: "text/javascript", body: bundle }));

  for (const era of ["2026-07-28", "2025-11-25"]) {
    await check(`apps view query ${era}`, async () => {
      await page.goto(base + "/__test-host");
      await page.waitForFunction(() => typeof window.runHost === "function", null, { timeout: 30000 });
      const sql = "SELECT channel, count(*) AS orders FROM orders GROUP BY channel ORDER BY orders DESC";
      await page.evaluate((a) => window.runHost(a), { mcpURL: base + "/mcp", era, tool: "query", args: { sql, max_rows: 2 }, frameId: "q" });
      const frame = page.frameLocator("#q");
      await frame.locator("table.result tbody tr").first().waitFor({ timeout: 30000 });
      assert(await frame.locator("table.result tbody tr").count() === 2, "2 rows first (max_rows 2)");
      assert(await frame.locator("svg.chart rect.bar").count() === 2, "no bar chart for a category and a number");
      assert(await frame.locator(".badge", { hasText: "truncated" }).count() === 1, "no truncation badge");
      // The follow-up goes back through the host's tools/call.
      await frame.locator("button", { hasText: "Fetch up to" }).click();
      await frame.locator("table.result tbody tr:nth-child(3)").waitFor({ timeout: 30000 });
      const rows = await frame.locator("table.result tbody tr").count();
      const sizes = await page.evaluate(() => window.__hosts.q.seen.sizes);
      assert(sizes > 0, "the view never reported its size");
      await page.screenshot({ path: join(artifacts, `apps-query-${era}.png`) });
      return `rendered in AppBridge; bar chart; follow-up through tools/call: ${rows} rows; ${sizes} size reports`;
    });
    await check(`apps view explain ${era}`, async () => {
      await page.goto(base + "/__test-host");
      await page.waitForFunction(() => typeof window.runHost === "function", null, { timeout: 30000 });
      await page.evaluate((a) => window.runHost(a), {
        mcpURL: base + "/mcp", era, tool: "explain", frameId: "e",
        args: { sql: "SELECT c.country_code, count(*) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1" },
      });
      const frame = page.frameLocator("#e");
      await frame.locator("[data-kind=explain] ol.plan li").first().waitFor({ timeout: 30000 });
      const badge = await frame.locator(".badge").first().textContent();
      assert(badge === "allowed", "verdict " + badge);
      const steps = await frame.locator("ol.plan li").count();
      await page.screenshot({ path: join(artifacts, `apps-explain-${era}.png`) });
      return `verdict ${badge}, ${steps} plan steps`;
    });
  }

  await check("apps view XSS values stay inert", async () => {
    await page.goto(base + "/__test-host");
    await page.waitForFunction(() => typeof window.runHost === "function", null, { timeout: 30000 });
    const sql = `SELECT '<img src=x onerror="parent.__xss=1">' AS "<script>parent.__xss=2</script>", 'javascript:parent.__xss=3' AS b`;
    await page.evaluate((a) => window.runHost(a), { mcpURL: base + "/mcp", era: "2026-07-28", tool: "query", args: { sql }, frameId: "x" });
    const frame = page.frameLocator("#x");
    await frame.locator("table.result tbody td").first().waitFor({ timeout: 30000 });
    const cell = await frame.locator("table.result tbody td").first().textContent();
    const head = await frame.locator("table.result th").first().textContent();
    const inFrame = await frame.locator("body").evaluate(() => ({ xss: window.__xss, imgs: document.querySelectorAll("img").length, scripts: document.querySelectorAll("script").length }));
    const top = await page.evaluate(() => window.__xss);
    assert(cell === '<img src=x onerror="parent.__xss=1">' && head === "<script>parent.__xss=2</script>", `cell ${cell}, header ${head}`);
    assert(top === undefined && inFrame.xss === undefined && inFrame.imgs === 0 && inFrame.scripts === 1, "ran or made elements: " + JSON.stringify({ top, inFrame }));
    return "hostile cell and column name shown as text in the view";
  });

  await check("no page errors", async () => {
    assert(problems.length === 0, problems.join("\n"));
    return "no script error or console error on any page";
  });
} finally {
  await context.close();
  rmSync(userData, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
