"""The use cases: what the API does, each one function over a session (and a time where it
matters).

A use case takes the caller's open session (the caller owns the transaction), the current time
(read once from the app's clock by the router, so tests pass a fake one instead of sleeping), who
is calling, the settings it needs and the request model; it checks the business rules, calls the
store and appends its own event. Routers (`service.api`) only declare dependencies, call one use
case, commit and wake the controller when the change must reach it, and return the schema.

Modules: `searches` (submit, list, read, pause, resume, cancel), `summary` (access checks and the
search summary every reader shares), `architectures` (architectures, batches, best), `export`
(the best architecture as a file), `events` (the event log after a cursor), `tokens`, `pools`,
and `workers` (the worker protocol).
"""

from __future__ import annotations
