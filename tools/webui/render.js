// pgmcp's result renderer, shared by the MCP Apps view and the workbench.
// Every value from a result (cells, column names, SQL, messages) reaches
// the page as text: through textContent, createTextNode or an attribute
// set with setAttribute on an element of our choosing, never as markup.
// Nothing here builds HTML from strings, calls eval or sets an event
// handler attribute.
"use strict";

const PgmcpRender = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const PAGE = 100; // table rows per page

  // el makes an element: attrs are set with setAttribute (names are ours),
  // children are nodes or strings (as text).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  // cellText is a cell as the table shows it.
  function cellText(v) {
    if (v === null || v === undefined) return "NULL";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  const NUMERIC = /^(smallint|integer|bigint|int2|int4|int8|numeric|decimal|real|double precision|float4|float8|money|oid)(\(.*\))?$/;
  const TEMPORAL = /^(date|timestamp|timestamptz|timestamp with(out)? time zone|timestamp\(\d\) with(out)? time zone)/;
  const isNumericType = (t) => NUMERIC.test(String(t || "").toLowerCase());
  const isTemporalType = (t) => TEMPORAL.test(String(t || "").toLowerCase());

  function toNumber(v) {
    if (v === null || v === undefined || v === "") return NaN;
    const n = typeof v === "number" ? v : Number(v);
    return Number.isFinite(n) ? n : NaN;
  }

  // chartOptions are the charts the result's column types allow, the
  // first being the default: line for a time and a number, bar for a
  // category and a number, scatter for two numbers, histogram for one.
  function chartOptions(columns, rows) {
    const out = [];
    if (!rows.length || !columns.length) return out;
    const num = [], time = [], cat = [];
    columns.forEach((c, i) => {
      if (isNumericType(c.type)) num.push(i);
      else if (isTemporalType(c.type)) time.push(i);
      else cat.push(i);
    });
    if (time.length && num.length) out.push({ kind: "line", x: time[0], y: num[0] });
    if (cat.length && num.length) out.push({ kind: "bar", x: cat[0], y: num[0] });
    if (num.length >= 2) out.push({ kind: "scatter", x: num[0], y: num[1] });
    if (num.length >= 1) out.push({ kind: "histogram", x: num[num.length - 1] });
    return out;
  }

  function label(opt, columns) {
    const n = (i) => columns[i].name;
    switch (opt.kind) {
      case "line": return "Line: " + n(opt.y) + " by " + n(opt.x);
      case "bar": return "Bar: " + n(opt.y) + " by " + n(opt.x);
      case "scatter": return "Scatter: " + n(opt.y) + " against " + n(opt.x);
      default: return "Histogram of " + n(opt.x);
    }
  }

  // fmt is a number for an axis or a badge: short, never in exponent form.
  function fmt(n) {
    if (!Number.isFinite(n)) return "";
    const a = Math.abs(n);
    const short = (v, unit) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, "")) + unit;
    if (a >= 1e9) return short(n / 1e9, "G");
    if (a >= 1e6) return short(n / 1e6, "M");
    if (a >= 1e4) return short(n / 1e3, "k");
    if (a >= 100 || Number.isInteger(n)) return n.toFixed(0);
    if (a >= 1) return n.toFixed(2).replace(/\.?0+$/, "");
    return a === 0 ? "0" : n.toPrecision(2);
  }

  // chartData turns rows into what a chart draws: points (x, y) or bars
  // (label, value), at most a bounded number.
  function chartData(opt, rows) {
    if (opt.kind === "histogram") {
      const vals = rows.map((r) => toNumber(r[opt.x])).filter(Number.isFinite);
      if (!vals.length) return null;
      let lo = Math.min(...vals), hi = Math.max(...vals);
      if (lo === hi) { lo -= 0.5; hi += 0.5; }
      const bins = Math.min(30, Math.max(5, Math.ceil(Math.sqrt(vals.length))));
      const w = (hi - lo) / bins;
      const counts = new Array(bins).fill(0);
      for (const v of vals) counts[Math.min(bins - 1, Math.floor((v - lo) / w))]++;
      return { bars: counts.map((c, i) => ({ label: fmt(lo + i * w), value: c })) };
    }
    if (opt.kind === "bar") {
      const sums = new Map();
      for (const r of rows) {
        const y = toNumber(r[opt.y]);
        if (!Number.isFinite(y)) continue;
        const k = cellText(r[opt.x]);
        sums.set(k, (sums.get(k) || 0) + y);
      }
      let bars = [...sums].map(([label, value]) => ({ label, value }));
      if (bars.length > 40) bars = bars.sort((a, b) => b.value - a.value).slice(0, 40);
      return bars.length ? { bars } : null;
    }
    const pts = [];
    for (const r of rows) {
      const x = opt.kind === "line" ? Date.parse(cellText(r[opt.x])) : toNumber(r[opt.x]);
      const y = toNumber(r[opt.y]);
      if (Number.isFinite(x) && Number.isFinite(y)) pts.push({ x, y });
    }
    if (opt.kind === "line") pts.sort((a, b) => a.x - b.x);
    return pts.length ? { points: pts } : null;
  }

  // drawChart draws opt over rows as an SVG.
  function drawChart(opt, columns, rows) {
    const W = 640, H = 300, L = 56, R = 12, T = 12, B = 64;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
    root.append(svg("title", {}, label(opt, columns)));
    const data = chartData(opt, rows);
    if (!data) {
      root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "muted" }, "Nothing to draw: no numeric values"));
      return root;
    }
    const pw = W - L - R, ph = H - T - B;
    const axis = (x1, y1, x2, y2) => root.append(svg("line", { x1, y1, x2, y2, class: "axis" }));
    axis(L, T, L, T + ph);
    axis(L, T + ph, L + pw, T + ph);
    const yTicks = (lo, hi) => {
      for (let i = 0; i <= 4; i++) {
        const v = lo + ((hi - lo) * i) / 4, y = T + ph - (ph * i) / 4;
        root.append(svg("line", { x1: L - 4, y1: y, x2: L + pw, y2: y, class: "grid" }));
        root.append(svg("text", { x: L - 6, y: y + 4, "text-anchor": "end", class: "tick" }, fmt(v)));
      }
    };
    if (data.bars) {
      const max = Math.max(0, ...data.bars.map((b) => b.value));
      const min = Math.min(0, ...data.bars.map((b) => b.value));
      const span = max - min || 1;
      yTicks(min, max || 1);
      const bw = pw / data.bars.length;
      const zero = T + ph - (ph * (0 - min)) / span;
      data.bars.forEach((b, i) => {
        const y = T + ph - (ph * (b.value - min)) / span;
        const r = svg("rect", { x: L + i * bw + bw * 0.1, y: Math.min(y, zero), width: Math.max(1, bw * 0.8), height: Math.max(1, Math.abs(zero - y)), class: "bar" });
        r.append(svg("title", {}, b.label + ": " + b.value));
        root.append(r);
        if (data.bars.length <= 40 && (data.bars.length <= 12 || i % Math.ceil(data.bars.length / 12) === 0)) {
          const tx = L + i * bw + bw / 2, ty = T + ph + 14;
          const t = svg("text", { x: tx, y: ty, "text-anchor": "end", class: "tick", transform: `rotate(-35 ${tx} ${ty})` },
            b.label.length > 16 ? b.label.slice(0, 15) + "…" : b.label);
          root.append(t);
        }
      });
      return root;
    }
    const xs = data.points.map((p) => p.x), ys = data.points.map((p) => p.y);
    let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    if (y0 === y1) { y0 -= 1; y1 += 1; }
    yTicks(y0, y1);
    const px = (x) => L + ((x - x0) / (x1 - x0)) * pw;
    const py = (y) => T + ph - ((y - y0) / (y1 - y0)) * ph;
    for (let i = 0; i <= 4; i++) {
      const v = x0 + ((x1 - x0) * i) / 4;
      const s = opt.kind === "line" ? new Date(v).toISOString().slice(0, 10) : fmt(v);
      root.append(svg("text", { x: px(v), y: T + ph + 16, "text-anchor": "middle", class: "tick" }, s));
    }
    if (opt.kind === "line") {
      root.append(svg("polyline", { points: data.points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(" "), class: "line" }));
    } else {
      for (const p of data.points.slice(0, 5000)) root.append(svg("circle", { cx: px(p.x).toFixed(1), cy: py(p.y).toFixed(1), r: 3, class: "dot" }));
    }
    return root;
  }

  const KEYWORDS = new Set(("select from where group by having order limit offset join left right full inner outer cross on using and or not in " +
    "exists between like ilike is null as union intersect except all distinct with case when then else end asc desc over partition " +
    "filter window lateral values true false interval").split(" "));

  // highlightSQL renders sql as text nodes and spans (keywords, strings,
  // numbers, comments): the text is split, never parsed as markup.
  function highlightSQL(sql) {
    const pre = el("pre", { class: "sql" });
    const re = /('(?:[^']|'')*'?)|("(?:[^"]|"")*"?)|(--[^\n]*)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_$]*)|(\s+|[^\sA-Za-z0-9_'"-]+|-)/g;
    let m;
    while ((m = re.exec(sql)) !== null) {
      const [tok, str, ident, comment, num, word] = m;
      if (str) pre.append(el("span", { class: "s" }, tok));
      else if (comment) pre.append(el("span", { class: "c" }, tok));
      else if (num) pre.append(el("span", { class: "n" }, tok));
      else if (word && KEYWORDS.has(word.toLowerCase())) pre.append(el("span", { class: "k" }, tok));
      else pre.append(document.createTextNode(ident || tok));
    }
    return pre;
  }

  function copyButton(text) {
    const b = el("button", { type: "button", class: "small" }, "Copy SQL");
    b.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(text);
        b.textContent = "Copied";
      } catch {
        b.textContent = "Copy failed: select the SQL";
      }
      setTimeout(() => { b.textContent = "Copy SQL"; }, 1500);
    });
    return b;
  }

  // csv is RFC 4180 text of the result. A cell starting with = + - @ is
  // prefixed with ' so that a spreadsheet does not run it as a formula.
  function csv(columns, rows) {
    const q = (s) => {
      s = String(s);
      if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
      return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    };
    const lines = [columns.map((c) => q(c.name)).join(",")];
    for (const r of rows) lines.push(r.map((v) => (v === null || v === undefined ? "" : q(cellText(v)))).join(","));
    return lines.join("\r\n") + "\r\n";
  }

  function badge(text, cls) {
    return el("span", { class: "badge " + (cls || "") }, text);
  }

  // table renders rows paged, sortable by a click on a column header
  // (numbers by value, the rest as text; a second click reverses).
  function table(columns, rows) {
    const wrap = el("div", { class: "table-wrap" });
    let order = rows.map((_, i) => i), page = 0, sortCol = -1, desc = false;
    const info = el("span", { class: "muted" });
    const prev = el("button", { type: "button", class: "small", "data-page": "prev" }, "‹ Previous");
    const next = el("button", { type: "button", class: "small", "data-page": "next" }, "Next ›");
    const pager = el("div", { class: "pager" }, prev, info, next);
    const tbody = el("tbody");
    const headRow = el("tr");
    columns.forEach((c, j) => {
      const th = el("th", { scope: "col", title: c.type }, c.name);
      th.addEventListener("click", () => {
        desc = sortCol === j ? !desc : false;
        sortCol = j;
        const numeric = isNumericType(c.type);
        const key = (i) => rows[i][j];
        order.sort((a, b) => {
          const va = key(a), vb = key(b);
          if (va === null || va === undefined) return 1;
          if (vb === null || vb === undefined) return -1;
          const d = numeric ? toNumber(va) - toNumber(vb) : cellText(va).localeCompare(cellText(vb));
          return desc ? -d : d;
        });
        headRow.querySelectorAll("th").forEach((h, k) => h.setAttribute("aria-sort", k === j ? (desc ? "descending" : "ascending") : "none"));
        page = 0;
        draw();
      });
      headRow.append(th);
    });
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    function draw() {
      const from = page * PAGE, to = Math.min(rows.length, from + PAGE);
      const frag = document.createDocumentFragment();
      for (let k = from; k < to; k++) {
        const r = rows[order[k]];
        const tr = document.createElement("tr");
        for (let j = 0; j < columns.length; j++) {
          const td = document.createElement("td");
          const v = r[j];
          td.textContent = cellText(v);
          if (v === null || v === undefined) td.className = "null";
          else if (isNumericType(columns[j].type)) td.className = "num";
          tr.append(td);
        }
        frag.append(tr);
      }
      tbody.replaceChildren(frag);
      info.textContent = rows.length ? `rows ${from + 1}–${to} of ${rows.length}` : "no rows";
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }
    prev.addEventListener("click", () => { if (page > 0) { page--; draw(); } });
    next.addEventListener("click", () => { if (page < pages - 1) { page++; draw(); } });
    wrap.append(el("table", { class: "result" }, el("thead", {}, headRow), tbody));
    draw();
    return el("div", {}, wrap, rows.length > PAGE ? pager : null);
  }

  // download saves text as a file; opts.download, when given, is tried
  // first (a host that offers downloads), else a blob link.
  async function download(name, text, opts) {
    if (opts && opts.download) {
      try { if (await opts.download(name, text)) return; } catch { /* the link below */ }
    }
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // query renders a query tool result (its structured content). opts:
  // more(maxRows) re-runs the query with the row cap opts.maxRows through
  // the tools; download(name, text) saves a file through the host.
  function query(res, opts) {
    opts = opts || {};
    const columns = res.columns || [], rows = res.rows || [];
    const root = el("section", { class: "pgmcp-result", "data-kind": "query" });
    const badges = el("div", { class: "badges" },
      badge(`${res.row_count ?? rows.length} row${(res.row_count ?? rows.length) === 1 ? "" : "s"}`),
      res.truncated ? badge("truncated" + (res.truncated_by ? " by " + res.truncated_by : ""), "warn") : null,
      typeof res.elapsed_ms === "number" ? badge(res.elapsed_ms.toFixed(1) + " ms") : null,
      res.attempts ? badge(res.attempts + " model call" + (res.attempts === 1 ? "" : "s")) : null,
      res.dry_run ? badge("dry run: not run", "warn") : null,
      res.database ? badge("database " + res.database, "muted") : null);
    const tools = el("div", { class: "toolbar" }, copyButton(res.sql || ""));
    const csvBtn = el("button", { type: "button", class: "small" }, "Download CSV");
    csvBtn.addEventListener("click", () => download("result.csv", csv(columns, rows), opts));
    tools.append(csvBtn);
    // A follow-up goes through the query tool again (its guard, limits).
    if (res.truncated && res.truncated_by === "max_rows" && opts.more && rows.length < (opts.maxRows || 0)) {
      const more = el("button", { type: "button", class: "small" }, `Fetch up to ${opts.maxRows} rows`);
      more.addEventListener("click", () => opts.more(opts.maxRows));
      tools.append(more);
    }
    root.append(el("h2", {}, res.question ? res.question : "Query result"), highlightSQL(res.sql || ""), tools, badges);
    if (res.candidates) {
      const c = res.candidates;
      root.append(el("p", { class: "muted" }, `${c.agreement} of ${c.generated} candidate queries agreed on this result` + (c.tie_break ? " (a tie, decided by the cheaper plan)" : "") + "."));
    }
    for (const chk of res.result_checks || []) {
      root.append(el("p", { class: "muted" }, `Result check ${chk.check}: ${chk.outcome}. ${chk.message}`));
    }
    const charts = chartOptions(columns, rows);
    if (charts.length) {
      const pick = el("select", { "aria-label": "Chart" });
      charts.forEach((o, i) => pick.append(el("option", { value: i }, label(o, columns))));
      pick.append(el("option", { value: "none" }, "No chart"));
      const holder = el("div", { class: "chart-holder" }, drawChart(charts[0], columns, rows));
      pick.addEventListener("change", () => {
        holder.replaceChildren(pick.value === "none" ? "" : drawChart(charts[Number(pick.value)], columns, rows));
      });
      root.append(el("div", { class: "chart-bar" }, pick), holder);
    }
    root.append(table(columns, rows));
    return root;
  }

  // explain renders an explain tool result: verdict, plan, warnings.
  function explain(res) {
    const root = el("section", { class: "pgmcp-result", "data-kind": "explain" });
    const v = res.verdict || {};
    root.append(el("h2", {}, res.question ? res.question : "Query review"),
      el("div", { class: "badges" },
        v.allowed ? badge("allowed", "ok") : badge("refused" + (v.code ? ": " + v.code : ""), "bad"),
        res.plan ? badge("cost " + fmt(res.plan.total_cost)) : null,
        res.plan ? badge("about " + fmt(res.plan.rows) + " rows") : null,
        res.plan && res.plan.over_ceiling ? badge("over the cost ceiling", "bad") : null),
      highlightSQL(res.sql || ""), el("div", { class: "toolbar" }, copyButton(res.sql || "")));
    if (!v.allowed && v.message) root.append(el("p", { class: "verdict" }, v.message));
    if (res.summary) root.append(el("p", {}, res.summary));
    const warnings = res.warnings || [];
    if (warnings.length) {
      const ul = el("ul", { class: "warnings" });
      for (const w of warnings) ul.append(el("li", {}, el("code", {}, w.code), " ", w.message));
      root.append(el("h3", {}, "Warnings"), ul);
    }
    if (res.plan && res.plan.tree && res.plan.tree.length) {
      const ol = el("ol", { class: "plan" });
      for (const line of res.plan.tree) {
        const depth = line.length - line.trimStart().length;
        const li = el("li", {}, line.trim());
        li.style.paddingLeft = Math.min(depth, 40) * 0.5 + "em"; // CSSOM: allowed by a CSP without inline styles
        ol.append(li);
      }
      root.append(el("h3", {}, "Plan"), ol);
    }
    const reads = (res.relations || []).join(", ");
    if (reads) root.append(el("p", { class: "muted" }, "Reads " + reads));
    return root;
  }

  // error renders a tool error (its text).
  function error(text) {
    return el("section", { class: "pgmcp-result error", "data-kind": "error" }, el("h2", {}, "The call failed"), el("pre", { class: "err" }, text));
  }

  // render picks query, explain or error for a CallToolResult.
  function render(result, opts) {
    const text = (result.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
    if (result.isError) return error(text);
    const sc = result.structuredContent;
    if (!sc) return error(text || "The result has no structured content.");
    if (sc.verdict) return explain(sc);
    if (sc.columns) return query(sc, opts);
    return error(text || "Not a result this view shows.");
  }

  return { render, query, explain, error, chartOptions, csv, el, highlightSQL };
})();
