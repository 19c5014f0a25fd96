"""What suppliers and distributors look at: the materials library, low-stock alerts, and the
order lines of a supplier's own SKUs."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session

from siyu.catalog.models import Material, Sku, Stock, Supplier
from siyu.catalog.schemas import MaterialIn
from siyu.catalog.service import get_product, supplier_of, visible
from siyu.core.auth import Principal
from siyu.ingest.models import Order, OrderLine
from siyu.workspaces.models import Role


def add_material(
    session: Session, principal: Principal, data: MaterialIn, supplier_id: int | None = None
) -> Material:
    """Add a picture, copy, poster or training piece to the materials library."""
    principal.require(Role.operator, Role.supplier)
    owner = None
    if principal.role is Role.supplier or supplier_id is not None:
        owner = supplier_of(session, principal, supplier_id).id
    if data.product_id is not None:
        product = get_product(session, principal, data.product_id)
        owner = owner or product.supplier_id
    material = Material(workspace_id=principal.workspace_id, supplier_id=owner, **data.model_dump())
    session.add(material)
    session.flush()
    return material


def materials(session: Session, principal: Principal, tier: str | None = None) -> list[Material]:
    """The library: a supplier sees its own; a distributor sees all for everyone or its tier."""
    stmt = visible(select(Material), Material, principal).order_by(Material.id.desc())
    if principal.role is Role.distributor:
        stmt = stmt.where((Material.tier.is_(None)) | (Material.tier == tier))
    return list(session.scalars(stmt.limit(200)))


def low_stock(session: Session, principal: Principal) -> list[tuple[Sku, Stock, Supplier]]:  # noqa: E501
    """Alerts: SKUs whose available stock is at or under their supplier's threshold."""
    stmt = (
        visible(cast(Select[Any], select(Sku, Stock, Supplier)), Sku, principal)
        .join(Stock, Stock.sku_id == Sku.id)
        .join(Supplier, Supplier.id == Sku.supplier_id)
        .where(Stock.on_hand - Stock.reserved <= Supplier.low_stock)
        .order_by(Sku.id)
    )
    return [(a, b, c) for a, b, c in session.execute(stmt)]


def supplier_orders(session: Session, caller: Principal) -> list[Any]:
    """Order lines of the supplier's SKUs, newest first (what a supplier may see of orders)."""
    stmt = (
        select(
            Order.external_id,
            Order.ordered_at,
            Order.status,
            OrderLine.sku,
            OrderLine.quantity,
            OrderLine.amount_fen,
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .join(Sku, and_(Sku.workspace_id == Order.workspace_id, Sku.code == OrderLine.sku))
        .where(Order.workspace_id == caller.workspace_id, Sku.supplier_id == caller.supplier_id)
        .order_by(Order.id.desc())
        .limit(100)
    )
    return list(session.execute(stmt).all())
