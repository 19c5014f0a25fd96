"""Ingestion endpoints: /api/v1/events:batch, /api/v1/orders, refunds."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from siyu.core.http import Caller, DbSession
from siyu.ingest import service
from siyu.ingest.schemas import BatchResult, EventBatch, OrderIn, OrderOut, RefundIn

router = APIRouter(tags=["ingest"])


@router.post("/events:batch", response_model=BatchResult)
def events_batch(body: EventBatch, session: DbSession, caller: Caller) -> BatchResult:
    """Up to 1,000 events; per-event results, good events kept, replays accepted once."""
    return service.ingest_events(session, caller, body.events)


@router.post("/orders", status_code=201, response_model=OrderOut)
def create_order(body: OrderIn, session: DbSession, caller: Caller) -> JSONResponse:
    """An order; re-sending the same channel + external_id returns the stored one (200)."""
    order, created = service.upsert_order(session, caller, body)
    out = OrderOut.model_validate(order, from_attributes=True).model_copy(
        update={"created": created}
    )
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.post("/orders/{order_id}/refunds", status_code=201)
def refund_order(
    order_id: int, body: RefundIn, session: DbSession, caller: Caller
) -> dict[str, object]:
    """Refund part or all of an order."""
    record = service.refund(session, caller, order_id, body)
    return {"id": record.id, "order_id": order_id, "amount_fen": record.amount_fen}
