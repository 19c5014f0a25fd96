"""Suppliers and their catalog, versioned stock updates, and reservations that never oversell."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, Select, select, update
from sqlalchemy.orm import Session

from siyu.catalog.models import Product, Reservation, Sku, Stock, Supplier
from siyu.catalog.schemas import (
    ProductIn,
    ProductOut,
    ReserveIn,
    SkuOut,
    StockResult,
    StockUpdate,
    SupplierIn,
)
from siyu.core import audit, outbox
from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import now
from siyu.core.errors import Conflict, InvalidField, NotFound
from siyu.workspaces.models import Role

TIMEOUT_TOPIC = "catalog.reservation_timeout"


class OutOfStock(Conflict):
    code = "out_of_stock"
    zh = "库存不足"
    en = "Not enough stock"


def changed(session: Session, stmt: Any) -> int:
    """Run an UPDATE and return how many rows it changed."""
    return int(cast(CursorResult[Any], session.execute(stmt)).rowcount)


def visible(stmt: Select[Any], model: Any, principal: Principal) -> Select[Any]:
    """The catalog is public inside a workspace (distributors sell it); a supplier sees its own."""
    if principal.role is Role.supplier:
        return scoped(stmt, model, principal)
    return stmt.where(model.workspace_id == principal.workspace_id)


def create_supplier(session: Session, principal: Principal, data: SupplierIn) -> Supplier:
    """Onboard a supplier (品牌方); its code is unique in the workspace."""
    principal.require(Role.operator)
    taken = session.scalar(
        select(Supplier.id).where(
            Supplier.workspace_id == principal.workspace_id, Supplier.code == data.code
        )
    )
    if taken:
        raise Conflict(zh=f"供应商编码 {data.code} 已存在", en=f"Supplier code {data.code} exists")
    supplier = Supplier(workspace_id=principal.workspace_id, **data.model_dump())
    session.add(supplier)
    session.flush()
    supplier.supplier_id = supplier.id
    if supplier.inventory_url and supplier.pull_minutes:
        schedule_pull(session, supplier, now())
    audit.record(session, principal, "create", "supplier", supplier.id)
    return supplier


def supplier_of(session: Session, principal: Principal, supplier_id: int | None) -> Supplier:
    """The supplier a call acts for: a supplier principal always acts for itself."""
    if principal.role is Role.supplier:
        if supplier_id not in (None, principal.supplier_id):
            raise NotFound()
        supplier_id = principal.supplier_id
    if supplier_id is None:
        raise InvalidField("supplier_id", "需指定供应商", "name the supplier")
    return get_scoped(session, Supplier, supplier_id, principal)


def create_product(session: Session, principal: Principal, data: ProductIn) -> Product:
    """A product with its SKUs (codes unique in the workspace) and an empty stock row each."""
    principal.require(Role.operator, Role.supplier)
    supplier = supplier_of(session, principal, data.supplier_id)
    codes = [s.code for s in data.skus]
    for i, code in enumerate(codes):
        if codes.index(code) != i:
            raise InvalidField(f"skus.{i}.code", "SKU 编码重复", "duplicate SKU code")
    taken = set(
        session.scalars(
            select(Sku.code).where(Sku.workspace_id == principal.workspace_id, Sku.code.in_(codes))
        )
    )
    if taken:
        i = next(i for i, c in enumerate(codes) if c in taken)
        raise InvalidField(f"skus.{i}.code", "SKU 编码已存在", "SKU code already exists")
    product = Product(
        workspace_id=principal.workspace_id,
        supplier_id=supplier.id,
        name=data.name,
        category=data.category,
        image_url=data.image_url,
        copy=data.copy_text,
    )
    session.add(product)
    session.flush()
    for item in data.skus:
        sku = Sku(
            workspace_id=principal.workspace_id,
            supplier_id=supplier.id,
            product_id=product.id,
            code=item.code,
            name=item.name,
            price_fen=item.price_fen,
        )
        session.add(sku)
        session.flush()
        session.add(
            Stock(
                workspace_id=principal.workspace_id,
                supplier_id=supplier.id,
                sku_id=sku.id,
                on_hand=item.on_hand,
                updated_at=now(),
            )
        )
    session.flush()
    audit.record(session, principal, "create", "product", product.id)
    return product


def product_out(session: Session, product: Product) -> ProductOut:
    """A product with its SKUs and their live stock."""
    rows = session.execute(
        select(Sku, Stock).join(Stock, Stock.sku_id == Sku.id).where(Sku.product_id == product.id)
    )
    skus = [
        SkuOut(
            id=sku.id,
            code=sku.code,
            name=sku.name,
            price_fen=sku.price_fen,
            on_hand=stock.on_hand,
            reserved=stock.reserved,
            available=max(stock.on_hand - stock.reserved, 0),
            version=stock.version,
        )
        for sku, stock in rows
    ]
    return ProductOut(
        id=product.id,
        supplier_id=product.supplier_id,
        name=product.name,
        category=product.category,
        image_url=product.image_url,
        copy_text=product.copy,
        skus=skus,
    )


def list_products(
    session: Session, principal: Principal, after_id: int | None = None, limit: int = 50
) -> list[Product]:
    """Products the caller may see, oldest first."""
    stmt = visible(select(Product), Product, principal).order_by(Product.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(Product.id > after_id)
    return list(session.scalars(stmt))


def get_product(session: Session, principal: Principal, product_id: int) -> Product:
    """One visible product, or 404."""
    product = session.scalars(
        visible(select(Product), Product, principal).where(Product.id == product_id)
    ).first()
    if product is None:
        raise NotFound()
    return product


def sku_by_code(session: Session, principal: Principal, code: str, field: str = "sku") -> Sku:
    """A visible SKU by its code; an unknown code names the field."""
    sku = session.scalars(visible(select(Sku), Sku, principal).where(Sku.code == code)).first()
    if sku is None:
        raise InvalidField(field, f"没有 SKU {code}", f"no SKU {code}")
    return sku


def apply_stock(
    session: Session, principal: Principal, supplier_id: int | None, updates: Sequence[StockUpdate]
) -> list[StockResult]:
    """Apply a supplier's counts: a newer version wins, a repeat or an older one changes nothing."""
    principal.require(Role.operator, Role.supplier)
    supplier = supplier_of(session, principal, supplier_id)
    return apply_supplier_stock(session, supplier, updates)


