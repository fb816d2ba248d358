"""``/api/v1/tokens``: admins create, list and revoke API tokens (`service.usecases.tokens`).

A token's secret is returned once, when it is created; the store keeps only its hash.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from service.api.deps import ClockDep, ReadSessionDep, SessionDep
from service.api.params import Limit, Offset, TokenId
from service.auth import AdminDep, TokenCacheDep
from service.schemas import Page, TokenCreate, TokenCreated, TokenOut
from service.usecases import tokens

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a token")
def create_token(
    body: TokenCreate,
    principal: AdminDep,
    session: SessionDep,
    clock: ClockDep,
    response: Response,
) -> TokenCreated:
    """A new token with a role; its secret is in this answer and nowhere else (which no cache
    may keep: ``Cache-Control: no-store``)."""
    response.headers["Cache-Control"] = "no-store"
    return tokens.create_token(session, clock(), body)


@router.get("", summary="List tokens")
def list_tokens(
    principal: AdminDep,
    session: ReadSessionDep,
    owner: Annotated[str | None, Query(max_length=200, description="One owner's tokens.")] = None,
    include_revoked: Annotated[bool, Query(description="Also list revoked tokens.")] = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TokenOut]:
    """Tokens, oldest first (never their secrets)."""
    return tokens.list_tokens(
        session, owner=owner, include_revoked=include_revoked, limit=limit, offset=offset
    )


@router.delete("/{token_id}", summary="Revoke a token")
def revoke_token(
    token_id: TokenId,
    principal: AdminDep,
    session: SessionDep,
    clock: ClockDep,
    cache: TokenCacheDep,
) -> TokenOut:
    """Revoke a token at once (revoking twice keeps the first time)."""
    answer = tokens.revoke_token(session, clock(), token_id)
    session.commit()  # revoked in the store before this process forgets it
    cache.forget(token_id)
    return answer
