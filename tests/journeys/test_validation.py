"""Save-time checks: every defect is refused with the step and the reason, and nothing is saved."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.core.errors import Conflict, InvalidField
from siyu.journeys import cron, service
from siyu.journeys.models import Journey, JourneyVersion
from tests.conftest import Tenant
from tests.journeys.helpers import simple


def _count(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        return (
            session.scalar(select(func.count(Journey.id))) or 0,
            session.scalar(select(func.count(JourneyVersion.id))) or 0,
        )


def _refused(db: Database, tenant: Tenant, data: dict[str, Any]) -> InvalidField:
    before = _count(db)
    with pytest.raises(InvalidField) as caught, db.transaction() as session:
        service.create(session, tenant.principal, data)
    assert _count(db) == before
    return caught.value


def test_a_valid_journey_is_saved_as_version_one(db: Database, tenant: Tenant, clock) -> None:
    with db.transaction() as session:
        journey = service.create(session, tenant.principal, simple())
        assert (journey.status, service.version_number(session, journey)) == ("draft", 1)
        assert [s.key for s in service.definition_of(session, journey).steps] == [
            "hello",
            "pause",
            "call",
        ]


def test_unreachable_step_is_refused(db: Database, tenant: Tenant) -> None:
    data = simple()
    data["steps"].append({"key": "orphan", "type": "tag", "tag": "x"})
    error = _refused(db, tenant, data)
    assert error.detail["errors"] == [
        {"field": "steps.orphan", "reason": "is unreachable from the start"}
    ]


def test_wait_for_event_without_timeout_is_refused(db: Database, tenant: Tenant) -> None:
    data = simple()
    data["steps"][1] = {
        "key": "pause",
        "type": "wait",
        "until_event": {"event": "click"},
        "next": "call",
    }
    error = _refused(db, tenant, data)
    assert error.detail["errors"][0] == {
        "field": "steps.pause",
        "reason": "waits for an event with no timeout",
    }


def test_unknown_next_step_and_loop_are_refused(db: Database, tenant: Tenant) -> None:
    data = simple()
    data["steps"][2]["next"] = "nowhere"
    assert _refused(db, tenant, data).detail["errors"][0]["reason"] == (
        "goes to unknown step 'nowhere'"
    )
    looped = simple()
    looped["steps"][2]["next"] = "hello"
    assert _refused(db, tenant, looped).detail["errors"][0] == {
        "field": "steps.hello",
        "reason": "is part of a loop",
    }


def test_unknown_channel_and_missing_variable_are_refused(db: Database, tenant: Tenant) -> None:
    data = simple()
    data["steps"][0]["channel"] = "carrier_pigeon"
    assert _refused(db, tenant, data).detail["errors"][0] == {
        "field": "steps.hello",
        "reason": "channel 'carrier_pigeon' is not set up",
    }
    data = simple()
    data["steps"][0]["content"] = "{{ customer.shoe_size }} {{ secret_code }}"
    assert _refused(db, tenant, data).detail["errors"][0] == {
        "field": "steps.hello",
        "reason": "unknown template variables: customer.shoe_size, secret_code",
    }


def test_shape_errors_name_the_path(db: Database, tenant: Tenant) -> None:
    data = simple()
    data["steps"][1]["duration"] = {"weeks": 2}
    error = _refused(db, tenant, data)
    assert error.detail["errors"][0]["field"] == "steps.1.wait.duration.weeks"
    bad_trigger = simple(trigger={"type": "event", "event": "teleport"})
    assert _refused(db, tenant, bad_trigger).detail["errors"][0] == {
        "field": "trigger.event",
        "reason": "unknown event type 'teleport'",
    }
    bad_cron = simple(
        trigger={"type": "schedule", "schedule": {"kind": "cron", "cron": "61 * * * *"}}
    )
    assert _refused(db, tenant, bad_cron).detail["errors"][0]["field"] == "trigger.schedule.cron"


def test_names_are_unique_per_workspace(db: Database, tenant: Tenant, other_tenant: Tenant) -> None:
    with db.transaction() as session:
        service.create(session, tenant.principal, simple())
        service.create(session, other_tenant.principal, simple())
    with pytest.raises(Conflict), db.transaction() as session:
        service.create(session, tenant.principal, simple())


def test_export_then_import_gives_the_same_definition(db: Database, tenant: Tenant) -> None:
    with db.transaction() as session:
        journey = service.create(session, tenant.principal, simple(holdout_percent=5))
        text = service.export(session, tenant.principal, journey.id, "yaml")
        as_json = service.export(session, tenant.principal, journey.id, "json")
        original = service.definition_of(session, journey).model_dump()
        service.update(session, tenant.principal, journey.id, simple(name="改名"))
        copy_ = service.import_text(session, tenant.principal, text)
        assert "回访" in text and "hello" in text
        assert service.definition_of(session, copy_).model_dump() == original
        again = service.load_text(as_json)
        assert again["holdout_percent"] == 5
    with pytest.raises(InvalidField), db.transaction() as session:
        service.import_text(session, tenant.principal, "name: [unclosed")


def test_cron_parser() -> None:
    from datetime import UTC, datetime

    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai, a Thursday
    assert cron.next_after("0 10 8 * *", start, "Asia/Shanghai") == datetime(
        2026, 1, 8, 2, 0, tzinfo=UTC
    )
    assert cron.next_after("*/15 9-17 * * 1-5", start, "Asia/Shanghai") == datetime(
        2026, 1, 1, 1, 0, tzinfo=UTC
    )
    # Sunday 0 and 7 are the same day; 2026-01-04 is a Sunday.
    assert cron.next_after("30 9 * * 7", start, "UTC") == datetime(2026, 1, 4, 9, 30, tzinfo=UTC)
    for bad in ("* * * *", "60 * * * *", "a * * * *", "0 0 31 2 *"):
        with pytest.raises(cron.CronError):
            cron.next_after(bad, start, "UTC")


def test_definition_data_is_not_mutated(db: Database, tenant: Tenant) -> None:
    data = simple()
    before = copy.deepcopy(data)
    with db.transaction() as session:
        service.create(session, tenant.principal, data)
    assert data == before
