"""Request and response shapes for segments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from siyu.lifecycle.schemas import LookalikeOut


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


class LookalikeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_n: int = Field(default=100, ge=1, le=1000)
    holdout: float = Field(default=0.2, ge=0.05, le=0.5)


class SegmentLookalikeOut(LookalikeOut):
    """The look-alike answer for one segment; seed_size counts members with computed metrics."""

    segment_id: int
    top_n: int
    members: int
    members_without_metrics: int
