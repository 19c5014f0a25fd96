"""Ingestion endpoints: /api/v1/events:batch, /api/v1/orders, refunds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi.responses import JSONResponse

from siyu.core.http import Caller, DbSession
from siyu.ingest import landing, service
from siyu.ingest.schemas import BatchResult, EventBatch, OrderIn, OrderOut, RefundIn

router = APIRouter(tags=["ingest"])


@router.post(
    "/events:batch",
    response_model=BatchResult,
    responses={
        202: {
            "model": BatchResult,
            "description": "With `Prefer: respond-async`: valid events are queued (status "
            "`queued`, no customer_id yet) and become visible once a worker (`siyu worker`) "
            "has resolved them; rejected events and replays are answered at once.",
        }
    },
)
def events_batch(
    body: EventBatch,
    session: DbSession,
    caller: Caller,
    response: Response,
    prefer: Annotated[str | None, Header()] = None,
) -> BatchResult:
    """Up to 1,000 events; per-event results, good events kept, replays accepted once.

    By default every event is resolved by OneID and stored before the answer (200, with each
    event's customer_id). With `Prefer: respond-async` the batch is validated, deduplicated
    and queued in one statement (202); OneID resolves it in the background, in bulk.
    """
    # The result is returned, not rendered here: FastAPI serializes it after the request's
    # transaction committed, so SQLite's write lock is not held while the answer is written.
    if prefer and "respond-async" in prefer.lower():
        response.status_code = 202
        return landing.accept_events(session, caller, body.events)
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
