"""OneID: attach each record's identifiers to one customer, merging on strong ones.

Resolution runs a batch at a time: known identities are loaded in a few queries, the batch is
resolved in memory (a union-find over customers), and new customers, identities and
observations are written with bulk inserts. One record is just a batch of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.clock import now
from siyu.core.crypto import get_keyring
from siyu.core.db import bulk_insert, bulk_update, one_of, reserve_ids, table_of
from siyu.core.raw import raw_in, raw_rows
from siyu.customers import merge as merging
from siyu.customers.attributes import apply_attributes, new_customer_rows
from siyu.customers.identifiers import DEFAULT_STRONG
from siyu.customers.models import Customer, Identity, MergeSuggestion, Observation
from siyu.workspaces.models import Workspace

# Keys per look-up on SQLite (it allows 32,766 parameters since 3.32).
CHUNK = 5000


@dataclass
class Sighting:
    """Identifiers seen together in one record, with what the record says about the person."""

    record: str
    identifiers: list[tuple[str, str]]
    source: str
    at: datetime
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Known:
    """An identity already stored: its id, owner and seen-window."""

    id: int
    customer: int
    type: str
    first: datetime
    last: datetime
    dirty: bool = False


@dataclass
class Pending:
    """An identity first seen in this batch."""

    type: str
    value: str
    handle: int
    source: str
    first: datetime
    last: datetime
    id: int = 0


def strong_types(session: Session, workspace_id: int) -> set[str]:
    """The workspace's strong identifier types (configurable; defaults in identifiers.py)."""
    workspace = session.get(Workspace, workspace_id)
    configured = (workspace.settings or {}).get("oneid", {}).get("strong") if workspace else None
    return set(configured or DEFAULT_STRONG)


