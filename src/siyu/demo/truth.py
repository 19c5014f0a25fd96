"""OneID scored against the generator's truth: pairwise precision and recall over records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.pii import blind_index
from siyu.customers.models import Customer, Identity, MergeSuggestion
from siyu.demo.generator import Dataset
from siyu.ingest.models import Event, Order

CHUNK = 900


@dataclass(frozen=True)
class Score:
    """Pairwise scores: of the pairs OneID joined, how many are right; of the true, how many."""

    records: int
    unmapped: int
    predicted_pairs: int
    true_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        """Correct pairs over the pairs OneID put in one customer."""
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        """Correct pairs over the pairs that truly are one person."""
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(labels: Iterable[tuple[Hashable, Hashable]]) -> tuple[int, int, int, int]:
    """(records, predicted, true, correct) pair counts from (cluster, truth) labels."""
    # A contingency table with n*(n-1)/2 per cell: 600k records never become 10^11 pairs.
    cells: Counter[tuple[Hashable, Hashable]] = Counter(labels)
    clusters: Counter[Hashable] = Counter()
    persons: Counter[Hashable] = Counter()
    for (cluster, person), n in cells.items():
        clusters[cluster] += n
        persons[person] += n
    return (
        sum(cells.values()),
        sum(_pairs(n) for n in clusters.values()),
        sum(_pairs(n) for n in persons.values()),
        sum(_pairs(n) for n in cells.values()),
    )


def canonical_map(session: Session, workspace_id: int) -> dict[int, int]:
    """Every customer id of the workspace → the customer now holding its records."""
    stmt = select(Customer.id, Customer.merged_into_id).where(Customer.workspace_id == workspace_id)
    parent: dict[int, int | None] = {cid: into for cid, into in session.execute(stmt)}
    out: dict[int, int] = {}
    for cid in parent:
        path, cur = [], cid
        while parent.get(cur) is not None and cur not in path:
            path.append(cur)
            cur = parent[cur]  # type: ignore[assignment]
        for p in path:
            out[p] = cur
        out[cid] = cur
    return out


def record_customers(
    session: Session, workspace_id: int, data: Dataset
) -> dict[tuple[str, ...], int]:
    """Where OneID put each generated record: orders by channel and number, events by id."""
    found: dict[tuple[str, ...], int] = {}
    orders = select(Order.channel, Order.external_id, Order.customer_id).where(
        Order.workspace_id == workspace_id
    )
    for channel, external_id, customer in session.execute(orders):
        found[("order", channel, external_id)] = customer
    events = select(Event.event_id, Event.customer_id).where(Event.workspace_id == workspace_id)
    for event_id, customer in session.execute(events):
        found[("event", event_id)] = customer
    # A contact row becomes an event whose id the importer chooses; its WeCom id finds it.
    by_bidx = {
        blind_index("wecom_external_userid", c.external_userid): c.external_userid
        for c in data.contacts
    }
    keys = list(by_bidx)
    for start in range(0, len(keys), CHUNK):
        owners = select(Identity.value_bidx, Identity.customer_id).where(
            Identity.workspace_id == workspace_id,
            Identity.type == "wecom_external_userid",
            Identity.value_bidx.in_(keys[start : start + CHUNK]),
        )
        for bidx, customer in session.execute(owners):
            found[("contact", by_bidx[bidx])] = customer
    return found


def _suggested(session: Session, workspace_id: int, canonical: dict[int, int]) -> dict[int, int]:
    """Customer → representative if an operator accepted every pending merge suggestion."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    stmt = select(MergeSuggestion.customer_a, MergeSuggestion.customer_b).where(
        MergeSuggestion.workspace_id == workspace_id, MergeSuggestion.status == "pending"
    )
    for a, b in session.execute(stmt):
        ra, rb = root(canonical.get(a, a)), root(canonical.get(b, b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {c: root(c) for c in set(canonical.values()) | set(parent)}


def score(
    session: Session, workspace_id: int, data: Dataset, accept_suggestions: bool = False
) -> Score:
    """Precision and recall of the workspace's OneID against the dataset's true persons."""
    canonical = canonical_map(session, workspace_id)
    if accept_suggestions:
        merged = _suggested(session, workspace_id, canonical)
        canonical = {c: merged.get(t, t) for c, t in canonical.items()}
    found = record_customers(session, workspace_id, data)
    unmapped = 0

    def labels() -> Iterable[tuple[Hashable, Hashable]]:
        nonlocal unmapped
        for key, pid in data.truth():
            customer = found.get(key)
            if customer is None:
                # A record that never arrived is a cluster of its own: it costs recall only.
                unmapped += 1
                yield key, pid
            else:
                yield canonical.get(customer, customer), pid

    records, predicted, true, correct = pairwise(labels())
    return Score(records, unmapped, predicted, true, correct)
