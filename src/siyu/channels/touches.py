"""Reading touches: filtered lists, counts by status and reason per source (the journeys
domain reads these for its funnels), the sandbox outbox, and unsubscribe."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.channels.links import record_consent
from siyu.channels.models import SandboxMessage, Touch
from siyu.core.auth import Principal, get_scoped, scoped
from siyu.customers.models import Consent, Customer
from siyu.workspaces.models import Role


def list_touches(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    reason: str | None = None,
    source: str | None = None,
    channel: str | None = None,
    customer_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[Touch]:
    """Touches newest first, filtered; `source` ending in * matches a prefix (journey:12:*)."""
    stmt = scoped(select(Touch), Touch, principal)
    if status:
        stmt = stmt.where(Touch.status == status)
    if reason:
        stmt = stmt.where(Touch.reason == reason)
    if source:
        stmt = stmt.where(_source_filter(source))
    if channel:
        stmt = stmt.where(Touch.channel == channel)
    if customer_id is not None:
        stmt = stmt.where(Touch.customer_id == customer_id)
    if after_id is not None:
        stmt = stmt.where(Touch.id < after_id)
    return list(session.scalars(stmt.order_by(Touch.id.desc()).limit(limit)))


def _source_filter(source: str) -> Any:
    if source.endswith("*"):
        prefix = source[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return Touch.source.like(f"{prefix}%", escape="\\")
    return Touch.source == source


def touch_stats(
    session: Session, principal: Principal, source: str | None = None
) -> dict[str, Any]:
    """Counts by status, by reason (suppressed, failed, dead, deferred) and per source."""
    counted: Any = select(Touch.source, Touch.status, Touch.reason, func.count())
    stmt = scoped(counted, Touch, principal).group_by(Touch.source, Touch.status, Touch.reason)
    if source:
        stmt = stmt.where(_source_filter(source))
    by_status: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    by_source: dict[str, dict[str, int]] = {}
    total = 0
    for src, status, reason, count in session.execute(stmt):
        total += count
        by_status[status] = by_status.get(status, 0) + count
        if reason and status in ("suppressed", "failed", "dead", "deferred"):
            by_reason[reason] = by_reason.get(reason, 0) + count
        per = by_source.setdefault(src, {})
        per[status] = per.get(status, 0) + count
    return {"total": total, "by_status": by_status, "by_reason": by_reason, "by_source": by_source}


def sandbox_messages(
    session: Session, principal: Principal, limit: int = 50
) -> list[SandboxMessage]:
    """What the sandbox channel would have sent, newest first."""
    stmt = scoped(select(SandboxMessage), SandboxMessage, principal)
    return list(session.scalars(stmt.order_by(SandboxMessage.id.desc()).limit(limit)))


def unsubscribe(
    session: Session,
    principal: Principal,
    customer_id: int,
    channel: str,
    scope: str,
    source: str = "api",
) -> Consent:
    """Stop marketing (scope marketing) or every message (scope all: do-not-disturb)."""
    principal.require(Role.operator)
    get_scoped(session, Customer, customer_id, principal)
    return record_consent(
        session, principal.workspace_id, customer_id, channel, scope, False, source
    )


def resubscribe(
    session: Session, principal: Principal, customer_id: int, channel: str, scope: str
) -> Consent:
    """Lift an unsubscribe or do-not-disturb (a later consent row wins)."""
    principal.require(Role.operator)
    get_scoped(session, Customer, customer_id, principal)
    return record_consent(session, principal.workspace_id, customer_id, channel, scope, True, "api")
