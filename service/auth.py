"""Bearer-token authentication, roles, and the request-scoped dependencies routers declare.

Tokens are random secrets stored as sha256 hashes (`service.store.TokenRepository`); each has one
role:

* ``admin``: everything, including managing tokens and seeing every search;
* ``user``: submits searches and reads and steers its own;
* ``worker``: registers, leases, heartbeats, reports and releases, nothing else.

A bootstrap admin token may also come from the settings (``BONAS_ADMIN_TOKEN``): it is compared by
hash in constant time and never written to the store, so rotating it is a restart.

Routers declare what they need with the `Annotated` aliases below (`SessionDep`, `UserDep`,
`WorkerDep`, ...), in the style of the FastAPI full-stack template. Sessions are function-scoped:
the transaction commits when the path operation returns, before the answer is sent, so a failed
commit becomes an error answer rather than a lost write behind a 200.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from protocol import ErrorReason
from service.errors import ApiError
from service.settings import Settings
from service.store import Role, TokenRepository, hash_token, session_scope

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token: `Authorization: Bearer bonas_...` (see `bonas token create`).",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling.

    Attributes:
        role: The token's role.
        owner: The name the token acts for (searches a user creates belong to it).
        token_id: The stored token's id; None for the bootstrap admin token of the settings.
        token_hash: sha256 of the presented secret (binds a worker registration to its token).
    """

    role: Role
    owner: str
    token_id: int | None
    token_hash: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def may_read(self, owner: str) -> bool:
        """Whether this caller may see and steer a search owned by `owner`."""
        return self.is_admin or self.owner == owner


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    """The app's engine (made by the lifespan)."""
    engine: Engine | None = getattr(request.app.state, "engine", None)
    if engine is None:
        raise ApiError(503, ErrorReason.BUSY.value, "the service is starting; retry shortly")
    return engine


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]


def _write_session(engine: EngineDep) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(_write_session, scope="function")]
"""A session whose transaction commits when the path operation returns (rolls back on error)."""


class TokenCache:
    """Verified tokens, kept for a few seconds so that a busy worker fleet does not look its
    token up in the database on every heartbeat and lease.

    A token revoked through the API is dropped from the cache at once; one revoked directly in
    the database (``bonas token revoke``) stops working within ``ttl_s``. Unknown tokens are never
    cached, so a token created a moment ago works at once.

    Args:
        ttl_s: How long a verified token is trusted without a lookup (0 disables the cache).
        max_entries: Bound on the cache's size (the oldest entries go first).
    """

    def __init__(self, ttl_s: float, max_entries: int = 4096) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, digest: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[1] <= time.monotonic():
                del self._entries[digest]
                return None
            return entry[0]

    def put(self, principal: Principal) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[principal.token_hash] = (principal, time.monotonic() + self.ttl_s)

    def forget(self, token_id: int) -> None:
        """Drop a token (by id) from the cache, e.g. after it was revoked."""
        with self._lock:
            for digest in [d for d, (p, _) in self._entries.items() if p.token_id == token_id]:
                del self._entries[digest]


def get_token_cache(request: Request) -> TokenCache:
    """The app's token cache (one per app)."""
    cache: TokenCache = request.app.state.token_cache
    return cache


TokenCacheDep = Annotated[TokenCache, Depends(get_token_cache)]


PRINCIPAL_STATE = "principal"
"""Key of ``request.state`` under which `service.http_limits` leaves the verified caller."""


def verify_token(
    presented: str, settings: Settings, cache: TokenCache, engine: Engine
) -> Principal | None:
    """The caller behind a presented secret, or None when it is unknown or revoked.

    The bootstrap admin token is compared by hash in constant time; stored tokens are looked up
    (through `cache`) with `TokenRepository.verify`. Both the HTTP edge
    (`service.http_limits.RequestLimits`, before any body is read) and `authenticate` use this
    one function, so a token means the same thing to both.
    """
    digest = hash_token(presented)
    bootstrap = settings.admin_token
    if bootstrap is not None and hmac.compare_digest(
        digest, hash_token(bootstrap.get_secret_value())
    ):
        return Principal(Role.ADMIN, settings.admin_name, None, digest)
    cached = cache.get(digest)
    if cached is not None:
        return cached
    with session_scope(engine, read_only=True) as session:
        record = TokenRepository(session).verify(presented)
    if record is None:
        return None
    principal = Principal(record.role, record.owner, record.id, digest)
    cache.put(principal)
    return principal


def authenticate(
    request: Request,
    settings: SettingsDep,
    cache: TokenCacheDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the bearer token.

    The HTTP edge has usually verified the token already, before reading the body, and left the
    caller in ``request.state``: then the store is not asked twice.

    Raises:
        ApiError: 401 when the token is missing, malformed, unknown or revoked.
    """
    verified: Principal | None = getattr(request.state, PRINCIPAL_STATE, None)
    if verified is not None:
        return verified
    if credentials is None or not credentials.credentials:
        raise unauthorized("missing bearer token: send `Authorization: Bearer <token>`")
    principal = verify_token(credentials.credentials, settings, cache, get_engine(request))
    if principal is None:
        raise unauthorized("unknown or revoked token")
    return principal


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets through callers with one of `roles` (admins always pass)."""
    allowed = frozenset(roles) | {Role.ADMIN}
    names = " or ".join(sorted(r.value for r in allowed))

    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in allowed:
            raise ApiError(
                403,
                ErrorReason.FORBIDDEN.value,
                f"a {principal.role.value} token cannot do this; it needs a {names} token",
            )
        return principal

    return check


def unauthorized(detail: str) -> ApiError:
    """A 401 answer that asks for a bearer token."""
    return ApiError(401, ErrorReason.UNAUTHORIZED.value, detail, {"WWW-Authenticate": "Bearer"})


PrincipalDep = Annotated[Principal, Depends(authenticate)]
"""Any valid token."""
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]
"""An admin token."""
UserDep = Annotated[Principal, Depends(require(Role.USER))]
"""A user (or admin) token."""
WorkerDep = Annotated[Principal, Depends(require(Role.WORKER))]
"""A worker (or admin) token."""