class Resolver:
    """Resolves sightings against the identity graph; one per transaction."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.strong = strong_types(session, principal.workspace_id)
        self.known: dict[str, Known] = {}

    def resolve(self, sighting: Sighting) -> tuple[int, int | None]:
        """The customer one record belongs to, and the identity it was resolved through."""
        return self.resolve_many([sighting])[0]

    def resolve_many(self, sightings: Sequence[Sighting]) -> list[tuple[int, int | None]]:
        """Resolve a batch in order; returns (customer id, anchor identity id) per sighting."""
        batch = _Batch(self, sightings)
        return batch.run()

    def _load(self, keys: Iterable[tuple[str, str]]) -> None:
        """Fetch the stored identities among (type, blind index) keys not yet known."""
        by_type: dict[str, list[str]] = {}
        for kind, bidx in set(keys):
            if bidx not in self.known:
                by_type.setdefault(kind, []).append(bidx)
        postgres = self.session.get_bind().dialect.name == "postgresql"
        for kind, missing in by_type.items():
            # Type first, so the lookup walks the unique index (workspace, type, value_bidx).
            # On PostgreSQL one array parameter: no planning of thousands of OR-ed conditions.
            size = len(missing) if postgres else CHUNK
            for start in range(0, len(missing), size or 1):
                chunk = missing[start : start + size]
                match = one_of(self.session, Identity.value_bidx, chunk)
                stmt = select(
                    Identity.value_bidx,
                    Identity.id,
                    Identity.customer_id,
                    Identity.first_seen_at,
                    Identity.last_seen_at,
                ).where(
                    Identity.workspace_id == self.principal.workspace_id,
                    Identity.type == kind,
                    match,
                )
                for bidx, id_, customer, first, last in self.session.execute(stmt):
                    self.known[bidx] = Known(id_, customer, kind, first, last)


class _Batch:
    """One resolve_many call: in-memory resolution, then bulk writes."""

    def __init__(self, resolver: Resolver, sightings: Sequence[Sighting]) -> None:
        self.r = resolver
        self.sightings = sightings
        self.keyed = _keyed(sightings)
        self.parent: dict[int, int] = {}
        self.pending: dict[str, Pending] = {}
        self.new_handles: list[int] = []
        self.merges: list[tuple[int, int, str]] = []
        self.suggestions: dict[tuple[int, int], dict[str, float]] = {}
        self.placed: list[tuple[int, Sighting]] = []

    def find(self, handle: int) -> int:
        root = handle
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while handle != root:
            self.parent[handle], handle = root, self.parent.get(handle, handle)
        return root

    def owner(self, bidx: str) -> int | None:
        known = self.r.known.get(bidx)
        if known is not None:
            return self.find(known.customer)
        pending = self.pending.get(bidx)
        return self.find(pending.handle) if pending else None

    def union(self, target: int, other: int, reason: str) -> None:
        if target > 0 and other > 0:
            self.merges.append((target, other, reason))
        self.parent[other] = target

    def run(self) -> list[tuple[int, int | None]]:
        self.r._load((t, b) for k in self.keyed for t, _, b in k)
        targets = [self.place(s, k) for s, k in zip(self.sightings, self.keyed, strict=True)]
        ids = self.write_customers()
        if self.merges:
            merging.merge_many(self.r.session, self.r.principal, self.merges)
            for known in self.r.known.values():
                known.customer = self.find(known.customer)
        self.write_identities(ids)
        results = [
            (self.final(t, ids), self.anchor(k, self.final(t, ids)))
            for t, k in zip(targets, self.keyed, strict=True)
        ]
        self.write_observations()
        self.write_seen()
        apply_attributes(self.r.session, self.touched())
        self.write_suggestions(ids)
        return results

    def place(self, sighting: Sighting, keyed: list[tuple[str, str, str]]) -> int:
        """Decide the customer (handle) of one sighting and record what it adds."""
        owners = [(t, o) for t, _, b in keyed if (o := self.owner(b)) is not None]
        strong = {o for t, o in owners if t in self.r.strong}
        weak = {o for t, o in owners if t not in self.r.strong}
        if strong:
            target = _oldest(strong)
            kinds = ",".join(sorted({t for t, o in owners if t in self.r.strong}))
            for other in sorted(strong - {target}):
                self.union(target, other, f"strong:{kinds}")
        elif weak:
            target = _oldest(weak)
        else:
            target = -(len(self.new_handles) + 1)
            self.new_handles.append(target)
        for other in weak - strong - {target}:
            a, b = min(target, other), max(target, other)
            evidence = {
                f"shared_{t}": 1.0 for t, o in owners if t not in self.r.strong and o in (a, b)
            }
            self.suggestions.setdefault((a, b), {}).update(evidence)
        for kind, value, bidx in keyed:
            self.see(kind, value, bidx, target, sighting)
        self.placed.append((target, sighting))
        return target

    def see(self, kind: str, value: str, bidx: str, target: int, sighting: Sighting) -> None:
        known = self.r.known.get(bidx)
        seen = self.pending.get(bidx)
        if known is not None:
            if sighting.at < known.first or sighting.at > known.last:
                known.first, known.last = (
                    min(known.first, sighting.at),
                    max(known.last, sighting.at),
                )
                known.dirty = True
        elif seen is not None:
            seen.first, seen.last = min(seen.first, sighting.at), max(seen.last, sighting.at)
        else:
            self.pending[bidx] = Pending(
                kind, value, target, sighting.source, sighting.at, sighting.at
            )

    def final(self, handle: int, ids: dict[int, int]) -> int:
        root = self.find(handle)
        return ids.get(root, root)

    def write_customers(self) -> dict[int, int]:
        roots = [h for h in self.new_handles if self.find(h) == h]
        if not roots:
            return {}
        groups = self.groups()
        rows = new_customer_rows(self.r.principal.workspace_id, [groups[h] for h in roots])
        table = table_of(Customer)
        created = reserve_ids(self.r.session, table, len(rows))
        for row, new_id in zip(rows, created, strict=True):
            row["id"] = new_id
        bulk_insert(self.r.session, table, rows)
        ids = dict(zip(roots, created, strict=True))
        for handle in self.new_handles:
            # A new handle may have joined an existing customer later in the batch.
            ids[handle] = self.final(handle, ids)
        return ids

    def groups(self) -> dict[int, list[Sighting]]:
        """Sightings by the root handle they resolved to, in arrival order."""
        out: dict[int, list[Sighting]] = {}
        for handle, sighting in self.placed:
            out.setdefault(self.find(handle), []).append(sighting)
        return out

    def write_identities(self, ids: dict[int, int]) -> None:
        if not self.pending:
            return
        ws = self.r.principal.workspace_id
        items = list(self.pending.items())
        rows = [
            {
                "workspace_id": ws,
                "customer_id": self.final(p.handle, ids),
                "type": p.type,
                "value": p.value,
                "value_bidx": bidx,
                "source": p.source,
                "first_seen_at": p.first,
                "last_seen_at": p.last,
            }
            for bidx, p in items
        ]
        table = table_of(Identity)
        new_ids = reserve_ids(self.r.session, table, len(rows))
        for row, new_id in zip(rows, new_ids, strict=True):
            row["id"] = new_id
        bulk_insert(self.r.session, table, rows)
        for (bidx, p), new_id in zip(items, new_ids, strict=True):
            p.id = new_id
            self.r.known[bidx] = Known(new_id, self.final(p.handle, ids), p.type, p.first, p.last)

    def anchor(self, keyed: list[tuple[str, str, str]], customer: int) -> int | None:
        """The identity a record was resolved through: its strongest identifier of that customer."""
        seen = [self.r.known[b] for _, _, b in keyed]
        own = [k for k in seen if k.customer == customer]
        strong = [k for k in own if k.type in self.r.strong]
        chosen = strong or own or seen
        return chosen[0].id if chosen else None

    def write_observations(self) -> None:
        rows = [
            {
                "workspace_id": self.r.principal.workspace_id,
                "record": s.record,
                "identity_id": self.r.known[b].id,
                "observed_at": s.at,
            }
            for s, keyed in zip(self.sightings, self.keyed, strict=True)
            if len(keyed) > 1
            for _, _, b in keyed
        ]
        if rows:
            bulk_insert(self.r.session, table_of(Observation), rows)

    def write_seen(self) -> None:
        dirty = [k for k in self.r.known.values() if k.dirty]
        if dirty:
            rows = [{"first_seen_at": k.first, "last_seen_at": k.last, "id": k.id} for k in dirty]
            bulk_update(self.r.session, table_of(Identity), "id", rows)
            for k in dirty:
                k.dirty = False

    def touched(self) -> dict[int, list[Sighting]]:
        """Existing customers this batch added to (new ones got everything at insert)."""
        return {root: group for root, group in self.groups().items() if root > 0}

    def write_suggestions(self, ids: dict[int, int]) -> None:
        pairs: dict[tuple[int, int], dict[str, float]] = {}
        for (a, b), evidence in self.suggestions.items():
            x, y = sorted((self.final(a, ids), self.final(b, ids)))
            if x != y:
                pairs.setdefault((x, y), evidence)
        stored = self.suggested({x for x, _ in pairs})
        for (x, y), evidence in pairs.items():
            if (x, y) not in stored:
                stored.add((x, y))
                self.r.session.add(
                    MergeSuggestion(
                        workspace_id=self.r.principal.workspace_id,
                        customer_a=x,
                        customer_b=y,
                        score=0.9,
                        evidence=evidence,
                        created_at=now(),
                    )
                )

    def suggested(self, firsts: set[int]) -> set[tuple[int, int]]:
        """The pairs already suggested whose first customer is among `firsts`."""
        found: set[tuple[int, int]] = set()
        wanted = sorted(firsts)
        for start in range(0, len(wanted), CHUNK):
            test, values = raw_in(self.r.session, wanted[start : start + CHUNK])
            sql = (
                "SELECT customer_a, customer_b FROM merge_suggestion "
                f"WHERE workspace_id = ? AND customer_a {test}"
            )
            found.update(raw_rows(self.r.session, sql, [self.r.principal.workspace_id, *values]))
        return found


def _keyed(sightings: Sequence[Sighting]) -> list[list[tuple[str, str, str]]]:
    """Each sighting's distinct (type, value, blind index); each value is hashed once a batch."""
    ring = get_keyring()
    cache: dict[tuple[str, str], str] = {}
    out = []
    for sighting in sightings:
        keyed = []
        for pair in dict.fromkeys(sighting.identifiers):
            bidx = cache.get(pair)
            if bidx is None:
                bidx = cache[pair] = ring.blind_index(*pair)
            keyed.append((pair[0], pair[1], bidx))
        out.append(keyed)
    return out


def _oldest(handles: set[int]) -> int:
    """Existing customers (positive ids) win over new ones; the oldest of either kind."""
    existing = [h for h in handles if h > 0]
    return min(existing) if existing else max(handles)
