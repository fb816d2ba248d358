// Axes of the SVG chart kit: the plot margins, grid lines at round ticks, tick labels and the
// two axis titles. `drawChart` (charts.js) calls `drawAxes` before it draws any layer.

import { niceTicks } from "./chart-scale.js";
import { svg } from "./format.js";

/** Room around the plot area for tick labels and axis titles, in pixels. */
export const MARGIN = { top: 14, right: 18, bottom: 46, left: 62 };

/** Grid, ticks and titles of `opts` (see `drawChart`) into `root`, for scales `x` and `y`. */
export function drawAxes(root, x, y, opts, width, height) {
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
