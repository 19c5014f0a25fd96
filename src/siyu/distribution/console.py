"""Console: the fission hub, distributors and ranking, the distributor's own shop, funnels."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.catalog.materials import materials
from siyu.core.auth import Principal, scoped
from siyu.core.clock import local_now
from siyu.core.console import ConsoleCaller, attempt, labeler, local_clock, page, yuan
from siyu.core.errors import SiyuError
from siyu.core.http import DbSession
from siyu.customers.models import Customer
from siyu.customers.service import to_out
from siyu.distribution import commissions, ranking, service, strings, touchpoints  # noqa: F401
from siyu.distribution.models import (
    TOUCHPOINT_KINDS,
    CommissionEntry,
    CommissionRule,
    Distributor,
    ShareLink,
)
from siyu.distribution.schemas import DistributorIn, LinkIn, TouchpointIn
from siyu.ingest.models import Order
from siyu.workspaces.models import Role, Workspace

router = APIRouter(include_in_schema=False)
STAFF = (Role.admin, Role.operator, Role.analyst)


def helpers(request: Request, session: Session, caller: Principal) -> dict[str, Any]:
    """What the fission templates use to label, time and price."""
    return {
        "label": labeler(caller.locale),
        "when": local_clock(session, request, caller),
        "yuan": yuan,
    }


def this_month(session: Session, caller: Principal) -> str:
    """YYYY-MM of today in the workspace's time zone."""
    workspace = session.get(Workspace, caller.workspace_id)
    return local_now(workspace.timezone if workspace else "Asia/Shanghai").strftime("%Y-%m")


@router.get("/fission")
def hub(caller: ConsoleCaller) -> Response:
    """The nav entry: a distributor goes to their shop, a supplier to their products."""
    if caller.role is Role.distributor:
        return RedirectResponse("/distribution/me", status_code=303)
    if caller.role is Role.supplier:
        return RedirectResponse("/catalog", status_code=303)
    return RedirectResponse("/distribution", status_code=303)


@router.get("/distribution")
def distributors(
    request: Request, session: DbSession, caller: ConsoleCaller, month: str = "", notice: str = ""
) -> Response:
    """Distributors, the month's ranking (chart and table), the ledger and the rules."""
    if caller.role not in STAFF:
        return RedirectResponse("/fission", status_code=303)
    month = month or this_month(session, caller)
    error = None
    try:
        ranked = ranking.ranking(session, caller, month)
    except SiyuError as exc:
        ranked, error = [], exc.message(caller.locale)
    people = service.list_distributors(session, caller, limit=200)
    totals = dict(
        session.execute(
            select(CommissionEntry.status, func.sum(CommissionEntry.amount_fen))
            .where(CommissionEntry.workspace_id == caller.workspace_id)
            .group_by(CommissionEntry.status)
        ).all()
    )
    rules = session.scalars(
        select(CommissionRule).where(CommissionRule.workspace_id == caller.workspace_id)
    ).all()
    chart = {
        "names": [r.name for r in ranked[:20]],
        "sales": [r.sales_fen / 100 for r in ranked[:20]],
    }
    return page(
        request,
        session,
        caller,
        "distribution_index.html",
        "fission",
        tab="distributors",
        month=month,
        ranked=ranked,
        people=people,
        error=error,
        totals={k: int(v or 0) for k, v in totals.items()},
        chart=chart,
        notice=notice,
        rules=[commissions.rule_out(r) for r in rules],
        names={d.id: d.name for d in people},
        can_act=caller.role in (Role.admin, Role.operator),
        **helpers(request, session, caller),
    )


@router.post("/distribution/distributors")
def onboard(
    request: Request,
    session: DbSession,
    caller: ConsoleCaller,
    code: Annotated[str, Form()],
    name: Annotated[str, Form()],
    parent_id: Annotated[str, Form()] = "",
) -> Response:
    """Onboard from the console; an error is shown on the page, nothing is saved."""
    try:
        data = DistributorIn(
            code=code.strip(), name=name.strip(), parent_id=int(parent_id) if parent_id else None
        )
    except ValueError as exc:
        return RedirectResponse(
            f"/distribution?notice=invalid:{type(exc).__name__}", status_code=303
        )
    outcome = attempt(session, lambda: service.onboard(session, caller, data))
    if isinstance(outcome, SiyuError):
        return RedirectResponse(f"/distribution?notice=error:{outcome.code}", status_code=303)
    return RedirectResponse("/distribution?notice=onboarded", status_code=303)


