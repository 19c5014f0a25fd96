"""A full OneID pass: re-derive who is one person from the observation log and merge the rest."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.customers import merge as merging
from siyu.customers.models import Identity, Observation
from siyu.customers.oneid import strong_types


def rebuild(
    session: Session, principal: Principal, progress: Callable[[int], None] | None = None
) -> int:
    """Merge customers whose strong identifiers were ever seen together; returns merges made.

    The incremental path already does this as records arrive; a rebuild applies the rules again,
    e.g. after the workspace changed which identifier types are strong.
    """
    strong = strong_types(session, principal.workspace_id)
    owner: dict[int, int] = {}
    kinds: dict[int, str] = {}
    for identity_id, customer_id, kind in session.execute(
        select(Identity.id, Identity.customer_id, Identity.type).where(
            Identity.workspace_id == principal.workspace_id
        )
    ):
        owner[identity_id], kinds[identity_id] = customer_id, kind
    records: dict[str, list[int]] = defaultdict(list)
    for record, identity_id in session.execute(
        select(Observation.record, Observation.identity_id).where(
            Observation.workspace_id == principal.workspace_id
        )
    ):
        if kinds.get(identity_id) in strong:
            records[record].append(identity_id)
    parent: dict[int, int] = {}

    def find(c: int) -> int:
        while parent.get(c, c) != c:
            c = parent[c]
        return c

    merges = 0
    for identity_ids in records.values():
        customers = sorted({find(owner[i]) for i in identity_ids})
        for other in customers[1:]:
            merging.merge(session, principal, customers[0], other, "rebuild:strong")
            parent[other] = customers[0]
            merges += 1
            if progress:
                progress(1)
    return merges
