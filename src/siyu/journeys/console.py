"""Console: journey list, canvas, enable/disable, funnel per journey, and staff tasks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, scoped
from siyu.core.console import ConsoleCaller, attempt, labeler, local_clock, page, yuan
from siyu.core.http import DbSession
from siyu.journeys import metrics, service, sops
from siyu.journeys import strings as _strings  # noqa: F401  (registers the strings)
from siyu.journeys.definition import exits
from siyu.journeys.models import JourneyRun

router = APIRouter(include_in_schema=False)


def _summary(session: Session, caller: Principal) -> dict[int, dict[str, int]]:
    columns: Any = select(
        JourneyRun.journey_id,
        func.count(),
        func.count(JourneyRun.converted_at),
        func.coalesce(func.sum(JourneyRun.revenue_fen), 0),
    )
    stmt = (
        scoped(columns, JourneyRun, caller)
        .where(JourneyRun.status != "holdout")
        .group_by(JourneyRun.journey_id)
    )
    return {
        j: {"entered": n, "converted": c, "revenue": int(r)} for j, n, c, r in session.execute(stmt)
    }


@router.get("/journeys", response_class=HTMLResponse)
def journeys_page(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """Every journey with its headline numbers, and the built-in SOPs to install."""
    rows = service.listing(session, caller, None, 200)
    return page(
        request,
        session,
        caller,
        "journeys_list.html",
        "journeys",
        journeys=rows,
        summary=_summary(session, caller),
        sops=sops.catalog(),
        label=labeler(caller.locale),
        yuan=yuan,
    )


@router.post("/journeys/sops/{key}")
def install(key: str, session: DbSession, caller: ConsoleCaller) -> Response:
    """Install a built-in SOP on the sandbox channel (edit it to use real channels)."""
    result = attempt(
        session,
        lambda: sops.install(
            session, caller, key, {"channel": "sandbox", "sms_channel": "sandbox"}
        ),
    )
    target = f"/journeys/{result.id}" if hasattr(result, "id") else "/journeys"
    return RedirectResponse(target, status_code=303)


@router.post("/journeys/{journey_id}/status/{status}")
def change_status(
    journey_id: int, status: str, session: DbSession, caller: ConsoleCaller
) -> Response:
    """Enable or disable a journey."""
    service.set_status(session, caller, journey_id, status)
    return RedirectResponse(f"/journeys/{journey_id}", status_code=303)


def canvas(definition: Any) -> list[dict[str, Any]]:
    """The steps in the order a run meets them (breadth-first), each with where it leads."""
    steps = {s.key: s for s in definition.steps}
    order, todo, seen = [], [definition.start], set()
    while todo:
        key = todo.pop(0)
        if key in seen:
            continue
        seen.add(key)
        step = steps[key]
        order.append(
            {
                "key": key,
                "type": step.type,
                "label": step.label,
                "exits": exits(step),
                "detail": _detail(step),
            }
        )
        todo.extend(exits(step))
    return order


def _detail(step: Any) -> str:
    if step.type == "send":
        return f"{step.channel}: {(step.content or '')[:40]}"
    if step.type == "wait":
        if step.duration is not None:
            d = step.duration
            return f"{d.days}d {d.hours}h {d.minutes}m"
        if step.until_time:
            return f"→ {step.until_time}"
        return f"{step.until_event.event} / {step.until_event.timeout.delta()}"
    if step.type == "coupon":
        return str(step.template)
    if step.type == "points":
        return f"+{step.points}"
    if step.type == "tag":
        return f"{step.action} {step.tag}"
    if step.type == "task":
        return f"{step.assignee}: {step.title}"
    return ""


@router.get("/journeys/{journey_id}", response_class=HTMLResponse)
def journey_page(
    journey_id: int, request: Request, session: DbSession, caller: ConsoleCaller
) -> Response:
    """One journey: canvas, funnel (ECharts), steps with suppressions by reason, lift."""
    journey = service.get(session, caller, journey_id)
    definition = service.definition_of(session, journey)
    figures = metrics.journey_metrics(session, caller, journey.id)
    funnel = [{"name": "entered", "value": figures["entered"]}]
    funnel += [
        {"name": r["label"] or r["key"], "value": r["executed"]}
        for r in figures["steps"]
        if r["type"] not in ("wait", "branch", "split")
    ]
    funnel.append({"name": "converted", "value": figures["converted"]})
    return page(
        request,
        session,
        caller,
        "journeys_detail.html",
        "journeys",
        journey=journey,
        version=service.version_number(session, journey),
        nodes=canvas(definition),
        m=figures,
        funnel=funnel,
        label=labeler(caller.locale),
        yuan=yuan,
    )


@router.get("/journey-tasks", response_class=HTMLResponse)
def tasks_page(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """Open tasks for shopping guides and staff."""
    return page(
        request,
        session,
        caller,
        "journeys_tasks.html",
        "journeys",
        tasks=service.tasks(session, caller, "open", None, 200),
        when=local_clock(session, request, caller),
    )


@router.post("/journey-tasks/{task_id}/done")
def task_done(task_id: int, session: DbSession, caller: ConsoleCaller) -> Response:
    """Mark a task done."""
    service.complete_task(session, caller, task_id)
    return RedirectResponse("/journey-tasks", status_code=303)
