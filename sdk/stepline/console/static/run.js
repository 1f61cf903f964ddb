// The console's run page: a model of the run built from its events (supersteps,
// node states), and the page kept live from it. Uses the helpers of console.js.
"use strict";

// What a run's events say: supersteps (who ran, how long), node states.
class RunModel {
  constructor() {
    this.events = [];
    this.steps = new Map(); // superstep -> {executors: Map(id -> {start, end, state}), checkpoint}
    this.superstep = 0;
  }

  step(n) {
    if (!this.steps.has(n)) this.steps.set(n, { executors: new Map(), checkpoint: "" });
    return this.steps.get(n);
  }

  add(event) {
    this.events.push(event);
    const n = event.superstep || 0;
    const at = event.time ? Date.parse(event.time) : null;
    const id = event.executor_id;
    switch (event.kind) {
      case "EVENT_KIND_SUPERSTEP_STARTED":
        this.superstep = n;
        this.step(n);
        break;
      case "EVENT_KIND_SUPERSTEP_COMPLETED":
        this.step(n).checkpoint = event.checkpoint_id || "";
        break;
      case "EVENT_KIND_EXECUTOR_INVOKED":
        this.step(n).executors.set(id, { start: at, end: null, state: "running" });
        break;
      case "EVENT_KIND_EXECUTOR_COMPLETED":
      case "EVENT_KIND_EXECUTOR_FAILED": {
        const row = this.step(n).executors.get(id) || { start: at };
        row.end = at;
        row.state = event.kind === "EVENT_KIND_EXECUTOR_FAILED" ? "failed" : "done";
        this.step(n).executors.set(id, row);
        break;
      }
      default:
        break;
    }
  }

  // A node's state in the current superstep.
  nodeState(id, waiting) {
    if (waiting.has(id)) return "waiting";
    const row = this.steps.has(this.superstep) && this.steps.get(this.superstep).executors.get(id);
    return row ? row.state : "idle";
  }
}

function eventDetail(e) {
  const parts = [];
  if (e.executor_id) parts.push(e.executor_id);
  if (e.kind === "EVENT_KIND_STATUS_CHANGED") parts.push(statusText(e.status));
  if (e.error) parts.push(`${e.error.type || ""} ${e.error.message || ""}`.trim());
  if (e.request) parts.push(`request ${e.request.request_id}`);
  if (e.name) parts.push(e.name);
  if (e.message) parts.push(e.message);
  if (e.checkpoint_id) parts.push(`checkpoint ${e.checkpoint_id}`);
  return parts.join(" · ");
}

