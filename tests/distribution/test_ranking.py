"""The monthly ranking by sales on both stores, and the nurture tiers it suggests and applies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from siyu.core import outbox
from siyu.core.audit import AuditEntry
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import InvalidField
from siyu.distribution import ranking, service
from siyu.distribution.models import Distributor
from siyu.distribution.schemas import DistributorIn
from siyu.ingest import service as ingest
from siyu.ingest.schemas import OrderIn
from tests.conftest import Tenant
from tests.distribution.helpers import order, refund

MARCH = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)


def onboard(db: Database, tenant: Tenant, count: int) -> list[int]:
    with db.transaction() as session:
        made = [
            service.onboard(session, tenant.principal, DistributorIn(code=f"D{n}", name=f"店主{n}"))
            for n in range(count)
        ]
        return [d.id for d in made]


def tiers(db: Database) -> list[str]:
    with db.transaction() as session:
        return list(session.scalars(select(Distributor.tier).order_by(Distributor.id)))


def audits(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_ten_distributors_rank_by_net_sales_with_core_growth_and_starter_tiers(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(datetime(2026, 4, 2, tzinfo=UTC))
    p = tenant.principal
    ids = onboard(db, tenant, 11)
    # D0 sells 1,000 yuan ... D9 sells 100 yuan; D10 sells only outside March.
    for n, d in enumerate(ids[:10]):
        order(db, p, f"M{n}", (10 - n) * 10000, f"1380000{n:04d}", MARCH, distributor_id=d)
    # 00:30 on 1 March in Shanghai is March; 00:30 on 1 April is not.
    order(db, p, "EDGE-IN", 500, "13900000001", datetime(2026, 2, 28, 16, 30, tzinfo=UTC), ids[9])
    order(
        db, p, "EDGE-OUT", 10**6, "13900000002", datetime(2026, 3, 31, 16, 30, tzinfo=UTC), ids[10]
    )
    # A refund nets out of sales; a cancelled order counts for nothing.
    refund(db, p, order(db, p, "R", 60000, "13900000003", MARCH, ids[8]), "RF", 60000)
    cancelled = order(db, p, "C", 10**6, "13900000004", MARCH, ids[7])
    data = OrderIn(
        external_id="C",
        channel="wechat",
        status="cancelled",
        ordered_at=MARCH,
        paid_at=MARCH,
        total_fen=10**6,
        paid_fen=10**6,
        identifiers={"phone": "13900000004"},
    )
    with db.transaction() as session:
        assert ingest.upsert_order(session, p, data)[0].id == cancelled
    outbox.run_due(db)
    with db.transaction() as session:
        rows = ranking.ranking(session, p, "2026-03")
    got = [(r.rank, r.distributor_id, r.orders, r.sales_fen, r.suggested_tier) for r in rows]
    assert got == [
        (1, ids[0], 1, 100000, "core"),
        (2, ids[1], 1, 90000, "growth"),
        (3, ids[2], 1, 80000, "growth"),
        (4, ids[3], 1, 70000, "growth"),
        (5, ids[4], 1, 60000, "starter"),
        (6, ids[5], 1, 50000, "starter"),
        (7, ids[6], 1, 40000, "starter"),
        (8, ids[7], 1, 30000, "starter"),
        (9, ids[8], 2, 20000, "starter"),
        (10, ids[9], 2, 10500, "starter"),
    ]
    with db.transaction() as session:
        assert [r.rank for r in ranking.ranking(session, p, "2026-03", limit=3)] == [1, 2, 3]
        assert [r.distributor_id for r in ranking.ranking(session, p, "2026-04")] == [ids[10]]
        assert ranking.apply_tiers(session, p, "2026-03") == 4
    assert tiers(db) == ["core", "growth", "growth", "growth"] + ["starter"] * 7
    # Applying the same month again moves nobody.
    with db.transaction() as session:
        assert ranking.apply_tiers(session, p, "2026-03") == 0
    assert tiers(db) == ["core", "growth", "growth", "growth"] + ["starter"] * 7


def test_the_share_of_each_tier_rounds_and_a_lone_distributor_is_core() -> None:
    assert [ranking.suggested(n, 1) for n in (1,)] == ["core"]
    assert [ranking.suggested(n, 3) for n in (1, 2, 3)] == ["core", "starter", "starter"]
    assert [ranking.suggested(n, 20) for n in (1, 2, 3, 8, 9)] == [
        "core",
        "core",
        "growth",
        "growth",
        "starter",
    ]


def test_another_workspace_sees_none_of_the_ranking(
    db: Database, tenant: Tenant, other_tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(datetime(2026, 4, 2, tzinfo=UTC))
    (d,) = onboard(db, tenant, 1)
    order(db, tenant.principal, "M1", 10000, "13800000001", MARCH, distributor_id=d)
    with db.transaction() as session:
        assert ranking.ranking(session, other_tenant.principal, "2026-03") == []
        assert ranking.apply_tiers(session, other_tenant.principal, "2026-03") == 0
    assert tiers(db) == ["starter"]


@pytest.mark.parametrize("month", ["2026-13", "March", "2026", ""])
def test_a_bad_month_is_refused_and_no_tier_moves(
    db: Database, tenant: Tenant, clock: SimulatedClock, month: str
) -> None:
    clock.set(datetime(2026, 4, 2, tzinfo=UTC))
    (d,) = onboard(db, tenant, 1)
    order(db, tenant.principal, "M1", 10000, "13800000001", MARCH, distributor_id=d)
    before = audits(db)
    with pytest.raises(InvalidField) as refused, db.transaction() as session:
        ranking.apply_tiers(session, tenant.principal, month)
    assert refused.value.detail["errors"][0]["field"] == "month"
    assert tiers(db) == ["starter"]
    assert audits(db) == before
