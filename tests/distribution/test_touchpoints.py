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
