"""Merge suggestions from weak evidence: listed, accepted (a merge) or rejected, and undone."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal
from siyu.core.clock import now
from siyu.core.errors import Conflict, NotFound
from siyu.customers import merge as merging
from siyu.customers.models import MergeRecord, MergeSuggestion
from siyu.workspaces.models import Role


def list_suggestions(
    session: Session,
    principal: Principal,
    status: str = "pending",
    after_id: int | None = None,
    limit: int = 50,
) -> list[MergeSuggestion]:
    """Suggestions of the workspace by status, best score first within id pages."""
    principal.require(Role.operator)
    stmt = select(MergeSuggestion).where(
        MergeSuggestion.workspace_id == principal.workspace_id, MergeSuggestion.status == status
    )
    if after_id:
        stmt = stmt.where(MergeSuggestion.id > after_id)
    return list(session.scalars(stmt.order_by(MergeSuggestion.id).limit(limit)))


def _pending(session: Session, principal: Principal, suggestion_id: int) -> MergeSuggestion:
    suggestion = session.get(MergeSuggestion, suggestion_id)
    if suggestion is None or suggestion.workspace_id != principal.workspace_id:
        raise NotFound()
    if suggestion.status != "pending":
        raise Conflict(
            zh=f"此建议已处理（{suggestion.status}）",
            en=f"This suggestion is already {suggestion.status}",
        )
    return suggestion


def accept(session: Session, principal: Principal, suggestion_id: int) -> MergeRecord:
    """Merge the two customers of a suggestion (the older survives)."""
    principal.require(Role.operator)
    suggestion = _pending(session, principal, suggestion_id)
    a = merging.canonical_id(session, suggestion.customer_a)
    b = merging.canonical_id(session, suggestion.customer_b)
    if a == b:
        raise Conflict(zh="这两位客户已是同一人", en="These customers are already one")
    record = merging.merge(session, principal, min(a, b), max(a, b), f"suggestion:{suggestion.id}")
    suggestion.status, suggestion.decided_at, suggestion.decided_by = (
        "accepted",
        now(),
        principal.actor,
    )
    suggestion.merge_id = record.id
    return record


def reject(session: Session, principal: Principal, suggestion_id: int) -> MergeSuggestion:
    """Mark a suggestion wrong; it is not suggested again."""
    principal.require(Role.operator)
    suggestion = _pending(session, principal, suggestion_id)
    suggestion.status, suggestion.decided_at, suggestion.decided_by = (
        "rejected",
        now(),
        principal.actor,
    )
    audit.record(session, principal, "reject", "merge_suggestion", suggestion.id)
    return suggestion
