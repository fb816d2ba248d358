// The summary panels: notices (global and the open search's), the searches (click one to open
// it), the workers with their stale flags, and the open search's head. Drawn from the summary,
// which every poll that saw events (and at least every few seconds) reads again.

import {
  clock,
  count,
  duration,
  el,
  goalWord,
  hintOf,
  metricValue,
  percent,
  replace,
} from "./format.js";
import { $, select, selectedSearch, state } from "./store.js";

export const uses = ["summary"];

export function render() {
  const summary = state.summary;
  if (!summary) return;
  renderNotices($("global-notices"), summary.notices);
  renderSearches(summary);
  renderWorkers(summary);
  renderDetailHead();
  $("footer-text").textContent =
    `bonas dashboard · server time ${clock(summary.now)} · event cursor ${summary.cursor}`;
}

function renderNotices(container, notices) {
  replace(
    container,
    ...notices.map((n) =>
      el(
        "div",
        { class: `notice notice-${n.level}`, role: n.level === "info" ? "status" : "alert", dataset: { code: n.code } },
        el("strong", {}, n.title),
        el("span", {}, n.detail),
      ),
    ),
  );
}

function stateBadge(value) {
  return el("span", { class: `badge state-${value}` }, value);
}

function progressBar(search) {
  const total = search.budget_evaluations ?? Math.max(1, search.done + search.in_flight + search.queued);
  const part = (value, cls) =>
    el("span", { class: `bar-part ${cls}`, dataset: { width: String(Math.min(100, (100 * value) / total)) } });
  const bar = el("div", { class: "bar", title: `${search.done} done, ${search.in_flight} in flight, ${search.queued} queued` },
    part(search.done, "bar-done"), part(search.in_flight, "bar-flight"), part(search.queued, "bar-queued"));
  for (const child of bar.children) child.style.width = `${child.dataset.width}%`;
  const budget = search.budget_evaluations ? ` / ${count(search.budget_evaluations)}` : "";
  const flight = search.in_flight ? ` · ${count(search.in_flight)} in flight` : "";
  const queued = search.queued ? ` · ${count(search.queued)} queued` : "";
  return el("div", { class: "progress" }, bar, el("div", { class: "small muted" }, `${count(search.done)}${budget} done${flight}${queued}`));
}

function renderSearches(summary) {
  const body = $("searches").tBodies[0];
  const rows = summary.searches.map((s) =>
    el(
      "tr",
      {
        class: s.id === state.selected ? "selected" : "",
        tabindex: 0,
        dataset: { searchId: String(s.id) },
        onclick: () => select(s.id),
        onkeydown: (e) => (e.key === "Enter" || e.key === " ") && select(s.id),
      },
      el("td", {}, el("div", { class: "strong" }, s.name), el("div", { class: "small muted" }, `#${s.id} · ${s.owner}`)),
      el("td", {}, stateBadge(s.state), s.notices.some((n) => n.level !== "info") ? el("span", { class: "warn-dot", title: s.notices.map((n) => n.title).join("; ") }) : null),
      el("td", { class: "progress-col" }, progressBar(s)),
      el("td", { class: "num strong" }, formatObjective(s), el("div", { class: "small muted" }, goalWord(hintOf(s.hints, s.objective)))),
      el("td", {}, el("div", {}, s.space), el("div", { class: "small muted" }, s.evaluator)),
    ),
  );
  replace(body, ...rows);
  $("searches-empty").hidden = rows.length > 0;
  const total = summary.total_searches;
  $("searches-count").textContent = total > rows.length ? `${rows.length} of ${total}` : `${total}`;
}

function renderWorkers(summary) {
  const body = $("workers").tBodies[0];
  const rows = summary.workers.map((w) => {
    const batch = w.current_batch_id === null
      ? el("span", { class: "muted" }, "idle")
      : el("div", {},
        el("a", { href: `#search=${w.current_search_id}` }, `batch ${w.current_batch_id}`),
        el("span", { class: "muted" }, ` · search ${w.current_search_id}`),
        w.progress ? miniProgress(w.progress) : null);
    return el(
      "tr",
      { class: w.stale ? "stale" : "", dataset: { workerId: String(w.id), stale: String(w.stale) } },
      el("td", {}, el("div", { class: "strong" }, w.name), el("div", { class: "small muted" }, w.hostname ?? "")),
      el("td", {}, el("div", {}, w.device ?? "?"), el("div", { class: "small muted" }, w.device_name ?? "")),
      el("td", { title: clock(w.last_seen_at) }, `${duration(w.seen_seconds_ago)} ago`),
      el("td", {}, batch),
      el("td", {}, w.stale
        ? el("span", { class: "badge badge-stale", title: `not seen for over ${duration(summary.stale_seconds)}` }, "stale")
        : el("span", { class: "badge badge-live" }, "live")),
    );
  });
  replace(body, ...rows);
  $("workers-empty").hidden = rows.length > 0;
  const stale = summary.workers.filter((w) => w.stale).length;
  $("workers-count").textContent = `${summary.total_workers}${stale ? ` · ${stale} stale` : ""}`;
}

function miniProgress(progress) {
  const fraction = progress.fraction;
  const bar = el("span", { class: "mini-bar" }, el("span", { class: "mini-fill" }));
  bar.firstChild.style.width = `${Math.round((fraction ?? 0) * 100)}%`;
  return el("div", { class: "mini-progress small muted" }, bar, `${progress.phase ?? ""} ${fraction === null ? "" : percent(fraction)}`);
}

function renderDetailHead() {
  const search = selectedSearch();
  $("detail").hidden = !search;
  if (!search) return;
  $("detail-title").textContent = search.name;
  const started = search.started_at ? `started ${clock(search.started_at)}` : `created ${clock(search.created_at)}`;
  $("detail-subtitle").textContent =
    `search #${search.id} · ${search.owner} · ${search.space} · ${search.evaluator} evaluator · batches of ${search.batch_size} · ${started}`;
  const stat = (label, value, extra) => [
    el("div", { class: "stat" }, el("dt", {}, label), el("dd", {}, value, extra ? el("span", { class: "small muted" }, extra) : null)),
  ];
  const budget = search.budget_evaluations ? count(search.budget_evaluations) : "–";
  replace(
    $("detail-stats"),
    ...stat("State", stateBadge(search.state)),
    ...stat("Evaluations", count(search.done), ` / ${budget}`),
    ...stat("In flight", count(search.in_flight), search.queued ? ` +${count(search.queued)} queued` : ""),
    ...stat("Budget used", percent(search.fraction_used)),
    ...stat(`Best ${hintOf(search.hints, search.objective).label}`, formatObjective(search)),
  );
  const shown = new Set((state.summary?.notices ?? []).map((n) => n.code));
  renderNotices($("search-notices"), search.notices.filter((n) => !shown.has(n.code)));
}

/** A search's best objective so far, as the hint of its objective says. */
function formatObjective(search) {
  return metricValue(hintOf(search.hints, search.objective), search.best);
}
