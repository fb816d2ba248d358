// Formatting and small DOM helpers shared by the dashboard's modules.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an HTML element: el("td", {class: "num"}, "12", child...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

/** Create an SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/** A number with a precision that suits its size (never more than 4 significant digits). */
export function num(value, digits = 4) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(2);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  return Number(value.toPrecision(digits)).toString();
}

/** An integer with thousands separators. */
export function count(value) {
  return Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "–";
}

/** A value with an SI suffix (k, M, G), for parameter counts and FLOPs. */
export function si(value) {
  if (!Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  for (const [limit, suffix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (abs >= limit) return `${Number((value / limit).toPrecision(3))}${suffix}`;
  }
  return num(value, 3);
}

/** Seconds as a short duration: "4 s", "12 min", "3.5 h". */
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return "–";
  const s = Math.abs(seconds);
  if (s < 1) return "<1 s";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

/** An ISO time as "HH:MM:SS" (today) or a short date. */
export function clock(iso) {
  if (!iso) return "–";
  const when = new Date(iso);
  const today = new Date();
  if (when.toDateString() === today.toDateString()) {
    return when.toLocaleTimeString("en-GB", { hour12: false });
  }
  return when.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

/** A percentage of a fraction in [0, 1]. */
export function percent(fraction) {
  return Number.isFinite(fraction) ? `${Math.round(fraction * 100)}%` : "–";
}

// --- metrics, as the server's hints say (MetricHintOut: label, short, direction, unit) ----------

/** The hint the server sent for `name` (a response's `hints`); the bare name if it sent none. */
export function hintOf(hints, name) {
  const text = String(name ?? "");
  return hints?.[name] ?? { name: text, label: text, short: text, direction: null, unit: "number", cost: false };
}

const UNIT_SUFFIX = { percent: " (%)", millions: " (millions)", seconds: " (s)" };

/** What an axis title adds for the unit: " (%)", " (millions)", " (s)" or nothing. */
export function unitSuffix(hint) {
  return UNIT_SUFFIX[hint.unit] ?? "";
}

/** An axis title: the metric's label (or its short name, for costs) with its unit. */
export function axisTitle(hint, { short = false } = {}) {
  return `${short ? hint.short : hint.label}${unitSuffix(hint)}`;
}

/** A value of a metric as its unit reads: "93.12%", "1.2M" for a count, "12 s"... */
export function metricValue(hint, value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  if (hint.unit === "percent") return `${num(value, 4)}%`;
  if (hint.unit === "millions") return num(value, 3);
  if (hint.unit === "count") return si(value);
  if (hint.unit === "seconds") return duration(value);
  return num(value, 4);
}

/** "max" or "min" for a metric whose better direction is known, else "". */
export function goalWord(hint) {
  if (hint.direction === "higher") return "max";
  return hint.direction === "lower" ? "min" : "";
}
