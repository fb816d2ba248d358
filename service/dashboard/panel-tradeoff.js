// The objective against a cost the results carry (params, FLOPs...), with the Pareto front of
// the feasible results; a selector switches between costs.

import { drawChart, extent, legend } from "./charts.js";
import { axisTitle, el, hintOf, metricValue, num, replace } from "./format.js";
import { $, handleBackgroundError, loading, loadPanels, panelError, state } from "./store.js";

export const uses = ["tradeoff"];

export function render() {
  const chart = $("chart-tradeoff");
  const empty = $("tradeoff-empty");
  const data = state.panels.tradeoff;
  if (panelError("tradeoff", chart)) return;
  if (!data) {
    loading(chart);
    empty.hidden = true;
    return;
  }
  const select = $("cost-metric");
  $("cost-label").hidden = data.metrics.length < 2;
  const costTitle = (m) => axisTitle(hintOf(data.hints, m), { short: true });
  replace(select, ...data.metrics.map((m) => el("option", { value: m, selected: m === data.cost_metric }, costTitle(m))));
  if (!data.n) {
    replace(chart);
    replace($("legend-tradeoff"));
    empty.hidden = false;
    empty.textContent = data.metrics.length
      ? "No measured result carries this cost yet."
      : "No result carries a cost metric (params or FLOPs). Evaluators that report one, e.g. a table search listing params_M_cifar10 in report_columns, fill this chart.";
    $("tradeoff-title").textContent = "Objective vs cost";
    return;
  }
  empty.hidden = true;
  const hint = hintOf(data.hints, data.objective);
  const cost = hintOf(data.hints, data.cost_metric);
  const fmt = (v) => metricValue(hint, v);
  const costFmt = (v) => metricValue(cost, v);
  $("tradeoff-title").textContent = `Objective vs ${cost.short}`;
  const p = data.points;
  const f = data.front;
  const tip = (src) => (i) => [
    `Architecture ${src.architecture_id[i]}`,
    `${hint.label}: ${fmt(src.value[i])}`,
    `${cost.label}: ${costFmt(src.cost[i])}`,
  ];
  drawChart(chart, {
    height: 280,
    xDomain: extent(p.cost, 0.04),
    yDomain: extent(p.value, 0.06),
    xLabel: costTitle(data.cost_metric),
    yLabel: axisTitle(hint),
    xFormat: costFmt,
    yFormat: (v) => num(v, 4),
    layers: [
      {
        type: "points",
        xs: p.cost,
        ys: p.value,
        radius: p.cost.length > 800 ? 2 : 2.6,
        className: (i) => (p.feasible[i] ? "pt-tradeoff" : "pt-infeasible"),
        tip: tip(p),
      },
      { type: "line", step: true, xs: f.cost, ys: f.value, class: "line-front" },
      { type: "points", xs: f.cost, ys: f.value, radius: 4, className: () => "pt-front", tip: (i) => ["Pareto front", ...tip(f)(i)] },
    ],
  });
  legend($("legend-tradeoff"), [
    { label: "measured architectures", kind: "dot", class: "pt-tradeoff" },
    { label: `Pareto front (${f.cost.length}): nothing is both cheaper and better`, kind: "dot", class: "pt-front" },
  ]);
}

export function bind() {
  $("cost-metric").addEventListener("change", (event) => {
    state.costMetric = event.target.value;
    loadPanels(["tradeoff"]).catch(handleBackgroundError);
  });
}
