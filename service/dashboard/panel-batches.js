// Batches in flight: leased ones with their worker, last reported progress and lease clock, then
// the queued ones.

import { duration, el, num, percent, replace } from "./format.js";
import { $, state } from "./store.js";

export const uses = ["batches"];

export function render() {
  const body = $("batches").tBodies[0];
  const data = state.panels.batches;
  if (!data) {
    replace(body);
    $("batches-empty").hidden = true;
    return;
  }
  const rows = data.items.map((b) => {
    let lease = el("span", { class: "muted" }, "waiting for a worker");
    if (b.state === "leased" && b.expires_in !== null) {
      lease = b.expires_in > 0
        ? el("span", {}, `expires in ${duration(b.expires_in)}`)
        : el("span", { class: "text-error" }, `expired ${duration(-b.expires_in)} ago`);
    }
    const progress = b.state === "leased"
      ? progressCell(b.progress)
      : el("span", { class: "muted" }, "queued");
    return el(
      "tr",
      { dataset: { batchId: String(b.id), state: b.state } },
      el("td", {}, el("div", { class: "strong" }, `#${b.id}`), el("div", { class: "small muted" }, `${b.size} archs · attempt ${b.attempts}/${b.max_attempts}`)),
      el("td", {}, b.worker_name ?? el("span", { class: "muted" }, "–")),
      el("td", { class: "progress-col" }, progress),
      el("td", {}, lease, b.heartbeat_seconds_ago !== null ? el("div", { class: "small muted" }, `heartbeat ${duration(b.heartbeat_seconds_ago)} ago`) : null),
    );
  });
  replace(body, ...rows);
  $("batches-empty").hidden = rows.length > 0;
  const c = data.counts;
  $("batches-note").textContent = `${c.done ?? 0} done · ${c.failed ?? 0} failed · ${c.cancelled ?? 0} cancelled`;
}

function progressCell(progress) {
  const fraction = progress.fraction;
  const bar = el("div", { class: "bar" }, el("span", { class: "bar-part bar-flight" }));
  bar.firstChild.style.width = `${Math.round((fraction ?? 0) * 100)}%`;
  const raw = progress.raw ?? {};
  const bits = [progress.phase ?? "started"];
  if (fraction !== null) bits.push(percent(fraction));
  if (Number.isFinite(raw.epoch)) bits.push(`epoch ${raw.epoch + 1}`);
  if (Number.isFinite(raw.loss)) bits.push(`loss ${num(raw.loss, 3)}`);
  return el("div", { class: "progress" }, bar, el("div", { class: "small muted" }, bits.join(" · ")));
}
