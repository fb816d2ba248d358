"""The HTTP edge: who may send a body, how large it may be, what it may hold, and what every
answer carries.

Two pure ASGI middlewares, installed by `service.app.create_app`:

* `RequestLimits` runs before routing and before any body is read. On the API (everything under
  ``/api/v1`` but ``/api/v1/health``, and ``/metrics``) it verifies the bearer token first: a
  missing or unknown token gets a 401 and the body is never pulled from the server. The verified
  caller is left in ``request.state`` (`service.auth.PRINCIPAL_STATE`) so the route does not ask
  the store again. Then it refuses a ``Content-Length`` above ``Settings.max_body_bytes`` with a
  413, counts the bytes of a streamed (chunked) body and stops reading at the limit, and refuses
  NUL characters in the path, the query and any string (or key) of a JSON body: PostgreSQL cannot
  store them in text columns, and no name, path or metric needs one.
* `SecurityHeaders` adds ``X-Content-Type-Options``, ``X-Frame-Options``, ``Referrer-Policy`` and
  a Content-Security-Policy to every answer that does not set its own (the dashboard and the API
  docs set theirs).

Every refusal has the API's error shape (`service.errors.error_response`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol import API_PREFIX, ErrorReason
from service.auth import PRINCIPAL_STATE, Principal, TokenCache, verify_token
from service.errors import error_response
from service.exceptions import StoreError
from service.settings import Settings

logger = logging.getLogger(__name__)

PUBLIC_API_PATHS = frozenset({f"{API_PREFIX}/health"})
"""API paths answered without a token (the docs and the dashboard page live outside the API)."""

NUL_REFUSED = "NUL characters are not accepted"

API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
}
"""What every answer carries unless it sets its own value (JSON answers need no script)."""


def needs_token(path: str) -> bool:
    """Whether `path` is answered only to a caller with a valid bearer token."""
    if path == "/metrics":
        return True
    under_api = path == API_PREFIX or path.startswith(API_PREFIX + "/")
    return under_api and path not in PUBLIC_API_PATHS


class _RefusedError(Exception):
    """A request refused at the edge, with its answer."""

    def __init__(self, status: int, reason: str, detail: str, headers: dict[str, str]) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.headers = headers


def _refuse(status: int, detail: str, headers: dict[str, str] | None = None) -> _RefusedError:
    reason = ErrorReason.UNAUTHORIZED.value if status == 401 else ErrorReason.INVALID_REQUEST.value
    if status == 503:
        reason = ErrorReason.BUSY.value
    return _RefusedError(status, reason, detail, headers or {})


class RequestLimits:
    """Token first, then a bounded body without NUL characters (see the module docstring).

    Args:
        app: The app behind the edge.
        max_body_bytes: Largest request body read, in bytes.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            _check_path_and_query(scope)
            if needs_token(scope["path"]):
                principal = await _verify(scope)
                scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
            receive = await self._bounded_body(scope, receive)
        except _RefusedError as refused:
            answer = error_response(refused.status, refused.reason, refused.detail, refused.headers)
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _bounded_body(self, scope: Scope, receive: Receive) -> Receive:
        """Read the body (at most ``max_body_bytes``), check it, and replay it to the app."""
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is None and "transfer-encoding" not in headers:
            return receive  # no body
        if length is not None:
            if not (length.isascii() and length.strip().isdigit()):
                raise _refuse(400, f"Content-Length must be a number of bytes, got {length!r}")
            if int(length) > self.max_body_bytes:
                raise _refuse(413, self._too_large(f"{int(length)} bytes"))
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                return _replay(b"".join(chunks), receive, first=message)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _refuse(413, self._too_large(f"more than {self.max_body_bytes} bytes"))
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        _check_body(body)
        return _replay(body, receive)

    def _too_large(self, got: str) -> str:
        return (
            f"the request body is too large ({got}); at most {self.max_body_bytes} bytes are "
            "accepted (setting BONAS_MAX_BODY_BYTES)"
        )


def _replay(body: bytes, receive: Receive, first: Message | None = None) -> Receive:
    """A receive callable that hands the app `body` once, then defers to the server."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if first is not None:
                return first
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _verify(scope: Scope) -> Principal:
    """The caller behind the request's bearer token (store lookups run in a thread)."""
    token = _bearer_token(Headers(scope=scope))
    state = scope["app"].state
    settings: Settings = state.settings
    cache: TokenCache = state.token_cache
    engine = getattr(state, "engine", None)
    if engine is None:
        raise _refuse(503, "the service is starting; retry shortly", {"Retry-After": "1"})
    try:
        principal = await anyio.to_thread.run_sync(verify_token, token, settings, cache, engine)
    except StoreError as error:
        logger.warning("token lookup failed: %s", error)
        raise _refuse(
            503, "the database did not answer the token lookup; retry shortly", {"Retry-After": "1"}
        ) from error
    if principal is None:
        raise _refuse(401, "unknown or revoked token", {"WWW-Authenticate": "Bearer"})
    return principal


def _bearer_token(headers: Headers) -> str:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if not value or scheme.lower() != "bearer" or not token.strip():
        raise _refuse(
            401,
            "missing bearer token: send `Authorization: Bearer <token>`",
            {"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def _check_path_and_query(scope: Scope) -> None:
    if "\x00" in scope["path"]:
        raise _refuse(422, f"{NUL_REFUSED}: the path contains one")
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" not in query and "\x00" not in query:
        return
    for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "\\u0000")
            raise _refuse(422, f"{NUL_REFUSED}: query parameter {shown!r} contains one")


def _check_body(body: bytes) -> None:
    """Refuse a JSON body with a NUL character in a string; other bodies go on to the app.

    A NUL can reach a JSON string only as the escape ``\\u0000`` (or as a raw byte, which
    JSON forbids), so bodies without either are not parsed here at all.
    """
    if b"\\u0000" not in body and b"\x00" not in body:
        return
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON: the app says what is wrong with it
    for location in _nul_locations(document):
        shown = location.replace("\x00", "\\u0000")
        raise _refuse(422, f"{NUL_REFUSED}: {shown} contains one")


def _nul_locations(document: Any) -> Iterator[str]:
    """Dotted locations (``body.name``, ``body.members.0.key``) of strings holding a NUL."""
    stack: list[tuple[str, Any]] = [("body", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                yield where
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    yield f"{where} (a key)"
                stack.append((f"{where}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}", item) for i, item in enumerate(value))


class SecurityHeaders:
    """Adds `API_HEADERS` to every HTTP answer that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in API_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
