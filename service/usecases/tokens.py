"""The token use cases: admins create, list and revoke API tokens.

A token's secret is returned once, by `create_token`; the store keeps only its hash. The caller
is an admin (the router's dependency checks the role), commits, and after a revocation drops
the token from its process's token cache, so a revoked token stops working at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.schemas import Page, TokenCreate, TokenCreated, TokenOut
from service.store import TokenRepository


def create_token(session: Session, now: datetime, body: TokenCreate) -> TokenCreated:
    """A new token with a role, and its secret (shown in this answer and nowhere else)."""
    record, secret = TokenRepository(session).create(
        role=body.role, owner=body.owner, label=body.label, now=now
    )
    return TokenCreated(token=secret, record=TokenOut.of(record))


def list_tokens(
    session: Session,
    *,
    owner: str | None = None,
    include_revoked: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> Page[TokenOut]:
    """Tokens, oldest first, optionally one owner's and the revoked ones too (never secrets)."""
    records = TokenRepository(session).list(owner=owner, include_revoked=include_revoked)
    chosen = records[offset : offset + limit]
    return Page[TokenOut](
        items=[TokenOut.of(r) for r in chosen], total=len(records), limit=limit, offset=offset
    )


def revoke_token(session: Session, now: datetime, token_id: int) -> TokenOut:
    """Revoke a token (revoking twice keeps the first time).

    Raises:
        NotFoundError: No such token.
    """
    return TokenOut.of(TokenRepository(session).revoke(token_id, now=now))
