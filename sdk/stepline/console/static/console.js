// The Stepline console's pages, filled in from the JSON API and kept live by
// server-sent events. No framework: each page is a function of the data.
"use strict";

const $ = (selector) => document.querySelector(selector);

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// An api() whose answer comes back only for its newest call: an older call
// answering late gives null (a stale list must not overwrite a fresh one).
function newestApi() {
  let asked = 0;
  return async (path) => {
    const mine = ++asked;
    const body = await api(path);
    return mine === asked ? body : null;
  };
}

function post(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
}

const short = (name, prefix) => (name || "").replace(prefix, "").toLowerCase();
const statusText = (s) => short(s || "RUN_STATUS_UNSPECIFIED", "RUN_STATUS_");
const kindText = (k) => short(k, "EVENT_KIND_");
const timeText = (t) => (t ? t.replace("T", " ").replace(/\.\d+Z$|Z$/, "") : "-");
const json = (value) => JSON.stringify(value, null, 2);

function live(text, ok) {
  const node = $("#live");
  node.textContent = text;
  node.className = ok ? "ok" : "down";
}

// An EventSource that shows on the page whether it is connected.
function subscribe(path, handlers) {
  const source = new EventSource(path);
  source.addEventListener("hello", () => live("live", true));
  source.addEventListener("problem", (e) => live(`runner: ${JSON.parse(e.data).message}`, false));
  source.onerror = () => live("reconnecting…", false);
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (e) => handler(JSON.parse(e.data)));
  }
  return source;
}

function debounce(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

function statusBadge(status) {
  const text = statusText(status);
  return el("span", { class: `status ${text}` }, text);
}

// ---- runs page ----

function runsPage() {
  const workflow = $("#filter-workflow");
  const status = $("#filter-status");
  const search = $("#search");
  let filled = false;

  const fill = (select, values, text) => {
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, "all"));
    for (const v of values) select.append(el("option", { value: v }, text(v)));
    select.value = chosen;
  };

  const fetchRuns = newestApi();
  const refresh = async () => {
    const query = new URLSearchParams({ workflow: workflow.value, status: status.value });
    let body;
    try {
      body = await fetchRuns(`/api/runs?${query}`);
    } catch (error) {
      live(error.message, false);
      return;
    }
    if (!body) return;
    fill(workflow, body.workflows, (v) => v);
    if (!filled) {
      fill(status, body.statuses, statusText);
      const wanted = new URLSearchParams(window.location.search).get("workflow");
      if (wanted && body.workflows.includes(wanted) && !workflow.value) {
        workflow.value = wanted;
        filled = true;
        return refresh();
      }
      filled = true;
    }
    const needle = search.value.trim();
    const rows = body.runs.filter((r) => r.run_id.includes(needle));
    $("#runs tbody").replaceChildren(
      ...rows.map((r) =>
        el(
          "tr",
          { "data-run": r.run_id },
          el("td", {}, el("a", { href: `/runs/${encodeURIComponent(r.run_id)}` }, r.run_id)),
          el("td", {}, r.workflow_id),
          el("td", {}, statusBadge(r.status)),
          el("td", {}, r.superstep || 0),
          el("td", {}, timeText(r.created_at)),
          el("td", {}, timeText(r.updated_at)),
        ),
      ),
    );
    $("#runs-empty").hidden = rows.length > 0;
  };

  workflow.addEventListener("change", refresh);
  status.addEventListener("change", refresh);
  search.addEventListener("input", refresh);
  $("#run-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    const first = $("#runs tbody a");
    if (first) first.click();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && document.activeElement !== search) {
      e.preventDefault();
      search.focus();
    }
  });
  const soon = debounce(refresh, 150);
  subscribe("/api/events", { hello: soon, run: soon });
  refresh();
}

function edgeText(edge) {
  if (edge.direct) {
    const d = edge.direct;
    return `${d.source_id} → ${d.target_id}${d.condition ? ` when ${d.condition}` : ""}`;
  }
  if (edge.fan_out) return `${edge.fan_out.source_id} → [${edge.fan_out.target_ids.join(", ")}]`;
  if (edge.fan_in) return `[${edge.fan_in.source_ids.join(", ")}] → ${edge.fan_in.target_id}`;
  if (edge.switch_case) {
    const s = edge.switch_case;
    return `${s.source_id} → switch (${(s.cases || []).length} cases)`;
  }
  return json(edge);
}

// ---- workflows and executors pages ----

async function workflowsPage() {
  const { workflows } = await api("/api/workflows");
  $("#workflows").replaceChildren(
    ...workflows.map((w) =>
      el(
        "section",
        { class: "workflow", "data-workflow": w.workflow_id },
        el("h2", {}, w.workflow_id),
        el(
          "p",
          {},
          `version ${w.version || 1}, registered ${timeText(w.updated_at)} · ` +
            `signature ${w.graph_signature}`,
        ),
        el("p", {}, `start: ${w.start_executor_id}`),
        el(
          "ul",
          { class: "graph" },
          (w.definition.executors || []).map((n) =>
            el("li", { class: "node idle" }, el("strong", {}, n.id), ` ${n.type || ""} @ ${n.endpoint}`),
          ),
        ),
        el("ul", { class: "edges" }, (w.definition.edges || []).map((e) => el("li", {}, edgeText(e)))),
        el(
          "details",
          {},
          el("summary", {}, `versions (${(w.versions || []).length + (w.older_versions || 0)})`),
          el(
            "ul",
            { class: "versions" },
            (w.versions || []).map((v) =>
              el(
                "li",
                { "data-version": v.version },
                `v${v.version}: ${v.executors} executors, ${v.edges} edges · ${v.graph_signature}`,
              ),
            ),
            w.older_versions ? el("li", {}, `and ${w.older_versions} older`) : null,
          ),
        ),
        el("a", { href: `/?${new URLSearchParams({ workflow: w.workflow_id })}` }, "its runs"),
      ),
    ),
  );
  if (!workflows.length) $("#workflows").replaceChildren(el("p", {}, "No workflows."));
}

async function executorsPage() {
  const { executors } = await api("/api/executors");
  $("#executors tbody").replaceChildren(
    ...executors.map((x) =>
      el(
        "tr",
        { "data-endpoint": x.endpoint },
        el("td", {}, el("code", {}, x.endpoint)),
        el("td", {}, x.answers ? "yes" : `no: ${x.problem}`),
        el("td", {}, x.incarnation_id || "-"),
        el("td", {}, (x.executor_types || []).map((t) => el("div", {}, `${t.name}: accepts ${(t.input_types || []).join(", ") || "-"}`))),
        el("td", {}, x.used_by.join(", ")),
      ),
    ),
  );
}

// ---- start ----

const pages = {
  runs: runsPage,
  run: () => runPage(document.body.dataset.run), // in run.js
  workflows: () => workflowsPage().catch((e) => live(e.message, false)),
  executors: () => executorsPage().catch((e) => live(e.message, false)),
};
// Deferred scripts all run before DOMContentLoaded: run.js is loaded by then.
document.addEventListener("DOMContentLoaded", () => {
  const start = pages[document.body.dataset.page];
  if (start) start();
});
