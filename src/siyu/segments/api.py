"""Segment endpoints under /api/v1/segments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from siyu.core.http import Caller, DbSession
from siyu.core.idempotency import once, request_hash
from siyu.core.pagination import Page, check_limit, decode_cursor, encode_cursor
from siyu.segments import export, history, lookalike, service, tasks  # noqa: F401  (tasks: signal subscriptions)
from siyu.segments.models import Segment
from siyu.segments.schemas import (
    LookalikeRequest,
    MemberOut,
    PreviewIn,
    PreviewOut,
    RefreshOut,
    SegmentIn,
    SegmentLookalikeOut,
    SegmentOut,
    SegmentPatch,
    SizePoint,
)
from siyu.workspaces.models import Role

router = APIRouter(prefix="/segments", tags=["segments"])


def to_out(segment: Segment) -> SegmentOut:
    """The API view of a segment."""
    return SegmentOut.model_validate(segment, from_attributes=True)


@router.post(":preview", response_model=PreviewOut)
def preview(body: PreviewIn, session: DbSession, caller: Caller) -> PreviewOut:
    """Count (and a few ids of) the customers a rule admits now; nothing is saved."""
    caller.require(Role.operator, Role.analyst)
    count, sample = service.preview(session, caller, body.rule)
    return PreviewOut(count=count, sample_ids=sample)


@router.post("", status_code=201, response_model=SegmentOut)
def create(
    body: SegmentIn,
    request: Request,
    session: DbSession,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Save a segment; its members are computed at once."""

    def produce() -> tuple[int, object]:
        segment = service.create_segment(session, caller, body)
        return 201, to_out(segment).model_dump(mode="json")

    digest = request_hash("POST", request.url.path, body.model_dump())
    status, payload = once(session, caller.workspace_id, idempotency_key, digest, produce)
    return JSONResponse(payload, status_code=status)


@router.get("", response_model=Page[SegmentOut])
def list_segments(
    session: DbSession, caller: Caller, cursor: str | None = None, limit: int = 50
) -> Page[SegmentOut]:
    """Segments, oldest first."""
    rows = service.list_segments(session, caller, decode_cursor(cursor), check_limit(limit))
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return Page[SegmentOut](items=[to_out(s) for s in rows], next_cursor=next_cursor)


@router.get("/{segment_id}", response_model=SegmentOut)
def get(segment_id: int, session: DbSession, caller: Caller) -> SegmentOut:
    """One segment with its current size."""
    return to_out(service.get_segment(session, caller, segment_id))


@router.patch("/{segment_id}", response_model=SegmentOut)
def update(segment_id: int, body: SegmentPatch, session: DbSession, caller: Caller) -> SegmentOut:
    """Change name, description or rule (members are recomputed)."""
    return to_out(service.update_segment(session, caller, segment_id, body))


@router.delete("/{segment_id}", status_code=204)
def delete(segment_id: int, session: DbSession, caller: Caller) -> Response:
    """Delete a segment no other segment uses."""
    service.delete_segment(session, caller, segment_id)
    return Response(status_code=204)


@router.post("/{segment_id}/refresh", response_model=RefreshOut)
def refresh(segment_id: int, session: DbSession, caller: Caller) -> RefreshOut:
    """Recompute the members now."""
    caller.require(Role.operator)
    segment = service.get_segment(session, caller, segment_id)
    entered, exited = service.refresh(session, segment)
    return RefreshOut(entered=len(entered), exited=len(exited), size=segment.size)


@router.get("/{segment_id}/members", response_model=Page[MemberOut])
def members(
    segment_id: int,
    session: DbSession,
    caller: Caller,
    cursor: str | None = None,
    limit: Annotated[int, Query()] = 50,
) -> Page[MemberOut]:
    """Live members by customer id, cursor-paginated."""
    rows = service.members(session, caller, segment_id, decode_cursor(cursor), check_limit(limit))
    items = [MemberOut(customer_id=c.id, since=since) for c, since in rows]
    next_cursor = encode_cursor(rows[-1][0].id) if len(rows) == limit else None
    return Page[MemberOut](items=items, next_cursor=next_cursor)


@router.get("/{segment_id}/sizes", response_model=list[SizePoint])
def sizes(segment_id: int, session: DbSession, caller: Caller, days: int = 90) -> list[SizePoint]:
    """Daily size over the last `days` days."""
    days = max(1, min(days, 730))
    points = history.size_history(session, caller, segment_id, days)
    return [SizePoint(day=d, size=n) for d, n in points]


@router.get("/{segment_id}/export")
def export_members(
    segment_id: int,
    session: DbSession,
    caller: Caller,
    format: str = "csv",
    pii: bool = False,
) -> Response:
    """Members as CSV or XLSX; with pii=true (phone, name) only for admin/operator, audited."""
    data, media = export.export(session, caller, segment_id, format, pii)
    name = f"segment-{segment_id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(data, media_type=media, headers=headers)


@router.post("/{segment_id}/lookalike", response_model=SegmentLookalikeOut)
def expand(
    segment_id: int, session: DbSession, caller: Caller, body: LookalikeRequest | None = None
) -> SegmentLookalikeOut:
    """The top_n non-members most like the segment, with precision on a held-out part of it."""
    return lookalike.expand(session, caller, segment_id, body or LookalikeRequest())
