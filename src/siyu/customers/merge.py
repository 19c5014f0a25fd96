"""Merging two customers without losing or doubling anything, and undoing it exactly."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal
from siyu.core.clock import now
from siyu.core.errors import Conflict, NotFound
from siyu.core.pii import blind_index
from siyu.core.raw import raw_in, raw_rows
from siyu.customers.models import (
    ATTRIBUTES,
    Consent,
    Customer,
    Identity,
    MergeRecord,
    MergeSuggestion,
    Observation,
)

# Tables whose rows belong to a customer and move with a merge; domains add theirs.
OWNED: list[Any] = [Identity, Consent]
INDEXED = {"name", "phone", "email"}
# What a domain does beyond moving rows (a ledger posting, a membership): (on_merge, on_unmerge,
# involved). `involved` answers, in one query per batch, which absorbed customers the hook has
# anything to do for, so a bulk merge (OneID resolution) skips the rest without a look-up each.
MergeHook = Callable[[Session, Principal, MergeRecord], None]
Involved = Callable[[Session, Principal, list[int]], set[int]]
HOOKS: list[tuple[MergeHook, MergeHook, Involved | None]] = []


def register_owned(model: Any) -> Any:
    """Declare a table (with customer_id) whose rows follow their customer through merges."""
    if model not in OWNED:
        OWNED.append(model)
    return model


def register_merge_hook(
    on_merge: MergeHook, on_unmerge: MergeHook, involved: Involved | None = None
) -> None:
    """Run on_merge for every merge record (after rows moved) and on_unmerge on its undo.

    Both run in the merge's transaction; they may keep what they did in `record.moved`
    under their own key (assign a new dict so the change is saved). With `involved`, on_merge
    runs only for the records whose absorbed customer it returns.
    """
    if all(hook[0] is not on_merge for hook in HOOKS):
        HOOKS.append((on_merge, on_unmerge, involved))


def _run_merge_hooks(session: Session, principal: Principal, records: list[MergeRecord]) -> None:
    absorbed = sorted({r.absorbed_id for r in records})
    for on_merge, _, involved in HOOKS:
        wanted = None
        if involved is not None:
            wanted = set()
            for start in range(0, len(absorbed), 500):
                wanted |= involved(session, principal, absorbed[start : start + 500])
        for record in records:
            if wanted is None or record.absorbed_id in wanted:
                on_merge(session, principal, record)


def _load_hooks() -> None:
    # Domains register their hooks from modules siyu.handlers imports; load them in any process.
    from siyu.core.outbox import load_handlers

    load_handlers()


def _snapshot(customer: Customer) -> str:
    values = {a: getattr(customer, a) for a in ATTRIBUTES}
    values["first_seen_at"] = customer.first_seen_at.isoformat() if customer.first_seen_at else None
    values["last_seen_at"] = customer.last_seen_at.isoformat() if customer.last_seen_at else None
    return json.dumps(values, ensure_ascii=False)


def _set_attribute(customer: Customer, attr: str, value: Any) -> None:
    setattr(customer, attr, value)
    if attr in INDEXED:
        setattr(customer, f"{attr}_bidx", blind_index(attr, value) if value else None)


def merge(
    session: Session, principal: Principal, survivor_id: int, absorbed_id: int, reason: str
) -> MergeRecord:
    """Move everything of `absorbed` to `survivor`; the survivor's values win, gaps are filled."""
    return merge_many(session, principal, [(survivor_id, absorbed_id, reason)])[0]


def merge_many(
    session: Session, principal: Principal, pairs: Sequence[tuple[int, int, str]]
) -> list[MergeRecord]:
    """Merge pairs in order with a few statements per owned table; a→b then b→c is a→c, b→c."""
    _load_hooks()
    final = _final_pairs(pairs)
    ids = {i for s, a, _ in final for i in (s, a)}
    customers = _load_unmerged(session, principal, ids)
    watermarks, moved = _move_owned(session, [(s, a) for s, a, _ in final])
    records = []
    for survivor_id, absorbed_id, reason in final:
        survivor, absorbed = customers[survivor_id], customers[absorbed_id]
        record = MergeRecord(
            workspace_id=principal.workspace_id,
            survivor_id=survivor.id,
            absorbed_id=absorbed.id,
            reason=reason,
            actor=principal.actor,
            at=now(),
            survivor_before=_snapshot(survivor),
            absorbed_before=_snapshot(absorbed),
            moved=moved.get(absorbed.id, {}),
            watermarks=watermarks,
            conflicts=_fold(survivor, absorbed),
        )
        absorbed.merged_into_id = survivor.id
        records.append(record)
    session.add_all(records)
    session.flush()
    _run_merge_hooks(session, principal, records)
    session.flush()
    for record in records:
        audit.record(
            session,
            principal,
            "merge",
            "customer",
            record.survivor_id,
            absorbed=record.absorbed_id,
            reason=record.reason,
        )
    return records


