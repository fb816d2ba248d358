// The bonas dashboard: sign in with a token, then follow the service by polling its event log.
//
// Polling: GET /api/v1/events?after=<cursor> at an interval that grows with the size of the
// search on screen (1 s for small searches, about 5 s at 10,000 evaluations, at most 10 s),
// doubles after each failed poll (up to 60 s), and stops while the tab is hidden. Events say
// what changed, so only the affected panels are fetched again; the summary (workers' last-seen
// times and stale flags change without events) is refreshed at least every few seconds.

import { Api, ApiError } from "./api.js";
import { drawChart, extent, hideTooltip, legend, mix } from "./charts.js";
import { drawCell } from "./dag.js";
import {
  clock,
  costLabel,
  count,
  duration,
  el,
  looksLikePercent,
  metricLabel,
  num,
  percent,
  replace,
  si,
} from "./format.js";

const TOKEN_KEY = "bonas.dashboard.token";
const MIN_INTERVAL_MS = 1000;
const MAX_INTERVAL_MS = 10000;
const MS_PER_EVALUATION = 0.4;
const MAX_BACKOFF = 6;
const SUMMARY_EVERY_MS = 4000;
const BATCHES_EVERY_MS = 2000;
const PANELS = ["series", "batches", "surrogate", "tradeoff", "top"];
const VERSION_LIGHT = "#c7d2fe";
const VERSION_DARK = "#3730a3";

const $ = (id) => document.getElementById(id);

const state = {
  api: null,
  cursor: 0,
  summary: null,
  summaryAt: 0,
  selected: null,
  panels: {},
  loadedAt: {},
  baselineKey: null,
  costMetric: null,
  tauVersion: null,
  zoom: "best",
  timer: 0,
  polling: false,
  backoff: 0,
  polls: 0,
};

// --- sign in / out -----------------------------------------------------------------------------

function showLogin(message) {
  stopPolling();
  $("main").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  const error = $("login-error");
  error.hidden = !message;
  error.textContent = message ?? "";
  setStatus("idle", "signed out");
  $("token-input").focus();
}

function refusal(error) {
  if (!(error instanceof ApiError)) return `Unexpected error: ${error.message}`;
  if (error.status === 401) return `Token refused: ${error.message}.`;
  if (error.status === 403) {
    return "This token cannot read searches (a worker token?). Use a user or admin token.";
  }
  if (error.status === 0) return "The service cannot be reached. Is `bonas serve` running?";
  return `The service answered ${error.status}: ${error.message}`;
}

