"""Journeys: create, edit (every save publishes a new version), enable, import and export."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import now
from siyu.core.errors import Conflict, InvalidField
from siyu.journeys import cron, engine, triggers, validation
from siyu.journeys.definition import Definition
from siyu.journeys.models import Journey, JourneyTask, JourneyVersion
from siyu.workspaces.models import Role, Workspace

EDITORS = (Role.operator,)


def _validated(session: Session, principal: Principal, data: Any) -> Definition:
    definition = validation.parse(data)
    validation.check(session, principal, definition)
    return definition


def create(session: Session, principal: Principal, data: Any, sop: str | None = None) -> Journey:
    """Save a new journey (as a draft) with its definition as version 1."""
    principal.require(*EDITORS)
    definition = _validated(session, principal, data)
    _unique_name(session, principal, definition.name, None)
    journey = Journey(
        workspace_id=principal.workspace_id,
        name=definition.name,
        description=definition.description,
        sop=sop,
        trigger_type=definition.trigger.type,
    )
    session.add(journey)
    session.flush()
    _publish(session, journey, definition)
    audit.record(session, principal, "journey.create", "journey", journey.id)
    return journey


def update(session: Session, principal: Principal, journey_id: int, data: Any) -> Journey:
    """Publish an edit as a new version; runs in flight keep the version they started on."""
    principal.require(*EDITORS)
    journey = get_scoped(session, Journey, journey_id, principal)
    definition = _validated(session, principal, data)
    _unique_name(session, principal, definition.name, journey.id)
    journey.name, journey.description = definition.name, definition.description
    journey.trigger_type = definition.trigger.type
    _publish(session, journey, definition)
    if journey.status == "active":
        journey.next_fire_at = first_fire(session, journey, definition, now())
        triggers.schedules_changed()
    audit.record(session, principal, "journey.update", "journey", journey.id)
    return journey


def _unique_name(session: Session, principal: Principal, name: str, journey_id: int | None) -> None:
    stmt = scoped(select(Journey.id), Journey, principal).where(Journey.name == name)
    found = session.scalar(stmt)
    if found is not None and found != journey_id:
        raise Conflict(zh=f"已有名为“{name}”的旅程", en=f"A journey named {name!r} exists")


def _publish(session: Session, journey: Journey, definition: Definition) -> JourneyVersion:
    number = (
        session.scalar(
            select(func.max(JourneyVersion.number)).where(JourneyVersion.journey_id == journey.id)
        )
        or 0
    ) + 1
    version = JourneyVersion(
        workspace_id=journey.workspace_id,
        journey_id=journey.id,
        number=number,
        definition=definition.model_dump(mode="json", exclude_none=True),
        created_at=now(),
    )
    session.add(version)
    session.flush()
    journey.version_id = version.id
    return version


def set_status(session: Session, principal: Principal, journey_id: int, status: str) -> Journey:
    """Enable (active) or disable (paused): paused journeys admit no one and run no steps."""
    principal.require(*EDITORS)
    if status not in ("active", "paused"):
        raise InvalidField("status", "应为 active 或 paused", "must be active or paused")
    journey = get_scoped(session, Journey, journey_id, principal)
    journey.status = status
    if status == "active" and journey.version_id is not None:
        definition = engine.compiled(session, journey.version_id).definition
        journey.next_fire_at = first_fire(session, journey, definition, now())
        triggers.schedules_changed()
    audit.record(session, principal, f"journey.{status}", "journey", journey.id)
    session.flush()
    return journey


def first_fire(
    session: Session, journey: Journey, definition: Definition, after: datetime
) -> datetime | None:
    """The next time a schedule trigger enters its audience (None for other triggers)."""
    schedule = definition.trigger.schedule
    if definition.trigger.type != "schedule" or schedule is None:
        return None
    tz = _tz(session, journey.workspace_id)
    if schedule.kind == "once":
        return schedule.at if schedule.at and schedule.at > after else None
    if schedule.kind == "cron":
        return cron.next_after(schedule.cron or "", after, tz)
    hour, minute = schedule.time_of_day.split(":")
    return cron.next_after(f"{int(minute)} {int(hour)} * * *", after, tz)


def _tz(session: Session, workspace_id: int) -> str:
    workspace = session.get(Workspace, workspace_id)
    return workspace.timezone if workspace else "Asia/Shanghai"


def get(session: Session, principal: Principal, journey_id: int) -> Journey:
    """One journey the caller may see."""
    return get_scoped(session, Journey, journey_id, principal)


def definition_of(session: Session, journey: Journey) -> Definition:
    """The journey's published definition."""
    assert journey.version_id is not None
    return engine.compiled(session, journey.version_id).definition


def version_number(session: Session, journey: Journey) -> int:
    """The published version's number."""
    version = session.get(JourneyVersion, journey.version_id)
    return version.number if version else 0


def listing(
    session: Session, principal: Principal, after_id: int | None = None, limit: int = 50
) -> list[Journey]:
    """Journeys by id, cursor-paginated."""
    stmt = scoped(select(Journey), Journey, principal).order_by(Journey.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(Journey.id > after_id)
    return list(session.scalars(stmt))


def versions(session: Session, principal: Principal, journey_id: int) -> list[JourneyVersion]:
    """Every published version of a journey, oldest first."""
    journey = get_scoped(session, Journey, journey_id, principal)
    stmt = (
        scoped(select(JourneyVersion), JourneyVersion, principal)
        .where(JourneyVersion.journey_id == journey.id)
        .order_by(JourneyVersion.number)
    )
    return list(session.scalars(stmt))


def export(session: Session, principal: Principal, journey_id: int, fmt: str = "yaml") -> str:
    """The published definition as YAML or JSON text."""
    data = definition_of(session, get(session, principal, journey_id)).model_dump(
        mode="json", exclude_none=True
    )
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2)
    if fmt != "yaml":
        raise InvalidField("format", "应为 yaml 或 json", "must be yaml or json")
    return str(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def load_text(text: str) -> Any:
    """Parse YAML (which includes JSON) into plain data; garbage is a clear error."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidField("definition", f"无法解析：{exc}", f"cannot be parsed: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidField("definition", "应为一个对象", "must be a mapping")
    return data


def import_text(session: Session, principal: Principal, text: str) -> Journey:
    """Create a journey from exported YAML or JSON."""
    return create(session, principal, load_text(text))


def tasks(
    session: Session,
    principal: Principal,
    status: str | None = "open",
    after_id: int | None = None,
    limit: int = 50,
) -> list[JourneyTask]:
    """Staff tasks journeys created, by id."""
    stmt = scoped(select(JourneyTask), JourneyTask, principal).order_by(JourneyTask.id)
    if status:
        stmt = stmt.where(JourneyTask.status == status)
    if after_id is not None:
        stmt = stmt.where(JourneyTask.id > after_id)
    return list(session.scalars(stmt.limit(limit)))


def complete_task(session: Session, principal: Principal, task_id: int) -> JourneyTask:
    """Mark a task done."""
    task = get_scoped(session, JourneyTask, task_id, principal)
    if task.status != "done":
        task.status, task.done_at = "done", now()
        audit.record(session, principal, "journey_task.done", "journey_task", task.id)
    session.flush()
    return task
