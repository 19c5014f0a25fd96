"""Lifecycle endpoints under /api/v1/lifecycle: metrics, RFM, funnel, dormancy, CLV, look-alike."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import JSONResponse

from siyu.core.http import Caller, DbSession
from siyu.core.idempotency import once, request_hash
from siyu.core.pagination import Page, check_limit, decode_cursor, encode_cursor
from siyu.lifecycle import service, tasks, tuning
from siyu.lifecycle.lookalike import lookalike
from siyu.lifecycle.schemas import (
    ClvSummary,
    Count,
    DormantOut,
    LookalikeIn,
    LookalikeOut,
    MetricsOut,
    RfmGrid,
    Settings,
)
from siyu.workspaces.models import Role

router = APIRouter(prefix="/lifecycle", tags=["lifecycle"])


@router.get("/customers/{customer_id}", response_model=MetricsOut)
def customer_metrics(customer_id: int, session: DbSession, caller: Caller) -> Any:
    """One customer's computed attributes, RFM scores and cell, stage and CLV."""
    return service.metrics_of(session, caller, customer_id)


@router.get("/rfm", response_model=RfmGrid)
def rfm(session: DbSession, caller: Caller) -> RfmGrid:
    """Customers per classic RFM cell and per (R, F) score pair."""
    return service.rfm_grid(session, caller)


@router.get("/funnel", response_model=list[Count])
def funnel(session: DbSession, caller: Caller) -> list[Count]:
    """fan → member → buyer → repeat → loyal."""
    return service.funnel(session, caller)


@router.get("/stages", response_model=list[Count])
def stages(session: DbSession, caller: Caller) -> list[Count]:
    """Customers per lifecycle stage."""
    return service.stage_counts(session, caller)


@router.get("/dormancy", response_model=Page[DormantOut])
def dormancy(
    session: DbSession,
    caller: Caller,
    stage: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query()] = 50,
) -> Page[DormantOut]:
    """The dormancy warning list (light, medium and heavy, or one of them, or lost)."""
    limit = check_limit(limit)
    rows = service.dormancy(session, caller, stage, decode_cursor(cursor), limit)
    next_cursor = encode_cursor(rows[-1][0]) if len(rows) == limit else None
    return Page[DormantOut](items=[r for _, r in rows], next_cursor=next_cursor)


@router.get("/clv", response_model=ClvSummary)
def clv(session: DbSession, caller: Caller) -> ClvSummary:
    """The fitted BG/NBD and Gamma-Gamma models, CLV totals and distribution, and LTV."""
    return service.clv_summary(session, caller)


@router.post("/lookalike", response_model=LookalikeOut)
def expand(body: LookalikeIn, session: DbSession, caller: Caller) -> LookalikeOut:
    """Customers most like the seed, with the precision on a held-out part of it."""
    caller.require(Role.operator, Role.analyst)
    return lookalike(session, caller, body.customer_ids, body.limit, body.holdout)


@router.get("/settings", response_model=Settings)
def get_settings(session: DbSession, caller: Caller) -> Settings:
    """The workspace's RFM, stage and CLV settings (defaults until saved)."""
    return tuning.load(session, caller.workspace_id)


@router.put("/settings", response_model=Settings)
def put_settings(
    session: DbSession, caller: Caller, body: Annotated[Any, Body()] = None
) -> Settings:
    """Replace the settings; a bad value names its field and nothing is saved."""
    settings = tuning.save(session, caller, tuning.parse(body))
    tasks.ensure_nightly(session, caller.workspace_id)
    return settings


@router.post("/refresh", status_code=202)
def refresh(
    request: Request,
    session: DbSession,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Queue a full refresh now (the worker runs it); the nightly pass runs anyway."""
    caller.require(Role.operator)

    def produce() -> tuple[int, object]:
        message = tasks.enqueue_refresh(session, caller.workspace_id)
        return 202, {"message_id": message.id, "run_at": message.run_at.isoformat()}

    digest = request_hash("POST", request.url.path, {})
    status, payload = once(session, caller.workspace_id, idempotency_key, digest, produce)
    return JSONResponse(payload, status_code=status)
