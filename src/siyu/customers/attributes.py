"""What records say about a person, folded into the customer: the first value seen is kept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.clock import now
from siyu.core.db import bulk_update, one_of, table_of
from siyu.core.pii import blind_index
from siyu.customers.models import ATTRIBUTES, Customer

if TYPE_CHECKING:
    from siyu.customers.oneid import Sighting

INDEXED = ("name", "phone", "email")


def observed(sightings: Sequence[Sighting]) -> dict[str, str]:
    """First value of each attribute across sightings (phone and email come from identifiers)."""
    values: dict[str, str] = {}
    for sighting in sightings:
        found = dict(sighting.attributes)
        for kind, value in sighting.identifiers:
            if kind in ("phone", "email"):
                found.setdefault(kind, value)
        for attr, value in found.items():
            if value and attr in ATTRIBUTES:
                values.setdefault(attr, value)
    return values


def new_customer_rows(
    workspace_id: int, groups: Sequence[Sequence[Sighting]]
) -> list[dict[str, Any]]:
    """Insert rows for customers first seen in a batch; every row has the same keys."""
    stamp = now()
    rows = []
    for sightings in groups:
        values = observed(sightings)
        row: dict[str, Any] = {
            "workspace_id": workspace_id,
            "created_at": stamp,
            "updated_at": stamp,
        }
        for attr in ATTRIBUTES:
            row[attr] = values.get(attr)
        for attr in INDEXED:
            row[f"{attr}_bidx"] = blind_index(attr, row[attr]) if row[attr] else None
        times = [s.at for s in sightings]
        row["first_seen_at"], row["last_seen_at"] = min(times), max(times)
        rows.append(row)
    return rows


def apply_attributes(session: Session, touched: dict[int, list[Sighting]]) -> None:
    """Fill gaps and widen the seen-window of existing customers a batch added to."""
    if not touched:
        return
    session.flush()  # loaded customers are expired below: their pending changes must be saved
    nulls = [getattr(Customer, a).is_(None) for a in ATTRIBUTES]
    stmt = select(Customer.id, Customer.first_seen_at, Customer.last_seen_at, *nulls).where(
        one_of(session, Customer.id, list(touched))
    )
    changes: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in session.execute(stmt):
        customer_id, first, last, empty = row[0], row[1], row[2], row[3:]
        sightings = touched[customer_id]
        values = observed(sightings)
        change: dict[str, Any] = {
            a: values[a]
            for a, is_empty in zip(ATTRIBUTES, empty, strict=True)
            if is_empty and a in values
        }
        for attr in INDEXED:
            if attr in change:
                change[f"{attr}_bidx"] = blind_index(attr, change[attr])
        times = [s.at for s in sightings]
        new_first = min([first, *times]) if first else min(times)
        new_last = max([last, *times]) if last else max(times)
        if (new_first, new_last) != (first, last):
            change.update(first_seen_at=new_first, last_seen_at=new_last)
        if change:
            changes.setdefault(frozenset(change), []).append({**change, "id": customer_id})
    table = table_of(Customer)
    # One executemany per set of changed columns (each needs the same keys in every row).
    for rows in changes.values():
        bulk_update(session, table, "id", rows)
    changed = {row["id"] for rows in changes.values() for row in rows}
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Customer) and obj.id in changed:
            session.expire(obj)
