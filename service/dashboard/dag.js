// Cells drawn as DAGs in SVG. The server lays a cell out (layers, order, routes through dummy
// points, in layer units; see service/dashboard/cells.py); this module scales the layout,
// draws curved edges with arrowheads, op labels on edges or op boxes on nodes, and colours ops
// consistently across every cell on the page.

import { svg } from "./format.js";

const PAD = 26;
const NODE_R = 13;
const CHAR_W = 6.4;

const OP_CLASSES = [
  [/none|zero/, "op-none"],
  [/skip|identity/, "op-skip"],
  [/sep/, "op-sep"],
  [/dil/, "op-dil"],
  [/pool|max|avg/, "op-pool"],
  [/1x1|1×1/, "op-conv1"],
  [/conv|3x3|5x5/, "op-conv3"],
];

/** The CSS class that colours an op (by family: convolutions, pools, skip, none...). */
export function opClass(op) {
  const name = String(op ?? "").toLowerCase();
  for (const [pattern, cls] of OP_CLASSES) if (pattern.test(name)) return cls;
  return "op-other";
}

function nodeBox(node, opsOnNodes) {
  if (node.kind === "state") return { w: NODE_R * 2, h: NODE_R * 2, round: true };
  const w = Math.max(30, node.label.length * CHAR_W + 16);
  return { w, h: opsOnNodes || node.kind !== "op" ? 24 : 24, round: false };
}

/**
 * Draw one laid-out cell.
 * @param {object} graph A CellGraphOut from /api/v1/dashboard/searches/{id}/top.
 * @returns {SVGSVGElement}
 */
export function drawCell(graph) {
  const opsOnNodes = graph.ops_on === "nodes";
  const longest = Math.max(...graph.nodes.map((n) => n.label.length), 3);
  const dx = opsOnNodes ? Math.max(86, longest * CHAR_W + 40) : 104;
  const dy = opsOnNodes ? 46 : 40;
  const width = Math.max(1, graph.layers - 1) * dx + 2 * PAD + 30;
  const height = Math.max(2 * graph.span * dy, 0) + 2 * PAD;
  const px = (x) => PAD + 15 + x * dx;
  const py = (y) => height / 2 + y * dy;
  const root = svg("svg", {
    class: `dag dag-${graph.ops_on}`,
    viewBox: `0 0 ${width.toFixed(0)} ${height.toFixed(0)}`,
    width: width.toFixed(0),
    height: height.toFixed(0),
    role: "img",
    "aria-label": `${graph.name} cell: ${graph.nodes.length} nodes, ${graph.edges.length} edges`,
    dataset: { nodes: String(graph.nodes.length), edges: String(graph.edges.length) },
  });
  const markerId = `arrow-${Math.random().toString(36).slice(2)}`;
  root.append(
    svg(
      "defs",
      {},
      svg(
        "marker",
        {
          id: markerId,
          viewBox: "0 0 10 10",
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: "auto-start-reverse",
        },
        svg("path", { d: "M0,0 L10,5 L0,10 z", class: "dag-arrow" }),
      ),
    ),
  );
  const boxes = new Map(graph.nodes.map((n) => [n.id, { ...nodeBox(n, opsOnNodes), x: px(n.x), y: py(n.y) }]));
  const edgeLayer = svg("g", { class: "dag-edges" });
  const labelLayer = svg("g", { class: "dag-labels" });
  // Zero edges first, so that real ones are drawn over them.
  const ordered = [...graph.edges].sort((a, b) => (a.kind === "zero" ? 0 : 1) - (b.kind === "zero" ? 0 : 1));
  for (const edge of ordered) {
    const points = edge.points.map(([x, y]) => [px(x), py(y)]);
    trim(points, boxes.get(edge.source), boxes.get(edge.target));
    const cls = edge.kind === "op" ? opClass(edge.op) : edge.kind;
    const path = svg(
      "path",
      {
        d: smoothPath(points),
        class: `dag-edge ${edge.kind} ${cls}`,
        "marker-end": edge.kind === "zero" ? undefined : `url(#${markerId})`,
      },
      svg("title", {}, edge.op ? `${edge.op}: node ${edge.source} → node ${edge.target}` : `${edge.source} → ${edge.target}`),
    );
    edgeLayer.append(path);
    if (edge.label && !opsOnNodes) {
      labelLayer.append(edgeLabel(edge, px(edge.label_at[0]), py(edge.label_at[1]), cls));
    }
  }
  const nodeLayer = svg("g", { class: "dag-nodes" });
  for (const node of graph.nodes) nodeLayer.append(drawNode(node, boxes.get(node.id)));
  root.append(edgeLayer, nodeLayer, labelLayer);
  return root;
}

function drawNode(node, box) {
  const cls = node.kind === "op" ? opClass(node.title) : "";
  const group = svg("g", { class: `dag-node ${node.kind} ${cls}`, transform: `translate(${box.x.toFixed(1)},${box.y.toFixed(1)})` });
  group.append(svg("title", {}, node.title));
  if (box.round) {
    group.append(svg("circle", { r: NODE_R }));
  } else {
    group.append(svg("rect", { x: -box.w / 2, y: -box.h / 2, width: box.w, height: box.h, rx: node.kind === "op" ? 5 : 12 }));
  }
  group.append(svg("text", { y: 4, "text-anchor": "middle" }, node.label));
  return group;
}

function edgeLabel(edge, x, y, cls) {
  const w = edge.label.length * 5.6 + 10;
  return svg(
    "g",
    { class: `dag-label ${edge.kind} ${cls}`, transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` },
    svg("rect", { x: -w / 2, y: -8, width: w, height: 16, rx: 8 }),
    svg("text", { y: 3.5, "text-anchor": "middle" }, edge.label),
  );
}

/** Shorten a polyline so that it starts and ends at the node outlines, not their centres. */
function trim(points, from, to) {
  if (points.length < 2) return;
  points[0] = exitPoint(points[0], points[1], from);
  const n = points.length;
  points[n - 1] = exitPoint(points[n - 1], points[n - 2], to, 3);
}

function exitPoint(center, toward, box, gap = 1) {
  const [cx, cy] = center;
  const vx = toward[0] - cx;
  const vy = toward[1] - cy;
  const length = Math.hypot(vx, vy) || 1;
  let t;
  if (box.round) {
    t = (NODE_R + gap) / length;
  } else {
    const tx = vx === 0 ? Infinity : (box.w / 2 + gap) / Math.abs(vx);
    const ty = vy === 0 ? Infinity : (box.h / 2 + gap) / Math.abs(vy);
    t = Math.min(tx, ty);
  }
  t = Math.min(t, 0.45);
  return [cx + vx * t, cy + vy * t];
}

/** A smooth path through the points (Catmull-Rom turned into cubic Béziers). */
function smoothPath(points) {
  const fmt = ([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`;
  if (points.length === 2) return `M${fmt(points[0])}L${fmt(points[1])}`;
  let d = `M${fmt(points[0])}`;
  for (let i = 0; i < points.length - 1; i += 1) {
    const p0 = points[Math.max(0, i - 1)];
    const p1 = points[i];
    const p2 = points[i + 1];
    const p3 = points[Math.min(points.length - 1, i + 2)];
    const c1 = [p1[0] + (p2[0] - p0[0]) / 6, p1[1] + (p2[1] - p0[1]) / 6];
    const c2 = [p2[0] - (p3[0] - p1[0]) / 6, p2[1] - (p3[1] - p1[1]) / 6];
    d += `C${fmt(c1)} ${fmt(c2)} ${fmt(p2)}`;
  }
  return d;
}
