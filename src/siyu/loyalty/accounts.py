"""Locking a customer's points account, and reading its lots FIFO, in as few round trips as can be.

The account row is the lock every change to a customer's points takes first (SELECT ... FOR
UPDATE on PostgreSQL; SQLite serializes writers with BEGIN IMMEDIATE). Lots change only under
it. The statements are built once: SQLAlchemy then memoizes their cache keys, which saves more
CPU per transaction than anything else on this path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, TextClause, bindparam, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from siyu.core.db import table_of
from siyu.loyalty.models import Member, PointsAccount, PointsLot

ACCOUNTS = table_of(PointsAccount)
LOTS = table_of(PointsLot)
MEMBERS = table_of(Member)
HEAD = 16  # lots read first; more only when they do not cover the redemption
QUICK = 4  # lots read with the lock: most redemptions take one or two

_ACCOUNT = select(ACCOUNTS.c.id, ACCOUNTS.c.balance).where(
    ACCOUNTS.c.workspace_id == bindparam("ws"), ACCOUNTS.c.customer_id == bindparam("cid")
)
_IS_MEMBER = (MEMBERS.c.workspace_id == ACCOUNTS.c.workspace_id) & (
    MEMBERS.c.customer_id == ACCOUNTS.c.customer_id
)
# The same, only for members: the membership check rides on the lock's round trip.
_MEMBER_ACCOUNT = _ACCOUNT.join(MEMBERS, _IS_MEMBER)
# FIFO: soonest expiry first, never-expiring last, then oldest; the partial index
# ix_points_lot_fifo (open lots only, in this order) makes the head a short index scan.
_LOTS_ALL = (
    select(LOTS.c.id, LOTS.c.expires_at, LOTS.c.remaining, LOTS.c.transfer_id)
    .where(
        LOTS.c.workspace_id == bindparam("ws"),
        LOTS.c.customer_id == bindparam("cid"),
        LOTS.c.remaining > 0,
    )
    .order_by(LOTS.c.expires_at.asc().nulls_last(), LOTS.c.id)
)
_LOTS_HEAD = _LOTS_ALL.limit(HEAD)


def _with_head(account: Select[Any]) -> Select[Any]:
    """The account's row joined with its QUICK first lots (one row per lot, or one without)."""
    head = _LOTS_ALL.limit(QUICK).subquery("head")
    return (
        account.add_columns(head.c.id, head.c.expires_at, head.c.remaining, head.c.transfer_id)
        .outerjoin_from(ACCOUNTS, head, true())
        .order_by(head.c.expires_at.asc().nulls_last(), head.c.id)
    )


# (locked?, members only?, with the head?) -> statement; SQLite needs no row lock.
_LOCKS = {
    (True, False, False): _ACCOUNT.with_for_update(),
    (True, True, False): _MEMBER_ACCOUNT.with_for_update(of=ACCOUNTS),
    (True, True, True): _with_head(_MEMBER_ACCOUNT).with_for_update(of=ACCOUNTS),
    (True, False, True): _with_head(_ACCOUNT).with_for_update(of=ACCOUNTS),
    (False, False, False): _ACCOUNT,
    (False, True, False): _MEMBER_ACCOUNT,
    (False, True, True): _with_head(_MEMBER_ACCOUNT),
    (False, False, True): _with_head(_ACCOUNT),
}