async function signIn(token) {
  const api = new Api(token);
  const button = $("login-submit");
  button.disabled = true;
  try {
    const summary = await api.summary();
    sessionStorage.setItem(TOKEN_KEY, token);
    state.api = api;
    state.cursor = summary.cursor;
    acceptSummary(summary);
    $("login").hidden = true;
    $("main").hidden = false;
    $("logout").hidden = false;
    $("token-input").value = "";
    chooseSelection();
    setStatus("live", "live");
    schedule(pollInterval());
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(refusal(error));
  } finally {
    button.disabled = false;
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.api = null;
  state.summary = null;
  state.selected = null;
  state.panels = {};
  state.baselineKey = null;
  showLogin(message);
}

// --- polling -----------------------------------------------------------------------------------

function stopPolling() {
  clearTimeout(state.timer);
  state.timer = 0;
}

function schedule(delay) {
  stopPolling();
  if (!state.api || document.hidden) return;
  state.timer = setTimeout(poll, delay);
}

/** The poll interval for the search on screen: grows with its evaluations, backs off on errors. */
function pollInterval() {
  const search = selectedSearch();
  const running = (state.summary?.searches ?? []).filter((s) => s.state === "running");
  const size = search ? search.done : Math.max(0, ...running.map((s) => s.done));
  const base = Math.min(MAX_INTERVAL_MS, MIN_INTERVAL_MS + MS_PER_EVALUATION * size);
  return Math.min(60000, base * 2 ** state.backoff);
}

async function poll() {
  if (!state.api || state.polling) return;
  if (document.hidden) {
    setStatus("paused", "paused while the tab is hidden");
    return;
  }
  state.polling = true;
  let delay;
  try {
    const page = await state.api.events(state.cursor);
    state.cursor = page.next_after;
    const touched = new Map();
    for (const event of page.items) {
      const kinds = touched.get(event.search_id) ?? new Set();
      kinds.add(event.kind);
      touched.set(event.search_id, kinds);
    }
    if (page.items.length || Date.now() - state.summaryAt > SUMMARY_EVERY_MS) {
      acceptSummary(await state.api.summary());
    }
    await refreshSelected(touched.get(state.selected));
    state.backoff = 0;
    state.polls += 1;
    document.body.dataset.polls = String(state.polls);
    delay = page.has_more ? 0 : pollInterval();
    setStatus("live", `live · every ${duration(delay / 1000)}`);
  } catch (error) {
    if (error instanceof ApiError && error.authFailure) {
      state.polling = false;
      signOut(`Signed out: ${refusal(error)}`);
      return;
    }
    state.backoff = Math.min(MAX_BACKOFF, state.backoff + 1);
    delay = pollInterval();
    setStatus("error", `${error.message}; retrying in ${duration(delay / 1000)}`);
  } finally {
    state.polling = false;
  }
  schedule(delay);
}

/** Fetch the panels of the selected search that the events (kinds) say have changed. */
async function refreshSelected(kinds) {
  const search = selectedSearch();
  if (!search) return;
  const wanted = new Set();
  for (const kind of kinds ?? []) {
    if (kind === "batch.reported") ["series", "top", "tradeoff", "surrogate"].forEach((p) => wanted.add(p));
    if (kind === "surrogate.fitted") wanted.add("surrogate");
    if (kind.startsWith("batch.")) wanted.add("batches");
  }
  const busy = search.in_flight + search.queued > 0 || state.panels.batches?.items.length > 0;
  if (busy && Date.now() - (state.loadedAt.batches ?? 0) > BATCHES_EVERY_MS) wanted.add("batches");
  if (wanted.size) await loadPanels([...wanted]);
}

function setStatus(kind, text) {
  const status = $("status");
  status.dataset.state = kind;
  $("status-text").textContent = text;
}

// --- data --------------------------------------------------------------------------------------

function acceptSummary(summary) {
  state.summary = summary;
  state.summaryAt = Date.now();
  renderSummary();
}

function selectedSearch() {
  return state.summary?.searches.find((s) => s.id === state.selected) ?? null;
}

function chooseSelection() {
  const match = /search=(\d+)/.exec(window.location.hash);
  const searches = state.summary?.searches ?? [];
  let id = match ? Number(match[1]) : null;
  if (!searches.some((s) => s.id === id)) {
    id = (searches.find((s) => s.state === "running") ?? searches[0])?.id ?? null;
  }
  select(id);
}

function select(id) {
  if (id === state.selected && state.panels.series) return;
  state.selected = id;
  state.panels = {};
  state.loadedAt = {};
  state.tauVersion = null;
  state.costMetric = null;
  if (id !== null && !window.location.hash.includes(`search=${id}`)) {
    history.replaceState(null, "", `#search=${id}`);
  }
  renderSummary();
  renderPanels();
  if (id !== null) loadPanels(PANELS).catch(handleBackgroundError);
}

function handleBackgroundError(error) {
  if (error instanceof ApiError && error.authFailure) signOut(`Signed out: ${refusal(error)}`);
}

async function loadPanels(names) {
  const id = state.selected;
  const search = selectedSearch();
  if (id === null || !search) return;
  const jobs = names.map(async (name) => {
    const params = name === "tradeoff" && state.costMetric ? { metric: state.costMetric } : {};
    try {
      const data = await state.api.panel(id, name, params);
      if (state.selected !== id) return;
      state.panels[name] = data;
      state.loadedAt[name] = Date.now();
      delete state.panels[`${name}Error`];
    } catch (error) {
      if (error instanceof ApiError && error.authFailure) throw error;
      state.panels[`${name}Error`] = error.message;
    }
  });
  if (search.evaluator === "table") jobs.push(loadBaseline(search));
  await Promise.all(jobs);
  if (state.selected === id) renderPanels(names);
}

async function loadBaseline(search) {
  const series = state.panels.series;
  const upTo = Math.max(search.budget_evaluations ?? 0, series?.evaluations ?? 0, search.done, 10);
  const key = `${search.id}:${upTo}`;
  if (state.baselineKey === key) return;
  state.baselineKey = key;
  try {
    state.panels.baseline = await state.api.panel(search.id, "baseline", { up_to: upTo });
  } catch (error) {
    if (error instanceof ApiError && error.authFailure) throw error;
    state.baselineKey = null;
  }
}

// --- the summary: notices, searches, workers, selected search's head ----------------------------

function renderSummary() {
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
      el("td", { class: "num strong" }, formatObjective(s.best, s.objective), el("div", { class: "small muted" }, s.maximize ? "max" : "min")),
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
    ...stat(`Best ${metricLabel(search.objective)}`, formatObjective(search.best, search.objective)),
  );
  const shown = new Set((state.summary?.notices ?? []).map((n) => n.code));
  renderNotices($("search-notices"), search.notices.filter((n) => !shown.has(n.code)));
}