def apply_supplier_stock(
    session: Session, supplier: Supplier, updates: Sequence[StockUpdate]
) -> list[StockResult]:
    """The versioned write itself (also used by the scheduled pull); bad SKUs refuse the batch."""
    codes = {u.sku for u in updates}
    skus = dict(
        session.execute(
            select(Sku.code, Sku.id).where(
                Sku.workspace_id == supplier.workspace_id,
                Sku.supplier_id == supplier.id,
                Sku.code.in_(codes),
            )
        ).all()
    )
    for i, item in enumerate(updates):
        if item.sku not in skus:
            raise InvalidField(
                f"updates.{i}.sku", "不是此供应商的 SKU", "not a SKU of this supplier"
            )
    results = []
    for item in updates:
        # Only a strictly newer version writes: concurrent or out-of-order pushes can't regress.
        written = changed(
            session,
            update(Stock)
            .where(Stock.sku_id == skus[item.sku], Stock.version < item.version)
            .values(on_hand=item.on_hand, version=item.version, updated_at=now()),
        )
        stock = session.scalars(
            select(Stock)
            .where(Stock.sku_id == skus[item.sku])
            .execution_options(populate_existing=True)
        ).one()
        outcome: Literal["applied", "unchanged", "stale"] = (
            "applied" if written else "unchanged" if stock.version == item.version else "stale"
        )
        results.append(
            StockResult(sku=item.sku, outcome=outcome, version=stock.version, on_hand=stock.on_hand)
        )
    return results


def reserve(session: Session, principal: Principal, data: ReserveIn) -> Reservation:
    """Hold units for an order; never more than available, even under concurrent calls."""
    principal.require(Role.operator, Role.distributor)
    found = session.scalars(
        select(Reservation).where(
            Reservation.workspace_id == principal.workspace_id, Reservation.ref == data.ref
        )
    ).first()
    if found is not None:
        return found
    sku = sku_by_code(session, principal, data.sku)
    return hold(session, sku, data.ref, data.quantity, timedelta(minutes=data.hold_minutes))


