"""Merge suggestions from weak evidence: listed, accepted (a merge) or rejected, and undone."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal
from siyu.core.clock import now
from siyu.core.errors import Conflict, NotFound
from siyu.customers import matching
from siyu.customers import merge as merging
from siyu.customers.matching import Candidate
from siyu.customers.models import Customer, Identity, MergeRecord, MergeSuggestion
from siyu.workspaces.models import Role

# Platform nicks are weak evidence of one person (people reuse them across platforms).
NICK_TYPES = ("taobao_nick", "jd_pin")


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


def candidates(session: Session, principal: Principal) -> list[Candidate]:
    """Every live customer's comparable attributes, decrypted in memory only."""
    nicks: dict[int, str] = {}
    for customer_id, value in session.execute(
        select(Identity.customer_id, Identity.value).where(
            Identity.workspace_id == principal.workspace_id, Identity.type.in_(NICK_TYPES)
        )
    ):
        nicks.setdefault(customer_id, value)
    stmt = select(Customer).where(
        Customer.workspace_id == principal.workspace_id, Customer.merged_into_id.is_(None)
    )
    return [
        Candidate(
            key=c.id,
            name=c.name,
            address=c.address,
            city=c.city,
            state=c.province,
            birth_date=c.birthday,
            phone_suffix=c.phone[-4:] if c.phone else None,
            nick=nicks.get(c.id),
        )
        for c in session.scalars(stmt)
    ]


def generate(session: Session, principal: Principal, threshold: float = 0.8) -> int:
    """Score likely duplicates on weak evidence and store new suggestions; returns how many."""
    principal.require(Role.operator)
    known = set(
        session.execute(
            select(MergeSuggestion.customer_a, MergeSuggestion.customer_b).where(
                MergeSuggestion.workspace_id == principal.workspace_id
            )
        )
    )
    stamp = now()
    added = 0
    for found in matching.suggest(candidates(session, principal), threshold=threshold):
        if (found.a, found.b) in known:
            continue
        session.add(
            MergeSuggestion(
                workspace_id=principal.workspace_id,
                customer_a=found.a,
                customer_b=found.b,
                score=round(found.score, 4),
                evidence={k: round(v, 4) for k, v in found.evidence.items()},
                created_at=stamp,
            )
        )
        added += 1
    session.flush()
    return added
