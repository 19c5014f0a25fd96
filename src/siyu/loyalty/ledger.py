"""The points ledger: double-entry transfers, FIFO lots with expiry, a locked cached balance.

Every change to a customer's points is one `points_transfer` row naming both accounts and
carrying an idempotency key (UNIQUE per workspace), so a replayed message or request posts
once. The customer's account row is locked first (SELECT ... FOR UPDATE on PostgreSQL; SQLite
serializes writers with BEGIN IMMEDIATE), then the key is checked, then the balance: the
balance can never go below zero however many redemptions race. Invariant kept in every
transaction: account.balance = credits - debits of "customer:<id>" = sum of open lots.
These functions are the hot path, so they use Core statements, not ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from siyu.core.clock import now
from siyu.core.db import table_of
from siyu.core.errors import Conflict, InvalidField, SiyuError
from siyu.loyalty.accounts import (
    HEAD,
    head_mark,
    is_pg,
    lock,
    lock_with_head,
    open_account,
    open_lots,
)
from siyu.loyalty.models import PointsAccount, PointsLot, PointsTransfer
from siyu.loyalty.postings import (
    HeadChanged,
    insert_transfer,
    set_balance,
    transfer_values,
    write_credit,
    write_debit,
)

ACCOUNTS = table_of(PointsAccount)
TRANSFERS = table_of(PointsTransfer)
LOTS = table_of(PointsLot)
# The most points one posting may move: far above any real grant, far below BIGINT.
MAX_POINTS = 10**12
ISSUED, REDEEMED, EXPIRED, ADJUSTMENT = (
    "system:issued",
    "system:redeemed",
    "system:expired",
    "system:adjustment",
)


class InsufficientPoints(SiyuError):
    """More points asked for than the customer holds."""

    status = 409
    code = "insufficient_points"

    def __init__(self, balance: int, wanted: int) -> None:
        super().__init__(
            zh=f"积分不足：可用 {balance}，需要 {wanted}",
            en=f"Not enough points: {balance} available, {wanted} needed",
            balance=balance,
        )


class NoAccount(InsufficientPoints):
    """The customer holds no points account (or, members_only, is not a member)."""


@dataclass(frozen=True)
class Posted:
    """What a posting did: the transfer, the balance after it, and whether it was a replay."""

    transfer_id: int
    points: int
    balance_after: int
    replay: bool = False


@dataclass(frozen=True)
class Entry:
    """What to post: who, how many, why; the key makes it happen once."""

    customer_id: int
    points: int
    kind: str
    key: str
    order_id: int | None = None
    channel: str | None = None
    reason: str | None = None
    actor: str = "system"
    detail: dict[str, Any] | None = None


def account_code(customer_id: int) -> str:
    """The ledger name of a customer's account."""
    return f"customer:{customer_id}"


