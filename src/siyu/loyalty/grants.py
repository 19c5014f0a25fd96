"""Granting bonus points, one or a batch (journey steps, campaigns), once per key, members only.

`grant_points` is a batch of one. A batch costs a few set-based statements whatever its size:
the membership of every customer in one look-up, the program's rules, the points accounts
locked (in account id order) and created where missing, the keys
already posted, then one insert each for the transfers and their lots and one executemany for
the balances. Non-members and bad values are that grant's result, never the batch's failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from siyu.core.arrays import insert_unnest
from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import now
from siyu.core.db import bulk_insert, one_of
from siyu.core.errors import Conflict, InvalidField, NotFound, SiyuError
from siyu.customers.models import Customer
from siyu.loyalty import ledger
from siyu.loyalty.accounts import ACCOUNTS, LOTS, MEMBERS, is_pg
from siyu.loyalty.ledger import TRANSFERS, Entry, Posted
from siyu.loyalty.postings import transfer_values
from siyu.loyalty.program import expires_at, rules
from siyu.workspaces.models import Role

_BALANCES = (
    ACCOUNTS.update().where(ACCOUNTS.c.id == bindparam("account_id")).values(balance=bindparam("b"))
)
_UNIQUE = ("workspace_id", "idempotency_key")


@dataclass(frozen=True)
class Grant:
    """Bonus points for one customer, once per idempotency key."""

    customer_id: int
    points: int
    reason: str | None
    idempotency_key: str


def grant_points(
    session: Session,
    principal: Principal,
    customer_id: int,
    points: int,
    reason: str | None,
    idempotency_key: str,
) -> Posted:
    """Bonus points from a journey step or a campaign, once per key (members only)."""
    found = grant_many(session, principal, [Grant(customer_id, points, reason, idempotency_key)])
    if isinstance(found[0], SiyuError):
        raise found[0]
    return found[0]


def grant_many(
    session: Session, principal: Principal, grants: Sequence[Grant]
) -> list[Posted | SiyuError]:
    """Grant points to many customers, each once per key; results in order (a refused grant
    as its error: bad points or key, not a member, not found; nothing is written for it)."""
    principal.require(Role.operator)
    results: list[Posted | SiyuError | None] = [_invalid(g) for g in grants]
    todo = [i for i, r in enumerate(results) if r is None]
    members = _membership(session, principal, {grants[i].customer_id for i in todo})
    entries: list[tuple[int, Entry]] = []
    for i in todo:
        g = grants[i]
        if g.customer_id not in members:
            results[i] = _not_found(session, principal, g.customer_id)
        elif not members[g.customer_id]:
            results[i] = NotFound(zh="此客户还不是会员", en="This customer is not a member yet")
        else:
            reason = (g.reason or "")[:256] or None
            key = f"grant:{g.idempotency_key}"
            entry = Entry(
                g.customer_id, g.points, "bonus", key, reason=reason, actor=principal.actor
            )
            entries.append((i, entry))
    if entries:
        ws = principal.workspace_id
        _, policy, tz = rules(session, ws)
        wanted = [e for _, e in entries]
        posted = credit_many(session, ws, wanted, expires_at(policy, now(), tz))
        for (i, _), done in zip(entries, posted, strict=True):
            results[i] = done
    return results  # type: ignore[return-value]


def _invalid(grant: Grant) -> SiyuError | None:
    """Why a grant's values are refused, checked as a single grant checks them."""
    try:
        ledger.check_points(grant.points)
    except InvalidField as exc:
        return exc
    key = grant.idempotency_key
    if not key or len(key) > 112:
        return InvalidField("idempotency_key", "需要1到112个字符", "must be 1 to 112 characters")
    return None


def _membership(session: Session, principal: Principal, ids: set[int]) -> dict[int, bool]:
    """Customer id -> is a member, for the customers the caller may see (one look-up)."""
    if not ids:
        return {}
    ws = principal.workspace_id
    joined = (MEMBERS.c.customer_id == Customer.id) & (MEMBERS.c.workspace_id == ws)
    stmt = scoped(
        select(Customer.id, MEMBERS.c.id).outerjoin(MEMBERS, joined), Customer, principal
    ).where(one_of(session, Customer.id, sorted(ids)))
    return {int(c): m is not None for c, m in session.execute(stmt)}


def _not_found(session: Session, principal: Principal, customer_id: int) -> SiyuError:
    """The precise refusal for a customer the caller may not see (audited, as one grant is)."""
    try:
        get_scoped(session, Customer, customer_id, principal)
    except SiyuError as exc:
        return exc
    return NotFound()  # appeared since the look-up: still not one we saw as visible


