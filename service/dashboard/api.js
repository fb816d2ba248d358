// The dashboard's HTTP client: bearer token, JSON, and errors that say what went wrong.

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the service could not be reached).
   * @param {string} reason The service's machine-readable reason, if any.
   * @param {string} message What went wrong, for people.
   */
  constructor(status, reason, message) {
    super(message);
    this.status = status;
    this.reason = reason;
  }

  /** The token was refused (unknown, revoked) or lacks the role the dashboard needs. */
  get authFailure() {
    return this.status === 401 || this.status === 403;
  }
}

export class Api {
  /** @param {string} token A user or admin API token. */
  constructor(token) {
    this.token = token;
  }

  /**
   * GET a path of this service and parse the JSON answer.
   * @param {string} path e.g. "/api/v1/events".
   * @param {Record<string, string|number|undefined>} params Query parameters.
   */
  async get(path, params = {}) {
    const url = new URL(path, window.location.origin);
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    let answer;
    try {
      answer = await fetch(url, {
        headers: { Authorization: `Bearer ${this.token}`, Accept: "application/json" },
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(0, "unreachable", "the service cannot be reached");
    }
    if (!answer.ok) {
      let reason = "";
      let detail = `${answer.status} ${answer.statusText}`;
      try {
        const body = await answer.json();
        reason = body.reason ?? "";
        detail = body.detail ?? detail;
      } catch {
        // not JSON: keep the status line
      }
      throw new ApiError(answer.status, reason, detail);
    }
    return answer.json();
  }

  summary() {
    return this.get("/api/v1/dashboard/summary");
  }

  /** The event kinds, their labels and the panels each refreshes (read once, at sign-in). */
  meta() {
    return this.get("/api/v1/dashboard/meta");
  }

  events(after, limit = 500) {
    return this.get("/api/v1/events", { after, limit });
  }

  panel(searchId, name, params = {}) {
    return this.get(`/api/v1/dashboard/searches/${searchId}/${name}`, params);
  }
}
