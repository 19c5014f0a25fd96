"""Customer endpoints under /api/v1/customers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from siyu.core.auth import get_scoped
from siyu.core.errors import InvalidField
from siyu.core.http import Caller, DbSession
from siyu.core.idempotency import once, request_hash
from siyu.core.pagination import Page, check_limit, decode_cursor, encode_cursor
from siyu.customers import merge as merging
from siyu.customers import service, suggestions
from siyu.customers.models import Customer, MergeRecord, MergeSuggestion
from siyu.customers.profile import profile
from siyu.customers.schemas import (
    CustomerCreate,
    CustomerOut,
    MergeIn,
    MergeOut,
    ProfileOut,
    SuggestionOut,
)
from siyu.workspaces.models import Role

router = APIRouter(prefix="/customers", tags=["customers"])


@router.post("", status_code=201, response_model=CustomerOut)
def create_customer(
    body: CustomerCreate,
    request: Request,
    session: DbSession,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Create a customer; replaying the same Idempotency-Key returns the first answer."""

    def produce() -> tuple[int, object]:
        customer = service.create_customer(session, caller, body)
        return 201, service.to_out(customer, caller).model_dump(mode="json")

    digest = request_hash("POST", request.url.path, body.model_dump())
    status, payload = once(session, caller.workspace_id, idempotency_key, digest, produce)
    return JSONResponse(payload, status_code=status)


@router.get("/{customer_id}", response_model=ProfileOut)
def get_customer(customer_id: int, session: DbSession, caller: Caller) -> ProfileOut:
    """One customer's profile: identities by channel, attributes, order summary, timeline."""
    return profile(session, caller, service.get_customer(session, caller, customer_id))


@router.post("/{customer_id}/merge", status_code=201, response_model=MergeOut)
def merge_customers(
    customer_id: int, body: MergeIn, session: DbSession, caller: Caller
) -> MergeRecord:
    """Merge another customer into this one by hand (recorded, and undoable)."""
    caller.require(Role.operator)
    get_scoped(session, Customer, body.other_id, caller)
    get_scoped(session, Customer, customer_id, caller)
    return merging.merge(session, caller, customer_id, body.other_id, f"manual:{body.reason}")


@router.get("", response_model=Page[CustomerOut])
def list_customers(
    session: DbSession,
    caller: Caller,
    phone: str | None = None,
    email: str | None = None,
    name: str | None = None,
    identifier_type: str | None = None,
    identifier_value: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query()] = 50,
) -> Page[CustomerOut]:
    """Customers by phone (any format), email, name or any identifier; cursor-paginated."""
    limit = check_limit(limit)
    identifier = None
    if identifier_type or identifier_value:
        if not (identifier_type and identifier_value):
            raise InvalidField(
                "identifier_value",
                "需同时给出类型和值",
                "give both identifier_type and identifier_value",
            )
        identifier = (identifier_type, identifier_value)
    rows = service.search(
        session,
        caller,
        identifier=identifier,
        phone=phone,
        email=email,
        name=name,
        after_id=decode_cursor(cursor),
        limit=limit,
    )
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return Page[CustomerOut](
        items=[service.to_out(c, caller) for c in rows], next_cursor=next_cursor
    )


merges = APIRouter(tags=["customers"])


@merges.get("/merge-suggestions", response_model=Page[SuggestionOut])
def list_suggestions(
    session: DbSession,
    caller: Caller,
    status: str = "pending",
    cursor: str | None = None,
    limit: int = 50,
) -> Page[SuggestionOut]:
    """Merge suggestions from weak evidence, by status."""
    rows = suggestions.list_suggestions(
        session, caller, status, decode_cursor(cursor), check_limit(limit)
    )
    items = [SuggestionOut.model_validate(r, from_attributes=True) for r in rows]
    return Page[SuggestionOut](
        items=items, next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None
    )


@merges.post("/merge-suggestions/{suggestion_id}/accept", response_model=MergeOut)
def accept_suggestion(suggestion_id: int, session: DbSession, caller: Caller) -> MergeRecord:
    """Accept: the two customers become one (undo with POST /merges/{id}/undo)."""
    return suggestions.accept(session, caller, suggestion_id)


@merges.post("/merge-suggestions/{suggestion_id}/reject", response_model=SuggestionOut)
def reject_suggestion(suggestion_id: int, session: DbSession, caller: Caller) -> MergeSuggestion:
    """Reject: they are different people."""
    return suggestions.reject(session, caller, suggestion_id)


@merges.get("/merges/{merge_id}", response_model=MergeOut)
def get_merge(merge_id: int, session: DbSession, caller: Caller) -> MergeRecord:
    """One merge with its reason and conflicts."""
    caller.require(Role.operator)
    return get_scoped(session, MergeRecord, merge_id, caller)


@merges.post("/merges/{merge_id}/undo", response_model=MergeOut)
def undo_merge(merge_id: int, session: DbSession, caller: Caller) -> MergeRecord:
    """Unmerge: each customer gets back what it brought."""
    caller.require(Role.operator)
    return merging.unmerge(session, caller, merge_id)
