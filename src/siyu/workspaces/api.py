"""Workspace administration under /api/v1: the workspace, API keys, the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from siyu.core import audit
from siyu.core.http import Caller, DbSession
from siyu.core.pagination import Page, check_limit, decode_cursor, encode_cursor
from siyu.workspaces import service
from siyu.workspaces.models import ApiKey, Role, Workspace
from siyu.workspaces.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, AuditOut, WorkspaceOut

router = APIRouter(tags=["workspace"])


@router.get("/workspace", response_model=WorkspaceOut)
def current_workspace(session: DbSession, caller: Caller) -> Workspace:
    """The workspace the caller acts in."""
    workspace = session.get(Workspace, caller.workspace_id)
    assert workspace is not None
    return workspace


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_keys(session: DbSession, caller: Caller) -> list[ApiKey]:
    """Keys of the workspace (never the keys themselves)."""
    caller.require(Role.admin)
    stmt = select(ApiKey).where(ApiKey.workspace_id == caller.workspace_id).order_by(ApiKey.id)
    return list(session.scalars(stmt))


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
def create_key(body: ApiKeyCreate, session: DbSession, caller: Caller) -> ApiKeyCreated:
    """A new key; the response is the only time the key is shown."""
    key, raw = service.create_api_key(
        session, caller, body.name, body.role, body.distributor_id, body.supplier_id
    )
    return ApiKeyCreated(
        **ApiKeyOut.model_validate(key, from_attributes=True).model_dump(), key=raw
    )


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut)
def revoke_key(key_id: int, session: DbSession, caller: Caller) -> ApiKey:
    """Revoke a key at once."""
    return service.revoke_api_key(session, caller, key_id)


@router.get("/audit", response_model=Page[AuditOut])
def audit_log(
    session: DbSession,
    caller: Caller,
    action: str | None = None,
    actor: str | None = None,
    target_type: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query()] = 50,
) -> Page[AuditOut]:
    """Newest-first audit entries; admins only."""
    caller.require(Role.admin)
    limit = check_limit(limit)
    rows = audit.query(
        session,
        caller.workspace_id,
        action=action,
        actor=actor,
        target_type=target_type,
        before_id=decode_cursor(cursor),
        limit=limit,
    )
    items = [AuditOut.model_validate(r, from_attributes=True) for r in rows]
    return Page[AuditOut](
        items=items, next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None
    )
