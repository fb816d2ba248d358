"""``/api/v1/tokens``: admins create, list and revoke API tokens.

A token's secret is returned once, when it is created; the store keeps only its hash.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from service.api.params import Limit, Offset, TokenId
from service.auth import AdminDep, SessionDep, TokenCacheDep
from service.schemas import Page, TokenCreate, TokenCreated, TokenOut
from service.store import TokenRepository, utcnow

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a token")
def create_token(
    body: TokenCreate, principal: AdminDep, session: SessionDep, response: Response
) -> TokenCreated:
    """A new token with a role; its secret is in this answer and nowhere else (which no cache
    may keep: ``Cache-Control: no-store``)."""
    response.headers["Cache-Control"] = "no-store"
    record, secret = TokenRepository(session).create(
        role=body.role, owner=body.owner, label=body.label, now=utcnow()
    )
    return TokenCreated(token=secret, record=TokenOut.of(record))


@router.get("", summary="List tokens")
def list_tokens(
    principal: AdminDep,
    session: SessionDep,
    owner: Annotated[str | None, Query(max_length=200, description="One owner's tokens.")] = None,
    include_revoked: Annotated[bool, Query(description="Also list revoked tokens.")] = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TokenOut]:
    """Tokens, oldest first (never their secrets)."""
    records = TokenRepository(session).list(owner=owner, include_revoked=include_revoked)
    chosen = records[offset : offset + limit]
    return Page[TokenOut](
        items=[TokenOut.of(r) for r in chosen], total=len(records), limit=limit, offset=offset
    )


@router.delete("/{token_id}", summary="Revoke a token")
def revoke_token(
    token_id: TokenId, principal: AdminDep, session: SessionDep, cache: TokenCacheDep
) -> TokenOut:
    """Revoke a token at once (revoking twice keeps the first time)."""
    record = TokenRepository(session).revoke(token_id, now=utcnow())
    session.commit()  # revoked in the store before this process forgets it
    cache.forget(token_id)
    return TokenOut.of(record)
