"""Reading the lifecycle: a customer's metrics, RFM grid, funnel, stages, dormancy, CLV summary."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import as_utc, now
from siyu.core.errors import InvalidField, NotFound
from siyu.customers.models import Customer
from siyu.lifecycle import tuning
from siyu.lifecycle.models import CustomerMetrics, LifecycleState
from siyu.lifecycle.schemas import (
    CELLS,
    DORMANT,
    STAGES,
    ClvSummary,
    Count,
    DormantOut,
    RfmGrid,
)
from siyu.lifecycle.stages import DAY

M = CustomerMetrics
FUNNEL = ("fan", "member", "buyer", "repeat", "loyal")
HISTOGRAM_BINS = 10


def metrics_of(session: Session, principal: Principal, customer_id: int) -> CustomerMetrics:
    """One customer's row (404 for another workspace's customer or before the first refresh)."""
    get_scoped(session, Customer, customer_id, principal)
    row = session.scalars(
        scoped(select(M), M, principal).where(M.customer_id == customer_id)
    ).first()
    if row is None:
        raise NotFound(zh="该客户的生命周期指标尚未计算", en="Not computed for this customer yet")
    return row


def _counts(session: Session, principal: Principal, column: Any) -> dict[Any, int]:
    stmt = scoped(select(column, func.count(M.id)), M, principal).group_by(column)
    return {key: int(n) for key, n in session.execute(stmt)}


def stage_counts(session: Session, principal: Principal) -> list[Count]:
    """Customers per lifecycle stage, in stage order (zeros included)."""
    counts = _counts(session, principal, M.lifecycle_stage)
    return [Count(key=s, count=counts.get(s, 0)) for s in STAGES]


def rfm_grid(session: Session, principal: Principal) -> RfmGrid:
    """Customers per classic cell and per (R, F) pair."""
    levels = tuning.load(session, principal.workspace_id).rfm.levels
    cells = _counts(session, principal, M.rfm_cell)
    pairs: Any = select(M.r_score, M.f_score, func.count(M.id))
    stmt = scoped(pairs, M, principal).where(M.r_score.is_not(None))
    grid = [[0] * levels for _ in range(levels)]
    for r, f, n in session.execute(stmt.group_by(M.r_score, M.f_score)):
        if 1 <= r <= levels and 1 <= f <= levels:
            grid[r - 1][f - 1] = int(n)
    return RfmGrid(
        levels=levels,
        cells=[Count(key=code, count=cells.get(code, 0)) for code, *_ in CELLS],
        grid=grid,
    )


def funnel(session: Session, principal: Principal) -> list[Count]:
    """fan → member → buyer → repeat → loyal: how many customers reached each step."""
    stages = tuning.load(session, principal.workspace_id).stages
    loyal_by = M.order_count >= stages.loyal_min_orders
    if stages.loyal_min_spend_fen is not None:
        loyal_by = or_(loyal_by, M.total_spend_fen >= stages.loyal_min_spend_fen)
    steps = [
        None,
        M.is_member.is_(True),
        and_(M.is_member.is_(True), M.order_count >= 1),
        and_(M.is_member.is_(True), M.order_count >= 2),
        and_(M.is_member.is_(True), M.order_count >= 2, loyal_by),
    ]
    out = []
    for name, condition in zip(FUNNEL, steps, strict=True):
        stmt = scoped(select(func.count(M.id)), M, principal)
        if condition is not None:
            stmt = stmt.where(condition)
        out.append(Count(key=name, count=int(session.scalar(stmt) or 0)))
    return out


def dormancy(
    session: Session,
    principal: Principal,
    stage: str | None,
    after_id: int | None,
    limit: int,
) -> list[tuple[int, DormantOut]]:
    """The warning list: dormant customers (all three levels, one of them, or lost), paged by
    row id; each row says how long they have been idle against their own interval."""
    if stage is not None and stage not in (*DORMANT, "lost"):
        raise InvalidField("stage", "应为休眠阶段之一", f"one of {(*DORMANT, 'lost')}")
    stmt = scoped(select(M), M, principal).where(
        M.lifecycle_stage.in_([stage] if stage else DORMANT)
    )
    if after_id is not None:
        stmt = stmt.where(M.id > after_id)
    at = now()
    out = []
    for row in session.scalars(stmt.order_by(M.id).limit(limit)):
        idle = (at - as_utc(row.last_order_at)).total_seconds() / DAY if row.last_order_at else 0.0
        out.append(
            (
                row.id,
                DormantOut(
                    customer_id=row.customer_id,
                    lifecycle_stage=row.lifecycle_stage or "",
                    last_order_at=row.last_order_at,
                    days_idle=round(idle, 1),
                    expected_interval_days=row.expected_interval_days,
                    order_count=row.order_count,
                    total_spend_fen=row.total_spend_fen,
                    clv_fen=row.clv_fen,
                ),
            )
        )
    return out


def clv_summary(session: Session, principal: Principal) -> ClvSummary:
    """Fitted parameters, totals, mean P(alive), a CLV histogram and the seeds' LTV."""
    state = session.scalars(scoped(select(LifecycleState), LifecycleState, principal)).first()
    base = scoped(select(M), M, principal).where(M.clv_fen.is_not(None)).subquery()
    n, total, spend, alive, top = session.execute(
        select(
            func.count(base.c.id),
            func.coalesce(func.sum(base.c.clv_fen), 0),
            func.coalesce(func.sum(base.c.expected_spend_fen), 0),
            func.avg(base.c.p_alive),
            func.max(base.c.clv_fen),
        )
    ).one()
    params = dict(state.clv_params) if state else {}
    return ClvSummary(
        fitted=bool(params),
        params={k: v for k, v in params.items() if isinstance(v, dict)},
        customers=int(n),
        total_clv_fen=int(total),
        total_expected_spend_fen=int(spend),
        mean_p_alive=float(alive) if alive is not None else None,
        histogram=_histogram(session, principal, int(top or 0)),
        ltv=dict(state.ltv) if state else {},
        refreshed_at=state.refreshed_at if state else None,
    )


def _histogram(session: Session, principal: Principal, top: int) -> list[dict[str, int]]:
    """Ten equal-width CLV bins from 0 to the largest (integer fen edges)."""
    if top <= 0:
        return []
    width = -(-(top + 1) // HISTOGRAM_BINS)
    bucket = func.floor(M.clv_fen / width)
    stmt = scoped(select(bucket, func.count(M.id)), M, principal).where(M.clv_fen.is_not(None))
    counts = {int(b): int(c) for b, c in session.execute(stmt.group_by(bucket))}
    return [
        {"from_fen": i * width, "to_fen": (i + 1) * width, "count": counts.get(i, 0)}
        for i in range(HISTOGRAM_BINS)
    ]
