"""Orders a channel reports cancelled or closed (已取消, 交易关闭): mark them and signal it once.

A stored order that is reported cancelled becomes cancelled (a fully refunded one stays
refunded: it is closed already); a new order may arrive cancelled. Either way ORDER_CANCELLED
names it, once: a repeat of the same report finds it cancelled and signals nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.core import signals
from siyu.ingest.models import Order

CLOSED = ("cancelled", "refunded")


def close_orders(
    session: Session, workspace_id: int, stored_ids: Sequence[int], new_ids: Sequence[int]
) -> list[int]:
    """Cancel stored orders not closed yet, and signal them with new cancelled ones."""
    changed: list[tuple[int, int]] = []
    if stored_ids:
        changed += session.execute(
            update(Order)
            .where(
                Order.workspace_id == workspace_id,
                Order.id.in_(sorted(set(stored_ids))),
                Order.status.not_in(CLOSED),
            )
            .values(status="cancelled")
            .returning(Order.id, Order.customer_id)
        ).all()
    if new_ids:
        changed += session.execute(
            select(Order.id, Order.customer_id).where(Order.id.in_(list(new_ids)))
        ).all()
    if not changed:
        return []
    order_ids = sorted({o for o, _ in changed})
    signals.emit(
        session,
        workspace_id,
        signals.ORDER_CANCELLED,
        {"order_ids": order_ids, "customer_ids": sorted({c for _, c in changed})},
    )
    return order_ids


def external_ids(session: Session, workspace_id: int, order_ids: Sequence[int]) -> list[str]:
    """The channel's own numbers of these orders (what reservations and payments refer to)."""
    found = session.scalars(
        select(Order.external_id).where(
            Order.workspace_id == workspace_id, Order.id.in_(list(order_ids))
        )
    )
    return sorted(set(found))