function formatObjective(value, metric) {
  if (value === null || value === undefined) return "–";
  return num(value, 4) + (looksLikePercent(metric, [value]) ? "%" : "");
}

// --- panels ------------------------------------------------------------------------------------

function renderPanels(names = [...PANELS, "baseline"]) {
  const set = new Set(names);
  if (set.has("series") || set.has("baseline")) renderProgress();
  if (set.has("batches")) renderBatches();
  if (set.has("surrogate")) renderSurrogate();
  if (set.has("tradeoff")) renderTradeoff();
  if (set.has("top")) renderTop();
}

function panelError(name, container) {
  const message = state.panels[`${name}Error`];
  if (!message) return false;
  replace(container, el("p", { class: "panel-error" }, `Could not load: ${message}`));
  return true;
}

function loading(container) {
  replace(container, el("div", { class: "loading" }, "loading…"));
}

function renderProgress() {
  const container = $("chart-progress");
  const data = state.panels.series;
  if (panelError("series", container)) return;
  if (!data) {
    loading(container);
    replace($("legend-progress"));
    $("progress-note").textContent = "";
    return;
  }
  const baseline = state.panels.baseline?.search_id === data.search_id ? state.panels.baseline : null;
  if (!data.points.index.length) {
    replace(container, el("div", { class: "chart-empty" }, data.evaluations
      ? "No evaluation has produced a value yet (every member so far failed)."
      : "Waiting for the first results: points appear here as workers report batches."));
    replace($("legend-progress"));
    $("progress-note").textContent = `${count(data.evaluations)} evaluations`;
    return;
  }
  const pct = looksLikePercent(data.objective, data.points.value);
  const unit = pct ? " (%)" : "";
  const fmt = (v) => num(v, 4) + (pct ? "%" : "");
  const xMax = Math.max(data.budget_evaluations ?? 0, data.evaluations, 10);
  const ys = [...data.points.value];
  const layers = [];
  if (baseline?.available) {
    const keep = baseline.counts.map((c, i) => i).filter((i) => baseline.counts[i] <= xMax);
    const xs = keep.map((i) => baseline.counts[i]);
    const expected = keep.map((i) => baseline.expected[i]);
    ys.push(...expected, baseline.table_best);
    layers.push({ type: "hline", y: baseline.table_best, class: "ref-optimum" });
    layers.push({
      type: "line",
      xs,
      ys: expected,
      class: "line-random",
      tip: (i) => [`Random search, ${count(xs[i])} evaluations`, `expected best so far: ${fmt(expected[i])}`, `exact, over ${count(baseline.table_size)} table entries`],
    });
  }
  if (data.budget_evaluations) layers.push({ type: "vline", x: data.budget_evaluations, class: "ref-budget", label: "budget" });
  const steps = data.steps;
  if (steps.index.length) {
    const last = steps.value[steps.value.length - 1];
    layers.push({
      type: "line",
      step: true,
      xs: [...steps.index, data.evaluations],
      ys: [...steps.value, last],
      class: "line-best",
    });
  }
  const p = data.points;
  layers.push({
    type: "points",
    xs: p.index,
    ys: p.value,
    radius: p.index.length > 800 ? 2 : 3,
    className: (i) => (!p.feasible[i] ? "pt-infeasible" : p.source[i] === "initial" ? "pt-initial" : "pt-proposed"),
    tip: (i) => [
      `Evaluation #${count(p.index[i])}`,
      `${metricLabel(data.objective)}: ${fmt(p.value[i])}${p.feasible[i] ? "" : " (breaks a constraint)"}`,
      `architecture ${p.architecture_id[i]} · proposed by ${p.source[i]}`,
    ],
  });
  const [yDomain, hidden] = progressRange(data, ys);
  drawChart(container, {
    height: 320,
    xDomain: [0, xMax],
    yDomain,
    xLabel: "evaluations",
    yLabel: `${metricLabel(data.objective)}${unit}`,
    xFormat: (v) => count(v),
    yFormat: (v) => num(v, 4),
    layers,
  });
  const entries = [
    { label: "initial (random) batch", kind: "dot", class: "pt-initial" },
    { label: "proposed by the strategy", kind: "dot", class: "pt-proposed" },
    { label: `best so far (${data.maximize ? "max" : "min"})`, kind: "line", class: "line-best" },
  ];
  if (p.feasible.some((f) => !f)) entries.push({ label: "breaks a constraint", kind: "dot", class: "pt-infeasible" });
  if (baseline?.available) {
    entries.push({ label: "random search (exact expectation)", kind: "dash", class: "line-random" });
    entries.push({ label: `table optimum ${fmt(baseline.table_best)}`, kind: "dash", class: "ref-optimum" });
  }
  legend($("legend-progress"), entries);
  const notes = [`${count(data.evaluations)} evaluations`];
  if (hidden) notes.push(`about ${count(hidden)} weaker results below the range`);
  if (data.thinned) notes.push(`showing ${count(p.index.length)} of ${count(data.drawable)} points (every new best and each stretch's extremes kept)`);
  if (baseline && !baseline.available && state.selected !== null) notes.push(`no random-search baseline: ${baseline.reason}`);
  $("progress-note").textContent = notes.join(" · ");
}

