"""Console: products with real-time stock; a supplier's own products, alerts, orders, feedback."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from siyu.catalog import feedback as reviews
from siyu.catalog import materials as library
from siyu.catalog import service, strings  # noqa: F401
from siyu.catalog.models import Supplier
from siyu.core.auth import scoped
from siyu.core.console import ConsoleCaller, labeler, local_clock, page, yuan
from siyu.core.http import DbSession
from siyu.workspaces.models import Role

router = APIRouter(include_in_schema=False)


@router.get("/catalog")
def catalog(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """Products and live stock (a supplier: only its own, with alerts and orders)."""
    is_supplier = caller.role is Role.supplier
    linked = not is_supplier or caller.supplier_id is not None
    products = [
        service.product_out(session, p) for p in service.list_products(session, caller, limit=200)
    ]
    suppliers = {s.id: s for s in session.scalars(scoped(select(Supplier), Supplier, caller))}
    return page(
        request,
        session,
        caller,
        "catalog_index.html",
        "fission",
        tab="catalog",
        products=products,
        suppliers=suppliers,
        is_supplier=is_supplier,
        alerts=library.low_stock(session, caller) if caller.role is not Role.distributor else [],
        orders=library.supplier_orders(session, caller) if is_supplier else [],
        feedback=reviews.supplier_feedback(session, caller) if is_supplier and linked else [],
        linked=linked,
        label=labeler(caller.locale),
        when=local_clock(session, request, caller),
        yuan=yuan,
    )
