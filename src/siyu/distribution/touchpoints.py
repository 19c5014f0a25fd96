"""Touchpoints (package card, red-packet card, KOL comment, shopping guide, store poster) and
their funnels (scan → add WeCom → member → first order) beside the seeds' reference ranges."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, scoped
from siyu.core.clock import now
from siyu.core.errors import InvalidField, NotFound
from siyu.customers.oneid import Resolver, Sighting
from siyu.distribution.models import (
    FUNNEL_STEPS,
    REFERENCE_RANGES,
    Distributor,
    Touchpoint,
    TouchpointStep,
)
from siyu.distribution.schemas import FunnelOut, StepIn, TouchpointIn
from siyu.distribution.service import new_code
from siyu.ingest.service import identifiers_of
from siyu.workspaces.models import Role


def create(session: Session, principal: Principal, data: TouchpointIn) -> Touchpoint:
    """A touchpoint with its own code (printed on the card, or in the link)."""
    principal.require(Role.operator)
    if data.distributor_id is not None and not session.scalar(
        select(Distributor.id).where(
            Distributor.workspace_id == principal.workspace_id,
            Distributor.id == data.distributor_id,
        )
    ):
        raise InvalidField("distributor_id", "分销商不存在", "no such distributor")
    touchpoint = Touchpoint(
        workspace_id=principal.workspace_id,
        kind=data.kind,
        name=data.name,
        code=new_code("t"),
        distributor_id=data.distributor_id,
        created_at=now(),
    )
    session.add(touchpoint)
    session.flush()
    return touchpoint


def by_code(session: Session, principal: Principal, code: str) -> Touchpoint:
    """A touchpoint of the caller's workspace by its code."""
    found = session.scalars(
        select(Touchpoint).where(
            Touchpoint.workspace_id == principal.workspace_id, Touchpoint.code == code
        )
    ).first()
    if found is None:
        raise NotFound(zh=f"没有触点码 {code}", en=f"No touchpoint {code}")
    return found


def record(session: Session, principal: Principal, code: str, data: StepIn) -> int:
    """A customer (resolved by OneID) reached a step through a touchpoint; returns their id."""
    principal.require(Role.operator, Role.distributor)
    touchpoint = by_code(session, principal, code)
    at = data.at or now()
    sighting = Sighting(
        f"touch:{code}:{at.isoformat()}", identifiers_of(data.identifiers), "api", at
    )
    customer_id, _ = Resolver(session, principal).resolve(sighting)
    add_steps(session, touchpoint.workspace_id, [(touchpoint.id, customer_id, data.step)])
    return customer_id


def add_steps(session: Session, workspace_id: int, steps: Iterable[tuple[int, int, str]]) -> None:
    """Insert (touchpoint, customer, step) rows; a step already reached stays as it was."""
    rows = [
        {"workspace_id": workspace_id, "touchpoint_id": t, "customer_id": c, "step": s, "at": now()}
        for t, c, s in steps
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(TouchpointStep)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["touchpoint_id", "customer_id", "step"])
    )
    session.execute(stmt)


def last_scanned(session: Session, workspace_id: int, customer_ids: list[int]) -> dict[int, int]:
    """The touchpoint each customer scanned last: customer id -> touchpoint id."""
    found: dict[int, int] = {}
    for start in range(0, len(customer_ids), 900):
        stmt = (
            select(TouchpointStep.customer_id, TouchpointStep.touchpoint_id)
            .where(
                TouchpointStep.workspace_id == workspace_id,
                TouchpointStep.step == "scan",
                TouchpointStep.customer_id.in_(customer_ids[start : start + 900]),
            )
            .order_by(TouchpointStep.at, TouchpointStep.id)
        )
        found.update(dict(session.execute(stmt).all()))
    return found


def funnels(session: Session, principal: Principal) -> list[FunnelOut]:
    """Every touchpoint's funnel, with scan → add-WeCom conversion against the seeds' range."""
    points = list(
        session.scalars(scoped(select(Touchpoint), Touchpoint, principal).order_by(Touchpoint.id))
    )
    ids = [p.id for p in points]
    counts: dict[tuple[int, str], int] = {}
    if ids:
        stmt = (
            select(TouchpointStep.touchpoint_id, TouchpointStep.step, func.count())
            .where(TouchpointStep.touchpoint_id.in_(ids))
            .group_by(TouchpointStep.touchpoint_id, TouchpointStep.step)
        )
        counts = {(t, s): int(n) for t, s, n in session.execute(stmt)}
    return [_funnel(p, {s: counts.get((p.id, s), 0) for s in FUNNEL_STEPS}) for p in points]


def _funnel(point: Touchpoint, steps: dict[str, int]) -> FunnelOut:
    reference = REFERENCE_RANGES.get(point.kind)
    rate = (
        (Decimal(steps["add_wecom"]) * 100 / steps["scan"]).quantize(Decimal("0.1"))
        if steps["scan"]
        else None
    )
    within = None if rate is None or reference is None else reference[0] <= rate <= reference[1]
    return FunnelOut(
        touchpoint_id=point.id,
        kind=point.kind,
        name=point.name,
        code=point.code,
        steps=steps,
        conversion_percent=None if rate is None else str(rate),
        reference_percent=list(reference) if reference else None,
        within_reference=within,
    )