/** The vertical range of the progress chart: everything, or the better three quarters of the
 * results (quartiles over every result, from the server: the points sent over-represent extremes). */
function progressRange(data, ys) {
  const values = data.points.value;
  if (state.zoom === "all" || data.drawable < 8 || data.quartiles.length !== 3) return [extent(ys, 0.06), 0];
  const cut = data.maximize ? data.quartiles[0] : data.quartiles[2];
  const better = (v) => (data.maximize ? v >= cut : v <= cut);
  const hidden = Math.round(data.drawable * 0.25);
  return [extent(ys.filter(better), 0.08), values.some((v) => !better(v)) ? hidden : 0];
}

function setZoom(zoom) {
  state.zoom = zoom;
  for (const [id, value] of [["zoom-best", "best"], ["zoom-all", "all"]]) {
    const button = $(id);
    button.classList.toggle("active", zoom === value);
    button.setAttribute("aria-pressed", String(zoom === value));
  }
  renderProgress();
}

function renderBatches() {
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
  if (Number.isFinite(raw.epoch) && Number.isFinite(raw.total_epochs)) bits.push(`epoch ${raw.epoch + 1}/${raw.total_epochs}`);
  if (Number.isFinite(raw.loss)) bits.push(`loss ${num(raw.loss, 3)}`);
  return el("div", { class: "progress" }, bar, el("div", { class: "small muted" }, bits.join(" · ")));
}

