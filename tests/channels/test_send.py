"""send(): idempotency, caps, quiet hours, priorities, consent, bad input — then delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from siyu.channels import service
from siyu.channels.models import SandboxMessage, Touch
from siyu.channels.schemas import PolicyIn
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import InvalidField, NotFound
from siyu.lifecycle.models import CustomerMetrics
from tests.channels.conftest import drain, person, send, touch
from tests.conftest import Tenant


def count_touches(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Touch)) or 0)


def test_sandbox_send_is_queued_then_delivered_once(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """A queued touch is delivered from the outbox; a replayed key returns the same touch."""
    p = tenant.principal
    c = person(db, p, 1)
    first = send(db, p, "k1", customer_id=c, channel="sandbox")
    again = send(db, p, "k1", customer_id=c, channel="sandbox")
    assert (first.status, first.reason, again.id) == ("queued", None, first.id)
    drain(db)
    done = touch(db, first.id)
    assert (done.status, done.attempts) == ("delivered", 1)
    with db.transaction() as session:
        bodies = [m.body for m in session.scalars(select(SandboxMessage))]
    assert bodies == ["王小美，您好"]
    send(db, p, "k1", customer_id=c, channel="sandbox")
    drain(db)
    assert count_touches(db) == 1


def test_daily_and_weekly_caps(db: Database, tenant: Tenant, morning: SimulatedClock) -> None:
    """1 a day and 3 in any 7 days; transactional touches bypass the caps."""
    p = tenant.principal
    c = person(db, p, 1)
    assert send(db, p, "d1", customer_id=c, channel="sandbox").status == "queued"
    second = send(db, p, "d1b", customer_id=c, channel="sandbox")
    assert (second.status, second.reason) == ("suppressed", "cap_daily")
    notice = send(db, p, "d1t", customer_id=c, channel="sandbox", purpose="transactional")
    assert notice.status == "queued"
    morning.advance(days=1)
    assert send(db, p, "d2", customer_id=c, channel="sandbox").status == "queued"
    morning.advance(days=1)
    assert send(db, p, "d3", customer_id=c, channel="sandbox").status == "queued"
    morning.advance(days=1)
    fourth = send(db, p, "d4", customer_id=c, channel="sandbox")
    assert (fourth.status, fourth.reason) == ("suppressed", "cap_weekly")
    morning.advance(days=4)  # day 8: the first touch left the 7-day window
    assert send(db, p, "d8", customer_id=c, channel="sandbox").status == "queued"


def test_quiet_hours_defer_to_the_window_end(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    """At 23:00 local a marketing touch waits until 08:00; transactional goes at once."""
    clock.set(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))  # 23:00 Asia/Shanghai
    p = tenant.principal
    c = person(db, p, 1)
    late = send(db, p, "q1", customer_id=c, channel="sandbox")
    assert (late.status, late.reason) == ("deferred", "quiet_hours")
    assert late.defer_until == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 08:00 local
    drain(db)
    assert touch(db, late.id).status == "deferred"
    # The deferred touch holds the next day's slot.
    clock.set(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    assert send(db, p, "q2", customer_id=c, channel="sandbox").reason == "cap_daily"
    drain(db)
    assert touch(db, late.id).status == "delivered"


def test_higher_priority_displaces_a_pending_lower_one(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """Within a full cap, a higher priority takes the slot of a queued lower-priority touch."""
    p = tenant.principal
    c = person(db, p, 1)
    low = send(
        db, p, "low", customer_id=c, channel="sandbox", priority=1, source="journey:1:step:a"
    )
    high = send(
        db, p, "high", customer_id=c, channel="sandbox", priority=5, source="journey:2:step:a"
    )
    equal = send(db, p, "eq", customer_id=c, channel="sandbox", priority=5)
    assert high.status == "queued"
    assert (touch(db, low.id).status, touch(db, low.id).reason) == ("suppressed", "displaced")
    assert (equal.status, equal.reason) == ("suppressed", "cap_daily")
    drain(db)
    assert (touch(db, low.id).status, touch(db, high.id).status) == ("suppressed", "delivered")
    # A sent touch is never displaced.
    late = send(db, p, "urgent", customer_id=c, channel="sandbox", priority=99)
    assert (late.status, late.reason) == ("suppressed", "cap_daily")


def test_unsubscribe_and_do_not_disturb(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """Marketing unsubscribe stops marketing only; DND stops everything; resubscribe lifts it."""
    from siyu.channels import touches

    p = tenant.principal
    c = person(db, p, 1)
    with db.transaction() as session:
        touches.unsubscribe(session, p, c, "sandbox", "marketing")
    m = send(db, p, "u1", customer_id=c, channel="sandbox")
    t = send(db, p, "u2", customer_id=c, channel="sandbox", purpose="transactional")
    assert (m.status, m.reason, t.status) == ("suppressed", "unsubscribed", "queued")
    with db.transaction() as session:
        touches.unsubscribe(session, p, c, "all", "all")
    t2 = send(db, p, "u3", customer_id=c, channel="sandbox", purpose="transactional")
    assert (t2.status, t2.reason) == ("suppressed", "dnd")
    with db.transaction() as session:
        touches.resubscribe(session, p, c, "all", "all")
        touches.resubscribe(session, p, c, "sandbox", "marketing")
    assert send(db, p, "u4", customer_id=c, channel="sandbox").status == "queued"


def test_unsubscribe_after_queueing_suppresses_at_delivery(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """Consent is checked again when the touch is delivered."""
    from siyu.channels import touches

    p = tenant.principal
    c = person(db, p, 1)
    queued = send(db, p, "x", customer_id=c, channel="sandbox")
    with db.transaction() as session:
        touches.unsubscribe(session, p, c, "sandbox", "marketing")
    drain(db)
    assert (touch(db, queued.id).status, touch(db, queued.id).reason) == (
        "suppressed",
        "unsubscribed",
    )


def test_low_activity_customers_get_a_tighter_weekly_cap(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """dormant_heavy: 1 a week by default."""
    p = tenant.principal
    c = person(db, p, 1)
    with db.transaction() as session:
        session.add(
            CustomerMetrics(
                workspace_id=p.workspace_id,
                customer_id=c,
                lifecycle_stage="dormant_heavy",
                computed_at=morning.now(),
            )
        )
    assert send(db, p, "a", customer_id=c, channel="sandbox").status == "queued"
    morning.advance(days=2)
    second = send(db, p, "b", customer_id=c, channel="sandbox")
    assert (second.status, second.reason) == ("suppressed", "cap_weekly_low_activity")


def test_complaint_tightens_the_cap(db: Database, tenant: Tenant, morning: SimulatedClock) -> None:
    """A complaint event (or a custom `mute`) limits the customer to 1 a week for 30 days."""
    from siyu.ingest.service import ingest_events

    p = tenant.principal
    c, other = person(db, p, 1), person(db, p, 2)
    with db.transaction() as session:
        ingest_events(
            session,
            p,
            [
                {
                    "event_id": "cmp-1",
                    "type": "complaint",
                    "occurred_at": morning.now().isoformat(),
                    "identifiers": {"phone": "13900000001"},
                },
                {
                    "event_id": "mute-1",
                    "type": "custom",
                    "name": "mute",
                    "occurred_at": morning.now().isoformat(),
                    "identifiers": {"phone": "13900000002"},
                },
            ],
        )
    drain(db)
    for customer in (c, other):
        assert (
            send(db, p, f"t1-{customer}", customer_id=customer, channel="sandbox").status
            == "queued"
        )
    morning.advance(days=2)
    for customer in (c, other):
        refused = send(db, p, f"t2-{customer}", customer_id=customer, channel="sandbox")
        assert (refused.status, refused.reason) == ("suppressed", "cap_weekly_tightened")
    morning.advance(days=31)
    assert send(db, p, "t3", customer_id=c, channel="sandbox").status == "queued"


def test_policy_is_per_workspace(
    db: Database, tenant: Tenant, other_tenant: Tenant, morning: SimulatedClock
) -> None:
    """A workspace may allow 2 a day; another keeps the defaults."""
    with db.transaction() as session:
        service.put_policy(session, tenant.principal, PolicyIn(daily_cap=2, weekly_cap=5))
    a, b = person(db, tenant.principal, 1), person(db, other_tenant.principal, 1)
    got_a = [
        send(db, tenant.principal, f"a{i}", customer_id=a, channel="sandbox").status
        for i in range(3)
    ]
    got_b = [
        send(db, other_tenant.principal, f"b{i}", customer_id=b, channel="sandbox").status
        for i in range(2)
    ]
    assert got_a == ["queued", "queued", "suppressed"]
    assert got_b == ["queued", "suppressed"]


def test_bad_input_writes_nothing(
    db: Database, tenant: Tenant, other_tenant: Tenant, morning: SimulatedClock
) -> None:
    """Unknown channel, both/neither of template and content, another workspace's customer."""
    p = tenant.principal
    c = person(db, p, 1)
    foreign = person(db, other_tenant.principal, 2)
    cases = [
        ({"customer_id": c, "channel": "fax"}, InvalidField),
        ({"customer_id": c, "channel": "sandbox", "content": None}, InvalidField),
        (
            {"customer_id": c, "channel": "sandbox", "template_id": 1, "content": {"text": "x"}},
            InvalidField,
        ),
        ({"customer_id": foreign, "channel": "sandbox"}, NotFound),
        ({"customer_id": c, "channel": "sandbox", "content": {"text": ""}}, InvalidField),
    ]
    for i, (kwargs, error) in enumerate(cases):
        with pytest.raises(error):
            send(db, p, f"bad{i}", **kwargs)
    assert count_touches(db) == 0


