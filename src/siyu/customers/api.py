"""Customer endpoints under /api/v1/customers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from siyu.core.http import Caller, DbSession
from siyu.core.idempotency import once, request_hash
from siyu.core.pagination import Page, check_limit, decode_cursor, encode_cursor
from siyu.customers import service
from siyu.customers.schemas import CustomerCreate, CustomerOut

router = APIRouter(prefix="/customers", tags=["customers"])


@router.post("", status_code=201, response_model=CustomerOut)
def create_customer(
    body: CustomerCreate,
    request: Request,
    session: DbSession,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Create a customer; replaying the same Idempotency-Key returns the first answer."""

    def produce() -> tuple[int, object]:
        customer = service.create_customer(session, caller, body)
        return 201, service.to_out(customer, caller).model_dump(mode="json")

    digest = request_hash("POST", request.url.path, body.model_dump())
    status, payload = once(session, caller.workspace_id, idempotency_key, digest, produce)
    return JSONResponse(payload, status_code=status)


@router.get("/{customer_id}", response_model=CustomerOut)
def get_customer(customer_id: int, session: DbSession, caller: Caller) -> CustomerOut:
    """One customer of the caller's workspace."""
    return service.to_out(service.get_customer(session, caller, customer_id), caller)


@router.get("", response_model=Page[CustomerOut])
def list_customers(
    session: DbSession,
    caller: Caller,
    phone: str | None = None,
    email: str | None = None,
    name: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query()] = 50,
) -> Page[CustomerOut]:
    """Customers, optionally by phone (any format), email or name; cursor-paginated."""
    limit = check_limit(limit)
    rows = service.search(
        session,
        caller,
        phone=phone,
        email=email,
        name=name,
        after_id=decode_cursor(cursor),
        limit=limit,
    )
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return Page[CustomerOut](
        items=[service.to_out(c, caller) for c in rows], next_cursor=next_cursor
    )
