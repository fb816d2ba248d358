// Best so far against evaluations: every evaluation as a point, the best-so-far steps, the
// budget and, for table searches, the exact random-search expectation and the table's optimum.
// "near the best" zooms on the better three quarters of the results, "all results" shows all.

import { drawChart, extent, legend } from "./charts.js";
import { axisTitle, count, el, goalWord, hintOf, metricValue, num, replace } from "./format.js";
import { $, loading, panelError, state } from "./store.js";

export const uses = ["series", "baseline"];

export function render() {
  const container = $("chart-progress");
  const data = state.panels.series;
  if (panelError("series", container)) return;
  if (!data) {
    loading(container);
    replace($("legend-progress"));
    $("progress-note").textContent = "";
    return;
  }
  const baseline = state.panels.baseline?.search_id === data.search_id ? state.panels.baseline : null;
  if (!data.points.index.length) {
    replace(container, el("div", { class: "chart-empty" }, data.evaluations
      ? "No evaluation has produced a value yet (every member so far failed)."
      : "Waiting for the first results: points appear here as workers report batches."));
    replace($("legend-progress"));
    $("progress-note").textContent = `${count(data.evaluations)} evaluations`;
    return;
  }
  const hint = hintOf(data.hints, data.objective);
  const fmt = (v) => metricValue(hint, v);
  const xMax = Math.max(data.budget_evaluations ?? 0, data.evaluations, 10);
  const ys = [...data.points.value];
  const layers = [];
  if (baseline?.available) {
    const keep = baseline.counts.map((c, i) => i).filter((i) => baseline.counts[i] <= xMax);
    const xs = keep.map((i) => baseline.counts[i]);
    const expected = keep.map((i) => baseline.expected[i]);
    ys.push(...expected, baseline.table_best);
    layers.push({ type: "hline", y: baseline.table_best, class: "ref-optimum" });
    layers.push({
      type: "line",
      xs,
      ys: expected,
      class: "line-random",
      tip: (i) => [`Random search, ${count(xs[i])} evaluations`, `expected best so far: ${fmt(expected[i])}`, `exact, over ${count(baseline.table_size)} table entries`],
    });
  }
  if (data.budget_evaluations) layers.push({ type: "vline", x: data.budget_evaluations, class: "ref-budget", label: "budget" });
  const steps = data.steps;
  if (steps.index.length) {
    const last = steps.value[steps.value.length - 1];
    layers.push({
      type: "line",
      step: true,
      xs: [...steps.index, data.evaluations],
      ys: [...steps.value, last],
      class: "line-best",
    });
  }
  const p = data.points;
  layers.push({
    type: "points",
    xs: p.index,
    ys: p.value,
    radius: p.index.length > 800 ? 2 : 3,
    className: (i) => (!p.feasible[i] ? "pt-infeasible" : p.source[i] === "initial" ? "pt-initial" : "pt-proposed"),
    tip: (i) => [
      `Evaluation #${count(p.index[i])}`,
      `${hint.label}: ${fmt(p.value[i])}${p.feasible[i] ? "" : " (breaks a constraint)"}`,
      `architecture ${p.architecture_id[i]} · proposed by ${p.source[i]}`,
    ],
  });
  const [yDomain, hidden] = progressRange(data, ys, hint.direction !== "lower");
  drawChart(container, {
    height: 320,
    xDomain: [0, xMax],
    yDomain,
    xLabel: "evaluations",
    yLabel: axisTitle(hint),
    xFormat: (v) => count(v),
    yFormat: (v) => num(v, 4),
    layers,
  });
  const entries = [
    { label: "initial (random) batch", kind: "dot", class: "pt-initial" },
    { label: "proposed by the strategy", kind: "dot", class: "pt-proposed" },
    { label: `best so far (${goalWord(hint)})`, kind: "line", class: "line-best" },
  ];
  if (p.feasible.some((f) => !f)) entries.push({ label: "breaks a constraint", kind: "dot", class: "pt-infeasible" });
  if (baseline?.available) {
    entries.push({ label: "random search (exact expectation)", kind: "dash", class: "line-random" });
    entries.push({ label: `table optimum ${fmt(baseline.table_best)}`, kind: "dash", class: "ref-optimum" });
  }
  legend($("legend-progress"), entries);
  const notes = [`${count(data.evaluations)} evaluations`];
  if (hidden) notes.push(`about ${count(hidden)} weaker results below the range`);
  if (data.thinned) notes.push(`showing ${count(p.index.length)} of ${count(data.drawable)} points (every new best and each stretch's extremes kept)`);
  if (baseline && !baseline.available && state.selected !== null) notes.push(`no random-search baseline: ${baseline.reason}`);
  $("progress-note").textContent = notes.join(" · ");
}

/** The vertical range of the progress chart: everything, or the better three quarters of the
 * results (quartiles over every result, from the server: the points sent over-represent extremes). */
function progressRange(data, ys, maximize) {
  const values = data.points.value;
  if (state.zoom === "all" || data.drawable < 8 || data.quartiles.length !== 3) return [extent(ys, 0.06), 0];
  const cut = maximize ? data.quartiles[0] : data.quartiles[2];
  const better = (v) => (maximize ? v >= cut : v <= cut);
  const hidden = Math.round(data.drawable * 0.25);
  return [extent(ys.filter(better), 0.08), values.some((v) => !better(v)) ? hidden : 0];
}

function setZoom(zoom) {
  state.zoom = zoom;
  for (const [id, value] of [["zoom-best", "best"], ["zoom-all", "all"]]) {
    const button = $(id);
    button.classList.toggle("active", zoom === value);
    button.setAttribute("aria-pressed", String(zoom === value));
  }
  render();
}

export function bind() {
  $("zoom-best").addEventListener("click", () => setZoom("best"));
  $("zoom-all").addEventListener("click", () => setZoom("all"));
}
