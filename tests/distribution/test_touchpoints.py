"""Touchpoint funnels: scan → add WeCom → member → first order, beside the seeds' ranges."""

from __future__ import annotations

from datetime import UTC, datetime

from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.distribution import touchpoints
from siyu.distribution.schemas import StepIn, TouchpointIn
from siyu.ingest import service as ingest
from tests.conftest import Tenant
from tests.distribution.helpers import order

AT = datetime(2026, 1, 2, tzinfo=UTC)


def test_a_package_card_funnel_counts_each_step_once_and_shows_its_reference(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    with db.transaction() as session:
        card = touchpoints.create(session, p, TouchpointIn(kind="package_card", name="双11包裹卡"))
        kol = touchpoints.create(session, p, TouchpointIn(kind="kol_comment", name="小红书评论区"))
        phones = [f"1390000{n:04d}" for n in range(10)]
        for phone in phones:
            touchpoints.record(session, p, card.code, StepIn(identifiers={"phone": phone}))
        touchpoints.record(session, p, card.code, StepIn(identifiers={"phone": phones[0]}))
        ingest.ingest_events(
            session,
            p,
            [
                {
                    "event_id": "c1",
                    "type": "add_contact",
                    "occurred_at": AT.isoformat(),
                    "identifiers": {"phone": phones[0]},
                },
                {
                    "event_id": "c2",
                    "type": "add_contact",
                    "occurred_at": AT.isoformat(),
                    "identifiers": {"phone": phones[1]},
                },
                {
                    "event_id": "m1",
                    "type": "custom",
                    "name": "member_join",
                    "occurred_at": AT.isoformat(),
                    "identifiers": {"phone": phones[0]},
                },
            ],
        )
    outbox.run_due(db)
    order(db, p, "T1", 5900, phones[0], AT)
    order(db, p, "T2", 5900, phones[0], AT)
    order(db, p, "T3", 5900, "13911112222", AT, touchpoint=kol.code)
    with db.transaction() as session:
        found = {f.kind: f for f in touchpoints.funnels(session, p)}
    assert found["package_card"].steps == {
        "scan": 10,
        "add_wecom": 2,
        "member": 1,
        "first_order": 1,
    }
    assert (found["package_card"].conversion_percent, found["package_card"].reference_percent) == (
        "20.0",
        [10, 15],
    )
    assert found["package_card"].within_reference is False
    assert found["kol_comment"].steps == {"scan": 1, "add_wecom": 0, "member": 0, "first_order": 1}
    assert found["kol_comment"].reference_percent == [8, 12]


def test_every_kind_shows_the_seeds_reference_beside_its_rate(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    with db.transaction() as session:
        made = {
            kind: touchpoints.create(session, p, TouchpointIn(kind=kind, name=kind))  # type: ignore[arg-type]
            for kind in ("package_card", "red_packet_card", "kol_comment", "shopping_guide")
        }
        for n in range(6):
            phone = f"1370000{n:04d}"
            touchpoints.record(
                session, p, made["red_packet_card"].code, StepIn(identifiers={"phone": phone})
            )
        ingest.ingest_events(
            session,
            p,
            [
                {
                    "event_id": "r1",
                    "type": "add_contact",
                    "occurred_at": AT.isoformat(),
                    "identifiers": {"phone": "13700000000"},
                }
            ],
        )
    outbox.run_due(db)
    with db.transaction() as session:
        found = {f.kind: f for f in touchpoints.funnels(session, p)}
    shown = {
        k: (f.reference_percent, f.conversion_percent, f.within_reference) for k, f in found.items()
    }
    assert shown == {
        "package_card": ([10, 15], None, None),
        "red_packet_card": ([15, 20], "16.7", True),
        "kol_comment": ([8, 12], None, None),
        "shopping_guide": (None, None, None),
    }
