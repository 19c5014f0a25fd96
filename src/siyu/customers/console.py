"""Console: the overview, customer search and the customer profile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal, scoped
from siyu.core.clock import now
from siyu.core.console import ConsoleCaller, labeler, local_clock, page, yuan
from siyu.core.errors import NotFound, ValidationFailed
from siyu.core.http import DbSession, csrf_token
from siyu.core.pagination import decode_cursor, encode_cursor
from siyu.customers import service
from siyu.customers.identifiers import TYPES
from siyu.customers.models import Customer, MergeRecord
from siyu.customers.profile import profile
from siyu.workspaces.models import Role, Workspace

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
NOTICES = ("accepted", "rejected", "undone")
# Who may act on merges from the console (admin always may).
ACTORS = {Role.admin, Role.operator}


def can_act(caller: Principal) -> bool:
    """Whether the caller may merge, unmerge and decide suggestions."""
    return caller.role in ACTORS


def helpers(request: Request, session: Session, caller: Principal) -> dict[str, Any]:
    """What the customer templates use to label, time, price and post."""
    return {
        "label": labeler(caller.locale),
        "when": local_clock(session, request, caller),
        "yuan": yuan,
        "can_act": can_act(caller),
        "csrf": csrf_token(request.state.console_session.token_hash),
    }


def read_only(request: Request, session: Session, caller: Principal, active: str) -> Response:
    """403 in the shell: this role may look but not change."""
    return page(request, session, caller, "customers_denied.html", active, status_code=403)


def not_found(
    request: Request, session: Session, caller: Principal, target: str, target_id: int
) -> Response:
    """404 in the shell; the refused read stays in the audit log although the page renders."""
    audit.record(session, caller, "read", target, target_id, outcome="denied")
    return page(request, session, caller, "customers_not_found.html", "customers", 404)


# ---------------------------------------------------------------- overview and search


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
    id_type: str = "",
    id_value: str = "",
    cursor: str | None = None,
) -> Response:
    """Live customers, oldest first: by phone, email or name, or by any identifier."""
    q, id_type, id_value = q.strip(), id_type.strip(), id_value.strip()
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
    identifier = (id_type, id_value) if id_value else None
    error = None
    try:
        rows = service.search(
            session,
            caller,
            phone=by["phone"],
            email=by["email"],
            name=by["name"],
            identifier=identifier,
            after_id=decode_cursor(cursor),
            limit=PAGE_SIZE,
        )
    except ValidationFailed as exc:
        rows, error = [], exc.message(caller.locale)
    items = [service.to_out(c, caller) for c in rows]
    cities = {c.id: c.city for c in rows}
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == PAGE_SIZE else None
    return page(
        request,
        session,
        caller,
        "customers.html",
        "customers",
        items=items,
        cities=cities,
        q=q,
        id_type=id_type,
        id_value=id_value,
        types=TYPES,
        label=labeler(caller.locale),
        error=error,
        next_cursor=next_cursor,
    )


# ---------------------------------------------------------------- profile and undo


def _merge_history(session: Session, caller: Principal, customer_id: int) -> list[MergeRecord]:
    """Merges this customer took part in, survivor or absorbed, newest first."""
    stmt = scoped(select(MergeRecord), MergeRecord, caller).where(
        or_(MergeRecord.survivor_id == customer_id, MergeRecord.absorbed_id == customer_id)
    )
    return list(session.scalars(stmt.order_by(MergeRecord.id.desc())))


def profile_page(
    request: Request,
    session: Session,
    caller: Principal,
    customer: Customer,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    data = profile(session, caller, customer)
    groups = [(kind, data.identities[kind]) for kind in TYPES if kind in data.identities]
    groups += [(k, v) for k, v in data.identities.items() if k not in TYPES]
    return page(
        request,
        session,
        caller,
        "customer_profile.html",
        "customers",
        status_code,
        p=data,
        groups=groups,
        merges=_merge_history(session, caller, customer.id),
        full_pii=caller.role in service.FULL_PII_ROLES,
        notice=notice if notice in NOTICES else None,
        error=error,
        **helpers(request, session, caller),
    )


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_profile(
    customer_id: int,
    request: Request,
    session: DbSession,
    caller: ConsoleCaller,
    done: str | None = None,
) -> Response:
    """One customer: attributes, identities by type, orders, timeline and merge history."""
    try:
        customer = service.get_customer(session, caller, customer_id)
    except NotFound:
        return not_found(request, session, caller, "customer", customer_id)
    return profile_page(request, session, caller, customer, notice=done)
