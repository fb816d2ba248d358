// The surrogate: predicted against measured for what each version proposed (coloured by
// version), and Kendall's tau per version (click one to highlight its points; a moving average
// joins in for long searches).

import { drawChart, extent, hideTooltip, legend, mix } from "./charts.js";
import { axisTitle, count, duration, el, hintOf, metricValue, num, replace, unitSuffix } from "./format.js";
import { $, loading, panelError, state } from "./store.js";

const VERSION_LIGHT = "#c7d2fe";
const VERSION_DARK = "#3730a3";

export const uses = ["surrogate"];

export function render() {
  const chart = $("chart-surrogate");
  const tauChart = $("chart-tau");
  const empty = $("surrogate-empty");
  const data = state.panels.surrogate;
  if (panelError("surrogate", chart)) return;
  if (!data) {
    loading(chart);
    replace(tauChart);
    empty.hidden = true;
    return;
  }
  if (!data.n) {
    replace(chart);
    replace(tauChart, el("p", { class: "muted small" }, "No surrogate version has measured predictions yet."));
    replace($("legend-surrogate"));
    replace($("legend-tau"));
    $("tau-note").textContent = "";
    empty.hidden = false;
    empty.textContent = data.versions.length
      ? `${data.versions.length} surrogate version(s) fitted; none of the architectures they proposed has been measured yet.`
      : "No surrogate has been fitted yet: the first batches are chosen at random.";
    $("surrogate-note").textContent = "";
    return;
  }
  empty.hidden = true;
  const p = data.points;
  const versions = data.versions.map((v) => v.version);
  const vMin = Math.min(...versions, ...p.version);
  const vMax = Math.max(...versions, ...p.version);
  const shade = (v) => mix(VERSION_LIGHT, VERSION_DARK, vMax === vMin ? 1 : (v - vMin) / (vMax - vMin));
  const hint = hintOf(data.hints, data.objective);
  const fmt = (v) => metricValue(hint, v);
  const domain = extent([...p.predicted, ...p.measured], 0.06);
  const chosen = state.tauVersion;
  drawChart(chart, {
    height: 280,
    xDomain: domain,
    yDomain: domain,
    xLabel: `predicted ${axisTitle(hint)}`,
    yLabel: `measured${unitSuffix(hint)}`,
    xFormat: (v) => num(v, 4),
    yFormat: (v) => num(v, 4),
    layers: [
      { type: "diagonal", class: "ref-diagonal" },
      {
        type: "points",
        xs: p.predicted,
        ys: p.measured,
        fill: (i) => shade(p.version[i]),
        className: (i) => `pt-version ${chosen !== null && p.version[i] !== chosen ? "dim" : ""}`,
        tip: (i) => [
          `Surrogate v${p.version[i]} · architecture ${p.architecture_id[i]}`,
          `predicted ${fmt(p.predicted[i])}${p.std[i] === null ? "" : ` ± ${num(p.std[i], 3)}`}`,
          `measured ${fmt(p.measured[i])}`,
        ],
      },
    ],
  });
  const withTau = data.versions.filter((v) => v.tau !== null);
  if (withTau.length) {
    const picked = drawChart(tauChart, {
      height: 250,
      xDomain: [Math.min(...withTau.map((v) => v.version)) - 0.5, Math.max(...withTau.map((v) => v.version)) + 0.5],
      yDomain: [-1, 1],
      xLabel: "surrogate version",
      yLabel: "Kendall τ",
      xFormat: (v) => (Number.isInteger(v) ? `v${v}` : ""),
      yFormat: (v) => num(v, 2),
      layers: [
        { type: "hline", y: 0, class: "ref-zero" },
        {
          type: "line",
          xs: withTau.map((v) => v.version),
          ys: withTau.map((v) => v.tau),
          class: withTau.length > 60 ? "line-tau thin" : "line-tau",
        },
        ...(withTau.length > 60 ? [rollingTau(withTau)] : []),
        {
          type: "points",
          xs: withTau.map((v) => v.version),
          ys: withTau.map((v) => v.tau),
          radius: withTau.length > 60 ? 1.5 : 3,
          className: (i) => `pt-tau ${withTau[i].version === chosen ? "chosen" : ""}`,
          tip: (i) => {
            const v = withTau[i];
            return [
              `Surrogate v${v.version}: τ = ${num(v.tau, 3)}`,
              `over ${v.n} measured architectures it proposed`,
              `fitted on ${count(v.n_observations)} results${v.fit_seconds === null ? "" : ` in ${duration(v.fit_seconds)}`}`,
              "click to highlight its points",
            ];
          },
        },
      ],
    });
    picked.svg.addEventListener("click", (event) => {
      const box = picked.svg.getBoundingClientRect();
      const x = (event.clientX - box.left) * (picked.svg.viewBox.baseVal.width / box.width);
      const nearest = withTau.reduce((a, b) => (Math.abs(picked.x(a.version) - x) < Math.abs(picked.x(b.version) - x) ? a : b));
      state.tauVersion = state.tauVersion === nearest.version ? null : nearest.version;
      hideTooltip();
      render();
    });
  } else {
    replace(tauChart, el("p", { class: "muted small" }, "Kendall τ appears once a version has 3 measured predictions."));
  }
  const latest = withTau[withTau.length - 1];
  const notes = [`τ = ${num(data.tau, 3)} over ${count(data.n)} predictions`];
  if (chosen !== null) notes.push(`highlighting v${chosen}`);
  if (data.thinned) notes.push(`${count(p.predicted.length)} points shown`);
  $("surrogate-note").textContent = notes.join(" · ");
  $("tau-note").textContent = latest
    ? `${data.versions.length} versions · latest v${latest.version}: τ = ${num(latest.tau, 3)}`
    : `${data.versions.length} versions`;
  if (withTau.length > 60) {
    legend($("legend-tau"), [
      { label: "τ of each version", kind: "line", class: "line-tau" },
      { label: `moving average over ${Math.max(5, Math.round(withTau.length / 25))} versions`, kind: "line", class: "line-tau-mean" },
    ]);
  } else {
    replace($("legend-tau"));
  }
  legend($("legend-surrogate"), [
    { label: `surrogate version (light v${vMin} → dark v${vMax})`, kind: "dot", class: "pt-version-key" },
    { label: "perfect prediction (y = x)", kind: "dash", class: "ref-diagonal" },
  ]);
}

/** A moving average of tau over versions (for long searches, where single versions are noisy). */
function rollingTau(versions) {
  const window = Math.max(5, Math.round(versions.length / 25));
  const xs = [];
  const ys = [];
  let sum = 0;
  for (let i = 0; i < versions.length; i += 1) {
    sum += versions[i].tau;
    if (i >= window) sum -= versions[i - window].tau;
    if (i >= window - 1) {
      xs.push(versions[i - Math.floor(window / 2)].version);
      ys.push(sum / window);
    }
  }
  return { type: "line", xs, ys, class: "line-tau-mean" };
}
