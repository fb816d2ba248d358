"""Shapes every part of the public API shares: the paginated envelope and the error body."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

MAX_LIMIT = 1000
"""Largest page the API hands out (the store's limit)."""


class ApiModel(BaseModel):
    """Base of the response models: immutable, built from attributes of domain objects."""

    model_config = ConfigDict(frozen=True, from_attributes=True)


class Page(ApiModel, Generic[T]):
    """One page of a list.

    Attributes:
        items: The rows of this page.
        total: How many rows match the filters, over all pages.
        limit: The page size asked for.
        offset: How many matching rows come before this page.
    """

    items: list[T]
    total: int = Field(ge=0)
    limit: int = Field(ge=1, le=MAX_LIMIT)
    offset: int = Field(ge=0)


class ErrorResponse(ApiModel):
    """The body of every error answer.

    Attributes:
        reason: A short machine-readable word (``not_found``, ``forbidden``, ``lease_expired``,
            ``invalid_request``...).
        detail: What was wrong, for people.
    """

    reason: str
    detail: str
