// The dashboard's state: who is signed in, the latest summary, the search on screen and the data
// of its panels; selecting a search, fetching its panels and redrawing the panels that use them.
//
// Panels are modules that `addPanels` registers (app.js does): each names the data it draws in
// `uses` ("summary", a panel endpoint of PANELS, or "baseline") and draws it in `render()`. The
// store never imports a panel, so the imports have no cycle and app.js is their root.

import { ApiError } from "./api.js";
import { el, replace } from "./format.js";

/** The panel endpoints of a search (`/api/v1/dashboard/searches/{id}/<name>`). */
export const PANELS = ["series", "batches", "surrogate", "tradeoff", "pareto", "top"];

export const $ = (id) => document.getElementById(id);

export const state = {
  api: null,
  eventKinds: new Map(),
  lastEvent: null,
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

const views = [];
let authFailed = () => {};

/** Take the server's event kinds (`/api/v1/dashboard/meta`): kind -> {label, refreshes}. */
export function acceptMeta(meta) {
  state.eventKinds = new Map(meta.event_kinds.map((k) => [k.kind, k]));
}

/** Register panels, drawn in this order: each `{ uses: [data names], render() }`. */
export function addPanels(...panels) {
  views.push(...panels);
}

/** What to do when a request finds the token refused (session.js signs out). */
export function onAuthFailure(handler) {
  authFailed = handler;
}

/** The token was refused: hand over to the auth-failure handler. */
export function authFailure(error) {
  authFailed(error);
}

/** Errors of background loads: a refused token signs out; others are shown by their panel. */
export function handleBackgroundError(error) {
  if (error instanceof ApiError && error.authFailure) authFailure(error);
}

/** Redraw the panels that draw any of `names` (every panel of the search by default). */
export function renderPanels(names = [...PANELS, "baseline"]) {
  const set = new Set(names);
  for (const view of views) {
    if (view.uses.some((name) => set.has(name))) view.render();
  }
}

/** Redraw what the summary feeds: notices, searches, workers and the open search's head. */
export function renderSummary() {
  renderPanels(["summary"]);
}

/** Show a panel's load error in `container`; true when there was one. */
export function panelError(name, container) {
  const message = state.panels[`${name}Error`];
  if (!message) return false;
  replace(container, el("p", { class: "panel-error" }, `Could not load: ${message}`));
  return true;
}

export function loading(container) {
  replace(container, el("div", { class: "loading" }, "loading…"));
}

// --- the summary and the selection -------------------------------------------------------------

/** Take a new summary and redraw what it feeds. */
export function acceptSummary(summary) {
  state.summary = summary;
  state.summaryAt = Date.now();
  renderSummary();
}

export function selectedSearch() {
  return state.summary?.searches.find((s) => s.id === state.selected) ?? null;
}

/** Open the search the URL names (`#search=<id>`), else the first running one, else the newest. */
export function chooseSelection() {
  const match = /search=(\d+)/.exec(window.location.hash);
  const searches = state.summary?.searches ?? [];
  let id = match ? Number(match[1]) : null;
  if (!searches.some((s) => s.id === id)) {
    id = (searches.find((s) => s.state === "running") ?? searches[0])?.id ?? null;
  }
  select(id);
}

/** Open a search: forget the last one's panels, redraw, fetch every panel of the new one. */
export function select(id) {
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

// --- panel data ---------------------------------------------------------------------------------

/** Fetch panels of the open search (and, for table searches, the baseline), then redraw them. */
export async function loadPanels(names) {
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