function runPage(runId) {
  const model = new RunModel();
  const state = { run: null, workflow: null, waiting: new Set(), checkpoints: [] };
  const base = `/api/runs/${encodeURIComponent(runId)}`;
  const kinds = $("#filter-kind");
  const view = $("#checkpoint-view");

  const renderHeader = () => {
    const run = state.run;
    $("#run-id").textContent = run.run_id;
    $("#run-status").replaceChildren(statusBadge(run.status));
    const facts = [`workflow ${run.workflow_id}`, `superstep ${run.superstep || 0}`];
    if (run.parent_run_id) facts.push(`forked from ${run.parent_run_id}`);
    if (run.error) facts.push(`error: ${run.error.type || ""} ${run.error.message || ""}`);
    $("#run-facts").textContent = facts.join(" · ");
  };

  const renderGraph = () => {
    $("#graph-step").textContent = `superstep ${model.superstep}`;
    const nodes = state.workflow ? state.workflow.executors || [] : [];
    $("#graph").replaceChildren(
      ...nodes.map((node) => {
        const s = model.nodeState(node.id, state.waiting);
        return el(
          "li",
          { class: `node ${s}`, "data-node": node.id, title: node.endpoint },
          el("strong", {}, node.id),
          ` ${node.type || ""} `,
          el("em", {}, s),
        );
      }),
    );
    const edges = state.workflow ? state.workflow.edges || [] : [];
    $("#edges").replaceChildren(...edges.map((edge) => el("li", {}, edgeText(edge))));
  };

  const renderTimeline = () => {
    const rows = [...model.steps.entries()]
      .filter(([n]) => n > 0)
      .sort((a, b) => a[0] - b[0]);
    $("#timeline tbody").replaceChildren(
      ...rows.map(([n, step]) =>
        el(
          "tr",
          { "data-step": n },
          el("td", {}, n),
          el(
            "td",
            {},
            [...step.executors.entries()].map(([id, row]) =>
              el(
                "span",
                { class: `ran ${row.state}` },
                `${id} (${row.end && row.start ? `${row.end - row.start} ms` : row.state})`,
              ),
            ),
          ),
          el("td", { title: step.checkpoint }, step.checkpoint ? step.checkpoint.slice(0, 12) : "-"),
        ),
      ),
    );
  };

  const renderEvents = () => {
    const chosen = kinds.value;
    const seen = new Set(model.events.map((e) => e.kind));
    if (kinds.options.length - 1 !== seen.size) {
      kinds.replaceChildren(el("option", { value: "" }, "all"));
      for (const k of [...seen].sort()) kinds.append(el("option", { value: k }, kindText(k)));
      kinds.value = chosen;
    }
    const shown = model.events.filter((e) => !kinds.value || e.kind === kinds.value);
    $("#events").replaceChildren(
      ...shown.map((e) =>
        el(
          "li",
          { class: `event ${kindText(e.kind)}` },
          el("span", { class: "seq" }, e.sequence),
          ` ${timeText(e.time).slice(11)} step ${e.superstep || 0} `,
          el("strong", {}, kindText(e.kind)),
          ` ${eventDetail(e)}`,
          e.data !== undefined ? el("pre", { class: "data" }, json(e.data)) : null,
        ),
      ),
    );
  };

  const showError = (error) => {
    $("#action-result").textContent = error.message;
  };

  const [fetchRun, fetchRequests, fetchCheckpoints] = [newestApi(), newestApi(), newestApi()];

  const loadRun = async () => {
    const body = await fetchRun(base);
    if (!body) return;
    state.run = body.run;
    state.workflow = body.workflow;
    renderHeader();
    renderGraph();
  };

  const loadRequests = async () => {
    const body = await fetchRequests(`${base}/requests`);
    if (!body) return;
    const { requests } = body;
    state.waiting = new Set(requests.map((r) => r.executor_id));
    const box = $("#requests");
    // A form still open keeps its node: what the person typed stays.
    const kept = new Map(
      [...box.querySelectorAll("form.request")].map((f) => [f.dataset.request, f]),
    );
    if (!requests.length) {
      box.replaceChildren(el("p", {}, "None."));
    } else {
      box.replaceChildren(...requests.map((r) => kept.get(r.request_id) || requestForm(r)));
    }
    renderGraph();
  };

  const requestForm = (request) => {
    const area = el("textarea", {
      name: "response",
      rows: 3,
      "aria-label": `answer to ${request.request_id}`,
    });
    const problem = el("p", { class: "error", role: "alert" });
    const submit = async (e) => {
      e.preventDefault();
      try {
        JSON.parse(area.value);
      } catch (error) {
        problem.textContent = `not JSON: ${error.message}`;
        area.focus();
        return;
      }
      try {
        await post(`${base}/responses`, { request_id: request.request_id, response: area.value });
        problem.textContent = "sent";
        await Promise.all([loadRun(), loadRequests()]);
      } catch (error) {
        problem.textContent = error.message;
      }
    };
    return el(
      "form",
      { class: "request", "data-request": request.request_id, onsubmit: submit },
      el("p", {}, el("strong", {}, request.executor_id), ` asks (wants ${request.response_type}):`),
      el("pre", {}, json(request.data)),
      el("label", {}, "Answer (JSON) ", area),
      el("button", { type: "submit" }, "Send answer"),
      problem,
    );
  };

  const picked = () =>
    [...document.querySelectorAll("#checkpoints input:checked")].map((i) => i.value);

  const loadCheckpoints = async () => {
    const body = await fetchCheckpoints(`${base}/checkpoints`);
    if (!body) return;
    const { checkpoints } = body;
    // Read the picks now, not before the fetch: a box ticked meanwhile stays ticked.
    const chosen = new Set(picked());
    state.checkpoints = checkpoints;
    $("#checkpoints tbody").replaceChildren(
      ...checkpoints.map((c) =>
        el(
          "tr",
          { "data-checkpoint": c.checkpoint_id },
          el(
            "td",
            {},
            el("input", {
              type: "checkbox",
              value: c.checkpoint_id,
              checked: chosen.has(c.checkpoint_id) ? "checked" : false,
              "aria-label": `pick checkpoint ${c.checkpoint_id}`,
            }),
          ),
          el("td", {}, el("code", {}, c.checkpoint_id)),
          el("td", {}, c.superstep || 0),
          el("td", { title: timeText(c.created_at) }, timeText(c.created_at).slice(11)),
          el(
            "td",
            {},
            el("button", { type: "button", onclick: () => showStates(c.checkpoint_id) }, "States"),
          ),
        ),
      ),
    );
  };

  const showStates = async (id) => {
    try {
      const { checkpoint } = await api(`/api/checkpoints/${encodeURIComponent(id)}`);
      const content = checkpoint.content || {};
      view.textContent =
        `checkpoint ${id} (superstep ${checkpoint.superstep || 0})\n\n` +
        `executor states:\n${json(content.executor_states || {})}\n\n` +
        `pending messages:\n${json(content.pending_messages || [])}\n\n` +
        `open requests:\n${json(content.pending_requests || [])}`;
      view.focus();
    } catch (error) {
      view.textContent = error.message;
    }
  };

  $("#diff").addEventListener("click", async () => {
    const ids = picked();
    if (ids.length !== 2) {
      view.textContent = "Pick exactly two checkpoints to compare.";
      return;
    }
    const [before, after] = state.checkpoints
      .map((c) => c.checkpoint_id)
      .filter((id) => ids.includes(id));
    try {
      const body = await api(`/api/diff?${new URLSearchParams({ before, after })}`);
      view.textContent = body.lines.join("\n");
      view.focus();
    } catch (error) {
      view.textContent = error.message;
    }
  });

  const act = async (question, path, body) => {
    if (!window.confirm(question)) return;
    try {
      const result = await post(path, body);
      if (result.run.run_id !== runId) {
        window.location.assign(`/runs/${encodeURIComponent(result.run.run_id)}`);
        return;
      }
      $("#action-result").textContent = "done";
      await loadRun();
    } catch (error) {
      showError(error);
    }
  };

  $("#cancel").addEventListener("click", () =>
    act(`Cancel run ${runId}?`, `${base}/cancel`),
  );
  $("#resume").addEventListener("click", () => {
    const latest = state.run && state.run.latest_checkpoint_id;
    if (!latest) return showError(new Error("the run has no checkpoint yet"));
    return act(`Resume run ${runId} from ${latest}?`, `/api/checkpoints/${latest}/resume`, {});
  });
  $("#fork").addEventListener("click", () => {
    const ids = picked();
    if (ids.length !== 1) return showError(new Error("pick exactly one checkpoint to fork from"));
    return act(`Fork a new run from ${ids[0]}?`, `/api/checkpoints/${ids[0]}/resume`, {
      fork: true,
    });
  });
  kinds.addEventListener("change", renderEvents);

  const refreshSoon = debounce(() => {
    Promise.all([loadRun(), loadRequests(), loadCheckpoints()]).catch(showError);
  }, 100);
  const renderSoon = debounce(() => {
    renderTimeline();
    renderGraph();
    renderEvents();
  }, 50);

  loadRun()
    .then(() => Promise.all([loadRequests(), loadCheckpoints()]))
    .catch(showError);
  subscribe(`${base}/events`, {
    event: (e) => {
      model.add(e);
      renderSoon();
      if (e.kind !== "EVENT_KIND_EXECUTOR_INVOKED" && e.kind !== "EVENT_KIND_OUTPUT") refreshSoon();
    },
  });
}
