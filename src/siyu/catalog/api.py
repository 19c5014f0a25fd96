"""Catalog endpoints: suppliers, products and SKUs, stock pushes, reservations, materials,
and a supplier's own orders, alerts and feedback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from siyu.catalog import feedback, pull, service
from siyu.catalog import materials as library
from siyu.catalog.models import Stock, Supplier
from siyu.catalog.schemas import (
    FeedbackOut,
    MaterialIn,
    MaterialOut,
    ProductIn,
    ProductOut,
    ReservationOut,
    ReserveIn,
    SkuOut,
    StockBatch,
    StockResult,
    SupplierIn,
    SupplierOut,
)
from siyu.core.auth import get_scoped, scoped
from siyu.core.http import Caller, DbSession
from siyu.core.pagination import Page, check_limit, decode_cursor, encode_cursor
from siyu.distribution.web import created
from siyu.workspaces.models import Role

router = APIRouter(tags=["catalog"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]


@router.post("/suppliers", status_code=201, response_model=SupplierOut)
def create_supplier(
    body: SupplierIn, request: Request, session: DbSession, caller: Caller, key: IdemKey = None
) -> JSONResponse:
    """Onboard a supplier; with inventory_url and pull_minutes siyu pulls its stock."""
    return created(
        request,
        session,
        caller,
        key,
        body,
        lambda: SupplierOut.model_validate(service.create_supplier(session, caller, body)),
    )


@router.get("/suppliers", response_model=list[SupplierOut])
def list_suppliers(session: DbSession, caller: Caller) -> list[SupplierOut]:
    """Suppliers (a supplier's key sees only itself)."""
    stmt = scoped(select(Supplier), Supplier, caller).order_by(Supplier.id)
    return [SupplierOut.model_validate(s) for s in session.scalars(stmt)]


@router.post("/suppliers/{supplier_id}/stock", response_model=list[StockResult])
def push_stock(
    supplier_id: int, body: StockBatch, session: DbSession, caller: Caller
) -> list[StockResult]:
    """The inventory API: versioned counts; a repeat or an older version changes nothing."""
    return service.apply_stock(session, caller, supplier_id, body.updates)


@router.post("/suppliers/{supplier_id}/stock:pull", response_model=list[StockResult])
def pull_now(supplier_id: int, session: DbSession, caller: Caller) -> list[StockResult]:
    """Pull the supplier's inventory endpoint now (the schedule goes on as it was)."""
    caller.require(Role.operator)
    return pull.pull(session, get_scoped(session, Supplier, supplier_id, caller))


@router.post("/products", status_code=201, response_model=ProductOut)
def create_product(
    body: ProductIn, request: Request, session: DbSession, caller: Caller, key: IdemKey = None
) -> JSONResponse:
    """A product with SKUs, prices in fen, image and sales copy."""
    return created(
        request,
        session,
        caller,
        key,
        body,
        lambda: service.product_out(session, service.create_product(session, caller, body)),
    )


@router.get("/products", response_model=Page[ProductOut])
def list_products(
    session: DbSession, caller: Caller, cursor: str | None = None, limit: int = 50
) -> Page[ProductOut]:
    """Products with live stock; a supplier's key sees only its own."""
    rows = service.list_products(session, caller, decode_cursor(cursor), check_limit(limit))
    return Page[ProductOut](
        items=[service.product_out(session, p) for p in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: int, session: DbSession, caller: Caller) -> ProductOut:
    """One product with its SKUs' real-time stock."""
    return service.product_out(session, service.get_product(session, caller, product_id))


@router.get("/stock/{sku}", response_model=SkuOut)
def get_stock(sku: str, session: DbSession, caller: Caller) -> SkuOut:
    """Real-time stock of one SKU (what a distributor checks before selling)."""
    found = service.sku_by_code(session, caller, sku)
    stock = session.scalars(select(Stock).where(Stock.sku_id == found.id)).one()
    return SkuOut(
        id=found.id,
        code=found.code,
        name=found.name,
        price_fen=found.price_fen,
        on_hand=stock.on_hand,
        reserved=stock.reserved,
        available=max(stock.on_hand - stock.reserved, 0),
        version=stock.version,
    )


@router.post("/reservations", status_code=201, response_model=ReservationOut)
def reserve(body: ReserveIn, session: DbSession, caller: Caller) -> ReservationOut:
    """Hold stock for an order (idempotent by ref); 409 out_of_stock when it can't."""
    return ReservationOut.model_validate(service.reserve(session, caller, body))


@router.post("/reservations/{ref}:confirm", response_model=ReservationOut)
def confirm(ref: str, session: DbSession, caller: Caller) -> ReservationOut:
    """The order was paid: the held units leave stock."""
    caller.require(Role.operator, Role.distributor)
    found = service.reservation_by_ref(session, caller, ref)
    return ReservationOut.model_validate(service.confirm(session, found))


@router.post("/reservations/{ref}:release", response_model=ReservationOut)
def release(ref: str, session: DbSession, caller: Caller) -> ReservationOut:
    """The order was cancelled: the held units go back."""
    caller.require(Role.operator, Role.distributor)
    found = service.reservation_by_ref(session, caller, ref)
    service.release(session, found)
    return ReservationOut.model_validate(found)


@router.post("/materials", status_code=201, response_model=MaterialOut)
def add_material(
    body: MaterialIn, request: Request, session: DbSession, caller: Caller, key: IdemKey = None
) -> JSONResponse:
    """Add to the materials library (pictures, copy, posters, training)."""
    return created(
        request,
        session,
        caller,
        key,
        body,
        lambda: MaterialOut.model_validate(library.add_material(session, caller, body)),
    )


@router.get("/materials", response_model=list[MaterialOut])
def list_materials(session: DbSession, caller: Caller) -> list[MaterialOut]:
    """The materials library the caller may use."""
    tier = None
    if caller.role is Role.distributor and caller.distributor_id is not None:
        from siyu.distribution.models import Distributor

        me = session.get(Distributor, caller.distributor_id)
        tier = me.tier if me else None
    return [MaterialOut.model_validate(m) for m in library.materials(session, caller, tier)]


@router.get("/stock-alerts", response_model=list[SkuOut])
def stock_alerts(session: DbSession, caller: Caller) -> list[SkuOut]:
    """SKUs at or under their supplier's low-stock threshold (a supplier: its own)."""
    return [
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
        for sku, stock, _ in library.low_stock(session, caller)
    ]


@router.post("/suppliers/{supplier_id}/keys", status_code=201)
def create_key(supplier_id: int, session: DbSession, caller: Caller) -> dict[str, object]:
    """An API key for the supplier's own systems: it sees only that supplier's rows (shown once)."""
    from siyu.workspaces import service as workspaces

    caller.require(Role.admin)
    supplier = get_scoped(session, Supplier, supplier_id, caller)
    key, raw = workspaces.create_api_key(
        session, caller, f"supplier {supplier.code}", Role.supplier, supplier_id=supplier.id
    )
    return {"id": key.id, "key": raw, "supplier_id": supplier.id}


@router.get("/supplier-orders")
def supplier_orders(session: DbSession, caller: Caller) -> list[dict[str, object]]:
    """A supplier's view of orders: the lines of its own SKUs, newest first."""
    caller.require(Role.supplier)
    return [
        {
            "external_id": r.external_id,
            "ordered_at": r.ordered_at.isoformat(),
            "status": r.status,
            "sku": r.sku,
            "quantity": r.quantity,
            "amount_fen": r.amount_fen,
        }
        for r in library.supplier_orders(session, caller)
    ]


@router.get("/supplier-feedback", response_model=Page[FeedbackOut])
def supplier_feedback(
    session: DbSession,
    caller: Caller,
    supplier_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[FeedbackOut]:
    """Feedback and complaints on the supplier's own SKUs, newest first; no customer identity."""
    limit = check_limit(limit)
    rows = feedback.supplier_feedback(session, caller, supplier_id, decode_cursor(cursor), limit)
    return Page[FeedbackOut](
        items=rows,
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )
