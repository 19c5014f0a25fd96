"""Points and membership follow a OneID merge, and go back when it is undone.

On merge, the absorbed customer's open lots move to the survivor with one posting from
`customer:<absorbed>` to `customer:<survivor>` (key `merge:<record id>`), so the ledger, the
cached balances and the lots still agree on both sides. Membership: a lone absorbed member's
row moves to the survivor; when both are members the survivor keeps the higher tier.

On undo, the rule is "points go back as the lots they came in": the moved lots the survivor
still holds return with what is left in them, by a posting keyed `unmerge:<record id>`. What
the survivor spent from those lots (or what expired) after the merge stays spent and is
recorded as `shortfall`; the return is never more than the survivor holds, so no balance goes
below zero. Points the survivor earned after the merge stay with the survivor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, union, update
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.db import table_of
from siyu.customers.merge import register_merge_hook
from siyu.customers.models import MergeRecord
from siyu.loyalty import ledger
from siyu.loyalty.accounts import lock_accounts
from siyu.loyalty.models import Member, PointsAccount, PointsLot
from siyu.loyalty.postings import insert_transfer, set_balance, transfer_values
from siyu.loyalty.service import find_member

KEY = "loyalty"
LOTS = table_of(PointsLot)


def on_merge(session: Session, principal: Principal, record: MergeRecord) -> None:
    """Move the absorbed customer's points, lots and membership to the survivor (once)."""
    if KEY in (record.moved or {}):
        return  # a replay: this record's loyalty part already ran
    ws = record.workspace_id
    lots = _open_lot_ids(session, ws, record.absorbed_id)
    points, lots = _shift(
        session,
        principal,
        record,
        (record.absorbed_id, record.survivor_id),
        lots,
        ("merge", f"merge:{record.id}"),
    )
    done = {"points": points, "lots": lots, "member": _merge_member(session, ws, record)}
    record.moved = {**(record.moved or {}), KEY: done}


def on_unmerge(session: Session, principal: Principal, record: MergeRecord) -> None:
    """Give the absorbed customer back what is left of its lots, and its membership."""
    done = dict((record.moved or {}).get(KEY) or {})
    if not done or "returned" in done:
        return  # nothing moved at merge time, or the undo already ran
    still = list(
        session.scalars(
            select(PointsLot.id).where(
                PointsLot.id.in_(done["lots"] or [0]),
                PointsLot.customer_id == record.survivor_id,
                PointsLot.remaining > 0,
            )
        )
    )
    returned, still = _shift(
        session,
        principal,
        record,
        (record.survivor_id, record.absorbed_id),
        sorted(still),
        ("unmerge", f"unmerge:{record.id}"),
    )
    _unmerge_member(session, record, done.get("member"))
    done.update(returned=returned, shortfall=done["points"] - returned, returned_lots=still)
    record.moved = {**record.moved, KEY: done}


def involved(session: Session, principal: Principal, absorbed_ids: list[int]) -> set[int]:
    """Which of these absorbed customers hold open lots or a membership (one query)."""
    ws = principal.workspace_id
    stmt = union(
        select(PointsLot.customer_id).where(
            PointsLot.workspace_id == ws,
            PointsLot.customer_id.in_(absorbed_ids),
            PointsLot.remaining > 0,
        ),
        select(Member.customer_id).where(
            Member.workspace_id == ws, Member.customer_id.in_(absorbed_ids)
        ),
    )
    return {int(c) for c in session.scalars(stmt)}


def _open_lot_ids(session: Session, workspace_id: int, customer_id: int) -> list[int]:
    stmt = select(PointsLot.id).where(
        PointsLot.workspace_id == workspace_id,
        PointsLot.customer_id == customer_id,
        PointsLot.remaining > 0,
    )
    return sorted(session.scalars(stmt))


def _shift(
    session: Session,
    principal: Principal,
    record: MergeRecord,
    sides: tuple[int, int],
    lot_ids: list[int],
    what: tuple[str, str],
) -> tuple[int, list[int]]:
    """Re-own the lots and post their points from giver to taker; (points, lots) moved."""
    giver, taker = sides
    if not lot_ids:
        return 0, []
    ws = record.workspace_id
    locked = lock_accounts(session, ws, sorted(sides))
    # Read the lots under the account locks: a debit racing the merge has finished by now.
    rows = session.execute(
        select(PointsLot.id, PointsLot.remaining).where(
            PointsLot.id.in_(lot_ids), PointsLot.customer_id == giver, PointsLot.remaining > 0
        )
    ).all()
    points = sum(int(r[1]) for r in rows)
    if points == 0:
        return 0, []
    (giver_account, giver_balance), (taker_account, taker_balance) = locked[giver], locked[taker]
    moving = sorted(int(r[0]) for r in rows)
    detail = {
        "merge": record.id,
        "from": giver,
        "lots": moving,
        "from_balance_after": giver_balance - points,
    }
    kind, key = what
    entry = ledger.Entry(taker, points, kind, key, actor=principal.actor, detail=detail)
    values = transfer_values(
        ws, entry, ledger.account_code(giver), ledger.account_code(taker), taker_balance + points
    )
    if insert_transfer(session, values) is None:
        return 0, []  # this key was posted before: the points already moved
    session.execute(
        update(LOTS).where(LOTS.c.id.in_(moving)).values(customer_id=taker),
        execution_options={"synchronize_session": False},
    )
    set_balance(session, giver_account, giver_balance - points)
    set_balance(session, taker_account, taker_balance + points)
    _forget(session)
    return points, moving


def _forget(session: Session) -> None:
    # The ledger writes with Core; ORM copies loaded earlier must be re-read.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, PointsAccount | PointsLot):
            session.expire(obj)


def _merge_member(session: Session, workspace_id: int, record: MergeRecord) -> dict[str, Any]:
    absorbed = find_member(session, workspace_id, record.absorbed_id)
    if absorbed is None:
        return {}
    survivor = find_member(session, workspace_id, record.survivor_id)
    if survivor is None:
        absorbed.customer_id = record.survivor_id
        return {"moved": absorbed.id}
    if absorbed.tier_rank <= survivor.tier_rank:
        return {}
    before = {
        "tier_rank": survivor.tier_rank,
        "tier_since": survivor.tier_since.isoformat(),
        "downgrade_due_at": _iso(survivor.downgrade_due_at),
    }
    survivor.tier_rank = absorbed.tier_rank
    survivor.tier_since = absorbed.tier_since
    survivor.downgrade_due_at = absorbed.downgrade_due_at
    return {"tier_of": survivor.id, "before": before, "after_rank": absorbed.tier_rank}


def _unmerge_member(session: Session, record: MergeRecord, change: dict[str, Any] | None) -> None:
    if not change:
        return
    if "moved" in change:
        member = session.get(Member, change["moved"])
        if member is not None and member.customer_id == record.survivor_id:
            member.customer_id = record.absorbed_id
        return
    member = session.get(Member, change["tier_of"])
    # Only undo the tier the merge gave, and only if no review changed it since.
    if member is None or member.tier_rank != change["after_rank"]:
        return
    before = change["before"]
    member.tier_rank = before["tier_rank"]
    member.tier_since = datetime.fromisoformat(before["tier_since"])
    due = before["downgrade_due_at"]
    member.downgrade_due_at = datetime.fromisoformat(due) if due else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


register_merge_hook(on_merge, on_unmerge, involved)