def hold(session: Session, sku: Sku, ref: str, quantity: int, hold_for: timedelta) -> Reservation:
    """The conditional UPDATE that makes overselling impossible, then the reservation row."""
    taken = changed(
        session,
        update(Stock)
        .where(Stock.sku_id == sku.id, Stock.on_hand - Stock.reserved >= quantity)
        .values(reserved=Stock.reserved + quantity),
    )
    if not taken:
        raise OutOfStock(zh=f"SKU {sku.code} 库存不足", en=f"Not enough stock of SKU {sku.code}")
    reservation = Reservation(
        workspace_id=sku.workspace_id,
        supplier_id=sku.supplier_id,
        sku_id=sku.id,
        ref=ref,
        quantity=quantity,
        status="held",
        expires_at=now() + hold_for,
        created_at=now(),
    )
    session.add(reservation)
    session.flush()
    outbox.enqueue(
        session,
        TIMEOUT_TOPIC,
        {"reservation_id": reservation.id},
        workspace_id=sku.workspace_id,
        dedupe_key=f"resv-timeout:{reservation.id}",
        run_at=reservation.expires_at,
    )
    return reservation


def reservation_by_ref(session: Session, principal: Principal, ref: str) -> Reservation:
    """A reservation of the caller's workspace by its reference."""
    found = (
        session.scalars(
            scoped(select(Reservation), Reservation, principal).where(Reservation.ref == ref)
        ).first()
        if principal.role is Role.supplier
        else session.scalars(
            select(Reservation).where(
                Reservation.workspace_id == principal.workspace_id, Reservation.ref == ref
            )
        ).first()
    )
    if found is None:
        raise NotFound(zh=f"没有预留 {ref}", en=f"No reservation {ref}")
    return found


def confirm(session: Session, reservation: Reservation) -> Reservation:
    """Paid: the held units leave stock. A released reservation can't be confirmed."""
    if reservation.status == "confirmed":
        return reservation
    moved = changed(
        session,
        update(Reservation)
        .where(Reservation.id == reservation.id, Reservation.status == "held")
        .values(status="confirmed", closed_at=now()),
    )
    if not moved:
        raise Conflict(
            zh="预留已释放，无法确认", en="The reservation was released; it can't be confirmed"
        )
    changed(
        session,
        update(Stock)
        .where(Stock.sku_id == reservation.sku_id)
        .values(
            on_hand=Stock.on_hand - reservation.quantity,
            reserved=Stock.reserved - reservation.quantity,
        ),
    )
    session.refresh(reservation)
    return reservation


def release(session: Session, reservation: Reservation) -> bool:
    """Cancelled or timed out: give the units back, once (False when already closed)."""
    moved = changed(
        session,
        update(Reservation)
        .where(Reservation.id == reservation.id, Reservation.status == "held")
        .values(status="released", closed_at=now()),
    )
    if moved:
        changed(
            session,
            update(Stock)
            .where(Stock.sku_id == reservation.sku_id)
            .values(reserved=Stock.reserved - reservation.quantity),
        )
    session.refresh(reservation)
    return bool(moved)


def release_due(session: Session, workspace_id: int | None = None) -> int:
    """Release every held reservation whose time is up; returns how many."""
    stmt = select(Reservation).where(Reservation.status == "held", Reservation.expires_at <= now())
    if workspace_id is not None:
        stmt = stmt.where(Reservation.workspace_id == workspace_id)
    return sum(release(session, r) for r in session.scalars(stmt).all())


@outbox.handler(TIMEOUT_TOPIC)
def _timeout(session: Session, message: outbox.OutboxMessage) -> None:
    reservation = session.get(Reservation, message.payload["reservation_id"])
    if reservation is not None and reservation.expires_at <= now():
        release(session, reservation)


def schedule_pull(session: Session, supplier: Supplier, at: Any) -> None:
    """Enqueue the next pull of a supplier's inventory endpoint (once per due time)."""
    from siyu.catalog.pull import PULL_TOPIC

    outbox.enqueue(
        session,
        PULL_TOPIC,
        {"supplier_id": supplier.id},
        workspace_id=supplier.workspace_id,
        dedupe_key=f"pull:{supplier.id}:{at.isoformat()}",
        run_at=at,
    )
