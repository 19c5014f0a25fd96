"""Points, lots and membership follow a OneID merge and go back on undo, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.customers.merge import merge, merge_many, unmerge
from siyu.customers.models import MergeRecord
from siyu.loyalty import ledger, merging, service
from siyu.loyalty.models import Member, PointsLot
from tests.conftest import Tenant
from tests.loyalty.helpers import customer, member, snapshot

JAN6 = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


def grant(db: Database, tenant: Tenant, customer_id: int, points: int, key: str) -> int:
    """Bonus points for a member; returns the transfer id."""
    with db.transaction() as session:
        posted = service.grant_points(session, tenant.principal, customer_id, points, None, key)
    return posted.transfer_id


def spend(db: Database, tenant: Tenant, customer_id: int, points: int, key: str) -> None:
    with db.transaction() as session:
        service.redeem(session, tenant.principal, customer_id, points, key)


def state(db: Database, ws: int, customer_id: int) -> tuple[int, int, int]:
    """(cached balance, ledger balance, open lot points): the ledger's three views agree."""
    with db.transaction() as session:
        return (
            ledger.balance_of(session, ws, customer_id),
            ledger.ledger_balance(session, ws, ledger.account_code(customer_id)),
            ledger.open_points(session, ws, customer_id),
        )


def lots(db: Database, ws: int) -> dict[int, tuple[int, int]]:
    """lot id -> (owner, remaining)."""
    with db.transaction() as session:
        rows = session.execute(
            select(PointsLot.id, PointsLot.customer_id, PointsLot.remaining).where(
                PointsLot.workspace_id == ws
            )
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def statement(db: Database, tenant: Tenant, customer_id: int) -> list[tuple[Any, ...]]:
    """The customer's postings, newest first: (kind, points, debit, credit, after, key)."""
    with db.transaction() as session:
        rows = service.statement(session, tenant.principal, customer_id, None, 50)
        return [
            (
                r.kind,
                r.points,
                r.debit_account,
                r.credit_account,
                r.balance_after,
                r.idempotency_key,
            )
            for r in rows
        ]


def issued(db: Database, ws: int) -> int:
    with db.transaction() as session:
        return ledger.ledger_balance(session, ws, ledger.ISSUED)


def two_members(db: Database, tenant: Tenant) -> tuple[int, int, list[int]]:
    """Survivor with 100 points in one lot; absorbed with 25 + 20 left in two lots."""
    keep, gone = member(db, tenant, "甲"), member(db, tenant, "乙")
    grant(db, tenant, keep, 100, "keep-1")
    grant(db, tenant, gone, 30, "gone-1")
    grant(db, tenant, gone, 20, "gone-2")
    spend(db, tenant, gone, 5, "gone-spend")
    with db.transaction() as session:
        ids = sorted(
            session.scalars(
                select(PointsLot.id).where(PointsLot.workspace_id == tenant.workspace_id)
            )
        )
    return keep, gone, ids


def test_points_and_lots_follow_a_merge_and_go_back_exactly(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    ws = tenant.workspace_id
    keep, gone, (lot_k, lot_g1, lot_g2) = two_members(db, tenant)
    before = snapshot(db, ws)
    assert lots(db, ws) == {lot_k: (keep, 100), lot_g1: (gone, 25), lot_g2: (gone, 20)}
    assert issued(db, ws) == -150

    with db.transaction() as session:
        record_id = merge(session, tenant.principal, keep, gone, "manual").id
    after = snapshot(db, ws)
    assert after["transfers"] == before["transfers"] + 1
    assert (after["lots"], after["accounts"], after["members"]) == (3, 2, 2)
    assert after["remaining"] == before["remaining"]
    assert after["balances"] == [(keep, 145), (gone, 0)]
    assert state(db, ws, keep) == (145, 145, 145)
    assert state(db, ws, gone) == (0, 0, 0)
    assert issued(db, ws) == -150  # nothing issued or lost: the points only changed hands
    assert lots(db, ws) == {lot_k: (keep, 100), lot_g1: (keep, 25), lot_g2: (keep, 20)}
    merged = ("merge", 45, f"customer:{gone}", f"customer:{keep}", 145, f"merge:{record_id}")
    assert statement(db, tenant, keep)[0] == merged
    assert [r[0] for r in statement(db, tenant, keep)] == ["merge", "bonus"]
    with db.transaction() as session:
        record = session.get(MergeRecord, record_id)
        assert record is not None
        assert record.moved["loyalty"] == {"points": 45, "lots": [lot_g1, lot_g2], "member": {}}

    with db.transaction() as session:
        unmerge(session, tenant.principal, record_id)
    undone = snapshot(db, ws)
    assert undone["transfers"] == before["transfers"] + 2
    assert undone["balances"] == before["balances"]
    assert undone["remaining"] == before["remaining"]
    assert lots(db, ws) == {lot_k: (keep, 100), lot_g1: (gone, 25), lot_g2: (gone, 20)}
    assert state(db, ws, keep) == (100, 100, 100)
    assert state(db, ws, gone) == (45, 45, 45)
    assert issued(db, ws) == -150
    back = ("unmerge", 45, f"customer:{keep}", f"customer:{gone}", 45, f"unmerge:{record_id}")
    assert statement(db, tenant, gone)[0] == back
    with db.transaction() as session:
        record = session.get(MergeRecord, record_id)
        assert record is not None
        assert record.moved["loyalty"] == {
            "points": 45,
            "lots": [lot_g1, lot_g2],
            "member": {},
            "returned": 45,
            "shortfall": 0,
            "returned_lots": [lot_g1, lot_g2],
        }


def test_undo_returns_what_is_left_of_the_lots_and_records_the_shortfall(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    ws = tenant.workspace_id
    keep, gone, (lot_k, lot_g1, lot_g2) = two_members(db, tenant)
    with db.transaction() as session:
        record_id = merge(session, tenant.principal, keep, gone, "manual").id
    # FIFO: the survivor's own lot first, then 20 of the 25 left in the absorbed's first lot.
    spend(db, tenant, keep, 120, "after-merge")
    assert lots(db, ws) == {lot_k: (keep, 0), lot_g1: (keep, 5), lot_g2: (keep, 20)}
    with db.transaction() as session:
        unmerge(session, tenant.principal, record_id)
    assert state(db, ws, keep) == (0, 0, 0)
    assert state(db, ws, gone) == (25, 25, 25)
    assert lots(db, ws) == {lot_k: (keep, 0), lot_g1: (gone, 5), lot_g2: (gone, 20)}
    with db.transaction() as session:
        record = session.get(MergeRecord, record_id)
        assert record is not None
        moved = record.moved["loyalty"]
    assert (moved["returned"], moved["shortfall"]) == (25, 20)


def test_a_member_merged_into_a_non_member_brings_the_membership(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    ws = tenant.workspace_id
    keep, gone = customer(db, tenant, "甲"), member(db, tenant, "乙")
    grant(db, tenant, gone, 40, "gone-1")
    with db.transaction() as session:
        card = service.find_member(session, ws, gone)
        assert card is not None
        member_id, card_no = card.id, card.card_no
    with db.transaction() as session:
        record_id = merge(session, tenant.principal, keep, gone, "manual").id

    def owners() -> list[tuple[int, int, str]]:
        with db.transaction() as session:
            rows = session.execute(
                select(Member.id, Member.customer_id, Member.card_no).where(
                    Member.workspace_id == ws
                )
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]

    assert owners() == [(member_id, keep, card_no)]
    # The survivor had no account: it was made, and got the points.
    assert state(db, ws, keep) == (40, 40, 40)
    assert state(db, ws, gone) == (0, 0, 0)
    spend(db, tenant, keep, 10, "as-member")  # redeeming needs membership: the survivor has it
    with db.transaction() as session:
        unmerge(session, tenant.principal, record_id)
    assert owners() == [(member_id, gone, card_no)]
    assert state(db, ws, gone) == (30, 30, 30)
    assert state(db, ws, keep) == (0, 0, 0)


def test_both_members_the_survivor_keeps_the_higher_tier_until_undo(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    ws = tenant.workspace_id
    keep, gone = member(db, tenant, "甲"), member(db, tenant, "乙")
    gold = datetime(2025, 6, 1, tzinfo=UTC)
    with db.transaction() as session:
        theirs = service.find_member(session, ws, gone)
        assert theirs is not None
        theirs.tier_rank, theirs.tier_since = 2, gold
    with db.transaction() as session:
        mine = service.find_member(session, ws, keep)
        assert mine is not None
        keep_member, keep_since = mine.id, mine.tier_since

    def tiers() -> dict[int, tuple[int, datetime]]:
        with db.transaction() as session:
            rows = session.execute(
                select(Member.customer_id, Member.tier_rank, Member.tier_since).where(
                    Member.workspace_id == ws
                )
            )
            return {r[0]: (r[1], r[2]) for r in rows}

    with db.transaction() as session:
        record_id = merge(session, tenant.principal, keep, gone, "manual").id
    assert tiers() == {keep: (2, gold), gone: (2, gold)}
    with db.transaction() as session:
        record = session.get(MergeRecord, record_id)
        assert record is not None
        change = record.moved["loyalty"]["member"]
    assert (change["tier_of"], change["after_rank"], change["before"]["tier_rank"]) == (
        keep_member,
        2,
        0,
    )
    with db.transaction() as session:
        unmerge(session, tenant.principal, record_id)
    assert tiers() == {keep: (0, keep_since), gone: (2, gold)}


def test_a_replayed_hook_applies_once(db: Database, tenant: Tenant, clock: SimulatedClock) -> None:
    clock.set(JAN6)
    ws = tenant.workspace_id
    keep, gone, _ = two_members(db, tenant)
    with db.transaction() as session:
        record_id = merge(session, tenant.principal, keep, gone, "manual").id
    merged = snapshot(db, ws)
    with db.transaction() as session:
        record = session.get(MergeRecord, record_id)
        assert record is not None
        merging.on_merge(session, tenant.principal, record)
    assert snapshot(db, ws) == merged
    # Even without the record's note, the posting's key keeps the points from moving twice.
    with db.transaction() as session:
        record = session.get(MergeRecord, record_id)
        assert record is not None
        record.moved = {k: v for k, v in record.moved.items() if k != "loyalty"}
        session.flush()
        grant(db, tenant, keep, 1, "unrelated") if False else None
        merging.on_merge(session, tenant.principal, record)
        session.rollback()
    assert snapshot(db, ws) == merged

    with db.transaction() as session:
        unmerge(session, tenant.principal, record_id)
    undone = snapshot(db, ws)
    with db.transaction() as session:
        record = session.get(MergeRecord, record_id)
        assert record is not None
        merging.on_unmerge(session, tenant.principal, record)
    assert snapshot(db, ws) == undone
    assert state(db, ws, keep) == (100, 100, 100)
    assert state(db, ws, gone) == (45, 45, 45)


def test_a_chain_of_merges_ends_with_every_point_in_the_last_survivor(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    ws = tenant.workspace_id
    a, b, c = member(db, tenant, "甲"), member(db, tenant, "乙"), customer(db, tenant, "丙")
    grant(db, tenant, a, 7, "a-1")
    grant(db, tenant, b, 11, "b-1")
    before = snapshot(db, ws)
    with db.transaction() as session:
        records = merge_many(session, tenant.principal, [(b, a, "x"), (c, b, "y")])
        ids = [r.id for r in records]
    assert state(db, ws, c) == (18, 18, 18)
    assert state(db, ws, a) == (0, 0, 0)
    assert state(db, ws, b) == (0, 0, 0)
    after = snapshot(db, ws)
    assert after["transfers"] == before["transfers"] + 2
    assert after["members"] == before["members"] == 2
    with db.transaction() as session:
        owners = sorted(
            session.scalars(select(Member.customer_id).where(Member.workspace_id == ws))
        )
    # a's membership went to c (then not a member); b's stays with b (c already was one).
    assert owners == sorted([c, b])
    for record_id in reversed(ids):
        with db.transaction() as session:
            unmerge(session, tenant.principal, record_id)
    # c keeps the (now empty) account the merge opened for it.
    assert snapshot(db, ws)["balances"] == [*before["balances"], (c, 0)]
    assert state(db, ws, a) == (7, 7, 7)
    assert state(db, ws, b) == (11, 11, 11)


def test_a_merge_without_points_or_membership_leaves_no_loyalty_note(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    ws = tenant.workspace_id
    keep, gone = member(db, tenant, "甲"), customer(db, tenant, "乙")
    grant(db, tenant, keep, 9, "keep-1")
    before = snapshot(db, ws)
    with db.transaction() as session:
        record = merge(session, tenant.principal, keep, gone, "manual")
        assert "loyalty" not in record.moved
    assert snapshot(db, ws) == before