def credit_many(
    session: Session, workspace_id: int, entries: Sequence[Entry], expires: datetime | None
) -> list[Posted | SiyuError]:
    """Credit many entries (each once per key), all expiring at `expires`; results in order.

    A key posted before answers as a replay (another customer or kind: Conflict); a key
    repeated in the batch answers as its first use. A customer's several entries post in
    turn, each on the balance the one before left.
    """
    accounts = _lock_accounts(session, workspace_id, sorted({e.customer_id for e in entries}))
    stored = _stored(session, workspace_id, [e.key for e in entries])
    results: list[Posted | SiyuError | None] = [None] * len(entries)
    first: dict[str, int] = {}
    rounds: list[dict[int, int]] = []  # customer -> position; one entry per customer a round
    for i, e in enumerate(entries):
        if e.key in stored:
            results[i] = _replay_of(stored[e.key], e)
        elif e.key not in first:
            first[e.key] = i
            free = next((r for r in rounds if e.customer_id not in r), None)
            if free is None:
                free = {}
                rounds.append(free)
            free[e.customer_id] = i
    for positions in rounds:
        _post(session, workspace_id, entries, list(positions.values()), accounts, expires, results)
    for i, e in enumerate(entries):
        if results[i] is None:  # a repeat of a key first used earlier in this batch
            j = first[e.key]
            done = results[j]
            same = entries[j].customer_id == e.customer_id and entries[j].kind == e.kind
            if not same:
                results[i] = _reused()
            elif isinstance(done, Posted):
                results[i] = Posted(done.transfer_id, done.points, done.balance_after, True)
            else:
                results[i] = done
    return results  # type: ignore[return-value]


def _post(
    session: Session,
    ws: int,
    entries: Sequence[Entry],
    positions: list[int],
    accounts: dict[int, list[int]],
    expires: datetime | None,
    results: list[Posted | SiyuError | None],
) -> None:
    """One round (at most one entry per customer): transfers, lots, balances."""
    rows = []
    for i in positions:
        e = entries[i]
        after = accounts[e.customer_id][1] + e.points
        rows.append(
            transfer_values(ws, e, ledger.ISSUED, ledger.account_code(e.customer_id), after)
        )
    inserted = _insert_transfers(session, rows)
    lots, balances = [], []
    for i, row in zip(positions, rows, strict=True):
        e = entries[i]
        transfer_id = inserted.get(row["idempotency_key"])
        if transfer_id is None:  # a concurrent transaction posted the key first
            found = _stored(session, ws, [e.key])
            results[i] = _replay_of(found[e.key], e) if e.key in found else _reused()
            continue
        account = accounts[e.customer_id]
        account[1] = row["balance_after"]
        results[i] = Posted(transfer_id, e.points, account[1])
        balances.append({"account_id": account[0], "b": account[1]})
        lots.append(
            {
                "workspace_id": ws,
                "customer_id": e.customer_id,
                "transfer_id": transfer_id,
                "points": e.points,
                "remaining": e.points,
                "earned_at": row["at"],
                "expires_at": expires,
            }
        )
    bulk_insert(session, LOTS, lots)
    if balances:
        session.connection().execute(_BALANCES, balances)


def _insert_transfers(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert transfers, skipping keys already taken; key -> id of those inserted."""
    if is_pg(session):
        found = insert_unnest(session, TRANSFERS, rows, _UNIQUE, ("idempotency_key", "id"))
    else:
        stmt = sqlite.insert(TRANSFERS).on_conflict_do_nothing(index_elements=list(_UNIQUE))
        returning = stmt.returning(TRANSFERS.c.idempotency_key, TRANSFERS.c.id)
        found = [tuple(r) for r in session.connection().execute(returning, rows)]
    return {str(key): int(tid) for key, tid in found}


def _stored(session: Session, ws: int, keys: list[str]) -> dict[str, Any]:
    """The transfers already posted under these keys, by key."""
    if not keys:
        return {}
    t = TRANSFERS.c
    stmt = select(t.id, t.points, t.balance_after, t.customer_id, t.kind, t.idempotency_key)
    stmt = stmt.where(t.workspace_id == ws, one_of(session, t.idempotency_key, keys))
    return {row.idempotency_key: row for row in session.connection().execute(stmt)}


def _replay_of(row: Any, entry: Entry) -> Posted | SiyuError:
    if row.customer_id != entry.customer_id or row.kind != entry.kind:
        return _reused()
    return Posted(row.id, row.points, row.balance_after, replay=True)


def _reused() -> Conflict:
    return Conflict(
        zh="此幂等键已用于另一笔积分变动", en="This idempotency key was used for another posting"
    )


def _lock_accounts(session: Session, ws: int, customer_ids: list[int]) -> dict[int, list[int]]:
    """Lock the customers' accounts in account id order, creating missing ones first.

    Customer id -> [account id, balance] as read under the lock.
    """
    found = _locked(session, ws, customer_ids)
    missing = [c for c in customer_ids if c not in found]
    if missing:
        maker = postgresql.insert if is_pg(session) else sqlite.insert
        rows = [{"workspace_id": ws, "customer_id": c, "balance": 0} for c in missing]
        stmt = maker(ACCOUNTS).values(rows)
        session.connection().execute(
            stmt.on_conflict_do_nothing(index_elements=["workspace_id", "customer_id"])
        )
        found.update(_locked(session, ws, missing))
    return found


def _locked(session: Session, ws: int, customer_ids: list[int]) -> dict[int, list[int]]:
    a = ACCOUNTS.c
    stmt = (
        select(a.id, a.customer_id, a.balance)
        .where(a.workspace_id == ws, one_of(session, a.customer_id, customer_ids))
        .order_by(a.id)
    )
    if is_pg(session):
        stmt = stmt.with_for_update()
    return {int(c): [int(i), int(b)] for i, c, b in session.connection().execute(stmt)}
