// Tooltips of the SVG chart kit: one shared node (#tooltip) placed beside the pointer, and a
// hover ring on the nearest point within a few pixels, looked up once per animation frame.

import { el, replace, svg } from "./format.js";

/** Pixels within which the nearest point takes the hover. */
const HOVER_RADIUS = 14;

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

/** Hide the shared tooltip (a panel that redraws calls it, so no tip outlives its point). */
export function hideTooltip() {
  const node = tooltip();
  if (node) node.hidden = true;
}

/** Follow the pointer over `root` and show the tip of the nearest of `hoverables`, if close. */
export function attachTooltip(root, hoverables) {
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
