"""Console: the segment list, the builder with a live count, and a segment's page."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.console import ConsoleCaller, attempt, local_clock, page
from siyu.core.errors import NotFound, SiyuError
from siyu.core.http import DbSession
from siyu.core.pagination import decode_cursor, encode_cursor
from siyu.core.templating import render
from siyu.customers.service import FULL_PII_ROLES
from siyu.ingest.models import EVENT_TYPES
from siyu.segments import history, lookalike, service, strings, tasks  # noqa: F401  (strings, subscriptions)
from siyu.segments.builder import KINDS, ROWS, rule_from_form
from siyu.segments.rules import ATTRIBUTES, RFM_CELLS, STAGES
from siyu.segments.schemas import LookalikeRequest, SegmentIn

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
OPS = ("eq", "ne", "gt", "gte", "lt", "lte")
SUGGESTIONS = (*ATTRIBUTES, "口红", "眼影", "粉底", "护肤", *EVENT_TYPES, *STAGES, *RFM_CELLS)


@router.get("/segments", response_class=HTMLResponse)
def segments(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """Every segment with its size."""
    rows = service.list_segments(session, caller, limit=200)
    when = local_clock(session, request, caller)
    return page(request, session, caller, "segments_list.html", "segments", rows=rows, when=when)


def _builder(
    request: Request,
    session: Session,
    caller: Principal,
    form: dict[str, str],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return page(
        request,
        session,
        caller,
        "segments_builder.html",
        "segments",
        status_code,
        form=form,
        rows=range(ROWS),
        kinds=KINDS,
        ops=OPS,
        suggestions=SUGGESTIONS,
        error=error,
    )


@router.get("/segments/new", response_class=HTMLResponse)
def builder(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """The builder: condition rows; the count follows every edit."""
    return _builder(request, session, caller, {"combine": "and"})


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/segments/preview", response_class=HTMLResponse)
async def live_count(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """The live count fragment for the rule the form describes (htmx)."""
    rule = rule_from_form(await _form(request))
    context: dict[str, Any] = {"rule": rule, "count": None, "error": None}
    if rule is not None:
        try:
            context["count"], _ = service.preview(session, caller, rule)
        except SiyuError as exc:
            context["error"] = exc.message(caller.locale)
    context["rule_json"] = json.dumps(rule, ensure_ascii=False, indent=1) if rule else ""
    return render(request, "segments_count.html", 200, **context)


@router.post("/segments/new", response_class=HTMLResponse)
async def save(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """Save the built segment and open its page; a bad rule shows why, nothing saved."""
    form = await _form(request)
    rule = rule_from_form(form)
    from siyu.core.i18n import translator

    if rule is None:
        return _builder(
            request, session, caller, form, translator(caller.locale)("segments.empty_rule"), 422
        )
    try:
        data = SegmentIn(name=form.get("name", "").strip() or "?", rule=rule)
    except ValueError as exc:
        return _builder(request, session, caller, form, str(exc), 422)
    made = attempt(session, lambda: service.create_segment(session, caller, data))
    if isinstance(made, SiyuError):
        return _builder(request, session, caller, form, made.message(caller.locale), 422)
    return RedirectResponse(f"/segments/{made.id}", status_code=303)


@router.get("/segments/{segment_id}", response_class=HTMLResponse)
def segment_page(
    segment_id: int,
    request: Request,
    session: DbSession,
    caller: ConsoleCaller,
    cursor: str | None = None,
) -> Response:
    """Size over time, members a page at a time, export buttons."""
    try:
        segment = service.get_segment(session, caller, segment_id)
    except NotFound:
        return page(request, session, caller, "segments_missing.html", "segments", 404)
    rows = service.members(session, caller, segment_id, decode_cursor(cursor), PAGE_SIZE)
    points = history.size_history(session, caller, segment_id, 90)
    chart = {"days": [d.isoformat() for d, _ in points], "sizes": [n for _, n in points]}
    return page(
        request,
        session,
        caller,
        "segments_page.html",
        "segments",
        segment=segment,
        members=rows,
        chart=chart,
        rule_json=json.dumps(segment.rule, ensure_ascii=False, indent=1),
        when=local_clock(session, request, caller),
        full_pii=caller.role in FULL_PII_ROLES,
        next_cursor=encode_cursor(rows[-1][0].id) if len(rows) == PAGE_SIZE else None,
    )


@router.post("/segments/{segment_id}/lookalike", response_class=HTMLResponse)
async def lookalike_table(
    segment_id: int, request: Request, session: DbSession, caller: ConsoleCaller
) -> Response:
    """The look-alike fragment: top N with scores and the held-out precision (htmx)."""
    form = await _form(request)
    context: dict[str, Any] = {"found": None, "error": None}
    try:
        ask = LookalikeRequest(
            top_n=int(form.get("top_n") or 20), holdout=float(form.get("holdout") or 0.2)
        )
        context["found"] = lookalike.expand(session, caller, segment_id, ask)
    except SiyuError as exc:
        context["error"] = exc.message(caller.locale)
    except ValidationError as exc:
        context["error"] = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
    except ValueError:
        context["error"] = "top_n / holdout: not a number"
    # 200 even for a refusal: htmx swaps only 2xx answers, and the fragment shows why.
    return render(request, "segments_lookalike.html", 200, **context)
