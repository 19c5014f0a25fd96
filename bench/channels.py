"""Frequency decisions under contention, and send/deliver throughput on both stores.

1. The race (PostgreSQL): 8 threads, each its own transaction, send marketing touches to the
   same customer at once, customer after customer (20 customers, 8 tries each, different
   keys). The policy allows 1 a day, so exactly 20 may be queued. The baseline in the same
   run is the same service without the per-customer row lock (a `lock_contacts` that reads
   without FOR UPDATE): what the lock prevents.
2. Throughput: `channels.service.send` decides (consent, quiet hours, caps, priority, render)
   and queues touches for N customers, 100 per transaction; each customer then gets a second
   touch that the daily cap suppresses. The baseline in the same run is the floor: inserting
   the same Touch rows and outbox messages with no decision at all. Then the outbox delivers
   the queued touches through the sandbox channel.

    python bench/channels.py           # full scale: 10,000 customers per store
    python bench/channels.py --quick   # 500 customers per store
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench._common import (  # noqa: E402
    Postgres,
    install_keyring,
    last_line,
    load_average,
    open_store_at,
    print_table,
    store_url,
    workdir,
)
from siyu.channels import frequency, service  # noqa: E402
from siyu.channels import tasks as _tasks  # noqa: E402, F401  (registers the outbox handlers)
from siyu.channels.models import ContactState, Touch  # noqa: E402
from siyu.core import outbox  # noqa: E402
from siyu.core.auth import Principal  # noqa: E402
from siyu.core.clock import SimulatedClock, set_clock  # noqa: E402
from siyu.core.db import Database, make_engine  # noqa: E402
from siyu.customers.models import Customer  # noqa: E402

MORNING = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
THREADS, RACE_CUSTOMERS, TRIES = 8, 20, 8
BATCH = 100
CONTENT = {"text": "{{ customer.name }}，会员日全场8折，券码 {{ coupon_code }}"}


def customers(db: Database, principal: Principal, n: int, prefix: str) -> list[int]:
    """n customers with encrypted names."""
    with db.transaction() as session:
        rows = [
            Customer(workspace_id=principal.workspace_id, name=f"{prefix}客户{i}") for i in range(n)
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def unlocked(
    session: Session, workspace_id: int, customer_ids: Iterable[int]
) -> dict[int, datetime | None]:
    """The baseline: the same state rows (they exist already), read without the row lock."""
    stmt = select(ContactState.customer_id, ContactState.tightened_until).where(
        ContactState.workspace_id == workspace_id,
        ContactState.customer_id.in_(sorted(set(customer_ids))),
    )
    return {customer_id: until for customer_id, until in session.execute(stmt)}


def race(db: Database, principal: Principal, naive: bool) -> dict[str, int]:
    """THREADS threads send TRIES marketing touches to each of RACE_CUSTOMERS customers."""
    who = customers(db, principal, RACE_CUSTOMERS, "naive" if naive else "locked")
    with db.transaction() as session:
        for c in who:  # the lock rows exist, so only the row lock can serialize deciders
            frequency.lock_contact(session, principal.workspace_id, c)
    outcomes: Counter[str] = Counter()
    gate, lock = threading.Barrier(THREADS), threading.Lock()
    original = frequency.lock_contacts  # what sending.send_many calls for every batch
    if naive:
        frequency.lock_contacts = unlocked

    def worker(slot: int) -> None:
        # Round by round, every thread sends to the same customer at the same moment.
        for c in who:
            gate.wait()
            for t in range(slot, TRIES, THREADS):
                try:
                    with db.transaction() as session:
                        touch = service.send(
                            session,
                            principal,
                            customer_id=c,
                            channel="sandbox",
                            content={"text": "x"},
                            idempotency_key=f"{naive}:{c}:{t}",
                        )
                        outcome = touch.status
                except Exception:  # noqa: BLE001  (a deadlock or serialization error: counted)
                    outcome = "error"
                with lock:
                    outcomes[outcome] += 1

    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        frequency.lock_contacts = original
    with db.transaction() as session:
        per = session.execute(
            select(Touch.customer_id, func.count())
            .where(Touch.customer_id.in_(who), Touch.status == "queued")
            .group_by(Touch.customer_id)
        ).all()
    violations = sum(n - 1 for _, n in per if n > 1)
    return {
        "queued": outcomes["queued"],
        "suppressed": outcomes["suppressed"],
        "errors": outcomes["error"],
        "cap_violations": violations,
    }


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sends(db: Database, principal: Principal, who: list[int], round_: str) -> None:
    """Decide and queue one touch per customer, BATCH per transaction."""
    for start in range(0, len(who), BATCH):
        with db.transaction() as session:
            for c in who[start : start + BATCH]:
                service.send(
                    session,
                    principal,
                    customer_id=c,
                    channel="sandbox",
                    content=CONTENT,
                    source="bench:member_day",
                    idempotency_key=f"{round_}:{c}",
                    context={"coupon_code": "VIP88"},
                )


def floor(db: Database, principal: Principal, who: list[int]) -> None:
    """The baseline: the same rows written with no decision."""
    for start in range(0, len(who), BATCH):
        with db.transaction() as session:
            for c in who[start : start + BATCH]:
                touch = Touch(
                    workspace_id=principal.workspace_id,
                    customer_id=c,
                    channel="sandbox",
                    source="bench:floor",
                    idempotency_key=f"floor:{c}",
                    status="queued",
                    rendered='{"text": "x"}',
                )
                session.add(touch)
                session.flush()
                outbox.enqueue(
                    session,
                    "bench.noop",
                    {"touch_id": touch.id},
                    workspace_id=principal.workspace_id,
                )


def throughput(db: Database, principal: Principal, n: int) -> dict[str, float]:
    who = customers(db, principal, n, "tp")
    base = customers(db, principal, n, "floor")
    t_floor = timed(lambda: floor(db, principal, base))
    with db.transaction() as session:
        session.execute(
            outbox.OutboxMessage.__table__.delete().where(
                outbox.OutboxMessage.topic == "bench.noop"
            )
        )
    t_first = timed(lambda: sends(db, principal, who, "first"))
    t_capped = timed(lambda: sends(db, principal, who, "second"))

    def deliver() -> None:
        while outbox.run_due(db, 500):
            pass

    t_deliver = timed(deliver)
    with db.transaction() as session:
        status = dict(
            session.execute(
                select(Touch.status, func.count())
                .where(Touch.source == "bench:member_day")
                .group_by(Touch.status)
            ).all()
        )
    return {
        "floor_per_s": n / t_floor,
        "send_per_s": n / t_first,
        "capped_per_s": n / t_capped,
        "deliver_per_s": n / t_deliver,
        "delivered": status.get("delivered", 0),
        "suppressed": status.get("suppressed", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 500 if args.quick else 10_000
    install_keyring()
    set_clock(SimulatedClock(MORNING))
    scratch = workdir("siyu-bench-channels-")
    pg = Postgres()
    try:
        url = store_url("postgresql", scratch, pg, "race")
        store = open_store_at("postgresql", url, "race")
        racer = Database(make_engine(url, pool_size=THREADS, max_overflow=0, pool_timeout=120))
        locked = race(racer, store.principal, naive=False)
        naive = race(racer, store.principal, naive=True)
        racer.engine.dispose()
        store.close()
        print(f"race: {THREADS} threads, {RACE_CUSTOMERS} customers x {TRIES} tries, cap 1/day")
        print_table(
            ["variant", "queued", "suppressed", "errors", "cap_violations"],
            [["siyu (row lock)", *locked.values()], ["baseline (no lock)", *naive.values()]],
        )
        rows, figures = [], {}
        for kind in ("sqlite", "postgresql"):
            store = open_store_at(kind, store_url(kind, scratch, pg, f"tp_{kind}"), kind)
            got = throughput(store.db, store.principal, n)
            store.close()
            figures[kind] = got
            rows.append(
                [
                    kind,
                    n,
                    got["floor_per_s"],
                    got["send_per_s"],
                    got["capped_per_s"],
                    got["send_per_s"] / got["floor_per_s"],
                    got["deliver_per_s"],
                    int(got["delivered"]),
                    int(got["suppressed"]),
                ]
            )
        print(f"\nthroughput: {n:,} customers per store, {BATCH} sends per transaction")
        print_table(
            [
                "store",
                "customers",
                "floor/s",
                "send/s",
                "capped/s",
                "send/floor",
                "deliver/s",
                "delivered",
                "suppressed",
            ],
            rows,
        )
        print(f"load average {load_average()}")
        last_line(
            "channels",
            send_per_s_pg=figures["postgresql"]["send_per_s"],
            send_per_s_sqlite=figures["sqlite"]["send_per_s"],
            deliver_per_s_pg=figures["postgresql"]["deliver_per_s"],
            cap_violations=locked["cap_violations"],
            baseline_cap_violations=naive["cap_violations"],
        )
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
