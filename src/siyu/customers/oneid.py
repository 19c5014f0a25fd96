"""OneID: attach each record's identifiers to one customer, merging on strong ones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.clock import now
from siyu.core.pii import blind_index
from siyu.customers import merge as merging
from siyu.customers.identifiers import DEFAULT_STRONG
from siyu.customers.models import Customer, Identity, MergeSuggestion, Observation
from siyu.workspaces.models import Workspace

CHUNK = 500


@dataclass
class Sighting:
    """Identifiers seen together in one record, with what the record says about the person."""

    record: str
    identifiers: list[tuple[str, str]]
    source: str
    at: datetime
    attributes: dict[str, str] = field(default_factory=dict)


def strong_types(session: Session, workspace_id: int) -> set[str]:
    """The workspace's strong identifier types (configurable; defaults in identifiers.py)."""
    workspace = session.get(Workspace, workspace_id)
    configured = (workspace.settings or {}).get("oneid", {}).get("strong") if workspace else None
    return set(configured or DEFAULT_STRONG)


class Resolver:
    """Resolves sightings against the identity graph; one per transaction, batch-friendly."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.strong = strong_types(session, principal.workspace_id)
        self.identities: dict[str, Identity] = {}
        self.suggested: set[tuple[int, int]] = set()

    def prefetch(self, sightings: Iterable[Sighting]) -> None:
        """Load every known identity of a batch in a few queries."""
        wanted = {blind_index(t, v) for s in sightings for t, v in s.identifiers}
        wanted -= self.identities.keys()
        keys = list(wanted)
        for start in range(0, len(keys), CHUNK):
            stmt = select(Identity).where(
                Identity.workspace_id == self.principal.workspace_id,
                Identity.value_bidx.in_(keys[start : start + CHUNK]),
            )
            for identity in self.session.scalars(stmt):
                self.identities[identity.value_bidx] = identity

    def resolve(self, sighting: Sighting) -> tuple[int, int | None]:
        """The customer this record belongs to, and the identity it was resolved through."""
        keyed = [(t, v, blind_index(t, v)) for t, v in dict.fromkeys(sighting.identifiers)]
        self.prefetch([sighting])
        known = [(t, self.identities[b]) for t, _, b in keyed if b in self.identities]
        strong = {self._canonical(i.customer_id) for t, i in known if t in self.strong}
        weak = {self._canonical(i.customer_id) for t, i in known if t not in self.strong}
        if strong:
            target = min(strong)
            for other in sorted(strong - {target}):
                kinds = sorted({t for t, i in known if t in self.strong})
                merging.merge(
                    self.session, self.principal, target, other, f"strong:{','.join(kinds)}"
                )
        elif weak:
            target = min(weak)
        else:
            target = self._new_customer(sighting)
        for other in sorted(weak - {target}):
            self._suggest(
                target, other, {f"shared_{t}": 1.0 for t, i in known if t not in self.strong}
            )
        anchor = self._attach(target, keyed, sighting)
        self._apply_attributes(target, sighting)
        return target, anchor

    def _canonical(self, customer_id: int) -> int:
        return merging.canonical_id(self.session, customer_id)

    def _new_customer(self, sighting: Sighting) -> int:
        customer = Customer(
            workspace_id=self.principal.workspace_id,
            first_seen_at=sighting.at,
            last_seen_at=sighting.at,
        )
        self.session.add(customer)
        self.session.flush()
        return customer.id

    def _attach(
        self, target: int, keyed: list[tuple[str, str, str]], sighting: Sighting
    ) -> int | None:
        attached: list[tuple[str, Identity]] = []
        for kind, value, bidx in keyed:
            identity = self.identities.get(bidx)
            if identity is None:
                identity = Identity(
                    workspace_id=self.principal.workspace_id,
                    customer_id=target,
                    type=kind,
                    value=value,
                    value_bidx=bidx,
                    source=sighting.source,
                    first_seen_at=sighting.at,
                    last_seen_at=sighting.at,
                )
                self.session.add(identity)
                self.identities[bidx] = identity
            else:
                identity.first_seen_at = min(identity.first_seen_at, sighting.at)
                identity.last_seen_at = max(identity.last_seen_at, sighting.at)
            attached.append((kind, identity))
        if not attached:
            return None
        self.session.flush()
        if len(attached) > 1:
            for _, identity in attached:
                self.session.add(
                    Observation(
                        workspace_id=self.principal.workspace_id,
                        record=sighting.record,
                        identity_id=identity.id,
                        observed_at=sighting.at,
                    )
                )
        anchor = next(
            (i for k, i in attached if k in self.strong and i.customer_id == target), None
        )
        anchor = anchor or next((i for _, i in attached if i.customer_id == target), attached[0][1])
        return anchor.id

    def _apply_attributes(self, target: int, sighting: Sighting) -> None:
        customer = self.session.get(Customer, target)
        assert customer is not None
        phones = [v for t, v in sighting.identifiers if t == "phone"]
        emails = [v for t, v in sighting.identifiers if t == "email"]
        values = {
            **sighting.attributes,
            **({"phone": phones[0]} if phones else {}),
            **({"email": emails[0]} if emails else {}),
        }
        for attr, value in values.items():
            # The first value seen is kept; a different later value never overwrites silently.
            if value and getattr(customer, attr) is None:
                merging._set_attribute(customer, attr, value)
        customer.first_seen_at = min(filter(None, (customer.first_seen_at, sighting.at)))
        customer.last_seen_at = max(filter(None, (customer.last_seen_at, sighting.at)))

    def _suggest(self, a: int, b: int, evidence: dict[str, float]) -> None:
        a, b = min(a, b), max(a, b)
        if (a, b) in self.suggested:
            return
        self.suggested.add((a, b))
        exists = self.session.scalar(
            select(MergeSuggestion.id).where(
                MergeSuggestion.workspace_id == self.principal.workspace_id,
                MergeSuggestion.customer_a == a,
                MergeSuggestion.customer_b == b,
            )
        )
        if exists is None:
            self.session.add(
                MergeSuggestion(
                    workspace_id=self.principal.workspace_id,
                    customer_a=a,
                    customer_b=b,
                    score=0.9,
                    evidence=evidence,
                    created_at=now(),
                )
            )