def _final_pairs(pairs: Sequence[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Each absorbed customer with the survivor it ends in; a customer can't absorb itself."""
    into: dict[int, int] = {}

    def find(customer: int) -> int:
        while customer in into:
            customer = into[customer]
        return customer

    ordered = []
    for survivor, absorbed, reason in pairs:
        s, a = find(survivor), find(absorbed)
        if s == a:
            raise _not_two()
        into[a] = s
        ordered.append((a, reason))
    return [(find(a), a, reason) for a, reason in ordered]


def _not_two() -> Conflict:
    return Conflict(
        zh="只能合并两个不同且未被合并的客户",
        en="Only two distinct, unmerged customers can be merged",
    )


def _load_unmerged(session: Session, principal: Principal, ids: set[int]) -> dict[int, Customer]:
    found: dict[int, Customer] = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), 500):
        stmt = select(Customer).where(Customer.id.in_(wanted[start : start + 500]))
        found.update({c.id: c for c in session.scalars(stmt)})
    for customer_id in wanted:
        customer = found.get(customer_id)
        if customer is None or customer.workspace_id != principal.workspace_id:
            raise NotFound()
        if customer.merged_into_id is not None:
            raise _not_two()
    return found


def _move_owned(
    session: Session, pairs: list[tuple[int, int]]
) -> tuple[dict[str, int], dict[int, dict[str, list[int]]]]:
    """Re-own every row of the absorbed customers; per table the highest id before the merge."""
    into = {absorbed: survivor for survivor, absorbed in pairs}
    absorbed_ids = sorted(into)
    names = [model.__tablename__ for model in OWNED]
    # One statement for every table's watermark and one a chunk for their rows: a merge batch
    # touches all owned tables, and most have nothing of the absorbed customers.
    tops = " UNION ALL ".join(f"SELECT {i}, MAX(id) FROM {n}" for i, n in enumerate(names))
    watermarks = {names[i]: top or 0 for i, top in raw_rows(session, tops)}
    moved: dict[int, dict[str, list[int]]] = {}
    owners: dict[int, set[int]] = {}
    for start in range(0, len(absorbed_ids), 500):
        test, values = raw_in(session, absorbed_ids[start : start + 500])
        sql = " UNION ALL ".join(
            f"SELECT {i}, id, customer_id FROM {n} WHERE customer_id {test}"
            for i, n in enumerate(names)
        )
        for i, row_id, owner in raw_rows(session, sql, values * len(names)):
            moved.setdefault(owner, {}).setdefault(names[i], []).append(row_id)
            owners.setdefault(i, set()).add(owner)
    for i, found in sorted(owners.items()):
        table = OWNED[i].__table__
        session.execute(
            table.update()
            .where(table.c.customer_id == bindparam("old_owner"))
            .values(customer_id=bindparam("new_owner")),
            [{"old_owner": a, "new_owner": into[a]} for a in sorted(found)],
        )
    # Rows already loaded in this session must not keep their old owner.
    for obj in list(session.identity_map.values()):
        if type(obj) in OWNED and getattr(obj, "customer_id", None) in into:
            session.expire(obj, ["customer_id"])
    return watermarks, moved


def _fold(survivor: Customer, absorbed: Customer) -> list[dict[str, str]]:
    """Fill the survivor's gaps from the absorbed; each differing value is a recorded conflict."""
    conflicts = []
    for attr in ATTRIBUTES:
        mine, theirs = getattr(survivor, attr), getattr(absorbed, attr)
        if mine is None and theirs is not None:
            _set_attribute(survivor, attr, theirs)
            conflicts.append({"field": attr, "kept": "absorbed"})
        elif mine is not None and theirs is not None and mine != theirs:
            conflicts.append({"field": attr, "kept": "survivor"})
    seen = [t for t in (survivor.first_seen_at, absorbed.first_seen_at) if t]
    survivor.first_seen_at = min(seen) if seen else None
    last = [t for t in (survivor.last_seen_at, absorbed.last_seen_at) if t]
    survivor.last_seen_at = max(last) if last else None
    return conflicts