function renderSurrogate() {
  const chart = $("chart-surrogate");
  const tauChart = $("chart-tau");
  const empty = $("surrogate-empty");
  const data = state.panels.surrogate;
  if (panelError("surrogate", chart)) return;
  if (!data) {
    loading(chart);
    replace(tauChart);
    empty.hidden = true;
    return;
  }
  if (!data.n) {
    replace(chart);
    replace(tauChart, el("p", { class: "muted small" }, "No surrogate version has measured predictions yet."));
    replace($("legend-surrogate"));
    replace($("legend-tau"));
    $("tau-note").textContent = "";
    empty.hidden = false;
    empty.textContent = data.versions.length
      ? `${data.versions.length} surrogate version(s) fitted; none of the architectures they proposed has been measured yet.`
      : "No surrogate has been fitted yet: the first batches are chosen at random.";
    $("surrogate-note").textContent = "";
    return;
  }
  empty.hidden = true;
  const p = data.points;
  const versions = data.versions.map((v) => v.version);
  const vMin = Math.min(...versions, ...p.version);
  const vMax = Math.max(...versions, ...p.version);
  const shade = (v) => mix(VERSION_LIGHT, VERSION_DARK, vMax === vMin ? 1 : (v - vMin) / (vMax - vMin));
  const pct = looksLikePercent(data.objective, p.measured);
  const fmt = (v) => num(v, 4) + (pct ? "%" : "");
  const domain = extent([...p.predicted, ...p.measured], 0.06);
  const chosen = state.tauVersion;
  drawChart(chart, {
    height: 280,
    xDomain: domain,
    yDomain: domain,
    xLabel: `predicted ${metricLabel(data.objective)}${pct ? " (%)" : ""}`,
    yLabel: `measured${pct ? " (%)" : ""}`,
    xFormat: (v) => num(v, 4),
    yFormat: (v) => num(v, 4),
    layers: [
      { type: "diagonal", class: "ref-diagonal" },
      {
        type: "points",
        xs: p.predicted,
        ys: p.measured,
        fill: (i) => shade(p.version[i]),
        className: (i) => `pt-version ${chosen !== null && p.version[i] !== chosen ? "dim" : ""}`,
        tip: (i) => [
          `Surrogate v${p.version[i]} · architecture ${p.architecture_id[i]}`,
          `predicted ${fmt(p.predicted[i])}${p.std[i] === null ? "" : ` ± ${num(p.std[i], 3)}`}`,
          `measured ${fmt(p.measured[i])}`,
        ],
      },
    ],
  });
  const withTau = data.versions.filter((v) => v.tau !== null);
  if (withTau.length) {
    const picked = drawChart(tauChart, {
      height: 250,
      xDomain: [Math.min(...withTau.map((v) => v.version)) - 0.5, Math.max(...withTau.map((v) => v.version)) + 0.5],
      yDomain: [-1, 1],
      xLabel: "surrogate version",
      yLabel: "Kendall τ",
      xFormat: (v) => (Number.isInteger(v) ? `v${v}` : ""),
      yFormat: (v) => num(v, 2),
      layers: [
        { type: "hline", y: 0, class: "ref-zero" },
        {
          type: "line",
          xs: withTau.map((v) => v.version),
          ys: withTau.map((v) => v.tau),
          class: withTau.length > 60 ? "line-tau thin" : "line-tau",
        },
        ...(withTau.length > 60 ? [rollingTau(withTau)] : []),
        {
          type: "points",
          xs: withTau.map((v) => v.version),
          ys: withTau.map((v) => v.tau),
          radius: withTau.length > 60 ? 1.5 : 3,
          className: (i) => `pt-tau ${withTau[i].version === chosen ? "chosen" : ""}`,
          tip: (i) => {
            const v = withTau[i];
            return [
              `Surrogate v${v.version}: τ = ${num(v.tau, 3)}`,
              `over ${v.n} measured architectures it proposed`,
              `fitted on ${count(v.n_observations)} results${v.fit_seconds === null ? "" : ` in ${duration(v.fit_seconds)}`}`,
              "click to highlight its points",
            ];
          },
        },
      ],
    });
    picked.svg.addEventListener("click", (event) => {
      const box = picked.svg.getBoundingClientRect();
      const x = (event.clientX - box.left) * (picked.svg.viewBox.baseVal.width / box.width);
      const nearest = withTau.reduce((a, b) => (Math.abs(picked.x(a.version) - x) < Math.abs(picked.x(b.version) - x) ? a : b));
      state.tauVersion = state.tauVersion === nearest.version ? null : nearest.version;
      hideTooltip();
      renderSurrogate();
    });
  } else {
    replace(tauChart, el("p", { class: "muted small" }, "Kendall τ appears once a version has 3 measured predictions."));
  }
  const latest = withTau[withTau.length - 1];
  const notes = [`τ = ${num(data.tau, 3)} over ${count(data.n)} predictions`];
  if (chosen !== null) notes.push(`highlighting v${chosen}`);
  if (data.thinned) notes.push(`${count(p.predicted.length)} points shown`);
  $("surrogate-note").textContent = notes.join(" · ");
  $("tau-note").textContent = latest
    ? `${data.versions.length} versions · latest v${latest.version}: τ = ${num(latest.tau, 3)}`
    : `${data.versions.length} versions`;
  if (withTau.length > 60) {
    legend($("legend-tau"), [
      { label: "τ of each version", kind: "line", class: "line-tau" },
      { label: `moving average over ${Math.max(5, Math.round(withTau.length / 25))} versions`, kind: "line", class: "line-tau-mean" },
    ]);
  } else {
    replace($("legend-tau"));
  }
  legend($("legend-surrogate"), [
    { label: `surrogate version (light v${vMin} → dark v${vMax})`, kind: "dot", class: "pt-version-key" },
    { label: "perfect prediction (y = x)", kind: "dash", class: "ref-diagonal" },
  ]);
}

