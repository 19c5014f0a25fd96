"""Request and response shapes for workspaces, keys and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from siyu.workspaces.models import Role


class WorkspaceOut(BaseModel):
    id: int
    name: str
    timezone: str


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    role: Role
    distributor_id: int | None = None
    supplier_id: int | None = None


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself; shown this once only")


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str | None
    action: str
    target_type: str
    target_id: str | None
    outcome: str
    address: str | None
    detail: dict[str, Any]
