"""Granting points in a batch (journey steps) on both stores: the same outcomes as one by one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import Conflict, InvalidField, NotFound
from siyu.loyalty import service
from siyu.loyalty.ledger import Posted
from siyu.loyalty.models import PointsLot, PointsTransfer
from siyu.loyalty.service import Grant
from tests.conftest import Tenant
from tests.loyalty.helpers import balances, customer, member, snapshot

JAN6 = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)
EXPIRY = datetime(2027, 12, 31, 16, 0, tzinfo=UTC)  # 2028-01-01 00:00 in Shanghai


def _grant(db: Database, tenant: Tenant, grants: list[Grant]) -> list[object]:
    with db.transaction() as session:
        return list(service.grant_many(session, tenant.principal, grants))


def _postings(db: Database, tenant: Tenant) -> list[tuple[int, str, int, int, str | None]]:
    with db.transaction() as session:
        t = PointsTransfer
        stmt = select(t.customer_id, t.idempotency_key, t.points, t.balance_after, t.reason)
        stmt = stmt.where(t.workspace_id == tenant.workspace_id).order_by(t.id)
        return [tuple(r) for r in session.execute(stmt)]  # type: ignore[misc]


def test_a_batch_posts_each_grant_once_and_chains_a_customers_balance(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    a, b = member(db, tenant, "甲"), member(db, tenant, "乙")
    grants = [Grant(a, 30, "生日SOP", "r1:gift"), Grant(b, 20, None, "r2:gift")]
    grants.append(Grant(a, 50, "回访", "r3:gift"))
    first = _grant(db, tenant, grants)
    assert [(p.points, p.balance_after, p.replay) for p in first] == [  # type: ignore[attr-defined]
        (30, 30, False),
        (20, 20, False),
        (50, 80, False),
    ]
    assert _postings(db, tenant) == [
        (a, "grant:r1:gift", 30, 30, "生日SOP"),
        (b, "grant:r2:gift", 20, 20, None),
        (a, "grant:r3:gift", 50, 80, "回访"),
    ]
    assert balances(db, tenant, a) == (80, 80, 80) and balances(db, tenant, b) == (20, 20, 20)
    with db.transaction() as session:
        lot = PointsLot
        lots = session.execute(select(lot.customer_id, lot.points, lot.expires_at))
        # Expiry as one grant sets it: the end of next year, local (Shanghai) time.
        assert sorted(tuple(r) for r in lots) == sorted(
            [(a, 30, EXPIRY), (b, 20, EXPIRY), (a, 50, EXPIRY)]
        )
    before = snapshot(db, tenant.workspace_id)
    again = _grant(db, tenant, grants)  # a replay answers as the first time, posts nothing
    assert again == [Posted(p.transfer_id, p.points, p.balance_after, True) for p in first]  # type: ignore[attr-defined]
    assert snapshot(db, tenant.workspace_id) == before


def test_non_members_and_bad_grants_are_refused_alone_as_one_grant_refuses_them(
    db: Database, tenant: Tenant, other_tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who, passer_by = member(db, tenant), customer(db, tenant, "路人")
    stranger = customer(db, other_tenant, "外")
    before = snapshot(db, tenant.workspace_id)
    refused = [
        Grant(passer_by, 30, None, "r1"),
        Grant(stranger, 30, None, "r2"),
        Grant(who, 0, None, "r3"),
        Grant(who, 30, None, ""),
    ]
    found = _grant(db, tenant, refused)
    assert [(type(e).__name__, e.en_message) for e in found] == [  # type: ignore[attr-defined]
        ("NotFound", "This customer is not a member yet"),
        ("NotFound", "Not found"),
        ("InvalidField", "Field points is invalid: must be greater than zero"),
        ("InvalidField", "Field idempotency_key is invalid: must be 1 to 112 characters"),
    ]
    assert snapshot(db, tenant.workspace_id) == before  # no account made for anyone
    for grant, batch in zip(refused, found, strict=True):
        with pytest.raises((NotFound, InvalidField)) as one, db.transaction() as session:
            service.grant_points(
                session,
                tenant.principal,
                grant.customer_id,
                grant.points,
                grant.reason,
                grant.idempotency_key,
            )
        assert (type(one.value), one.value.en_message, one.value.detail) == (
            type(batch),
            batch.en_message,  # type: ignore[attr-defined]
            batch.detail,  # type: ignore[attr-defined]
        )
    assert snapshot(db, tenant.workspace_id) == before
    mixed = _grant(db, tenant, [refused[0], Grant(who, 30, None, "r5")])
    assert isinstance(mixed[0], NotFound) and mixed[1] == Posted(mixed[1].transfer_id, 30, 30)  # type: ignore[union-attr]


def test_a_key_answers_once_whether_reused_in_the_batch_or_later(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    a, b = member(db, tenant, "甲"), member(db, tenant, "乙")
    found = _grant(
        db, tenant, [Grant(a, 30, None, "k1"), Grant(a, 30, None, "k1"), Grant(b, 30, None, "k1")]
    )
    first = found[0]
    assert isinstance(first, Posted) and (first.points, first.balance_after) == (30, 30)
    assert found[1] == Posted(first.transfer_id, 30, 30, True)
    assert isinstance(found[2], Conflict)
    before = snapshot(db, tenant.workspace_id)
    later = _grant(db, tenant, [Grant(b, 30, None, "k1"), Grant(a, 30, None, "k1")])
    assert isinstance(later[0], Conflict) and later[1] == Posted(first.transfer_id, 30, 30, True)
    assert snapshot(db, tenant.workspace_id) == before
    assert balances(db, tenant, a) == (30, 30, 30) and balances(db, tenant, b) == (0, 0, 0)
