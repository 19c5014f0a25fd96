"""Console: merge suggestions (accept, reject, find duplicates) and undoing a merge."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, cast

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal, scoped
from siyu.core.console import ConsoleCaller, attempt, is_htmx, page
from siyu.core.errors import Forbidden, NotFound, SiyuError, ValidationFailed
from siyu.core.http import DbSession
from siyu.core.pagination import decode_cursor, encode_cursor
from siyu.core.templating import render
from siyu.customers import merge as merging
from siyu.customers import service, suggestions
from siyu.customers.console import NOTICES, can_act, helpers, not_found, profile_page, read_only
from siyu.customers.models import Customer, Identity, MergeRecord, MergeSuggestion
from siyu.ingest.models import Order
from siyu.workspaces.models import Role

router = APIRouter(include_in_schema=False)
SUGGESTION_PAGE = 20
STATUSES = ("pending", "accepted", "rejected", "undone")
# Who may read the suggestions (acting needs console.ACTORS).
READERS = {Role.admin, Role.operator, Role.analyst}


@router.post("/merges/{merge_id}/undo", response_class=HTMLResponse)
def undo_merge(
    merge_id: int,
    request: Request,
    session: DbSession,
    caller: ConsoleCaller,
    back: Annotated[int | None, Form()] = None,
    suggestion: Annotated[int | None, Form()] = None,
) -> Response:
    """Unmerge; from a suggestion row (htmx) answer with the row, else go back to the profile."""
    if not can_act(caller):
        return read_only(request, session, caller, "customers")
    outcome = attempt(session, lambda: merging.unmerge(session, caller, merge_id))
    failed = outcome if isinstance(outcome, SiyuError) else None
    if is_htmx(request) and suggestion is not None:
        return _row_response(request, session, caller, suggestion, failed)
    if isinstance(outcome, MergeRecord):
        target = back or outcome.survivor_id
        return RedirectResponse(f"/customers/{target}?done=undone", status_code=303)
    assert failed is not None
    if isinstance(failed, NotFound):
        return not_found(request, session, caller, "merge_record", merge_id)
    try:
        customer = service.get_customer(session, caller, back or 0)
    except NotFound:
        return not_found(request, session, caller, "customer", back or 0)
    message = failed.message(caller.locale)
    return profile_page(
        request, session, caller, customer, error=message, status_code=failed.status
    )


# ---------------------------------------------------------------- merge suggestions


def _sides(session: Session, caller: Principal, ids: set[int]) -> dict[int, dict[str, Any]]:
    """Each customer of a suggestion as the caller may see it, with identity and order counts."""
    if not ids:
        return {}
    found = session.scalars(scoped(select(Customer), Customer, caller).where(Customer.id.in_(ids)))
    identities = dict(
        session.execute(
            select(Identity.customer_id, func.count(Identity.id))
            .where(Identity.customer_id.in_(ids))
            .group_by(Identity.customer_id)
        ).all()
    )
    orders = dict(
        session.execute(
            select(Order.customer_id, func.count(Order.id))
            .where(Order.customer_id.in_(ids))
            .group_by(Order.customer_id)
        ).all()
    )
    sides: dict[int, dict[str, Any]] = {}
    for c in found:
        shown = service.to_out(c, caller)
        sides[c.id] = {
            "id": c.id,
            "name": shown.name,
            "phone": shown.phone,
            "province": c.province,
            "city": c.city,
            "identities": identities.get(c.id, 0),
            "orders": orders.get(c.id, 0),
            "merged_into_id": c.merged_into_id,
        }
    return sides


def _rows(
    session: Session, caller: Principal, found: Iterable[MergeSuggestion]
) -> list[dict[str, Any]]:
    """Suggestions with both customers side by side and, once accepted, the survivor."""
    found = list(found)
    sides = _sides(session, caller, {i for s in found for i in (s.customer_a, s.customer_b)})
    merge_ids = [s.merge_id for s in found if s.merge_id]
    survivors = (
        dict(
            session.execute(
                select(MergeRecord.id, MergeRecord.survivor_id).where(
                    MergeRecord.id.in_(merge_ids),
                    MergeRecord.workspace_id == caller.workspace_id,
                )
            ).all()
        )
        if merge_ids
        else {}
    )
    return [
        {
            "id": s.id,
            "status": s.status,
            "score": s.score,
            "evidence": sorted(s.evidence.items(), key=lambda kv: -kv[1]),
            "created_at": s.created_at,
            "decided_at": s.decided_at,
            "decided_by": s.decided_by,
            "merge_id": s.merge_id,
            "survivor_id": survivors.get(s.merge_id) if s.merge_id else None,
            "a": sides.get(s.customer_a) or {"id": None, "ref": s.customer_a},
            "b": sides.get(s.customer_b) or {"id": None, "ref": s.customer_b},
        }
        for s in found
    ]


def _one_row(session: Session, caller: Principal, suggestion_id: int) -> dict[str, Any] | None:
    stmt = scoped(select(MergeSuggestion), MergeSuggestion, caller)
    found = session.scalars(stmt.where(MergeSuggestion.id == suggestion_id)).first()
    return _rows(session, caller, [found])[0] if found else None


def _row_response(
    request: Request,
    session: Session,
    caller: Principal,
    suggestion_id: int,
    failed: SiyuError | None,
) -> Response:
    """The htmx answer: the suggestion's row as it is now, with the error inline if one."""
    row = _one_row(session, caller, suggestion_id)
    if row is None:
        return not_found(request, session, caller, "merge_suggestion", suggestion_id)
    return render(
        request,
        "suggestion_row.html",
        s=row,
        error=failed.message(caller.locale) if failed else None,
        **helpers(request, session, caller),
    )


