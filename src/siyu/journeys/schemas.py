"""Request and response shapes of the journeys API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class JourneyOut(BaseModel):
    """A journey with its published definition."""

    id: int
    name: str
    description: str | None
    status: str
    sop: str | None
    trigger_type: str
    version: int
    definition: dict[str, Any]
    next_fire_at: datetime | None
    created_at: datetime
    updated_at: datetime


class VersionOut(BaseModel):
    """One published version."""

    id: int
    number: int
    created_at: datetime
    definition: dict[str, Any]


class EnterIn(BaseModel):
    """Customers to enter by hand; the key makes a repeat enter no one twice."""

    customer_ids: list[int] = Field(min_length=1, max_length=10_000)
    key: str = Field(min_length=1, max_length=64)


class EnterOut(BaseModel):
    """How many runs started."""

    entered: int


class TaskOut(BaseModel):
    """A staff task a journey created."""

    id: int
    journey_id: int
    run_id: int
    step_key: str
    customer_id: int
    title: str
    assignee: str
    due_at: datetime
    status: str
    created_at: datetime
    done_at: datetime | None

    model_config = {"from_attributes": True}


class SopOut(BaseModel):
    """A built-in SOP template."""

    key: str
    name: str
    description: str
