"""The rule compiler on both stores: each condition admits exactly the expected customers."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.segments.compiler import compile_rule
from siyu.tags.models import CustomerTag
from tests.conftest import Tenant
from tests.segments.data import NOW, Domain, build


@pytest.fixture
def domain(db: Database, clock: SimulatedClock, tenant: Tenant, other_tenant: Tenant) -> Domain:
    return build(db, clock, tenant, other_tenant)


def members(db: Database, tenant: Tenant, rule: dict[str, Any]) -> set[int]:
    with db.transaction() as session:
        return set(session.scalars(compile_rule(rule, tenant.workspace_id, NOW)))


def city(value: str) -> dict[str, Any]:
    return {"type": "attribute", "field": "city", "op": "eq", "value": value}


def test_attribute_and_not_are_exact_complements(
    db: Database, tenant: Tenant, domain: Domain
) -> None:
    d = domain
    assert members(db, tenant, city("上海")) == {d.c1, d.c3}
    assert members(db, tenant, {"type": "not", "child": city("上海")}) == {d.c2, d.c4}
    either = {"type": "or", "children": [city("北京"), city("广州")]}
    assert members(db, tenant, either) == {d.c2, d.c4}
    both = {"type": "and", "children": [city("上海"), {"type": "not", "child": either}]}
    assert members(db, tenant, both) == {d.c1, d.c3}


def test_order_conditions_count_sum_filters_and_windows(
    db: Database, tenant: Tenant, domain: Domain
) -> None:
    d = domain
    lipstick = {
        "type": "order",
        "categories": ["口红"],
        "op": "gte",
        "value": 2,
        "window": {"last_days": 180},
    }
    # c1 two lipsticks in 180 days (plus c5's, merged in); c4 two of three in the window.
    assert members(db, tenant, lipstick) == {d.c1, d.c4}
    never = {"type": "order", "op": "eq", "value": 0}
    assert members(db, tenant, never) == {d.c3}
    big = {"type": "order", "measure": "sum_amount", "op": "gte", "value": 30_000}
    assert members(db, tenant, big) == {d.c1, d.c2}
    jd = {"type": "order", "channels": ["jd"], "op": "gte", "value": 1}
    assert members(db, tenant, jd) == {d.c2}
    card = {"type": "order", "touchpoints": ["package_card"], "stores": ["上海店"], "value": 1}
    assert members(db, tenant, card) == {d.c1}
    dated = {"type": "order", "window": {"start": "2026-09-01", "end": "2026-10-15"}}
    # o7 (60 days ago: 2 Oct) and o2 (100 days ago: 23 Aug) -> only c4 falls inside.
    assert members(db, tenant, dated) == {d.c4}
    small = {"type": "order", "max_amount_fen": 5_000, "op": "gte", "value": 4}
    assert members(db, tenant, small) == {d.c4}


def test_event_conditions_with_property_filters(
    db: Database, tenant: Tenant, domain: Domain
) -> None:
    d = domain
    rule = {
        "type": "event",
        "event_type": "click",
        "properties": {"campaign": "618"},
        "op": "gte",
        "value": 3,
        "window": {"last_days": 30},
    }
    assert members(db, tenant, rule) == {d.c3}
    assert members(db, tenant, rule | {"value": 1, "window": {"last_days": 60}}) == {d.c1, d.c3}
    assert members(db, tenant, rule | {"properties": {"campaign": "1111"}}) == set()
    no_clicks = {"type": "event", "event_type": "click", "op": "lt", "value": 1}
    assert members(db, tenant, no_clicks) == {d.c2, d.c4}


def test_metrics_lifecycle_rfm_days_and_percentile(
    db: Database, tenant: Tenant, domain: Domain
) -> None:
    d = domain
    assert members(db, tenant, {"type": "lifecycle", "stages": ["dormant_heavy"]}) == {d.c2}
    assert members(db, tenant, {"type": "rfm", "cells": ["important_value"]}) == {d.c1, d.c4}
    sleeping = {"type": "attribute", "field": "days_since_last_order", "op": "gte", "value": 180}
    assert members(db, tenant, sleeping) == {d.c2}
    recent = {
        "type": "attribute",
        "field": "days_since_last_order",
        "op": "between",
        "value": [5, 10],
    }
    assert members(db, tenant, recent) == {d.c1, d.c4}
    # Without a metrics row a customer has 0 orders, not an unknown count.
    none = {"type": "attribute", "field": "order_count", "op": "eq", "value": 0}
    assert members(db, tenant, none) == {d.c3}
    # AOVs 5,000 / 10,000 / 30,000: only 30,000 is at or above the 80th percentile.
    high = {"type": "percentile", "field": "aov_fen", "percentile": 80}
    assert members(db, tenant, high) == {d.c2}
    assert members(db, tenant, high | {"op": "lt"}) == {d.c1, d.c4}
    assert members(db, tenant, high | {"percentile": 50}) == {d.c1, d.c2}


def test_tag_condition_reads_tag_rows(db: Database, tenant: Tenant, domain: Domain) -> None:
    from siyu.tags import service as tags
    from siyu.tags.schemas import TagIn

    with db.transaction() as session:
        tag = tags.create_tag(session, tenant.principal, TagIn(name="VIP"))
        tags.add(session, tenant.principal, tag.id, [domain.c2])
        tag_id = tag.id
    assert members(db, tenant, {"type": "tag", "tag_id": tag_id}) == {domain.c2}
    others = members(db, tenant, {"type": "tag", "tag_id": tag_id, "has": False})
    assert others == {domain.c1, domain.c3, domain.c4}
    assert CustomerTag.__tablename__ == "customer_tag"


def test_user_values_are_bound_parameters_never_sql_text(tenant: Tenant) -> None:
    rule = {"type": "attribute", "field": "city", "op": "eq", "value": "上海 OR 1=1"}
    sql = str(compile_rule(rule, tenant.workspace_id, NOW))
    assert "上海" not in sql and "1=1" not in sql
    assert ":city_1" in sql
