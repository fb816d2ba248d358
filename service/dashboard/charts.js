// A small SVG chart kit: linear scales with nice ticks, axes with labels, points, lines and
// steps, reference lines, and tooltips that follow the nearest point. Colours come from CSS
// classes, so the light and dark themes style every chart.
//
// The panels import everything from here; the pieces live in their own modules:
//   chart-scale.js    niceTicks, extent, linear, mix
//   chart-axes.js     margins, grid, ticks, axis titles
//   chart-layers.js   points, line, hline, vline, diagonal
//   chart-tooltip.js  the shared tooltip and the hover ring
//   chart-legend.js   legend entries

import { drawAxes, MARGIN } from "./chart-axes.js";
import { LAYERS } from "./chart-layers.js";
import { linear } from "./chart-scale.js";
import { attachTooltip } from "./chart-tooltip.js";
import { replace, svg } from "./format.js";

export { legend } from "./chart-legend.js";
export { extent, linear, mix, niceTicks } from "./chart-scale.js";
export { hideTooltip, showTooltip } from "./chart-tooltip.js";

/**
 * Draw a chart into `container` (replacing what it held).
 *
 * @param {HTMLElement} container
 * @param {object} opts
 * @param {number} [opts.height] Pixel height (the width follows the container).
 * @param {[number, number]} opts.xDomain
 * @param {[number, number]} opts.yDomain
 * @param {string} opts.xLabel Axis title, with its unit.
 * @param {string} opts.yLabel
 * @param {(v: number) => string} [opts.xFormat]
 * @param {(v: number) => string} [opts.yFormat]
 * @param {Array<object>} opts.layers Drawn in order; see `LAYERS` in chart-layers.js.
 * @param {string} [opts.label] Accessible name of the chart.
 * @returns {{svg: SVGSVGElement, x: Function, y: Function}}
 */
export function drawChart(container, opts) {
  const width = Math.max(280, Math.floor(container.clientWidth || 600));
  const height = opts.height ?? 300;
  const x = linear(opts.xDomain, [MARGIN.left, width - MARGIN.right]);
  const y = linear(opts.yDomain, [height - MARGIN.bottom, MARGIN.top]);
  const root = svg("svg", {
    class: "plot",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": opts.label ?? `${opts.yLabel} against ${opts.xLabel}`,
  });
  const clipId = `clip-${Math.random().toString(36).slice(2)}`;
  root.append(
    svg(
      "defs",
      {},
      svg(
        "clipPath",
        { id: clipId },
        svg("rect", {
          x: MARGIN.left,
          y: MARGIN.top - 4,
          width: width - MARGIN.left - MARGIN.right + 4,
          height: height - MARGIN.top - MARGIN.bottom + 8,
        }),
      ),
    ),
  );
  drawAxes(root, x, y, opts, width, height);
  const plot = svg("g", { "clip-path": `url(#${clipId})` });
  root.append(plot);
  const hoverables = [];
  for (const layer of opts.layers) {
    const draw = LAYERS[layer.type];
    if (draw) draw(plot, layer, x, y, hoverables);
  }
  replace(container, root);
  attachTooltip(root, hoverables);
  return { svg: root, x, y };
}
