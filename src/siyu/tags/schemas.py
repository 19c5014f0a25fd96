"""Request and response shapes for tags and tag groups."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=256)


class GroupOut(BaseModel):
    id: int
    name: str
    description: str | None


class TagIn(BaseModel):
    """A manual tag (no rule) or a rule tag (the segment rule tree)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    group_id: int | None = None
    kind: Literal["manual", "rule"] = "manual"
    rule: dict[str, Any] | None = None
    description: str | None = Field(default=None, max_length=256)


class TagPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=64)
    group_id: int | None = None
    rule: dict[str, Any] | None = None
    description: str | None = Field(default=None, max_length=256)


class TagOut(BaseModel):
    id: int
    name: str
    group_id: int | None
    kind: str
    rule: dict[str, Any] | None
    builtin_key: str | None
    description: str | None
    count: int = 0
    refreshed_at: datetime | None = None


class Bulk(BaseModel):
    """Customers to tag or untag: by id, or every member of a segment."""

    model_config = ConfigDict(extra="forbid")

    customer_ids: list[int] = Field(default_factory=list, max_length=10_000)
    segment_id: int | None = None


class BulkOut(BaseModel):
    changed: int


class CustomerTagOut(BaseModel):
    tag_id: int
    name: str
    since: datetime


class HistoryOut(BaseModel):
    tag_id: int
    name: str
    change: str
    source: str
    at: datetime


class InstallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[str] | None = None


class BuiltinOut(BaseModel):
    key: str
    group: str
    name: str
    description: str
    rule: dict[str, Any]
    installed: bool
