// The best architectures, best first, each with its cells drawn as DAGs.

import { drawCell } from "./dag.js";
import { el, hintOf, metricValue, num, replace } from "./format.js";
import { $, loading, panelError, state } from "./store.js";

export const uses = ["top"];

export function render() {
  const container = $("top");
  const data = state.panels.top;
  if (panelError("top", container)) return;
  if (!data) {
    loading(container);
    $("top-empty").hidden = true;
    return;
  }
  $("top-empty").hidden = data.items.length > 0;
  const hint = hintOf(data.hints, data.objective);
  const fmt = (v) => metricValue(hint, v);
  const cards = data.items.map((a) => {
    const prediction = a.predicted_mean === null
      ? `proposed by ${a.source}`
      : `proposed by ${a.source} (v${a.surrogate_version}): predicted ${fmt(a.predicted_mean)}${a.predicted_std === null ? "" : ` ± ${num(a.predicted_std, 3)}`}`;
    const cells = a.graphs.length
      ? a.graphs.map((g) => el("figure", { class: "dag-figure" }, drawCell(g), a.graphs.length > 1 ? el("figcaption", {}, `${g.name} cell`) : null))
      : [el("p", { class: "muted small" }, "This space has no cell drawing.")];
    const extras = Object.entries(a.metrics)
      .filter(([name, value]) => name !== data.objective && Number.isFinite(value))
      .slice(0, 4)
      .map(([name, value]) => [hintOf(data.hints, name), value])
      .map(([h, value]) => [el("dt", {}, h.label), el("dd", {}, metricValue(h, value))]);
    return el(
      "div",
      { class: "arch-card", dataset: { architectureId: String(a.id), rank: String(a.rank) } },
      el("div", { class: "arch-head" },
        el("span", { class: "rank" }, `#${a.rank}`),
        el("span", { class: "arch-value" }, fmt(a.objective)),
        el("span", { class: "muted small" }, `architecture ${a.id}`)),
      el("div", { class: "small muted" }, prediction),
      el("div", { class: "dag-wrap" }, ...cells),
      extras.length ? el("dl", { class: "arch-metrics" }, ...extras.flat()) : null,
      el("code", { class: "arch-key", title: a.key }, a.key),
    );
  });
  replace(container, ...cards);
  $("top-note").textContent = data.items.length ? `best ${data.items.length} by ${hint.label}` : "";
}
