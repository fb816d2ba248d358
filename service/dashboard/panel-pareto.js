// The Pareto front of a multi-objective search: every measured architecture against the first
// two objectives with the front drawn as a step line through its points, and the hypervolume of
// the front after each result. Hidden for single-objective searches (the trade-off chart and
// the best so far say all there is). The server computes the front and the curve
// (/api/v1/searches/{id}/pareto); the axes follow its hints.

import { drawChart, extent, legend } from "./charts.js";
import { axisTitle, hintOf, metricValue, num, replace } from "./format.js";
import { $, loading, panelError, state } from "./store.js";

export const uses = ["pareto"];

export function render() {
  const panel = $("panel-pareto");
  const chart = $("chart-pareto");
  const answer = state.panels.pareto;
  if (panelError("pareto", chart)) {
    panel.hidden = false;
    return;
  }
  if (!answer) {
    loading(chart);
    return;
  }
  const data = answer.pareto;
  panel.hidden = !data.multi_objective;
  if (!data.multi_objective) return;
  const [primary, second] = data.objectives;
  const yHint = hintOf(answer.hints, primary.metric);
  const xHint = hintOf(answer.hints, second.metric);
  $("pareto-title").textContent = `Pareto front: ${yHint.short} vs ${xHint.short}`;
  const empty = $("pareto-empty");
  empty.hidden = data.front.length > 0;
  empty.textContent = data.note ?? "";
  if (!data.front.length) {
    replace(chart);
    replace($("chart-hypervolume"));
    replace($("legend-pareto"));
    $("pareto-note").textContent = "";
    return;
  }
  drawFront(chart, data, xHint, yHint);
  drawHypervolume($("chart-hypervolume"), data);
  $("pareto-note").textContent = note(data);
}

function drawFront(chart, data, xHint, yHint) {
  const measured = data.points.filter((p) => p.values[0] !== null && p.values[1] !== null);
  const front = [...data.front].sort((a, b) => a.values[1] - b.values[1]);
  const tip = (points, title) => (i) => [
    title ?? `Architecture ${points[i].architecture_id}`,
    ...(title ? [`Architecture ${points[i].architecture_id}`] : []),
    ...data.objectives.map((o, j) => `${o.metric} (${o.goal}): ${num(points[i].values[j], 4)}`),
    `Result #${points[i].evaluation}`,
  ];
  const xs = (points) => points.map((p) => p.values[1]);
  const ys = (points) => points.map((p) => p.values[0]);
  const layers = [
    {
      type: "points",
      xs: xs(measured),
      ys: ys(measured),
      radius: measured.length > 800 ? 2 : 2.6,
      className: (i) => (measured[i].feasible ? "pt-pareto" : "pt-infeasible"),
      tip: tip(measured),
    },
    { type: "points", xs: xs(front), ys: ys(front), radius: 4.2, className: () => "pt-pareto-front", tip: tip(front, "Pareto front") },
  ];
  if (data.objectives.length === 2) {
    layers.splice(1, 0, { type: "line", step: true, xs: xs(front), ys: ys(front), class: "line-pareto" });
  }
  drawChart(chart, {
    height: 300,
    xDomain: extent(xs(measured), 0.05),
    yDomain: extent(ys(measured), 0.06),
    xLabel: axisTitle(xHint),
    yLabel: axisTitle(yHint),
    xFormat: (v) => metricValue(xHint, v),
    yFormat: (v) => metricValue(yHint, v),
    layers,
    label: `Pareto front of ${yHint.label} against ${xHint.label}`,
  });
  const third = data.objectives[2];
  legend($("legend-pareto"), [
    { label: "measured architectures", kind: "dot", class: "pt-pareto" },
    {
      label: `Pareto front (${data.front.length})${third ? `, also over ${third.metric}` : ""}: nothing else is as good in every objective`,
      kind: "dot",
      class: "pt-pareto-front",
    },
  ]);
}

function drawHypervolume(chart, data) {
  const ys = data.hypervolume;
  const xs = ys.map((_, i) => i + 1);
  const ceiling = 1.1 ** data.objectives.length;
  drawChart(chart, {
    height: 200,
    xDomain: [1, Math.max(2, xs.length)],
    yDomain: [0, Math.max(ceiling, ...ys)],
    xLabel: "evaluations",
    yLabel: "hypervolume",
    yFormat: (v) => num(v, 3),
    layers: [
      { type: "hline", y: ceiling, class: "ref-hv-ceiling", label: `most a front can reach ${num(ceiling, 3)}` },
      {
        type: "line",
        step: true,
        xs,
        ys,
        class: "line-hypervolume",
        tip: (i) => [`After ${xs[i]} results`, `hypervolume ${num(ys[i], 4)}`],
      },
    ],
  });
}

function note(data) {
  const last = data.hypervolume[data.hypervolume.length - 1] ?? 0;
  const missing = data.points.filter((p) => p.values.some((v) => v === null)).length;
  const lacking = missing ? ` ${missing} results lack an objective's value and are not drawn.` : "";
  const rule = data.reference ? ` Reference: ${data.reference.rule}.` : "";
  return `${data.front.length} of ${data.points.length} results on the front; hypervolume ${num(last, 4)}.${lacking}${rule} Export any front point with /api/v1/searches/${data.search_id}/architectures/<id>/export.`;
}
