"""What every protocol model shares: the base class and the identifier types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

JSONValue = Any
"""A value that `json.dumps` accepts."""

Identifier = Annotated[str, Field(min_length=1, max_length=200)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@-]+$")]


class Message(BaseModel):
    """Base of every protocol model: immutable, and strict about unknown fields.

    Unknown fields are refused so that a typo in a client (or a mismatched version) fails loudly
    with a 422 rather than being silently dropped.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