def unmerge(session: Session, principal: Principal, merge_id: int) -> MergeRecord:
    """Undo a merge: each side gets back what it brought; later arrivals follow identifiers."""
    _load_hooks()
    record = session.get(MergeRecord, merge_id)
    if record is None or record.workspace_id != principal.workspace_id:
        raise NotFound()
    survivor, absorbed = (
        session.get(Customer, record.survivor_id),
        session.get(Customer, record.absorbed_id),
    )
    assert survivor is not None and absorbed is not None
    if record.undone_at is not None:
        raise Conflict(zh="此合并已撤销", en="This merge was already undone")
    if survivor.merged_into_id is not None:
        raise Conflict(
            zh=f"客户 {survivor.id} 之后又被合并，请先撤销那次合并",
            en=f"Customer {survivor.id} was merged again later; undo that merge first",
        )
    watermarks = record.watermarks
    by_table = {m.__tablename__: m for m in OWNED}
    for table, ids in record.moved.items():
        if table in by_table:
            model = by_table[table]
            session.execute(
                update(model)
                .where(model.id.in_(ids), model.customer_id == survivor.id)
                .values(customer_id=absorbed.id)
            )
    _return_later_arrivals(session, survivor.id, absorbed.id, watermarks, by_table)
    _restore_attributes(survivor, absorbed, record)
    for _, on_unmerge, _ in HOOKS:
        on_unmerge(session, principal, record)
    absorbed.merged_into_id = None
    record.undone_at = now()
    session.execute(
        update(MergeSuggestion).where(MergeSuggestion.merge_id == record.id).values(status="undone")
    )
    session.flush()
    audit.record(
        session,
        principal,
        "unmerge",
        "customer",
        survivor.id,
        absorbed=absorbed.id,
        merge=record.id,
    )
    return record


def _return_later_arrivals(
    session: Session,
    survivor_id: int,
    absorbed_id: int,
    watermarks: dict[str, int],
    by_table: dict[str, Any],
) -> None:
    """Identities, then records, that arrived after the merge go where their identifiers say."""
    absorbed_ids = set(
        session.scalars(select(Identity.id).where(Identity.customer_id == absorbed_id))
    )
    later = list(
        session.scalars(
            select(Identity.id).where(
                Identity.customer_id == survivor_id, Identity.id > watermarks.get("identity", 0)
            )
        )
    )
    for identity_id in later:
        records = select(Observation.record).where(Observation.identity_id == identity_id)
        peers = set(
            session.scalars(select(Observation.identity_id).where(Observation.record.in_(records)))
        )
        peers.discard(identity_id)
        if peers and peers <= absorbed_ids:
            session.execute(
                update(Identity).where(Identity.id == identity_id).values(customer_id=absorbed_id)
            )
            absorbed_ids.add(identity_id)
    for table, model in by_table.items():
        if table == "identity" or not hasattr(model, "identity_id") or not absorbed_ids:
            continue
        session.execute(
            update(model)
            .where(
                model.customer_id == survivor_id,
                model.id > watermarks.get(table, 0),
                model.identity_id.in_(absorbed_ids),
            )
            .values(customer_id=absorbed_id)
        )


def _restore_attributes(survivor: Customer, absorbed: Customer, record: MergeRecord) -> None:
    before = json.loads(record.survivor_before)
    theirs = json.loads(record.absorbed_before)
    for conflict in record.conflicts:
        attr = conflict["field"]
        # Only undo a gap the merge filled, and only if nobody changed it since.
        if conflict["kept"] == "absorbed" and getattr(survivor, attr) == theirs.get(attr):
            _set_attribute(survivor, attr, before.get(attr))
    for attr in ATTRIBUTES:
        _set_attribute(absorbed, attr, theirs.get(attr))


def canonical_id(session: Session, customer_id: int) -> int:
    """Follow merged_into pointers to the customer that now holds everything."""
    seen = set()
    while customer_id not in seen:
        seen.add(customer_id)
        target = session.scalar(select(Customer.merged_into_id).where(Customer.id == customer_id))
        if target is None:
            return customer_id
        customer_id = target
    return customer_id