def _suggestions_page(
    request: Request,
    session: Session,
    caller: Principal,
    status: str = "pending",
    cursor: str | None = None,
    *,
    notice: str | None = None,
    added: int | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    status = status if status in STATUSES else "pending"
    base = scoped(select(MergeSuggestion), MergeSuggestion, caller)
    tally = cast("Select[Any]", select(MergeSuggestion.status, func.count(MergeSuggestion.id)))
    counts: dict[str, int] = {
        st: n
        for st, n in session.execute(
            scoped(tally, MergeSuggestion, caller).group_by(MergeSuggestion.status)
        )
    }
    found: list[MergeSuggestion] = []
    try:
        position = decode_cursor(cursor)
        stmt = base.where(MergeSuggestion.status == status)
        # The queue is worked oldest first; what was decided reads newest first.
        if status == "pending":
            stmt = stmt.where(MergeSuggestion.id > (position or 0)).order_by(MergeSuggestion.id)
        else:
            if position:
                stmt = stmt.where(MergeSuggestion.id < position)
            stmt = stmt.order_by(MergeSuggestion.id.desc())
        found = list(session.scalars(stmt.limit(SUGGESTION_PAGE)))
    except ValidationFailed as exc:
        error = error or exc.message(caller.locale)
    rows = _rows(session, caller, found)
    if rows:
        audit.record(session, caller, "read", "merge_suggestion", None, status=status, n=len(rows))
    next_cursor = encode_cursor(found[-1].id) if len(found) == SUGGESTION_PAGE else None
    return page(
        request,
        session,
        caller,
        "merge_suggestions.html",
        "suggestions",
        status_code,
        rows=rows,
        status=status,
        statuses=STATUSES,
        counts=counts,
        next_cursor=next_cursor,
        notice=notice if notice in NOTICES else None,
        added=added,
        error=error,
        **helpers(request, session, caller),
    )


@router.get("/merge-suggestions", response_class=HTMLResponse)
def merge_suggestions(
    request: Request,
    session: DbSession,
    caller: ConsoleCaller,
    status: str = "pending",
    cursor: str | None = None,
    done: str | None = None,
    added: int | None = None,
) -> Response:
    """Pending suggestions to decide, and tabs for the accepted, rejected and undone ones."""
    if caller.role not in READERS:
        return page(request, session, caller, "forbidden.html", "suggestions", status_code=403)
    return _suggestions_page(request, session, caller, status, cursor, notice=done, added=added)


def _decide(
    request: Request,
    session: Session,
    caller: Principal,
    suggestion_id: int,
    verb: str,
    change: Callable[[], object],
) -> Response:
    if not can_act(caller):
        return read_only(request, session, caller, "suggestions")
    outcome = attempt(session, change)
    failed = outcome if isinstance(outcome, SiyuError) else None
    if isinstance(failed, Forbidden):
        return read_only(request, session, caller, "suggestions")
    if is_htmx(request):
        return _row_response(request, session, caller, suggestion_id, failed)
    if failed is None:
        return RedirectResponse(f"/merge-suggestions?done={verb}", status_code=303)
    return _suggestions_page(
        request,
        session,
        caller,
        error=failed.message(caller.locale),
        status_code=failed.status,
    )


@router.post("/merge-suggestions/{suggestion_id}/accept", response_class=HTMLResponse)
def accept_suggestion(
    suggestion_id: int, request: Request, session: DbSession, caller: ConsoleCaller
) -> Response:
    """Merge the two customers (the older survives); undoable from either profile."""
    return _decide(
        request,
        session,
        caller,
        suggestion_id,
        "accepted",
        lambda: suggestions.accept(session, caller, suggestion_id),
    )


@router.post("/merge-suggestions/{suggestion_id}/reject", response_class=HTMLResponse)
def reject_suggestion(
    suggestion_id: int, request: Request, session: DbSession, caller: ConsoleCaller
) -> Response:
    """They are different people; the pair is not suggested again."""
    return _decide(
        request,
        session,
        caller,
        suggestion_id,
        "rejected",
        lambda: suggestions.reject(session, caller, suggestion_id),
    )


@router.post("/merge-suggestions/generate", response_class=HTMLResponse)
def find_duplicates(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """Score likely duplicates now and say how many new suggestions there are."""
    if not can_act(caller):
        return read_only(request, session, caller, "suggestions")
    outcome = attempt(session, lambda: suggestions.generate(session, caller))
    if isinstance(outcome, SiyuError):
        return _suggestions_page(
            request,
            session,
            caller,
            error=outcome.message(caller.locale),
            status_code=outcome.status,
        )
    return RedirectResponse(f"/merge-suggestions?added={outcome}", status_code=303)
