"""Request and response models of the token endpoints (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import ApiModel
from service.states import Role

if TYPE_CHECKING:  # the record only types `of`; importing the store at run time loads SQLAlchemy
    from service.store import TokenRecord

OwnerName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._@:-]+$")]


class TokenCreate(BaseModel):
    """A token to create.

    Attributes:
        role: ``admin``, ``user`` or ``worker``.
        owner: The name the token acts for (a user's searches belong to it).
        label: A note to tell tokens apart (``"laptop"``, ``"gpu-cluster"``).
    """

    model_config = ConfigDict(extra="forbid")

    role: Role
    owner: OwnerName
    label: Annotated[str, Field(max_length=200)] | None = None


class TokenOut(ApiModel):
    """A stored token; never its secret."""

    id: int
    prefix: str
    role: Role
    owner: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: TokenRecord) -> TokenOut:
        return cls.model_validate(record)


class TokenCreated(ApiModel):
    """A new token and its secret, shown this once.

    Attributes:
        token: The secret to send as ``Authorization: Bearer <token>``; it cannot be shown again.
        record: What the store keeps about it.
    """

    token: str
    record: TokenOut
