"""Stock: versioned supplier updates, reservations and their release, no oversell under load."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from siyu.catalog import service
from siyu.catalog.models import Reservation, Stock
from siyu.catalog.schemas import ProductIn, ReserveIn, SkuIn, StockUpdate, SupplierIn
from siyu.core import outbox
from siyu.core.auth import Principal
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import InvalidField
from siyu.workspaces.models import Role
from tests.conftest import Tenant
from tests.live import committed_workspace, race


def make_catalog(db: Database, principal: Principal, on_hand: int = 100) -> int:
    """One supplier, one product with SKU LIP-01; returns the supplier id."""
    with db.transaction() as session:
        supplier = service.create_supplier(
            session, principal, SupplierIn(code="S1", name="花漾美妆")
        )
        service.create_product(
            session,
            principal,
            ProductIn(
                supplier_id=supplier.id,
                name="丝绒口红",
                category="美妆",
                skus=[SkuIn(code="LIP-01", name="正红", price_fen=12900, on_hand=on_hand)],
            ),
        )
        return supplier.id


def stock_row(db: Database) -> tuple[int, int, int]:
    with db.transaction() as session:
        stock = session.scalars(select(Stock).order_by(Stock.id.desc())).first()
        assert stock is not None
        return stock.on_hand, stock.reserved, stock.version


def test_newer_version_wins_and_older_or_repeated_change_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    supplier_id = make_catalog(db, tenant.principal)
    push = [StockUpdate(sku="LIP-01", on_hand=80, version=5)]
    with db.transaction() as session:
        (first,) = service.apply_stock(session, tenant.principal, supplier_id, push)
    assert (first.outcome, first.on_hand, first.version) == ("applied", 80, 5)
    with db.transaction() as session:
        (again,) = service.apply_stock(session, tenant.principal, supplier_id, push)
        (older,) = service.apply_stock(
            session,
            tenant.principal,
            supplier_id,
            [StockUpdate(sku="LIP-01", on_hand=3, version=4)],
        )
    assert (again.outcome, again.on_hand) == ("unchanged", 80)
    assert (older.outcome, older.on_hand, older.version) == ("stale", 80, 5)
    assert stock_row(db) == (80, 0, 5)


def test_an_unknown_sku_refuses_the_whole_batch(db: Database, tenant: Tenant) -> None:
    supplier_id = make_catalog(db, tenant.principal)
    batch = [
        StockUpdate(sku="LIP-01", on_hand=50, version=2),
        StockUpdate(sku="NOPE", on_hand=1, version=2),
    ]
    with pytest.raises(InvalidField) as err, db.transaction() as session:
        service.apply_stock(session, tenant.principal, supplier_id, batch)
    assert err.value.detail["errors"] == [
        {"field": "updates.1.sku", "reason": "not a SKU of this supplier"}
    ]
    assert stock_row(db) == (100, 0, 0)


def test_reserve_is_idempotent_by_ref_and_release_gives_units_back_once(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    make_catalog(db, tenant.principal, on_hand=5)
    ask = ReserveIn(ref="ORDER-1", sku="LIP-01", quantity=3)
    with db.transaction() as session:
        first = service.reserve(session, tenant.principal, ask)
        again = service.reserve(session, tenant.principal, ask)
    assert first.id == again.id
    assert stock_row(db) == (5, 3, 0)
    with pytest.raises(service.OutOfStock), db.transaction() as session:
        service.reserve(
            session, tenant.principal, ReserveIn(ref="ORDER-2", sku="LIP-01", quantity=3)
        )
    assert stock_row(db) == (5, 3, 0)
    with db.transaction() as session:
        reservation = service.reservation_by_ref(session, tenant.principal, "ORDER-1")
        assert service.release(session, reservation) is True
        assert service.release(session, reservation) is False
    assert stock_row(db) == (5, 0, 0)


def test_a_held_reservation_times_out_through_the_outbox_and_confirm_takes_stock(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    make_catalog(db, tenant.principal, on_hand=10)
    with db.transaction() as session:
        service.reserve(
            session, tenant.principal, ReserveIn(ref="A", sku="LIP-01", quantity=2, hold_minutes=15)
        )
        paid = service.reserve(
            session, tenant.principal, ReserveIn(ref="B", sku="LIP-01", quantity=4)
        )
        service.confirm(session, paid)
    assert stock_row(db) == (6, 2, 0)
    clock.advance(minutes=16)
    outbox.run_due(db)
    assert stock_row(db) == (6, 0, 0)
    with db.transaction() as session:
        statuses = dict(session.execute(select(Reservation.ref, Reservation.status)).all())
    assert statuses == {"A": "released", "B": "confirmed"}


def test_a_supplier_sees_only_its_own_products(db: Database, tenant: Tenant) -> None:
    make_catalog(db, tenant.principal)
    with db.transaction() as session:
        other = service.create_supplier(session, tenant.principal, SupplierIn(code="S2", name="B"))
        mine = Principal(workspace_id=tenant.workspace_id, role=Role.supplier, supplier_id=other.id)
        assert service.list_products(session, mine) == []
        assert len(service.list_products(session, tenant.principal)) == 1


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_1000_concurrent_orders_against_100_in_stock_exactly_100_succeed(
    engines,
    kind: str,  # type: ignore[no-untyped-def]
) -> None:
    with committed_workspace(engines, kind, threads=16) as (live, tenant):
        make_catalog(live, tenant.principal, on_hand=100)

        def order(i: int) -> int:
            with live.transaction() as session:
                ask = ReserveIn(ref=f"ORDER-{i}", sku="LIP-01", quantity=1)
                return service.reserve(session, tenant.principal, ask).id

        outcomes = race(16, 1000, order)
        won = [o for o in outcomes if isinstance(o, int)]
        lost = [o for o in outcomes if not isinstance(o, int)]
        assert len(won) == 100
        assert len(lost) == 900
        assert {type(e) for e in lost} == {service.OutOfStock}
        with live.transaction() as session:
            stock = session.scalars(
                select(Stock).where(Stock.workspace_id == tenant.workspace_id)
            ).one()
            held = session.scalar(
                select(func.sum(Reservation.quantity)).where(
                    Reservation.workspace_id == tenant.workspace_id
                )
            )
        assert (stock.on_hand, stock.reserved, held) == (100, 100, 100)
