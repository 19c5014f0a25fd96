"""The monthly ranking of distributors by sales, and the nurture tiers it suggests (the seeds:
rank by monthly sales, nurture the pillars with promotion resources and training)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal
from siyu.core.errors import InvalidField
from siyu.distribution.models import Distributor
from siyu.distribution.schemas import RankRow
from siyu.ingest.models import Order
from siyu.workspaces.models import Role, Workspace

CORE_SHARE, GROWTH_SHARE = 0.1, 0.3  # top 10% 重点培育, next 30% 成长


def month_bounds(session: Session, workspace_id: int, month: str) -> tuple[datetime, datetime]:
    """A YYYY-MM month in the workspace's time zone, as UTC instants [start, end)."""
    try:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    except ValueError:
        raise InvalidField("month", "格式应为 YYYY-MM", "must be YYYY-MM") from None
    workspace = session.get(Workspace, workspace_id)
    zone = ZoneInfo(workspace.timezone if workspace else "Asia/Shanghai")
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    start = datetime(first.year, first.month, 1, tzinfo=zone)
    return start, datetime(following.year, following.month, 1, tzinfo=zone)


def suggested(rank: int, total: int) -> str:
    """The nurture tier a rank earns: top 10% core, next 30% growth, the rest starter."""
    if rank <= max(1, round(total * CORE_SHARE)):
        return "core"
    if rank <= max(1, round(total * (CORE_SHARE + GROWTH_SHARE))):
        return "growth"
    return "starter"


def ranking(session: Session, principal: Principal, month: str, limit: int = 100) -> list[RankRow]:
    """Distributors with sales in the month, best first (net of refunds, no cancelled orders)."""
    principal.require(Role.operator, Role.analyst)
    start, end = month_bounds(session, principal.workspace_id, month)
    sales = func.sum(Order.paid_fen - Order.refunded_fen)
    stmt = (
        select(Distributor.id, Distributor.name, Distributor.tier, func.count(Order.id), sales)
        .join(Order, Order.distributor_id == Distributor.id)
        .where(
            Distributor.workspace_id == principal.workspace_id,
            Order.workspace_id == principal.workspace_id,
            Order.ordered_at >= start,
            Order.ordered_at < end,
            # A cancelled order sold nothing (refunds are netted out of the rest).
            Order.status != "cancelled",
        )
        .group_by(Distributor.id, Distributor.name, Distributor.tier)
        .order_by(sales.desc(), Distributor.id)
    )
    rows = session.execute(stmt).all()
    return [
        RankRow(
            rank=n,
            distributor_id=d,
            name=name,
            orders=int(count),
            sales_fen=int(total or 0),
            tier=tier,
            suggested_tier=suggested(n, len(rows)),
        )
        for n, (d, name, tier, count, total) in enumerate(rows, start=1)
        if n <= limit
    ]


def apply_tiers(session: Session, principal: Principal, month: str) -> int:
    """Move every ranked distributor to the tier the month suggests; returns how many moved."""
    principal.require(Role.operator)
    moved = 0
    for row in ranking(session, principal, month, limit=10**9):
        distributor = session.get(Distributor, row.distributor_id)
        if distributor is not None and distributor.tier != row.suggested_tier:
            distributor.tier = row.suggested_tier
            moved += 1
    audit.record(session, principal, "apply_tiers", "distributor", None, month=month, moved=moved)
    session.flush()
    return moved
