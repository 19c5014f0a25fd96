"""Console: the tag library (groups, built-ins, counts) with manual add and remove."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.console import ConsoleCaller, attempt, page
from siyu.core.errors import InvalidField, SiyuError
from siyu.core.http import DbSession
from siyu.core.i18n import translator
from siyu.segments import strings  # noqa: F401  (console strings)
from siyu.tags import service
from siyu.tags.schemas import TagIn

router = APIRouter(include_in_schema=False)


def _library(
    request: Request,
    session: Session,
    caller: Principal,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    tags = service.list_tags(session, caller)
    groups = {g.id: g.name for g in service.list_groups(session, caller)}
    shelves: dict[str, list[object]] = {}
    for tag in tags:
        name = groups.get(tag.group_id or 0) or translator(caller.locale)("tags.ungrouped")
        shelves.setdefault(name, []).append(tag)
    return page(
        request,
        session,
        caller,
        "tags_library.html",
        "tags",
        status_code,
        shelves=shelves,
        notice=notice,
        error=error,
    )


@router.get("/tags", response_class=HTMLResponse)
def library(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """Tags by group with how many customers carry each."""
    return _library(request, session, caller)


def _outcome(
    request: Request, session: Session, caller: Principal, result: object, key: str
) -> Response:
    if isinstance(result, SiyuError):
        return _library(
            request, session, caller, error=result.message(caller.locale), status_code=422
        )
    n = len(result) if isinstance(result, list) else result
    return _library(request, session, caller, notice=translator(caller.locale)(key).format(n=n))


@router.post("/tags/install", response_class=HTMLResponse)
def install(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """Install the built-in library."""
    made = attempt(session, lambda: service.install(session, caller))
    return _outcome(request, session, caller, made, "tags.installed")


@router.post("/tags/new", response_class=HTMLResponse)
async def create(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """A new manual tag."""
    form = await request.form()
    name = str(form.get("name", "")).strip()
    try:
        data = TagIn(name=name)
    except ValueError:
        error = InvalidField("name", "应为1到64个字符", "1 to 64 characters")
        return _outcome(request, session, caller, error, "tags.changed")
    made = attempt(session, lambda: [service.create_tag(session, caller, data)])
    return _outcome(request, session, caller, made, "tags.changed")


@router.post("/tags/{tag_id}/customers", response_class=HTMLResponse)
async def change(
    tag_id: int, request: Request, session: DbSession, caller: ConsoleCaller
) -> Response:
    """Add or remove a manual tag for the listed customer ids."""
    form = await request.form()
    raw = str(form.get("ids", ""))
    parts = [p for p in re.split(r"[\s,，]+", raw) if p]
    if not parts or not all(p.isdigit() for p in parts):
        error = InvalidField("ids", "应为客户ID列表", "a list of customer ids")
        return _outcome(request, session, caller, error, "tags.changed")
    ids = [int(p) for p in parts]
    act = service.remove if form.get("action") == "remove" else service.add
    result = attempt(session, lambda: act(session, caller, tag_id, ids))
    return _outcome(request, session, caller, result, "tags.changed")
