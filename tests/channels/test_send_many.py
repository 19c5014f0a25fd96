"""send_many(): several touches for one customer in one batch — caps hold exactly, the
transactional ones bypass them, the higher priority wins within the cap, each refusal records
its reason; then exactly the allowed ones are delivered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.channels import service
from siyu.channels.models import SandboxMessage, Touch
from siyu.channels.schemas import PolicyIn
from siyu.channels.sending import SendRequest, send_many
from siyu.core.auth import Principal
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import InvalidField
from tests.channels.conftest import drain, person, touch
from tests.conftest import Tenant


def req(customer: int, key: str, **kwargs: Any) -> SendRequest:
    """A sandbox request with plain content unless told otherwise."""
    kwargs.setdefault("channel", "sandbox")
    kwargs.setdefault("content", {"text": f"消息 {key}"})
    return SendRequest(customer_id=customer, idempotency_key=key, **kwargs)


def batch(db: Database, p: Principal, requests: list[SendRequest]) -> list[Touch]:
    """send_many in its own transaction."""
    with db.transaction() as session:
        return send_many(session, p, requests)


def outcome(touches: list[Touch]) -> list[tuple[str, str | None]]:
    return [(t.status, t.reason) for t in touches]


def delivered_to(db: Database, customer: int) -> list[str]:
    """Sandbox bodies the customer received, in touch order."""
    with db.transaction() as session:
        return list(
            session.scalars(
                select(SandboxMessage.body)
                .where(SandboxMessage.customer_id == customer)
                .order_by(SandboxMessage.touch_id)
            )
        )


def count_touches(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Touch)) or 0)


def test_one_a_day_in_one_batch(db: Database, tenant: Tenant, morning: SimulatedClock) -> None:
    """Policy 1/day: of four marketing touches for one customer exactly one is queued, the
    rest are suppressed with cap_daily; transactional ones bypass; another customer is apart."""
    p = tenant.principal
    c, other = person(db, p, 1), person(db, p, 2)
    got = batch(
        db,
        p,
        [
            req(c, "m1"),
            req(c, "m2"),
            req(c, "t1", purpose="transactional"),
            req(other, "o1"),
            req(c, "m3"),
            req(c, "t2", purpose="transactional"),
            req(c, "m4"),
        ],
    )
    assert outcome(got) == [
        ("queued", None),
        ("suppressed", "cap_daily"),
        ("queued", None),
        ("queued", None),
        ("suppressed", "cap_daily"),
        ("queued", None),
        ("suppressed", "cap_daily"),
    ]
    drain(db)
    assert delivered_to(db, c) == ["消息 m1", "消息 t1", "消息 t2"]
    assert delivered_to(db, other) == ["消息 o1"]
    # A later batch the same day finds the slot taken; transactional still goes.
    later = batch(db, p, [req(c, "m5"), req(c, "t3", purpose="transactional")])
    assert outcome(later) == [("suppressed", "cap_daily"), ("queued", None)]


def test_higher_priority_wins_within_the_batch(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """Low first, then high: high takes the slot and the low one is displaced (never sent);
    a middle or equal priority after the high one is refused."""
    p = tenant.principal
    c = person(db, p, 1)
    low, high, mid, equal = batch(
        db,
        p,
        [
            req(c, "low", priority=1),
            req(c, "high", priority=5),
            req(c, "mid", priority=3),
            req(c, "eq", priority=5),
        ],
    )
    assert (low.status, low.reason, low.detail) == ("suppressed", "displaced", f"touch {high.id}")
    assert outcome([high, mid, equal]) == [
        ("queued", None),
        ("suppressed", "cap_daily"),
        ("suppressed", "cap_daily"),
    ]
    drain(db)
    assert delivered_to(db, c) == ["消息 high"]
    assert (touch(db, low.id).status, touch(db, high.id).status) == ("suppressed", "delivered")


def test_a_batch_displaces_a_stored_lower_priority_touch(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """A queued touch from an earlier batch gives its slot up to the batch's highest priority;
    the batch's own middle one, displaced in turn, is never stored as queued."""
    p = tenant.principal
    c = person(db, p, 1)
    (stored,) = batch(db, p, [req(c, "stored", priority=1)])
    assert stored.status == "queued"
    mid, high = batch(db, p, [req(c, "mid", priority=3), req(c, "high", priority=5)])
    assert (mid.status, mid.reason, mid.detail) == ("suppressed", "displaced", f"touch {high.id}")
    assert high.status == "queued"
    again = touch(db, stored.id)
    assert (again.status, again.reason, again.detail) == (
        "suppressed",
        "displaced",
        f"touch {mid.id}",
    )
    drain(db)
    assert delivered_to(db, c) == ["消息 high"]


