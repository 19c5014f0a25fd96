"""The demo's fission layer: suppliers, distributors, commissions, groups, invites, touchpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from siyu.catalog.models import Supplier
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.distribution.demo import install
from siyu.distribution.models import CommissionEntry, Distributor, Touchpoint
from siyu.promotions.groupbuy.models import GroupBuy
from siyu.promotions.invites.models import Invite, InviteCampaign
from tests.conftest import Tenant
from tests.distribution.helpers import order


def count(db: Database, model: type) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_demo_fills_every_fission_page(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    start = datetime(2025, 12, 1, tzinfo=UTC)
    for n in range(60):
        order(
            db, tenant.principal, f"D{n}", 10000 + n, f"1380000{n:04d}", start + timedelta(hours=n)
        )
    entries = install(db, tenant.principal)
    assert entries == count(db, CommissionEntry) > 0
    assert count(db, Supplier) == 3
    assert count(db, Distributor) == 27
    assert count(db, GroupBuy) == 12
    assert count(db, Touchpoint) == 5
    assert count(db, InviteCampaign) == 1
    assert count(db, Invite) == 0  # one invitee per 200 customers: none in a demo this small
    with db.transaction() as session:
        statuses = set(session.scalars(select(GroupBuy.status)))
    assert statuses == {"open", "succeeded", "failed"}
