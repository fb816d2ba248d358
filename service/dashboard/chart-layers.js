// Layers of the SVG chart kit: what `drawChart` (charts.js) draws inside the plot, one function
// per `layer.type`. Each takes the plot group, its layer, the scales `x` and `y`, and a list to
// which it adds the points a tooltip may follow (`{cx, cy, tip, dot?}`).

import { svg } from "./format.js";

/** Draw functions by layer type: points, line (or steps), hline, vline, diagonal. */
export const LAYERS = {
  /** {type: "points", xs, ys, className(i), radius, tip(i) -> [title, lines...], fill(i)} */
  points(plot, layer, x, y, hoverables) {
    const group = svg("g", { class: `points ${layer.class ?? ""}` });
    const radius = layer.radius ?? 3;
    for (let i = 0; i < layer.xs.length; i += 1) {
      const cx = x(layer.xs[i]);
      const cy = y(layer.ys[i]);
      if (!Number.isFinite(cx) || !Number.isFinite(cy)) continue;
      const dot = svg("circle", {
        cx: cx.toFixed(1),
        cy: cy.toFixed(1),
        r: layer.radiusOf ? layer.radiusOf(i) : radius,
        class: `pt ${layer.className ? layer.className(i) : ""}`,
        fill: layer.fill ? layer.fill(i) : undefined,
      });
      group.append(dot);
      if (layer.tip) hoverables.push({ cx, cy, tip: () => layer.tip(i), dot });
    }
    plot.append(group);
  },

  /** {type: "line", xs, ys, class, step: bool, tip(i)} */
  line(plot, layer, x, y, hoverables) {
    const parts = [];
    for (let i = 0; i < layer.xs.length; i += 1) {
      const px = x(layer.xs[i]).toFixed(1);
      const py = y(layer.ys[i]).toFixed(1);
      if (i === 0) parts.push(`M${px},${py}`);
      else if (layer.step) parts.push(`H${px}`, `V${py}`);
      else parts.push(`L${px},${py}`);
    }
    if (parts.length) plot.append(svg("path", { d: parts.join(""), class: `line ${layer.class ?? ""}` }));
    if (layer.tip) {
      for (let i = 0; i < layer.xs.length; i += 1) {
        hoverables.push({ cx: x(layer.xs[i]), cy: y(layer.ys[i]), tip: () => layer.tip(i) });
      }
    }
  },

  /** {type: "hline", y, class, label} */
  hline(plot, layer, x, y) {
    const py = y(layer.y);
    plot.append(svg("line", { x1: x.range[0], x2: x.range[1], y1: py, y2: py, class: `ref ${layer.class ?? ""}` }));
    if (layer.label) {
      plot.append(svg("text", { x: x.range[1] - 4, y: py - 5, class: "ref-label", "text-anchor": "end" }, layer.label));
    }
  },

  /** {type: "vline", x, class, label} */
  vline(plot, layer, x, y) {
    const px = x(layer.x);
    plot.append(svg("line", { x1: px, x2: px, y1: y.range[0], y2: y.range[1], class: `ref ${layer.class ?? ""}` }));
    if (layer.label) {
      plot.append(svg("text", { x: px - 5, y: y.range[1] + 12, class: "ref-label", "text-anchor": "end" }, layer.label));
    }
  },

  /** {type: "diagonal", class}: the line y = x across the plot. */
  diagonal(plot, layer, x, y) {
    const lo = Math.max(x.domain[0], y.domain[0]);
    const hi = Math.min(x.domain[1], y.domain[1]);
    if (hi <= lo) return;
    plot.append(svg("line", { x1: x(lo), y1: y(lo), x2: x(hi), y2: y(hi), class: `ref ${layer.class ?? ""}` }));
  },
};
