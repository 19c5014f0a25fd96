"""Shared set-up for the distribution tests: distributors, rules and orders through ingest."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from siyu.core import outbox
from siyu.core.auth import Principal
from siyu.core.db import Database
from siyu.distribution import commissions, service
from siyu.distribution import tasks as _tasks  # noqa: F401  (registers the handlers)
from siyu.distribution.schemas import DistributorIn, RuleIn
from siyu.ingest import service as ingest
from siyu.ingest.schemas import LineIn, OrderIn
from siyu.ingest.schemas import RefundIn as _RefundIn


def distributors(db: Database, p: Principal) -> tuple[int, int, int]:
    """An upline U, her distributor A, and an unrelated distributor B."""
    with db.transaction() as session:
        upline = service.onboard(session, p, DistributorIn(code="U", name="上级小美"))
        a = service.onboard(session, p, DistributorIn(code="A", name="店主A", parent_id=upline.id))
        b = service.onboard(session, p, DistributorIn(code="B", name="店主B"))
        return upline.id, a.id, b.id


def rule(db: Database, p: Principal, *rates: str, **where: object) -> int:
    with db.transaction() as session:
        data = RuleIn(name="rule", rates=[Decimal(r) for r in rates], **where)  # type: ignore[arg-type]
        return commissions.create_rule(session, p, data).id


def order(
    db: Database,
    p: Principal,
    external_id: str,
    paid_fen: int,
    phone: str,
    at: datetime,
    distributor_id: int | None = None,
    category: str | None = None,
    touchpoint: str | None = None,
) -> int:
    """Store a paid order through ingest, then let the worker react to it."""
    lines = (
        [
            LineIn(
                sku="SKU-1",
                product="面霜",
                category=category,
                quantity=1,
                unit_price_fen=paid_fen,
                amount_fen=paid_fen,
            )
        ]
        if category
        else []
    )
    data = OrderIn(
        external_id=external_id,
        channel="wechat",
        ordered_at=at,
        paid_at=at,
        total_fen=paid_fen,
        paid_fen=paid_fen,
        identifiers={"phone": phone},
        distributor_id=distributor_id,
        touchpoint=touchpoint,
        lines=lines,
    )
    with db.transaction() as session:
        stored, _ = ingest.upsert_order(session, p, data)
        order_id = stored.id
    outbox.run_due(db)
    return order_id


def refund(db: Database, p: Principal, order_id: int, external_id: str, amount_fen: int) -> None:
    with db.transaction() as session:
        ingest.refund(
            session, p, order_id, _RefundIn(external_id=external_id, amount_fen=amount_fen)
        )
    outbox.run_due(db)
