"""Tag endpoints under /api/v1/tags and /api/v1/tag-groups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Header, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from siyu.core.auth import get_scoped
from siyu.core.http import Caller, DbSession
from siyu.core.idempotency import once, request_hash
from siyu.customers.models import Customer
from siyu.segments import service as segments
from siyu.tags import service, upload
from siyu.tags.library import BUILTINS
from siyu.tags.models import Tag
from siyu.tags.schemas import (
    BuiltinOut,
    Bulk,
    BulkOut,
    CustomerTagOut,
    GroupIn,
    GroupOut,
    HistoryOut,
    InstallIn,
    TagIn,
    TagOut,
    TagPatch,
)

router = APIRouter(tags=["tags"])
MAX_FILE = 5 * 1024 * 1024


@router.get("/tag-groups", response_model=list[GroupOut])
def list_groups(session: DbSession, caller: Caller) -> list[GroupOut]:
    """Tag groups by name."""
    return [
        GroupOut.model_validate(g, from_attributes=True)
        for g in service.list_groups(session, caller)
    ]


@router.post("/tag-groups", status_code=201, response_model=GroupOut)
def create_group(body: GroupIn, session: DbSession, caller: Caller) -> GroupOut:
    """A new tag group."""
    return GroupOut.model_validate(
        service.create_group(session, caller, body), from_attributes=True
    )


@router.get("/tags", response_model=list[TagOut])
def list_tags(session: DbSession, caller: Caller) -> list[TagOut]:
    """Every tag with how many live customers carry it."""
    return service.list_tags(session, caller)


@router.post("/tags", status_code=201, response_model=TagOut)
def create_tag(
    body: TagIn,
    request: Request,
    session: DbSession,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """A manual tag, or a rule tag (computed at once)."""

    def produce() -> tuple[int, object]:
        tag = service.create_tag(session, caller, body)
        count = service.counts(session, caller.workspace_id).get(tag.id, 0)
        return 201, service.to_out(tag, count).model_dump(mode="json")

    digest = request_hash("POST", request.url.path, body.model_dump())
    status, payload = once(session, caller.workspace_id, idempotency_key, digest, produce)
    return JSONResponse(payload, status_code=status)


@router.get("/tags/library", response_model=list[BuiltinOut])
def library(session: DbSession, caller: Caller) -> list[BuiltinOut]:
    """The built-in definitions, and which are installed here."""
    installed = {t.builtin_key for t in service.list_tags(session, caller)}
    return [
        BuiltinOut(
            key=b.key,
            group=b.group,
            name=b.name,
            description=b.description,
            rule=b.rule,
            installed=b.key in installed,
        )
        for b in BUILTINS
    ]


@router.post("/tags/library:install", response_model=list[TagOut])
def install(body: InstallIn, session: DbSession, caller: Caller) -> list[TagOut]:
    """Install built-in tags (all, or by key); they are computed at once."""
    made = service.install(session, caller, body.keys)
    numbers = service.counts(session, caller.workspace_id)
    return [service.to_out(t, numbers.get(t.id, 0)) for t in made]


@router.get("/tags/{tag_id}", response_model=TagOut)
def get_tag(tag_id: int, session: DbSession, caller: Caller) -> TagOut:
    """One tag with its count."""
    tag = get_scoped(session, Tag, tag_id, caller)
    return service.to_out(tag, service.counts(session, caller.workspace_id).get(tag.id, 0))


@router.patch("/tags/{tag_id}", response_model=TagOut)
def update_tag(tag_id: int, body: TagPatch, session: DbSession, caller: Caller) -> TagOut:
    """Rename, regroup, or change a rule tag's rule."""
    tag = service.update_tag(session, caller, tag_id, body)
    return service.to_out(tag, service.counts(session, caller.workspace_id).get(tag.id, 0))


@router.delete("/tags/{tag_id}", status_code=204)
def delete_tag(tag_id: int, session: DbSession, caller: Caller) -> Response:
    """Delete a tag no rule uses."""
    service.delete_tag(session, caller, tag_id)
    return Response(status_code=204)


def _targets(session: DbSession, caller: Caller, body: Bulk) -> tuple[list[int], str]:
    if body.segment_id is not None:
        return segments.member_ids(session, caller, body.segment_id), "segment"
    return body.customer_ids, "manual"


@router.post("/tags/{tag_id}/customers:add", response_model=BulkOut)
def add_customers(tag_id: int, body: Bulk, session: DbSession, caller: Caller) -> BulkOut:
    """Give a manual tag to a list of customers or to a segment's members."""
    ids, source = _targets(session, caller, body)
    return BulkOut(changed=service.add(session, caller, tag_id, ids, source))


@router.post("/tags/{tag_id}/customers:remove", response_model=BulkOut)
def remove_customers(tag_id: int, body: Bulk, session: DbSession, caller: Caller) -> BulkOut:
    """Take a manual tag from a list of customers or from a segment's members."""
    ids, source = _targets(session, caller, body)
    return BulkOut(changed=service.remove(session, caller, tag_id, ids, source))


@router.post("/tags/{tag_id}/customers:upload", response_model=BulkOut)
async def upload_customers(
    tag_id: int,
    session: DbSession,
    caller: Caller,
    file: Annotated[UploadFile, File()],
    remove: bool = False,
) -> BulkOut:
    """Tag (or untag, remove=true) the customers of a file: one customer id or phone a line."""
    content = await file.read(MAX_FILE + 1)
    if len(content) > MAX_FILE:
        from siyu.core.errors import PayloadTooLarge

        raise PayloadTooLarge()
    ids = upload.ids_from_file(session, caller, content)
    change = service.remove if remove else service.add
    return BulkOut(changed=change(session, caller, tag_id, ids, "file"))


@router.get("/customers/{customer_id}/tags", response_model=list[CustomerTagOut])
def customer_tags(customer_id: int, session: DbSession, caller: Caller) -> list[CustomerTagOut]:
    """The tags a customer carries now."""
    get_scoped(session, Customer, customer_id, caller)
    return [
        CustomerTagOut(tag_id=t.id, name=t.name, since=since)
        for t, since in service.tags_of(session, caller, customer_id)
    ]


@router.get("/customers/{customer_id}/tag-history", response_model=list[HistoryOut])
def customer_tag_history(customer_id: int, session: DbSession, caller: Caller) -> list[HistoryOut]:
    """When the customer gained or lost each tag, newest first."""
    get_scoped(session, Customer, customer_id, caller)
    return [
        HistoryOut(tag_id=h.tag_id, name=name, change=h.change, source=h.source, at=h.at)
        for h, name in service.history_of(session, caller, customer_id)
    ]
