"""Console: the workspace overview (with the customer growth chart) and the customer list."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from siyu.core.clock import now
from siyu.core.console import ConsoleCaller, page
from siyu.core.errors import ValidationFailed
from siyu.core.http import DbSession
from siyu.core.pagination import decode_cursor, encode_cursor
from siyu.customers import service
from siyu.workspaces.models import Workspace

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """KPIs and customers over time, drawn with ECharts."""
    workspace = session.get(Workspace, caller.workspace_id)
    tz = workspace.timezone if workspace else request.app.state.settings.timezone
    series = service.growth(session, caller, tz, days=90)
    chart = {
        "days": [d.isoformat() for d, _, _ in series],
        "new": [n for _, n, _ in series],
        "total": [c for _, _, c in series],
    }
    kpis = {
        "total": service.count(session, caller),
        "d7": service.created_since(session, caller, now() - timedelta(days=7)),
        "d30": service.created_since(session, caller, now() - timedelta(days=30)),
    }
    return page(
        request,
        session,
        caller,
        "overview.html",
        "overview",
        chart=chart,
        kpis=kpis,
        workspace=workspace,
    )


@router.get("/customers", response_class=HTMLResponse)
def customers(
    request: Request,
    session: DbSession,
    caller: ConsoleCaller,
    q: str = "",
    cursor: str | None = None,
) -> Response:
    """Customers, newest id last, with a search by phone, email or name."""
    q = q.strip()
    by: dict[str, str | None] = {"phone": None, "email": None, "name": None}
    if q:
        key = (
            "email"
            if "@" in q
            else "phone"
            if q.lstrip("+").replace(" ", "").replace("-", "").isdigit()
            else "name"
        )
        by[key] = q
    error = None
    try:
        rows = service.search(
            session,
            caller,
            phone=by["phone"],
            email=by["email"],
            name=by["name"],
            after_id=decode_cursor(cursor),
            limit=PAGE_SIZE,
        )
    except ValidationFailed as exc:
        rows, error = [], exc.message(caller.locale)
    items = [service.to_out(c, caller) for c in rows]
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == PAGE_SIZE else None
    return page(
        request,
        session,
        caller,
        "customers.html",
        "customers",
        items=items,
        q=q,
        error=error,
        next_cursor=next_cursor,
    )