def test_daily_and_weekly_caps_across_batches(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """Policy 2/day, 3/week: a batch of three gets two; the next day a batch of two gets one."""
    p = tenant.principal
    with db.transaction() as session:
        service.put_policy(session, p, PolicyIn(daily_cap=2, weekly_cap=3))
    c = person(db, p, 1)
    day1 = batch(db, p, [req(c, f"a{i}") for i in range(3)])
    assert outcome(day1) == [("queued", None), ("queued", None), ("suppressed", "cap_daily")]
    morning.advance(days=1)
    day2 = batch(db, p, [req(c, f"b{i}") for i in range(2)])
    assert outcome(day2) == [("queued", None), ("suppressed", "cap_weekly")]
    drain(db)
    assert delivered_to(db, c) == ["消息 a0", "消息 a1", "消息 b0"]


def test_quiet_hours_batch_defers_one_and_suppresses_the_rest(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    """At 23:00 local, one marketing touch is deferred to 08:00 and holds that day's slot; the
    others are suppressed; a transactional one goes at once."""
    clock.set(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))  # 23:00 Asia/Shanghai
    p = tenant.principal
    c = person(db, p, 1)
    got = batch(
        db, p, [req(c, "q1"), req(c, "q2"), req(c, "qt", purpose="transactional"), req(c, "q3")]
    )
    assert outcome(got) == [
        ("deferred", "quiet_hours"),
        ("suppressed", "cap_daily"),
        ("queued", None),
        ("suppressed", "cap_daily"),
    ]
    assert got[0].defer_until == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    assert [t.defer_until for t in got[1:]] == [None, None, None]
    drain(db)
    assert delivered_to(db, c) == ["消息 qt"]
    clock.set(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    drain(db)
    assert delivered_to(db, c) == ["消息 q1", "消息 qt"]


def test_repeated_keys_and_replays_send_once(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """A key twice in one batch answers one touch; replaying the batch stores nothing more."""
    p = tenant.principal
    c = person(db, p, 1)
    requests = [req(c, "k1"), req(c, "k1"), req(c, "k2", purpose="transactional")]
    first = batch(db, p, requests)
    assert [t.id for t in first][0] == first[1].id
    assert outcome(first) == [("queued", None), ("queued", None), ("queued", None)]
    again = batch(db, p, requests)
    assert [t.id for t in again] == [t.id for t in first]
    drain(db)
    assert count_touches(db) == 2
    assert delivered_to(db, c) == ["消息 k1", "消息 k2"]


def test_a_bad_request_refuses_the_whole_batch(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """An unknown channel anywhere in the batch: nothing is stored for anyone."""
    p = tenant.principal
    c = person(db, p, 1)
    with pytest.raises(InvalidField):
        batch(db, p, [req(c, "ok1"), req(c, "bad", channel="fax"), req(c, "ok2")])
    assert count_touches(db) == 0
    drain(db)
    assert delivered_to(db, c) == []


def test_a_failed_render_leaves_the_slot_free(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """A touch that fails (missing variable) takes no slot, even a higher-priority one."""
    p = tenant.principal
    c = person(db, p, 1)
    got = batch(
        db,
        p,
        [
            req(c, "low", priority=1),
            req(c, "broken", priority=9, content={"text": "券码 {{ coupon_code }}"}),
            req(c, "late"),
        ],
    )
    assert outcome(got) == [
        ("queued", None),
        ("failed", "missing_variable"),
        ("suppressed", "cap_daily"),
    ]
    drain(db)
    assert delivered_to(db, c) == ["消息 low"]


def test_batch_delivery_records_each_outcome(
    db: Database, tenant: Tenant, morning: SimulatedClock
) -> None:
    """One outbox batch: a touch is delivered, an unsubscribed one suppressed, a transactional
    one to the same customer still delivered; each row records exactly its outcome."""
    from siyu.channels import touches

    p = tenant.principal
    a, b = person(db, p, 1), person(db, p, 2)
    first, second, receipt = batch(
        db, p, [req(a, "d1"), req(b, "d2"), req(b, "d3", purpose="transactional")]
    )
    with db.transaction() as session:
        touches.unsubscribe(session, p, b, "sandbox", "marketing")
    morning.advance(minutes=1)
    at = morning.now()
    drain(db)
    with db.transaction() as session:
        messages = {
            t: i for t, i in session.execute(select(SandboxMessage.touch_id, SandboxMessage.id))
        }
    rows = [touch(db, t.id) for t in (first, second, receipt)]
    assert [
        (t.status, t.reason, t.attempts, t.provider_message_id, t.sent_at, t.delivered_at)
        for t in rows
    ] == [
        ("delivered", None, 1, f"sandbox-{messages[first.id]}", at, at),
        ("suppressed", "unsubscribed", 0, None, None, None),
        ("delivered", None, 1, f"sandbox-{messages[receipt.id]}", at, at),
    ]
    assert [t.updated_at for t in rows] == [at, at, at]
    assert sorted(messages) == sorted([first.id, receipt.id])
    drain(db)
    assert [touch(db, t.id).attempts for t in (first, second, receipt)] == [1, 0, 1]
