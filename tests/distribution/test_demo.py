"""The demo's fission layer: suppliers, distributors, commissions, groups, invites, touchpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from siyu.catalog.feedback import supplier_feedback
from siyu.catalog.models import Supplier
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.demo import vocab
from siyu.distribution.demo import install
from siyu.distribution.models import CommissionEntry, Distributor, Touchpoint
from siyu.ingest import service as ingest
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
    assert count(db, Supplier) == 4
    assert count(db, Distributor) == 27
    assert count(db, GroupBuy) == 12
    assert count(db, Touchpoint) == 5
    assert count(db, InviteCampaign) == 1
    assert count(db, Invite) == 0  # one invitee per 200 customers: none in a demo this small
    with db.transaction() as session:
        statuses = set(session.scalars(select(GroupBuy.status)))
    assert statuses == {"open", "succeeded", "failed"}


def test_complaints_on_the_brands_skus_reach_the_brands_supplier_feedback(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    product = vocab.PRODUCTS[3]
    complaint = {
        "event_id": "c-1",
        "type": "complaint",
        "source": "wecom",
        "occurred_at": "2025-12-01T10:00:00+08:00",
        "identifiers": {"phone": "13800001111"},
        "properties": {"sku": product.sku, "reason": "过敏泛红"},
    }
    with db.transaction() as session:
        assert ingest.ingest_events(session, tenant.principal, [complaint]).accepted == 1
    install(db, tenant.principal)
    with db.transaction() as session:
        brand = session.scalars(select(Supplier).where(Supplier.code == "LANKOU")).one()
        shown = supplier_feedback(session, tenant.principal, brand.id)
        others = session.scalars(select(Supplier.id).where(Supplier.code != "LANKOU")).all()
        elsewhere = [supplier_feedback(session, tenant.principal, s) for s in others]
    assert [(f.sku, f.product, f.properties) for f in shown] == [
        (product.sku, product.name, {"sku": product.sku, "reason": "过敏泛红"})
    ]
    assert elsewhere == [[], [], []]