/** A moving average of tau over versions (for long searches, where single versions are noisy). */
function rollingTau(versions) {
  const window = Math.max(5, Math.round(versions.length / 25));
  const xs = [];
  const ys = [];
  let sum = 0;
  for (let i = 0; i < versions.length; i += 1) {
    sum += versions[i].tau;
    if (i >= window) sum -= versions[i - window].tau;
    if (i >= window - 1) {
      xs.push(versions[i - Math.floor(window / 2)].version);
      ys.push(sum / window);
    }
  }
  return { type: "line", xs, ys, class: "line-tau-mean" };
}

function renderTradeoff() {
  const chart = $("chart-tradeoff");
  const empty = $("tradeoff-empty");
  const data = state.panels.tradeoff;
  if (panelError("tradeoff", chart)) return;
  if (!data) {
    loading(chart);
    empty.hidden = true;
    return;
  }
  const select = $("cost-metric");
  $("cost-label").hidden = data.metrics.length < 2;
  replace(select, ...data.metrics.map((m) => el("option", { value: m, selected: m === data.cost_metric }, costLabel(m))));
  if (!data.n) {
    replace(chart);
    replace($("legend-tradeoff"));
    empty.hidden = false;
    empty.textContent = data.metrics.length
      ? "No measured result carries this cost yet."
      : "No result carries a cost metric (params or FLOPs). Evaluators that report one, e.g. a table search listing params_M_cifar10 in report_columns, fill this chart.";
    $("tradeoff-title").textContent = "Objective vs cost";
    return;
  }
  empty.hidden = true;
  const pct = looksLikePercent(data.objective, data.points.value);
  const fmt = (v) => num(v, 4) + (pct ? "%" : "");
  const costFmt = (v) => (/(^|_)m(_|$)/i.test(data.cost_metric) ? num(v, 3) : si(v));
  $("tradeoff-title").textContent = `Objective vs ${/flop/i.test(data.cost_metric) ? "FLOPs" : /param/i.test(data.cost_metric) ? "parameters" : "cost"}`;
  const p = data.points;
  const f = data.front;
  const tip = (src) => (i) => [
    `Architecture ${src.architecture_id[i]}`,
    `${metricLabel(data.objective)}: ${fmt(src.value[i])}`,
    `${metricLabel(data.cost_metric)}: ${costFmt(src.cost[i])}`,
  ];
  drawChart(chart, {
    height: 280,
    xDomain: extent(p.cost, 0.04),
    yDomain: extent(p.value, 0.06),
    xLabel: costLabel(data.cost_metric),
    yLabel: `${metricLabel(data.objective)}${pct ? " (%)" : ""}`,
    xFormat: costFmt,
    yFormat: (v) => num(v, 4),
    layers: [
      {
        type: "points",
        xs: p.cost,
        ys: p.value,
        radius: p.cost.length > 800 ? 2 : 2.6,
        className: (i) => (p.feasible[i] ? "pt-tradeoff" : "pt-infeasible"),
        tip: tip(p),
      },
      { type: "line", step: true, xs: f.cost, ys: f.value, class: "line-front" },
      { type: "points", xs: f.cost, ys: f.value, radius: 4, className: () => "pt-front", tip: (i) => ["Pareto front", ...tip(f)(i)] },
    ],
  });
  legend($("legend-tradeoff"), [
    { label: "measured architectures", kind: "dot", class: "pt-tradeoff" },
    { label: `Pareto front (${f.cost.length}): nothing is both cheaper and better`, kind: "dot", class: "pt-front" },
  ]);
}

