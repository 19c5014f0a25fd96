"""The append-only audit log: who read, exported, changed or merged what, when and from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from siyu.core.clock import now
from siyu.core.db import Base, BigId, UTCDateTime, after_rollback
from siyu.core.models import IdMixin


class AuditEntry(IdMixin, Base):
    """One audited action; rows are never updated or deleted (triggers enforce it)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_ws_at", "workspace_id", "at"),)

    workspace_id: Mapped[int | None] = mapped_column(BigId, default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32), default=None)
    action: Mapped[str] = mapped_column(String(32), index=True)
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(64), default=None)
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    address: Mapped[str | None] = mapped_column(String(64), default=None)
    # Field names and counts only: PII values never enter the audit log.
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def record(
    session: Session,
    principal: Any,
    action: str,
    target_type: str,
    target_id: Any = None,
    outcome: str = "ok",
    **detail: Any,
) -> AuditEntry:
    """Append an entry in the caller's transaction."""
    entry = AuditEntry(
        workspace_id=getattr(principal, "workspace_id", None),
        at=now(),
        actor=getattr(principal, "actor", "system"),
        role=str(principal.role) if getattr(principal, "role", None) else None,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        outcome=outcome,
        address=getattr(principal, "address", None),
        detail=detail,
    )
    session.add(entry)
    return entry


def record_denied(
    session: Session, principal: Any, action: str, target_type: str, target_id: Any
) -> None:
    """Audit a refused attempt; it is written even though the request rolls back."""
    after_rollback(
        session,
        lambda s: record(s, principal, action, target_type, target_id, outcome="denied"),
    )


def query(
    session: Session,
    workspace_id: int,
    *,
    action: str | None = None,
    actor: str | None = None,
    target_type: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Newest-first audit entries of one workspace, filtered."""
    stmt = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit)))
