// Keep the graph's colours live: every 3 s, read the latest run's task instances
// from the API and recolour each task (a mapped task shows its least finished state).
(function () {
  const graph = document.getElementById("graph");
  if (!graph) return;
  const dag = encodeURIComponent(graph.dataset.dag);
  const order = ["failed", "upstream_failed", "up_for_retry", "running", "up_for_reschedule",
                 "queued", "scheduled", "none", "skipped", "success"];
  async function refresh() {
    const runs = await (await fetch(`/api/v1/dags/${dag}/runs?limit=1`)).json();
    if (!runs.items || !runs.items.length) return;
    const run = runs.items[0];
    document.getElementById("graph-run").textContent = "latest run " + run.run_id;
    const url = `/api/v1/dags/${dag}/runs/${encodeURIComponent(run.run_id)}/tasks?limit=500`;
    const tis = await (await fetch(url)).json();
    const states = {};
    for (const ti of tis.items || []) {
      const state = ti.state || "none";
      const seen = states[ti.task_id];
      if (seen === undefined || order.indexOf(state) < order.indexOf(seen)) states[ti.task_id] = state;
    }
    for (const node of graph.querySelectorAll("[data-task]")) {
      node.className = "state state-" + (states[node.dataset.task] || "none");
    }
  }
  setInterval(() => refresh().catch(() => {}), 3000);
})();