def test_missing_variable_and_unconfigured_channel_are_recorded(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """Run-time problems become a failed touch with the reason; the slot is not used."""
    p = tenant.principal
    c = person(db, p, 1)
    missing = send(
        db, p, "m", customer_id=c, channel="sandbox", content={"text": "券码 {{ coupon_code }}"}
    )
    assert (missing.status, missing.reason, missing.detail) == (
        "failed",
        "missing_variable",
        "coupon_code",
    )
    nosms = send(db, p, "s", customer_id=c, channel="sms")
    assert (nosms.status, nosms.reason) == ("failed", "channel_not_configured")
    ok = send(
        db,
        p,
        "ok",
        customer_id=c,
        channel="sandbox",
        content={"text": "券码 {{ coupon_code }}"},
        context={"coupon_code": "MJ5020"},
    )
    assert ok.status == "queued"
    drain(db)
    with db.transaction() as session:
        assert [m.body for m in session.scalars(select(SandboxMessage))] == ["券码 MJ5020"]


def test_stats_by_source_status_and_reason(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """What the journeys funnel reads."""
    from siyu.channels.touches import touch_stats

    p = tenant.principal
    c = person(db, p, 1)
    send(db, p, "s1", customer_id=c, channel="sandbox", source="journey:7:step:a")
    send(db, p, "s2", customer_id=c, channel="sandbox", source="journey:7:step:b")
    send(db, p, "s3", customer_id=c, channel="sms", source="journey:8:step:a")
    drain(db)
    with db.transaction() as session:
        stats = touch_stats(session, p, "journey:7:*")
        everything = touch_stats(session, p)
    assert stats == {
        "total": 2,
        "by_status": {"delivered": 1, "suppressed": 1},
        "by_reason": {"cap_daily": 1},
        "by_source": {"journey:7:step:a": {"delivered": 1}, "journey:7:step:b": {"suppressed": 1}},
    }
    assert everything["by_reason"] == {"cap_daily": 1, "channel_not_configured": 1}


def test_deferred_slot_is_the_next_day(db: Database, tenant: Tenant, clock: SimulatedClock) -> None:
    """Just after midnight local (quiet) the slot is that same morning."""
    clock.set(datetime(2026, 3, 2, 16, 30, tzinfo=UTC))  # 00:30 local on 3 March
    p = tenant.principal
    c = person(db, p, 1)
    t = send(db, p, "n", customer_id=c, channel="sandbox")
    assert t.defer_until == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    assert t.defer_until - clock.now() == timedelta(hours=7, minutes=30)
