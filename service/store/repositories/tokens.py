"""API tokens: random secrets shown once, stored as sha256 hashes, each with one role."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.exceptions import NotFoundError
from service.store.domain import Role, TokenRecord
from service.store.errors import boundary
from service.store.repositories.convert import to_token
from service.store.tables import ApiTokenRow
from service.store.types import as_utc

TOKEN_PREFIX = "bonas_"
PREFIX_CHARS = 12  # how much of the plaintext is kept to tell tokens apart in listings


def hash_token(plaintext: str) -> str:
    """The stored form of a token: hex sha256 of its secret.

    A plain hash suffices (no salt, no slow KDF) because the secret has 256 random bits; nobody can
    guess it from the hash, and verification must be cheap on every request.
    """
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_token_secret() -> str:
    """A fresh token secret: ``bonas_`` + 43 URL-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenRepository:
    """Creates, verifies and revokes API tokens inside the caller's session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @boundary
    def create(
        self, *, role: Role, owner: str, now: datetime, label: str | None = None
    ) -> tuple[TokenRecord, str]:
        """Create a token.

        Returns:
            The stored record and the plaintext secret. The secret is not stored and cannot be
            shown again.
        """
        plaintext = new_token_secret()
        row = ApiTokenRow(
            token_hash=hash_token(plaintext),
            prefix=plaintext[:PREFIX_CHARS],
            role=Role(role).value,
            owner=owner,
            label=label,
            created_at=as_utc(now),
        )
        self._session.add(row)
        self._session.flush()
        return to_token(row), plaintext

    @boundary
    def verify(self, plaintext: str) -> TokenRecord | None:
        """The live token whose secret is `plaintext`, or None for an unknown or revoked one."""
        row = self._session.scalars(
            select(ApiTokenRow).where(ApiTokenRow.token_hash == hash_token(plaintext))
        ).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        return to_token(row)

    @boundary
    def get(self, token_id: int) -> TokenRecord:
        """The token with id `token_id`.

        Raises:
            NotFoundError: No such token.
        """
        row = self._session.get(ApiTokenRow, token_id)
        if row is None:
            raise NotFoundError("token", token_id)
        return to_token(row)

    @boundary
    def revoke(self, token_id: int, *, now: datetime) -> TokenRecord:
        """Revoke a token (idempotent: revoking twice keeps the first time).

        Raises:
            NotFoundError: No such token.
        """
        row = self._session.get(ApiTokenRow, token_id)
        if row is None:
            raise NotFoundError("token", token_id)
        if row.revoked_at is None:
            row.revoked_at = as_utc(now)
            self._session.flush()
        return to_token(row)

    @boundary
    def list(
        self, *, owner: str | None = None, include_revoked: bool = False
    ) -> tuple[TokenRecord, ...]:
        """Tokens, oldest first, optionally of one owner."""
        query = select(ApiTokenRow)
        if owner is not None:
            query = query.where(ApiTokenRow.owner == owner)
        if not include_revoked:
            query = query.where(ApiTokenRow.revoked_at.is_(None))
        return tuple(to_token(r) for r in self._session.scalars(query.order_by(ApiTokenRow.id)))
