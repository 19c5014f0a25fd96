"""Invites: both sides rewarded at the goal, fraud refused with its reason, the report, the tree."""

from __future__ import annotations

from sqlalchemy import select

from siyu.core import outbox
from siyu.core.auth import Principal
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.customers.models import Customer
from siyu.ingest.schemas import Attributes
from siyu.promotions.invites import service
from siyu.promotions.invites import tasks as _tasks  # noqa: F401
from siyu.promotions.invites.models import InviteReward
from siyu.promotions.invites.schemas import AcceptIn, CampaignIn
from tests.conftest import Tenant
from tests.distribution.helpers import order


def campaign(db: Database, p: Principal, goal: str = "first_order", cap: int = 20) -> int:
    with db.transaction() as session:
        data = CampaignIn(
            name="邀请有礼",
            goal=goal,
            inviter_points=200,
            invitee_points=100,  # type: ignore[arg-type]
            reward_cost_fen=500,
            daily_cap=cap,
        )
        return service.create_campaign(session, p, data).id


def inviter(
    db: Database, p: Principal, campaign_id: int, phone: str = "13500000000"
) -> tuple[int, str]:
    from siyu.customers.oneid import Resolver, Sighting

    with db.transaction() as session:
        when = __import__("siyu.core.clock", fromlist=["now"]).now()
        sighting = Sighting(
            "seed",
            [("phone", phone), ("device_id", "dev-inviter")],
            "api",
            when,
            {"address": "上海市 徐汇区 漕溪北路 1号"},
        )
        customer_id, _ = Resolver(session, p).resolve(sighting)
        return customer_id, service.link_for(session, p, campaign_id, customer_id).code


def accept(
    db: Database, p: Principal, code: str, **identifiers: str
) -> tuple[str, str | None, int | None]:
    address = identifiers.pop("address", None)
    with db.transaction() as session:
        data = AcceptIn(
            identifiers=identifiers, attributes=Attributes(address=address) if address else None
        )
        invite = service.accept(session, p, code, data)
        return invite.status, invite.reason, invite.invitee_id


def rewards(db: Database) -> list[tuple[int, str, int, str]]:
    with db.transaction() as session:
        rows = session.execute(
            select(
                InviteReward.customer_id,
                InviteReward.side,
                InviteReward.points,
                InviteReward.status,
            ).order_by(InviteReward.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_both_sides_are_rewarded_once_when_the_invitee_places_a_first_order(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    cid = campaign(db, p)
    boss, code = inviter(db, p, cid)
    clock.advance(minutes=1)
    status, _, friend = accept(db, p, code, phone="13500000001")
    assert status == "registered"
    assert rewards(db) == []
    order(db, p, "F1", 9900, "13500000001", clock.now())
    order(db, p, "F2", 9900, "13500000001", clock.now())
    assert friend is not None
    assert [r[:3] for r in rewards(db)] == [(boss, "inviter", 200), (friend, "invitee", 100)]
    with db.transaction() as session:
        report = service.report(session, p, cid)
        tree = service.tree(session, p, boss)
    assert (report.invites, report.converted, report.rewards, report.cost_fen) == (1, 1, 2, 1000)
    assert report.cost_per_new_customer_fen == 1000
    assert tree == {
        "customer_id": boss,
        "invitees": [{"customer_id": friend, "invitees": [], "status": "converted"}],
    }


def test_self_invites_shared_devices_addresses_and_old_customers_are_rejected(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    cid = campaign(db, p, goal="register")
    boss, code = inviter(db, p, cid)
    with db.transaction() as session:
        session.add(Customer(workspace_id=tenant.workspace_id, phone="13500000077"))
    clock.advance(minutes=1)
    outcomes = [
        accept(db, p, code, phone="13500000000")[:2],
        accept(db, p, code, phone="13500000002", device_id="dev-inviter")[:2],
        accept(db, p, code, phone="13500000003", address="上海市徐汇区漕溪北路1号")[:2],
        accept(db, p, code, phone="13500000004", device_id="dev-4")[:2],
        accept(db, p, code, phone="13500000005", device_id="dev-4")[:2],
    ]
    assert outcomes == [
        ("rejected", "self_invite"),
        ("rejected", "shared_device"),
        ("rejected", "shared_address"),
        ("converted", None),
        ("rejected", "shared_device"),
    ]
    assert [r[1] for r in rewards(db)] == ["inviter", "invitee"]
    with db.transaction() as session:
        report = service.report(session, p, cid)
    assert report.rejected == {"self_invite": 1, "shared_address": 1, "shared_device": 2}
    assert (report.converted, report.cost_per_new_customer_fen) == (1, 1000)


def test_the_daily_cap_per_inviter_holds_and_resets_the_next_day(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    cid = campaign(db, p, goal="register", cap=2)
    _, code = inviter(db, p, cid)
    clock.advance(minutes=1)
    day_one = [accept(db, p, code, phone=f"1350000010{n}")[:2] for n in range(3)]
    assert day_one == [("converted", None), ("converted", None), ("rejected", "daily_cap")]
    clock.advance(days=1)
    assert accept(db, p, code, phone="13500000109")[:2] == ("converted", None)
    outbox.run_due(db)
    assert len(rewards(db)) == 6
