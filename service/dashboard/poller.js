// Following the service: GET /api/v1/events?after=<cursor> on a schedule, and refetching only the
// panels of the open search that the events say have changed (the server says which panels each
// kind of event refreshes: `/api/v1/dashboard/meta`, read at sign-in).
//
// The interval grows with the size of the search on screen (1 s for small searches, about 5 s at
// 10,000 evaluations, at most 10 s), doubles after each failed poll (up to 60 s), and polling
// stops while the tab is hidden. The summary (workers' last-seen times and stale flags change
// without events) is refreshed at least every few seconds, and the batches of a busy search
// every two (heartbeat progress produces no event).

import { ApiError } from "./api.js";
import { duration } from "./format.js";
import { $, PANELS, acceptSummary, authFailure, loadPanels, selectedSearch, state } from "./store.js";

const MIN_INTERVAL_MS = 1000;
const MAX_INTERVAL_MS = 10000;
const MS_PER_EVALUATION = 0.4;
const MAX_BACKOFF = 6;
const SUMMARY_EVERY_MS = 4000;
const BATCHES_EVERY_MS = 2000;

/** The panels of a search that an event of `kind` about it makes stale, as the server says;
 * every panel for a kind it did not list (a newer server's kind: refetching is always safe). */
export function invalidated(kind) {
  return state.eventKinds.get(kind)?.refreshes ?? PANELS;
}

/** The label of an event's kind for people (the kind itself when the server gave none). */
export function eventLabel(kind) {
  return state.eventKinds.get(kind)?.label ?? kind;
}

export function stopPolling() {
  clearTimeout(state.timer);
  state.timer = 0;
}

export function schedule(delay) {
  stopPolling();
  if (!state.api || document.hidden) return;
  state.timer = setTimeout(poll, delay);
}

/** The poll interval for the search on screen: grows with its evaluations, backs off on errors. */
export function pollInterval() {
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
    if (page.items.length) state.lastEvent = page.items[page.items.length - 1];
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
    const last = state.lastEvent ? ` · last event: ${eventLabel(state.lastEvent.kind)}` : "";
    setStatus("live", `live · every ${duration(delay / 1000)}${last}`);
  } catch (error) {
    if (error instanceof ApiError && error.authFailure) {
      state.polling = false;
      authFailure(error);
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
    for (const panel of invalidated(kind)) wanted.add(panel);
  }
  const busy = search.in_flight + search.queued > 0 || state.panels.batches?.items.length > 0;
  if (busy && Date.now() - (state.loadedAt.batches ?? 0) > BATCHES_EVERY_MS) wanted.add("batches");
  if (wanted.size) await loadPanels([...wanted]);
}

export function setStatus(kind, text) {
  const status = $("status");
  status.dataset.state = kind;
  $("status-text").textContent = text;
}
