// Legends of the SVG chart kit: a swatch (dot, ring or line, styled by the same CSS classes as
// the chart's marks) and a label per entry.

import { el, replace, svg } from "./format.js";

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
