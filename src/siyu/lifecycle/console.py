"""Console: the lifecycle page (RFM grid, funnel, stages, CLV) and the dormancy warning list."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from siyu.core.console import ConsoleCaller, labeler, local_clock, page, yuan
from siyu.core.http import DbSession
from siyu.core.pagination import decode_cursor, encode_cursor
from siyu.lifecycle import (
    service,
    strings,  # noqa: F401  (console strings)
)
from siyu.lifecycle.schemas import DORMANT

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/lifecycle", response_class=HTMLResponse)
def lifecycle_page(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """RFM heat map and cells, the fan → member → loyal funnel, stages, and CLV, in ECharts."""
    label = labeler(caller.locale)
    grid = service.rfm_grid(session, caller)
    summary = service.clv_summary(session, caller)
    chart = {
        "levels": grid.levels,
        "grid": [
            [f, r, grid.grid[r - 1][f - 1]]
            for r in range(1, grid.levels + 1)
            for f in range(1, grid.levels + 1)
        ],
        "cells": [{"name": label("rfm", c.key), "value": c.count} for c in grid.cells],
        "funnel": [
            {"name": label("funnel", c.key), "value": c.count}
            for c in service.funnel(session, caller)
        ],
        "stages": [
            {"name": label("stage", c.key), "value": c.count}
            for c in service.stage_counts(session, caller)
        ],
        "clv": [
            {"name": f"{yuan(b['from_fen'])}–{yuan(b['to_fen'])}", "value": b["count"]}
            for b in summary.histogram
        ],
    }
    return page(
        request,
        session,
        caller,
        "lifecycle_overview.html",
        "lifecycle",
        chart=chart,
        summary=summary,
        yuan=yuan,
        when=local_clock(session, request, caller),
    )


@router.get("/lifecycle/dormancy", response_class=HTMLResponse)
def dormancy_page(
    request: Request,
    session: DbSession,
    caller: ConsoleCaller,
    stage: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Who is overdue against their own purchase interval, light to heavy."""
    stage = stage if stage in (*DORMANT, "lost") else None
    rows = service.dormancy(session, caller, stage, decode_cursor(cursor), PAGE_SIZE)
    counts = {c.key: c.count for c in service.stage_counts(session, caller)}
    label = labeler(caller.locale)
    chart = [{"name": label("stage", s), "value": counts.get(s, 0)} for s in (*DORMANT, "lost")]
    return page(
        request,
        session,
        caller,
        "lifecycle_dormancy.html",
        "dormancy",
        rows=[r for _, r in rows],
        stage=stage,
        stages=(*DORMANT, "lost"),
        counts=counts,
        chart=chart,
        label=label,
        yuan=yuan,
        when=local_clock(session, request, caller),
        next_cursor=encode_cursor(rows[-1][0]) if len(rows) == PAGE_SIZE else None,
    )
