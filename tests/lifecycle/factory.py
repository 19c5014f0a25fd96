"""Test data for the lifecycle and analytics tests: orders placed through ingest, as users do."""

from __future__ import annotations

from datetime import datetime, timedelta

from siyu.core.auth import Principal
from siyu.core.db import Database
from siyu.ingest import service as ingest
from siyu.ingest.schemas import LineIn, OrderIn

T0 = datetime(2026, 1, 1, 12, 0, 0)


def order(
    phone: str,
    external_id: str,
    days: float,
    fen: int,
    *,
    channel: str = "tmall",
    category: str | None = "lipstick",
    status: str = "paid",
) -> OrderIn:
    """One order of one line for the customer with this phone, `days` after T0 (UTC+8 wall)."""
    line = LineIn(
        sku=f"SKU-{category}",
        product=f"{category} product",
        category=category,
        quantity=1,
        unit_price_fen=fen,
        amount_fen=fen,
    )
    return OrderIn(
        external_id=external_id,
        channel=channel,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        ordered_at=T0 + timedelta(days=days),
        total_fen=fen,
        paid_fen=fen,
        identifiers={"phone": phone},
        lines=[line],
    )


def place(db: Database, principal: Principal, orders: list[OrderIn]) -> None:
    """Store the orders in one committed transaction."""
    with db.transaction() as session:
        ingest.upsert_orders(session, principal, orders)


def phone(i: int) -> str:
    """A distinct valid mainland mobile number."""
    return f"138{i:08d}"
