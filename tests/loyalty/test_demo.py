"""The demo's membership on both stores: members across tiers, points history, coupons."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.loyalty.demo import seed
from siyu.loyalty.models import Member, PointsTransfer
from siyu.promotions.models import Coupon
from tests.conftest import Tenant
from tests.loyalty.helpers import customer, order, snapshot


def test_demo_members_span_tiers_with_history_and_coupons_and_rerun_changes_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    for i, spend in enumerate((2_000, 60_000, 150_000, 320_000, 1_200_000) * 4):
        who = customer(db, tenant, f"客{i}")
        order(db, tenant, who, f"TM-{i}-a", spend // 2, at="2026-01-10T10:00:00+08:00")
        order(db, tenant, who, f"TM-{i}-b", spend - spend // 2, at="2026-02-10T10:00:00+08:00")
    members = seed(db, tenant.principal)
    with db.transaction() as session:
        tiers = Counter(session.scalars(select(Member.tier_rank)))
        kinds = Counter(session.scalars(select(PointsTransfer.kind)))
        states = Counter(session.scalars(select(Coupon.status)))
    assert members == sum(tiers.values()) and members >= 12
    assert len(tiers) >= 3
    assert kinds["earn"] == 2 * members and kinds["adjust"] == 1 and kinds["redeem"] >= 1
    assert states["issued"] >= 1 and states["redeemed"] >= 1
    before = snapshot(db, tenant.workspace_id)
    assert seed(db, tenant.principal) == members
    assert snapshot(db, tenant.workspace_id) == before
