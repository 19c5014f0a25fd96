"""Request and response shapes for segments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=256)
    rule: dict[str, Any]


class SegmentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=256)
    rule: dict[str, Any] | None = None


class SegmentOut(BaseModel):
    id: int
    name: str
    description: str | None
    rule: dict[str, Any]
    size: int
    created_at: datetime
    refreshed_at: datetime | None


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: dict[str, Any]


class PreviewOut(BaseModel):
    count: int
    sample_ids: list[int]


class MemberOut(BaseModel):
    customer_id: int
    since: datetime


class SizePoint(BaseModel):
    day: date
    size: int


class RefreshOut(BaseModel):
    entered: int
    exited: int
    size: int
