// A small SVG chart kit: linear scales with nice ticks, axes with labels, points, lines and
// steps, reference lines, and tooltips that follow the nearest point. Colours come from CSS
// classes, so the light and dark themes style every chart.

import { el, replace, svg } from "./format.js";

const MARGIN = { top: 14, right: 18, bottom: 46, left: 62 };
const HOVER_RADIUS = 14;

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo, hi, count = 6) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const first = Math.ceil(lo / step - 1e-9) * step;
  const ticks = [];
  for (let t = first; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** [min, max] of the finite values, widened by `pad` of the range on both sides. */
export function extent(values, pad = 0.05) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  const margin = (hi - lo) * pad;
  return [lo - margin, hi + margin];
}

/** A linear map from `domain` to `range`. */
export function linear(domain, range) {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  const scale = (v) => r0 + (v - d0) * k;
  scale.domain = domain;
  scale.range = range;
  return scale;
}

/** Interpolate a colour between two hex colours (t in [0, 1]). */
export function mix(from, to, t) {
  const a = parseInt(from.slice(1), 16);
  const b = parseInt(to.slice(1), 16);
  const channel = (shift) => {
    const x = (a >> shift) & 255;
    const y = (b >> shift) & 255;
    return Math.round(x + (y - x) * t);
  };
  return `rgb(${channel(16)}, ${channel(8)}, ${channel(0)})`;
}

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
 * @param {Array<object>} opts.layers Drawn in order; see the `draw*` functions below.
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

function drawAxes(root, x, y, opts, width, height) {
  const xFormat = opts.xFormat ?? String;
  const yFormat = opts.yFormat ?? String;
  const grid = svg("g", { class: "grid" });
  const axes = svg("g", { class: "axis" });
  const bottom = height - MARGIN.bottom;
  const xTicks = niceTicks(...x.domain, Math.max(2, Math.floor((width - 100) / 90)));
  for (const t of xTicks) {
    const px = x(t);
    grid.append(svg("line", { x1: px, x2: px, y1: MARGIN.top, y2: bottom }));
    axes.append(svg("text", { x: px, y: bottom + 18, class: "tick", "text-anchor": "middle" }, xFormat(t)));
  }
  const yTicks = niceTicks(...y.domain, Math.max(2, Math.floor((height - 70) / 45)));
  for (const t of yTicks) {
    const py = y(t);
    grid.append(svg("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: py, y2: py }));
    axes.append(
      svg("text", { x: MARGIN.left - 8, y: py + 4, class: "tick", "text-anchor": "end" }, yFormat(t)),
    );
  }
  axes.append(
    svg("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: bottom, y2: bottom, class: "baseline" }),
    svg("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: bottom, class: "baseline" }),
    svg(
      "text",
      { x: (MARGIN.left + width - MARGIN.right) / 2, y: height - 8, class: "axis-title", "text-anchor": "middle" },
      opts.xLabel,
    ),
    svg(
      "text",
      {
        x: -(MARGIN.top + bottom) / 2,
        y: 16,
        transform: "rotate(-90)",
        class: "axis-title",
        "text-anchor": "middle",
      },
      opts.yLabel,
    ),
  );
  root.append(grid, axes);
}

// --- layers ----------------------------------------------------------------------------------

const LAYERS = {
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

// --- tooltips --------------------------------------------------------------------------------

let tooltipNode = null;

function tooltip() {
  tooltipNode ??= document.getElementById("tooltip");
  return tooltipNode;
}

/** Show the shared tooltip near (clientX, clientY) with a title and lines of text. */
export function showTooltip(clientX, clientY, lines) {
  const node = tooltip();
  if (!node) return;
  const [title, ...rest] = lines;
  replace(node, el("strong", {}, title), ...rest.map((line) => el("div", {}, line)));
  node.hidden = false;
  const { innerWidth, innerHeight } = window;
  const box = node.getBoundingClientRect();
  const left = clientX + 14 + box.width > innerWidth ? clientX - 14 - box.width : clientX + 14;
  const top = clientY + 14 + box.height > innerHeight ? clientY - 14 - box.height : clientY + 14;
  node.style.left = `${Math.max(4, left)}px`;
  node.style.top = `${Math.max(4, top)}px`;
}

export function hideTooltip() {
  const node = tooltip();
  if (node) node.hidden = true;
}

function attachTooltip(root, hoverables) {
  if (!hoverables.length) return;
  let active = null;
  let frame = 0;
  const ring = svg("circle", { r: 6, class: "hover-ring", visibility: "hidden" });
  root.append(ring);
  const clear = () => {
    active = null;
    ring.setAttribute("visibility", "hidden");
    hideTooltip();
  };
  root.addEventListener("pointermove", (event) => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      const box = root.getBoundingClientRect();
      const scale = root.viewBox.baseVal.width / box.width || 1;
      const mx = (event.clientX - box.left) * scale;
      const my = (event.clientY - box.top) * scale;
      let best = null;
      let bestDistance = HOVER_RADIUS * HOVER_RADIUS;
      for (const h of hoverables) {
        const d = (h.cx - mx) ** 2 + (h.cy - my) ** 2;
        if (d < bestDistance) {
          best = h;
          bestDistance = d;
        }
      }
      if (!best) {
        clear();
        return;
      }
      if (best !== active) {
        active = best;
        ring.setAttribute("cx", best.cx);
        ring.setAttribute("cy", best.cy);
        ring.setAttribute("visibility", "visible");
      }
      showTooltip(event.clientX, event.clientY, best.tip());
    });
  });
  root.addEventListener("pointerleave", () => {
    cancelAnimationFrame(frame);
    clear();
  });
}

// --- legends ---------------------------------------------------------------------------------

/**
 * Fill `container` with legend entries.
 * @param {Array<{label: string, kind: "dot"|"ring"|"line"|"dash"|"dots", class: string}>} items
 */
export function legend(container, items) {
  replace(
    container,
    ...items.map((item) => {
      const swatch = svg("svg", { width: 22, height: 12, class: "swatch", "aria-hidden": "true" });
      if (item.kind === "line" || item.kind === "dash") {
        swatch.append(svg("line", { x1: 1, x2: 21, y1: 6, y2: 6, class: `line ${item.class}` }));
      } else {
        swatch.append(svg("circle", { cx: 11, cy: 6, r: 4, class: `pt ${item.class}` }));
      }
      return el("span", { class: "legend-item" }, swatch, item.label);
    }),
  );
}
