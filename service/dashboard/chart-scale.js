// Scales of the SVG chart kit: round tick values, padded extents, linear maps, colour ramps.
// Pure functions of numbers, no DOM, so every chart and panel computes its domains the same way.

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