@router.post("/distribution/settle")
def settle(session: DbSession, caller: ConsoleCaller) -> Response:
    """Settle what is due now."""
    caller.require(Role.operator)
    count = commissions.settle_due(session, caller.workspace_id)
    return RedirectResponse(f"/distribution?notice=settled:{count}", status_code=303)


@router.post("/distribution/tiers")
def apply_tiers(
    session: DbSession, caller: ConsoleCaller, month: Annotated[str, Form()]
) -> Response:
    """Move distributors to the tiers the month suggests."""
    moved = attempt(session, lambda: ranking.apply_tiers(session, caller, month))
    count = 0 if isinstance(moved, SiyuError) else moved
    return RedirectResponse(f"/distribution?month={month}&notice=tiers:{count}", status_code=303)


@router.get("/distribution/me")
def my_shop(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """The distributor's own view: balance, customers, orders, commissions, links, materials."""
    me = session.get(Distributor, caller.distributor_id) if caller.distributor_id else None
    if caller.role is not Role.distributor or me is None or me.workspace_id != caller.workspace_id:
        return page(
            request,
            session,
            caller,
            "distribution_me.html",
            "fission",
            me=None,
            **helpers(request, session, caller),
        )
    customers = session.scalars(
        scoped(select(Customer), Customer, caller).order_by(Customer.id.desc()).limit(50)
    ).all()
    orders = session.scalars(
        scoped(select(Order), Order, caller).order_by(Order.id.desc()).limit(50)
    ).all()
    entries = session.scalars(
        scoped(select(CommissionEntry), CommissionEntry, caller)
        .order_by(CommissionEntry.id.desc())
        .limit(50)
    ).all()
    links = session.scalars(
        scoped(select(ShareLink), ShareLink, caller).order_by(ShareLink.id.desc())
    ).all()
    return page(
        request,
        session,
        caller,
        "distribution_me.html",
        "fission",
        me=me,
        balance=commissions.balance(session, caller, me.id),
        customers=[to_out(c, caller) for c in customers],
        orders=orders,
        entries=entries,
        links=links,
        materials=materials(session, caller, me.tier),
        **helpers(request, session, caller),
    )


@router.post("/distribution/me/links")
def my_link(
    session: DbSession, caller: ConsoleCaller, kind: Annotated[str, Form()] = "link"
) -> Response:
    """A distributor makes a share link for their shop."""
    if caller.distributor_id is not None and kind in ("link", "poster", "mini_code"):
        attempt(
            session,
            lambda: service.create_link(
                session, caller, caller.distributor_id or 0, LinkIn(kind=kind)
            ),
        )  # type: ignore[arg-type]
    return RedirectResponse("/distribution/me", status_code=303)


@router.get("/distribution/touchpoints")
def funnels(
    request: Request, session: DbSession, caller: ConsoleCaller, notice: str = ""
) -> Response:
    """Every touchpoint's funnel with the seeds' reference conversion beside the actual."""
    found = touchpoints.funnels(session, caller)
    chart = [
        {
            "name": f.name,
            "steps": [f.steps[s] for s in ("scan", "add_wecom", "member", "first_order")],
        }
        for f in found
    ]
    return page(
        request,
        session,
        caller,
        "distribution_touchpoints.html",
        "fission",
        tab="touchpoints",
        funnels=found,
        chart=chart,
        kinds=TOUCHPOINT_KINDS,
        notice=notice,
        can_act=caller.role in (Role.admin, Role.operator),
        **helpers(request, session, caller),
    )


@router.post("/distribution/touchpoints")
def new_touchpoint(
    session: DbSession,
    caller: ConsoleCaller,
    kind: Annotated[str, Form()],
    name: Annotated[str, Form()],
) -> Response:
    """Create a touchpoint from the console."""
    if kind not in TOUCHPOINT_KINDS or not name.strip():
        return RedirectResponse("/distribution/touchpoints?notice=invalid", status_code=303)
    data = TouchpointIn(kind=kind, name=name.strip()[:128])  # type: ignore[arg-type]
    outcome = attempt(session, lambda: touchpoints.create(session, caller, data))
    notice = "error" if isinstance(outcome, SiyuError) else "created"
    return RedirectResponse(f"/distribution/touchpoints?notice={notice}", status_code=303)
