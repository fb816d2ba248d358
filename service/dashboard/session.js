// Signing in and out: the token is checked by reading the summary, kept in the tab's
// sessionStorage (gone when the tab closes, never a cookie), and forgotten when the service
// refuses it, with a message that says why.

import { Api, ApiError } from "./api.js";
import { pollInterval, schedule, setStatus, stopPolling } from "./poller.js";
import { $, acceptMeta, acceptSummary, chooseSelection, onAuthFailure, state } from "./store.js";

const TOKEN_KEY = "bonas.dashboard.token";

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
    const [summary, meta] = await Promise.all([api.summary(), api.meta()]);
    sessionStorage.setItem(TOKEN_KEY, token);
    acceptMeta(meta);
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
  state.lastEvent = null;
  showLogin(message);
}

/** Wire the login box and the sign-out button, and sign out when the token is refused later. */
export function bindSession() {
  onAuthFailure((error) => signOut(`Signed out: ${refusal(error)}`));
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
}

/** Sign in again with the tab's token (a reload keeps the session), or ask for one. */
export function resumeSession() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
  else showLogin();
}
