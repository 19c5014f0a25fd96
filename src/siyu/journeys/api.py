"""Journey endpoints under /api/v1: definitions, versions, import/export, entry, metrics, tasks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from siyu.core.auth import Principal
from siyu.core.http import Caller, DbSession
from siyu.core.idempotency import once, request_hash
from siyu.core.pagination import Page, check_limit, decode_cursor, encode_cursor
from siyu.journeys import metrics, service, sops, triggers
from siyu.journeys.models import Journey
from siyu.journeys.schemas import EnterIn, EnterOut, JourneyOut, SopOut, TaskOut, VersionOut
from siyu.workspaces.models import Role

router = APIRouter(tags=["journeys"])
Definition = Annotated[dict[str, Any], Body()]


def to_out(session: DbSession, journey: Journey) -> JourneyOut:
    """The API shape of a journey."""
    definition = service.definition_of(session, journey)
    return JourneyOut(
        id=journey.id,
        name=journey.name,
        description=journey.description,
        status=journey.status,
        sop=journey.sop,
        trigger_type=journey.trigger_type,
        version=service.version_number(session, journey),
        definition=definition.model_dump(mode="json", exclude_none=True),
        next_fire_at=journey.next_fire_at,
        created_at=journey.created_at,
        updated_at=journey.updated_at,
    )


def _created(
    request: Request,
    session: DbSession,
    caller: Principal,
    key: str | None,
    body: Any,
    make: Any,
) -> JSONResponse:
    def produce() -> tuple[int, object]:
        return 201, to_out(session, make()).model_dump(mode="json")

    digest = request_hash("POST", request.url.path, body)
    status, payload = once(session, caller.workspace_id, key, digest, produce)
    return JSONResponse(payload, status_code=status)


@router.post("/journeys", status_code=201, response_model=JourneyOut)
def create_journey(
    body: Definition,
    request: Request,
    session: DbSession,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Save a journey (a draft, version 1); an invalid one is refused with the step and why."""
    return _created(
        request,
        session,
        caller,
        idempotency_key,
        body,
        lambda: service.create(session, caller, body),
    )


@router.post("/journeys:import", status_code=201, response_model=JourneyOut)
async def import_journey(
    request: Request,
    session: DbSession,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Create a journey from exported YAML or JSON text (the raw request body)."""
    text = (await request.body()).decode("utf-8", errors="replace")
    return _created(
        request,
        session,
        caller,
        idempotency_key,
        text,
        lambda: service.import_text(session, caller, text),
    )


@router.get("/journeys", response_model=Page[JourneyOut])
def list_journeys(
    session: DbSession, caller: Caller, cursor: str | None = None, limit: int = 50
) -> Page[JourneyOut]:
    """Journeys, cursor-paginated."""
    limit = check_limit(limit)
    rows = service.listing(session, caller, decode_cursor(cursor), limit)
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return Page[JourneyOut](items=[to_out(session, j) for j in rows], next_cursor=next_cursor)


@router.get("/journeys/{journey_id}", response_model=JourneyOut)
def get_journey(journey_id: int, session: DbSession, caller: Caller) -> JourneyOut:
    """One journey and its published definition."""
    return to_out(session, service.get(session, caller, journey_id))


@router.put("/journeys/{journey_id}", response_model=JourneyOut)
def update_journey(
    journey_id: int, body: Definition, session: DbSession, caller: Caller
) -> JourneyOut:
    """Publish an edit as a new version; runs in flight finish on their own version."""
    return to_out(session, service.update(session, caller, journey_id, body))


@router.post("/journeys/{journey_id}/enable", response_model=JourneyOut)
def enable(journey_id: int, session: DbSession, caller: Caller) -> JourneyOut:
    """Start admitting customers and running steps."""
    return to_out(session, service.set_status(session, caller, journey_id, "active"))


@router.post("/journeys/{journey_id}/disable", response_model=JourneyOut)
def disable(journey_id: int, session: DbSession, caller: Caller) -> JourneyOut:
    """Admit no one and hold runs in flight where they are."""
    return to_out(session, service.set_status(session, caller, journey_id, "paused"))


@router.get("/journeys/{journey_id}/versions", response_model=list[VersionOut])
def list_versions(journey_id: int, session: DbSession, caller: Caller) -> list[VersionOut]:
    """Every published version."""
    return [
        VersionOut(id=v.id, number=v.number, created_at=v.created_at, definition=v.definition)
        for v in service.versions(session, caller, journey_id)
    ]


@router.get("/journeys/{journey_id}/export", response_class=PlainTextResponse)
def export_journey(
    journey_id: int, session: DbSession, caller: Caller, format: str = "yaml"
) -> PlainTextResponse:
    """The published definition as YAML (default) or JSON."""
    text = service.export(session, caller, journey_id, format)
    kind = "application/json" if format == "json" else "application/yaml"
    return PlainTextResponse(text, media_type=f"{kind}; charset=utf-8")


@router.post("/journeys/{journey_id}/enter", response_model=EnterOut)
def enter(journey_id: int, body: EnterIn, session: DbSession, caller: Caller) -> EnterOut:
    """Enter customers by hand (other workspaces' customers are ignored)."""
    caller.require(Role.operator)
    journey = service.get(session, caller, journey_id)
    return EnterOut(entered=triggers.enter_manually(session, journey, body.customer_ids, body.key))


@router.get("/journeys/{journey_id}/metrics")
def journey_metrics(journey_id: int, session: DbSession, caller: Caller) -> dict[str, Any]:
    """Entered, active, sent, delivered, suppressed by reason, converted, revenue, lift."""
    return metrics.journey_metrics(session, caller, journey_id)


@router.get("/journey-sops", response_model=list[SopOut])
def list_sops(caller: Caller) -> list[dict[str, str]]:
    """The built-in SOP templates."""
    return sops.catalog()


@router.post("/journey-sops/{key}", status_code=201, response_model=JourneyOut)
def install_sop(
    key: str,
    session: DbSession,
    caller: Caller,
    options: Annotated[dict[str, Any] | None, Body()] = None,
) -> JourneyOut:
    """Install a built-in SOP as a draft journey (options: channel, coupon, points, name)."""
    return to_out(session, sops.install(session, caller, key, options))


@router.get("/journey-tasks", response_model=Page[TaskOut])
def list_tasks(
    session: DbSession,
    caller: Caller,
    status: str | None = "open",
    cursor: str | None = None,
    limit: int = 50,
) -> Page[TaskOut]:
    """Staff tasks journeys created (calls, 1v1 follow-ups)."""
    limit = check_limit(limit)
    rows = service.tasks(session, caller, status or None, decode_cursor(cursor), limit)
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return Page[TaskOut](items=[TaskOut.model_validate(t) for t in rows], next_cursor=next_cursor)


@router.post("/journey-tasks/{task_id}/done", response_model=TaskOut)
def complete_task(task_id: int, session: DbSession, caller: Caller) -> TaskOut:
    """Mark a task done."""
    return TaskOut.model_validate(service.complete_task(session, caller, task_id))
