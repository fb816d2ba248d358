"""The use cases: the API's writes, each one function over a session and a time.

A use case takes the caller's open session (the caller owns the transaction), the current time
(read once from the app's clock by the router, so tests pass a fake one instead of sleeping), who
is calling, the settings it needs and the request model; it checks the business rules, calls the
store and appends its own event. Routers only declare dependencies, open the session, call one use
case, wake the controller when the use case says so, and return the schema. So far the
worker protocol (`workers`) has moved here; the other routers still hold their writes.
"""

from __future__ import annotations
