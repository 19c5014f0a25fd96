"""Invite anti-fraud on both stores: each refusal has its reason and writes no customer,
identity, reward or points; only the rejected invite itself is kept (for the report)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.customers.models import Customer, Identity
from siyu.customers.oneid import Resolver, Sighting
from siyu.loyalty.models import PointsTransfer
from siyu.promotions import coupons
from siyu.promotions.invites import service
from siyu.promotions.invites.models import Invite, InviteReward
from siyu.promotions.invites.schemas import CampaignIn
from siyu.promotions.models import Coupon
from siyu.promotions.schemas import TemplateIn
from tests.conftest import Tenant
from tests.promotions.test_invites import accept, campaign, inviter


def counts(db: Database) -> dict[str, Any]:
    """What an accepted invite writes: customers, identities, rewards, points, invites."""
    with db.transaction() as session:

        def count(model: Any) -> int:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

        invites = session.execute(
            select(Invite.status, Invite.reason, Invite.invitee_id).order_by(Invite.id)
        ).all()
        return {
            "customers": count(Customer),
            "identities": count(Identity),
            "rewards": count(InviteReward),
            "points": count(PointsTransfer),
            "invites": [tuple(i) for i in invites],
        }


def test_a_phone_or_device_shared_with_the_ring_is_a_cluster_and_writes_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    first, second = campaign(db, p, goal="register"), campaign(db, p, goal="register")
    boss, code = inviter(db, p, first)
    with db.transaction() as session:
        code2 = service.link_for(session, p, second, boss).code
    clock.advance(minutes=1)
    friend = accept(db, p, code, phone="13500000201", device_id="dev-201")
    assert friend[:2] == ("converted", None)
    before = counts(db)
    # The friend brought in by the first campaign, "new" again in the second: one ring.
    assert accept(db, p, code2, phone="13500000201") == ("rejected", "shared_phone", None)
    assert accept(db, p, code2, phone="13500000202", device_id="dev-201") == (
        "rejected",
        "shared_device",
        None,
    )
    after = counts(db)
    assert after == before | {
        "invites": before["invites"]
        + [("rejected", "shared_phone", None), ("rejected", "shared_device", None)]
    }
    with db.transaction() as session:
        report = service.report(session, p, second)
    assert report.rejected == {"shared_device": 1, "shared_phone": 1}
    assert (report.invites, report.converted, report.cost_per_new_customer_fen) == (0, 0, None)


def test_a_second_visit_by_the_same_invitee_answers_with_the_same_invite(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    cid = campaign(db, p, goal="register")
    _, code = inviter(db, p, cid)
    clock.advance(minutes=1)
    once = accept(db, p, code, phone="13500000301", device_id="dev-301")
    before = counts(db)
    assert accept(db, p, code, phone="13500000301", device_id="dev-301") == once
    assert once[:2] == ("converted", None)
    assert counts(db) == before
    with db.transaction() as session:
        report = service.report(session, p, cid)
    assert (report.converted, report.rewards, report.rejected) == (1, 2, {})


def test_a_self_invite_writes_no_customer_and_no_reward(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    cid = campaign(db, p, goal="register")
    _, code = inviter(db, p, cid)
    clock.advance(minutes=1)
    before = counts(db)
    assert accept(db, p, code, phone="13500000000", device_id="dev-new") == (
        "rejected",
        "self_invite",
        None,
    )
    assert counts(db) == before | {"invites": [("rejected", "self_invite", None)]}


def test_an_existing_customer_is_not_new_and_earns_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    cid = campaign(db, p, goal="register")
    _, code = inviter(db, p, cid)
    with db.transaction() as session:
        sighting = Sighting("old", [("phone", "13500000401")], "api", clock.now(), {})
        old, _ = Resolver(session, p).resolve(sighting)
    clock.advance(minutes=1)
    before = counts(db)
    assert accept(db, p, code, phone="13500000401") == ("rejected", "not_new", old)
    assert counts(db) == before | {"invites": [("rejected", "not_new", old)]}


def test_over_the_daily_cap_the_customer_stays_but_no_reward_is_given(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    cid = campaign(db, p, goal="register", cap=1)
    _, code = inviter(db, p, cid)
    with db.transaction() as session:
        seen = Sighting("other", [("phone", "13600000000")], "api", clock.now(), {})
        other, _ = Resolver(session, p).resolve(seen)
        other_code = service.link_for(session, p, cid, other).code
    clock.advance(minutes=1)
    assert accept(db, p, code, phone="13500000501")[:2] == ("converted", None)
    before = counts(db)
    status, reason, late = accept(db, p, code, phone="13500000502")
    assert (status, reason) == ("rejected", "daily_cap") and late is not None
    after = counts(db)
    # The person is a real new customer; only the reward is refused.
    assert (after["customers"], after["rewards"], after["points"]) == (
        before["customers"] + 1,
        before["rewards"],
        before["points"],
    )
    assert after["invites"] == before["invites"] + [("rejected", "daily_cap", late)]
    # The cap is per inviter: another inviter's first invite of the day still converts.
    assert accept(db, p, other_code, phone="13500000503")[:2] == ("converted", None)


def test_a_coupon_reward_issues_one_coupon_to_each_side_once(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    with db.transaction() as session:
        template = coupons.create_template(
            session,
            p,
            TemplateIn(name="邀请券", kind="threshold", threshold_fen=5000, discount_fen=1000),
        )
        data = CampaignIn(
            name="邀请得券",
            goal="register",
            reward_kind="coupon",
            coupon_template_id=template.id,
            reward_cost_fen=1000,
        )
        cid = service.create_campaign(session, p, data).id
    boss, code = inviter(db, p, cid)
    clock.advance(minutes=1)
    friend = accept(db, p, code, phone="13500000601")
    assert friend[:2] == ("converted", None)
    assert accept(db, p, code, phone="13500000601") == friend
    with db.transaction() as session:
        held = session.execute(
            select(Coupon.customer_id, Coupon.template_id, Coupon.status).order_by(Coupon.id)
        ).all()
        report = service.report(session, p, cid)
    assert [tuple(c) for c in held] == [
        (boss, template.id, "issued"),
        (friend[2], template.id, "issued"),
    ]
    assert (report.rewards, report.cost_fen, report.cost_per_new_customer_fen) == (2, 2000, 2000)