function renderTop() {
  const container = $("top");
  const data = state.panels.top;
  if (panelError("top", container)) return;
  if (!data) {
    loading(container);
    $("top-empty").hidden = true;
    return;
  }
  $("top-empty").hidden = data.items.length > 0;
  const pctMetric = looksLikePercent(data.objective, data.items.map((a) => a.objective));
  const fmt = (v) => num(v, 4) + (pctMetric ? "%" : "");
  const cards = data.items.map((a) => {
    const prediction = a.predicted_mean === null
      ? `proposed by ${a.source}`
      : `proposed by ${a.source} (v${a.surrogate_version}): predicted ${fmt(a.predicted_mean)}${a.predicted_std === null ? "" : ` ± ${num(a.predicted_std, 3)}`}`;
    const cells = a.graphs.length
      ? a.graphs.map((g) => el("figure", { class: "dag-figure" }, drawCell(g), a.graphs.length > 1 ? el("figcaption", {}, `${g.name} cell`) : null))
      : [el("p", { class: "muted small" }, "This space has no cell drawing.")];
    const extras = Object.entries(a.metrics)
      .filter(([name, value]) => name !== data.objective && Number.isFinite(value))
      .slice(0, 4)
      .map(([name, value]) => [el("dt", {}, metricLabel(name)), el("dd", {}, num(value, 4))]);
    return el(
      "div",
      { class: "arch-card", dataset: { architectureId: String(a.id), rank: String(a.rank) } },
      el("div", { class: "arch-head" },
        el("span", { class: "rank" }, `#${a.rank}`),
        el("span", { class: "arch-value" }, fmt(a.objective)),
        el("span", { class: "muted small" }, `architecture ${a.id}`)),
      el("div", { class: "small muted" }, prediction),
      el("div", { class: "dag-wrap" }, ...cells),
      extras.length ? el("dl", { class: "arch-metrics" }, ...extras.flat()) : null,
      el("code", { class: "arch-key", title: a.key }, a.key),
    );
  });
  replace(container, ...cards);
  $("top-note").textContent = data.items.length ? `best ${data.items.length} by ${metricLabel(data.objective)}` : "";
}

// --- wiring ------------------------------------------------------------------------------------

function boot() {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) {
      showLogin("Paste a token first.");
      return;
    }
    signIn(token);
  });
  $("logout").addEventListener("click", () => signOut());
  $("brand").addEventListener("click", (event) => event.preventDefault());
  $("zoom-best").addEventListener("click", () => setZoom("best"));
  $("zoom-all").addEventListener("click", () => setZoom("all"));
  $("cost-metric").addEventListener("change", (event) => {
    state.costMetric = event.target.value;
    loadPanels(["tradeoff"]).catch(handleBackgroundError);
  });
  window.addEventListener("hashchange", () => state.summary && chooseSelection());
  document.addEventListener("visibilitychange", () => {
    if (!state.api) return;
    if (document.hidden) {
      stopPolling();
      setStatus("paused", "paused while the tab is hidden");
    } else {
      schedule(0);
    }
  });
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => state.api && renderPanels(["series", "surrogate", "tradeoff"]), 150);
  });
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
  else showLogin();
}

boot();
