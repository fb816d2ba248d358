// The bonas dashboard: sign in with a token, then follow the service by polling its event log.
//
// The page's modules, all served from /dashboard/ and imported as plain ES modules (no build):
//   store.js     state, selecting a search, fetching its panels, redrawing the panels that use them
//   poller.js    the polling schedule and which panels an event invalidates
//   session.js   signing in and out
//   panel-*.js   one module per panel: `uses` (the data it draws) and `render()`, maybe `bind()`
//   api.js, format.js, charts.js, dag.js   the HTTP client, DOM and number helpers, SVG charts, cells
// This module registers the panels and wires the page's global events.

import * as batches from "./panel-batches.js";
import * as pareto from "./panel-pareto.js";
import * as progress from "./panel-progress.js";
import * as summary from "./panel-summary.js";
import * as surrogate from "./panel-surrogate.js";
import * as top from "./panel-top.js";
import * as tradeoff from "./panel-tradeoff.js";
import { schedule, setStatus, stopPolling } from "./poller.js";
import { bindSession, resumeSession } from "./session.js";
import { $, addPanels, chooseSelection, renderPanels, state } from "./store.js";

const PAGE = [summary, progress, batches, surrogate, tradeoff, pareto, top];

function boot() {
  addPanels(...PAGE);
  bindSession();
  $("brand").addEventListener("click", (event) => event.preventDefault());
  for (const panel of PAGE) panel.bind?.();
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
    resizeTimer = setTimeout(() => state.api && renderPanels(["series", "surrogate", "tradeoff", "pareto"]), 150);
  });
  resumeSession();
}

boot();