def is_pg(session: Session) -> bool:
    """True on PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


_COMPILED: dict[int, tuple[str, dict[str, Any]]] = {}


def rows_of(session: Session, stmt: Select[Any] | TextClause, params: dict[str, Any]) -> list[Any]:
    """Run a statement built once, in the session's transaction; its rows.

    On PostgreSQL it is compiled once and sent straight to psycopg (which prepares it after a
    few runs): SQLAlchemy's per-execution work is a third of the client's CPU on this path.
    Only for statements whose values need none of SQLAlchemy's type conversions.
    """
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return list(conn.execute(stmt, params))
    found = _COMPILED.get(id(stmt))
    if found is None:
        compiled = stmt.compile(dialect=conn.dialect)
        found = _COMPILED.setdefault(id(stmt), (compiled.string, dict(compiled.params)))
    sql, defaults = found
    driver = conn.connection.driver_connection
    assert driver is not None
    return driver.execute(sql, defaults | params).fetchall()  # type: ignore[attr-defined]


def lock(
    session: Session, workspace_id: int, customer_id: int, members_only: bool = False
) -> tuple[int, int] | None:
    """Lock the customer's account: (account id, balance), or None without one."""
    stmt = _LOCKS[(is_pg(session), members_only, False)]
    row = session.connection().execute(stmt, {"ws": workspace_id, "cid": customer_id}).first()
    return None if row is None else (row[0], row[1])


def lock_with_head(
    session: Session, workspace_id: int, customer_id: int, members_only: bool = False
) -> tuple[int, int, list[list[Any]]] | None:
    """Lock the account and read the QUICK first of its lots in one round trip.

    (account id, balance, those lots), or None without an account. On PostgreSQL the lots are
    read with the statement's snapshot, taken before the lock was granted: if another
    transaction held the lock and changed them, they may be out of date. The balance is
    current (the lock reads the newest row). Act on the head only through a write that
    checks it is unchanged (`head_mark`), or re-read it with `open_lots`.
    """
    stmt = _LOCKS[(is_pg(session), members_only, True)]
    rows = rows_of(session, stmt, {"ws": workspace_id, "cid": customer_id})
    if not rows:
        return None
    lots = [list(row[2:]) for row in rows if row[2] is not None]
    return rows[0][0], rows[0][1], lots


def head_mark(lots: list[list[Any]]) -> str:
    """The head's identity (lot id and points left, in order) as the write's guard compares it."""
    return ",".join(f"{lot[0]}:{lot[2]}" for lot in lots)


def open_lots(
    session: Session, workspace_id: int, customer_id: int, limit: int | None = None
) -> list[list[Any]]:
    """[id, expires_at, remaining, transfer_id] of the lots with points left, FIFO by expiry.

    Lots past their date sort first, so the head of the list holds every lot due to expire
    before the ones a redemption consumes; most redemptions need only the head.
    """
    stmt = _LOTS_ALL if limit is None else _LOTS_HEAD
    params = {"ws": workspace_id, "cid": customer_id}
    return [list(row) for row in session.connection().execute(stmt, params)]


def create_account(session: Session, workspace_id: int, customer_id: int) -> None:
    """Make the customer's account if it is missing (two first earners: one makes it)."""
    maker = postgresql.insert if is_pg(session) else sqlite.insert
    stmt = maker(ACCOUNTS).values(workspace_id=workspace_id, customer_id=customer_id, balance=0)
    session.connection().execute(
        stmt.on_conflict_do_nothing(index_elements=["workspace_id", "customer_id"])
    )


def open_account(session: Session, workspace_id: int, customer_id: int) -> tuple[int, int]:
    """Lock the customer's account, creating it (race-free) on first use."""
    found = lock(session, workspace_id, customer_id)
    if found is not None:
        return found
    create_account(session, workspace_id, customer_id)
    found = lock(session, workspace_id, customer_id)
    assert found is not None
    return found


def lock_accounts(
    session: Session, workspace_id: int, customer_ids: list[int]
) -> dict[int, tuple[int, int]]:
    """Lock several accounts in account-id order (two lockers never deadlock), creating any missing.

    Returns customer id -> (account id, balance) as read under the locks.
    """
    for customer_id in customer_ids:
        create_account(session, workspace_id, customer_id)
    ids = session.connection().execute(
        select(ACCOUNTS.c.id, ACCOUNTS.c.customer_id).where(
            ACCOUNTS.c.workspace_id == workspace_id, ACCOUNTS.c.customer_id.in_(customer_ids)
        )
    )
    locked = {}
    for _, customer_id in sorted(ids):
        found = lock(session, workspace_id, customer_id)
        assert found is not None
        locked[customer_id] = found
    return locked
