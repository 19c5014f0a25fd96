"""Writing one posting: the transfer row, its lot changes and the cached balance.

On PostgreSQL the three go in one statement (data-modifying CTEs), so a redemption or an earn
costs one round trip for its writes instead of three; the later parts run only when the
transfer row was inserted (its idempotency key was new). SQLite is in-process, so there the
plain statements are as cheap and are used as they are.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from siyu.core.clock import now
from siyu.core.db import table_of
from siyu.loyalty.accounts import QUICK, is_pg, rows_of
from siyu.loyalty.models import PointsAccount, PointsLot, PointsTransfer

ACCOUNTS = table_of(PointsAccount)
TRANSFERS = table_of(PointsTransfer)
LOTS = table_of(PointsLot)
COLUMNS = (
    "workspace_id",
    "idempotency_key",
    "kind",
    "customer_id",
    "debit_account",
    "credit_account",
    "points",
    "balance_after",
    "order_id",
    "channel",
    "reason",
    "actor",
    "at",
    "detail",
)
_CAST = {c: TRANSFERS.c[c].type.compile(dialect=postgresql.dialect()) for c in COLUMNS}
_ROW = ", ".join(f"CAST(:{c} AS {_CAST[c]})" for c in COLUMNS)
# The lots accounts.lock_with_head reads, as they stand now: id and points left, in order.
_PG_HEAD = (
    "g AS (SELECT coalesce(string_agg(h.id || ':' || h.remaining, ',' "
    "ORDER BY h.expires_at, h.id), '') = :head AS ok FROM (SELECT id, remaining, expires_at "
    "FROM points_lot WHERE workspace_id = :workspace_id AND customer_id = :customer_id "
    f"AND remaining > 0 ORDER BY expires_at, id LIMIT {QUICK}) h), "
)


def _pg_transfer(guarded: bool) -> str:
    """Insert the transfer (only if its key is new, and if guarded only if the head is as read)
    and set the balance; later parts run only when the transfer row went in."""
    source = f"SELECT {_ROW} WHERE (SELECT ok FROM g)" if guarded else f"VALUES ({_ROW})"
    return (
        "WITH "
        + (_PG_HEAD if guarded else "")
        + f"t AS (INSERT INTO points_transfer ({', '.join(COLUMNS)}) {source} "
        "ON CONFLICT (workspace_id, idempotency_key) DO NOTHING RETURNING id), "
        "a AS (UPDATE points_account SET balance = :after_balance "
        "WHERE id = :account_id AND EXISTS (SELECT 1 FROM t))"
    )


_PG_CREDIT = _pg_transfer(False) + (
    ", l AS (INSERT INTO points_lot (workspace_id, customer_id, transfer_id, points, remaining, "
    "earned_at, expires_at) SELECT :workspace_id, :customer_id, t.id, :points, :points, :at, "
    "CAST(:expires_at AS TIMESTAMP WITH TIME ZONE) FROM t)"
)


def transfer_values(
    workspace_id: int, entry: Any, debit: str, credit: str, after: int
) -> dict[str, Any]:
    """The transfer row for an entry."""
    return {
        "workspace_id": workspace_id,
        "idempotency_key": entry.key,
        "kind": entry.kind,
        "customer_id": entry.customer_id,
        "debit_account": debit,
        "credit_account": credit,
        "points": entry.points,
        "balance_after": after,
        "order_id": entry.order_id,
        "channel": entry.channel,
        "reason": entry.reason,
        "actor": entry.actor,
        "at": now(),
        "detail": entry.detail or {},
    }


class HeadChanged(Exception):
    """The lots changed since they were read (nothing was written): read them again."""


def _insert_for(maker: Any) -> Any:
    values = {c: bindparam(c, type_=TRANSFERS.c[c].type) for c in COLUMNS}
    return (
        maker(TRANSFERS)
        .values(values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "idempotency_key"])
        .returning(TRANSFERS.c.id)
    )


# Built once, so SQLAlchemy memoizes their cache keys (the largest CPU cost per transaction).
_INSERT = {"postgresql": _insert_for(postgresql.insert), "sqlite": _insert_for(sqlite.insert)}
_BALANCE = (
    update(ACCOUNTS).where(ACCOUNTS.c.id == bindparam("account_id")).values(balance=bindparam("b"))
)
_NEW_LOT = insert(LOTS)
_TAKE = (
    update(LOTS)
    .where(LOTS.c.id == bindparam("lot_id"))
    .values(remaining=LOTS.c.remaining - bindparam("take"))
)
_TEXTS: dict[str, Any] = {}


def insert_transfer(session: Session, values: dict[str, Any]) -> int | None:
    """Insert a transfer alone; None when its key is already taken."""
    stmt = _INSERT["postgresql" if is_pg(session) else "sqlite"]
    found = session.connection().execute(stmt, values).scalar()
    return None if found is None else int(found)


def set_balance(session: Session, account_id: int, balance: int) -> None:
    """Write the cached balance (the caller holds the account's row lock)."""
    session.connection().execute(_BALANCE, {"account_id": account_id, "b": balance})


def _pg(session: Session, sql: str, params: dict[str, Any]) -> int | None:
    params = {**params, "detail": json.dumps(params["detail"], ensure_ascii=False)}
    guarded = "head" in params
    stmt = _TEXTS.get(sql)
    if stmt is None:
        ok = "(SELECT ok FROM g)" if guarded else "true"
        stmt = _TEXTS.setdefault(sql, text(f"{sql} SELECT (SELECT id FROM t), {ok}"))
    ((found, ok),) = rows_of(session, stmt, params)
    if not ok:
        raise HeadChanged
    return None if found is None else int(found)


def write_credit(
    session: Session,
    values: dict[str, Any],
    account_id: int,
    expires_at: datetime | None,
) -> int | None:
    """Transfer, a new lot of its points, and the balance; None (nothing written) on a replay."""
    after = values["balance_after"]
    if is_pg(session):
        params = {**values, "after_balance": after, "account_id": account_id}
        return _pg(session, _PG_CREDIT, params | {"expires_at": expires_at})
    transfer_id = insert_transfer(session, values)
    if transfer_id is None:
        return None
    session.connection().execute(
        _NEW_LOT,
        {
            "workspace_id": values["workspace_id"],
            "customer_id": values["customer_id"],
            "transfer_id": transfer_id,
            "points": values["points"],
            "remaining": values["points"],
            "earned_at": values["at"],
            "expires_at": expires_at,
        },
    )
    set_balance(session, account_id, after)
    return transfer_id


def write_debit(
    session: Session,
    values: dict[str, Any],
    account_id: int,
    used: list[list[int]],
    head: str | None = None,
) -> int | None:
    """Transfer, the lots it consumed, and the balance; None (nothing written) on a replay.

    head: on PostgreSQL, the `head_mark` of the lots as read; if they differ now, nothing is
    written and HeadChanged is raised.
    """
    after = values["balance_after"]
    if is_pg(session):
        params: dict[str, Any] = {**values, "after_balance": after, "account_id": account_id}
        if head is not None:
            params["head"] = head
        pairs = ", ".join(
            f"(CAST(:lot{i} AS BIGINT), CAST(:take{i} AS BIGINT))" for i in range(len(used))
        )
        for i, (lot_id, take) in enumerate(used):
            params[f"lot{i}"], params[f"take{i}"] = lot_id, take
        lots = (
            f", l AS (UPDATE points_lot SET remaining = points_lot.remaining - v.take "
            f"FROM (VALUES {pairs}) AS v(id, take) "
            f"WHERE points_lot.id = v.id AND EXISTS (SELECT 1 FROM t))"
        )
        return _pg(session, _pg_transfer(head is not None) + lots, params)
    transfer_id = insert_transfer(session, values)
    if transfer_id is None:
        return None
    session.connection().execute(_TAKE, [{"lot_id": lot, "take": take} for lot, take in used])
    set_balance(session, account_id, after)
    return transfer_id