def check_points(value: Any, field: str = "points") -> int:
    """A whole, positive number of points (no fractions, no bools, no negatives, not absurd)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField(field, "积分必须是整数", "must be a whole number")
    if value <= 0:
        raise InvalidField(field, "积分必须大于0", "must be greater than zero")
    if value > MAX_POINTS:
        raise InvalidField(field, f"积分不能超过 {MAX_POINTS}", f"must be at most {MAX_POINTS}")
    return value


_REPLAY = select(
    TRANSFERS.c.id,
    TRANSFERS.c.points,
    TRANSFERS.c.balance_after,
    TRANSFERS.c.customer_id,
    TRANSFERS.c.kind,
).where(
    TRANSFERS.c.workspace_id == bindparam("ws"), TRANSFERS.c.idempotency_key == bindparam("key")
)


def _replay(session: Session, workspace_id: int, entry: Entry) -> Posted | None:
    row = session.connection().execute(_REPLAY, {"ws": workspace_id, "key": entry.key}).first()
    if row is None:
        return None
    if row.customer_id != entry.customer_id or row.kind != entry.kind:
        raise Conflict(
            zh="此幂等键已用于另一笔积分变动",
            en="This idempotency key was used for another posting",
        )
    return Posted(row.id, row.points, row.balance_after, replay=True)


def _replayed(session: Session, workspace_id: int, entry: Entry) -> Posted:
    replay = _replay(session, workspace_id, entry)
    assert replay is not None
    return replay


def credit(
    session: Session,
    workspace_id: int,
    entry: Entry,
    expires_at: datetime | None,
    source: str = ISSUED,
    locked: tuple[int, int] | None = None,
) -> Posted:
    """Give points (earn, bonus, positive adjustment): a new lot that expires at expires_at.

    locked: (account id, balance) when the caller already holds the account's lock.
    """
    check_points(entry.points)
    account_id, balance = locked or open_account(session, workspace_id, entry.customer_id)
    after = balance + entry.points
    values = transfer_values(workspace_id, entry, source, account_code(entry.customer_id), after)
    transfer_id = write_credit(session, values, account_id, expires_at)
    if transfer_id is None:
        return _replayed(session, workspace_id, entry)
    return Posted(transfer_id, entry.points, after)


def debit(
    session: Session,
    workspace_id: int,
    entry: Entry,
    target: str,
    *,
    first_lot_of: int | None = None,
    up_to_balance: bool = False,
    members_only: bool = False,
) -> Posted | None:
    """Take points (redeem, clawback, negative adjustment), oldest-expiring lots first.

    Lots already past their expiry are expired first, so expired points are never spent.
    up_to_balance takes what there is instead of refusing (a clawback after points were
    spent); first_lot_of consumes the lot a given transfer created before the others.
    """
    check_points(entry.points)
    locked = lock_with_head(session, workspace_id, entry.customer_id, members_only)
    if locked is None:
        if up_to_balance:
            return None
        raise NoAccount(0, entry.points)
    account_id, held, head = locked
    pg = is_pg(session)
    if first_lot_of is None and held >= entry.points and _covers(head, entry.points):
        # The usual redemption: the head covers it and nothing in it has expired. Two round
        # trips; the write checks the head did not change while this waited for the lock.
        try:
            mark = head_mark(head) if pg else None
            return _take(session, workspace_id, entry, target, (account_id, held, held), head, mark)
        except HeadChanged:
            pass
    lots = open_lots(session, workspace_id, entry.customer_id, limit=HEAD)
    t = now()
    live_head = sum(lot[2] for lot in lots if lot[1] is None or lot[1] > t)
    if len(lots) == HEAD and (live_head < entry.points or first_lot_of is not None):
        lots = open_lots(session, workspace_id, entry.customer_id)
    balance = _expire_lots(session, workspace_id, entry.customer_id, lots, held)
    wanted = min(entry.points, balance) if up_to_balance else entry.points
    if wanted > balance or wanted == 0:
        # A replay of a posting that went through answers as it did then, not as a refusal.
        replay = _replay(session, workspace_id, entry)
        if balance != held:
            set_balance(session, account_id, balance)
        if replay is not None or wanted == 0:
            return replay
        raise InsufficientPoints(balance, entry.points)
    live = [lot for lot in lots if lot[2] > 0]
    if first_lot_of is not None:
        live.sort(key=lambda lot: lot[3] != first_lot_of)
    return _take(
        session, workspace_id, entry, target, (account_id, held, balance), live, None, wanted
    )


def _covers(head: list[list[Any]], points: int) -> bool:
    """Whether the head holds the points with no lot in it past its date."""
    t = now()
    return (
        all(lot[1] is None or lot[1] > t for lot in head) and sum(lot[2] for lot in head) >= points
    )


def _take(
    session: Session,
    workspace_id: int,
    entry: Entry,
    target: str,
    account: tuple[int, int, int],
    lots: list[list[Any]],
    mark: str | None,
    wanted: int | None = None,
) -> Posted:
    """Post the debit from these live lots, in order; account is (id, held, balance now)."""
    account_id, held, balance = account
    wanted = entry.points if wanted is None else wanted
    used = _plan(lots, wanted)
    detail = {**(entry.detail or {}), "lots": used}
    if wanted != entry.points:
        detail["shortfall"] = entry.points - wanted
    posting = Entry(**{**entry.__dict__, "points": wanted, "detail": detail})
    after = balance - wanted
    values = transfer_values(workspace_id, posting, account_code(entry.customer_id), target, after)
    transfer_id = write_debit(session, values, account_id, used, mark)
    if transfer_id is None:
        if balance != held:
            set_balance(session, account_id, balance)
        return _replayed(session, workspace_id, entry)
    return Posted(transfer_id, wanted, after)


def _plan(lots: list[list[Any]], wanted: int) -> list[list[int]]:
    """[lot id, points taken] from the lots in order until `wanted` is covered."""
    used: list[list[int]] = []
    left = wanted
    for lot in lots:
        if left == 0:
            break
        take = min(lot[2], left)
        left -= take
        used.append([lot[0], take])
    return used


def _expire_lots(
    session: Session, workspace_id: int, customer_id: int, lots: list[list[Any]], balance: int
) -> int:
    """Post an expiry for every lot past its date; returns the balance after them."""
    t = now()
    for lot in lots:
        if lot[1] is None or lot[1] > t or lot[2] <= 0:
            continue
        points, lot[2] = lot[2], 0
        balance -= points
        entry = Entry(customer_id, points, "expire", f"expire:lot:{lot[0]}", detail={"lot": lot[0]})
        insert_transfer(
            session,
            transfer_values(workspace_id, entry, account_code(customer_id), EXPIRED, balance),
        )
        session.connection().execute(update(LOTS).where(LOTS.c.id == lot[0]).values(remaining=0))
    return balance


def expire_customer(session: Session, workspace_id: int, customer_id: int) -> int:
    """Expire what is due for one customer now (the schedule's job); returns points expired."""
    locked = lock(session, workspace_id, customer_id)
    if locked is None:
        return 0
    account_id, balance = locked
    after = _expire_lots(
        session, workspace_id, customer_id, open_lots(session, workspace_id, customer_id), balance
    )
    set_balance(session, account_id, after)
    return balance - after


def balance_of(session: Session, workspace_id: int, customer_id: int) -> int:
    """The cached balance (0 without an account)."""
    found = session.scalar(
        select(ACCOUNTS.c.balance).where(
            ACCOUNTS.c.workspace_id == workspace_id, ACCOUNTS.c.customer_id == customer_id
        )
    )
    return int(found or 0)


def ledger_balance(session: Session, workspace_id: int, account: str) -> int:
    """Any account's balance from the postings alone: credited minus debited."""
    credited = session.scalar(
        select(func.coalesce(func.sum(TRANSFERS.c.points), 0)).where(
            TRANSFERS.c.workspace_id == workspace_id, TRANSFERS.c.credit_account == account
        )
    )
    debited = session.scalar(
        select(func.coalesce(func.sum(TRANSFERS.c.points), 0)).where(
            TRANSFERS.c.workspace_id == workspace_id, TRANSFERS.c.debit_account == account
        )
    )
    return int(credited or 0) - int(debited or 0)


def open_points(session: Session, workspace_id: int, customer_id: int) -> int:
    """Points left in the customer's lots (equals the balance)."""
    found = session.scalar(
        select(func.coalesce(func.sum(LOTS.c.remaining), 0)).where(
            LOTS.c.workspace_id == workspace_id, LOTS.c.customer_id == customer_id
        )
    )
    return int(found or 0)
