"""Points ledger under contention, and earn/redeem transactions per second on both stores.

1. The race: 200 threads, each its own transaction, redeem 2 points at once from one balance of
   301 (20 of the 200 requests re-send another's idempotency key). Exactly 150 keys may apply;
   the final balance must be 1, never negative, the ledger must sum to the cached balance and
   each key apply once. The baseline in the same run is the naive read-check-write without the
   row lock (what the lock prevents): it loses updates and spends points twice.
2. Throughput: threads run earn (bonus points) and redeem transactions through the services
   (`award_action`, `redeem`), each in its own transaction, on PostgreSQL and on SQLite.

    python bench/loyalty.py           # full scale: race on both stores, 20 s of throughput each
    python bench/loyalty.py --quick   # race on PostgreSQL, 4 s of throughput per store
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select, update  # noqa: E402

from bench._common import (  # noqa: E402
    Postgres,
    cpu_seconds,
    install_keyring,
    last_line,
    load_average,
    open_store_at,
    print_table,
    store_url,
    tree_cpu_seconds,
    workdir,
)
from siyu.core.auth import Principal, system_principal  # noqa: E402
from siyu.core.db import Database, make_engine  # noqa: E402
from siyu.customers.models import Customer  # noqa: E402
from siyu.loyalty import ledger, service  # noqa: E402
from siyu.loyalty.ledger import InsufficientPoints  # noqa: E402
from siyu.loyalty.models import PointsAccount, PointsTransfer  # noqa: E402
from siyu.loyalty.postings import insert_transfer, transfer_values  # noqa: E402

THREADS, POINTS, START = 200, 2, 301
DUPLICATES = 20


@dataclass
class Race:
    """What a race left behind."""

    applied: int
    refused: int
    replays: int
    final: int
    expected: int
    ledger: int
    lots: int
    negative: int
    duplicates: int
    errors: int
    seconds: float

    @property
    def lost(self) -> int:
        """Points the balance and the ledger disagree on, or the arithmetic misses."""
        return (
            abs(self.final - self.expected)
            + abs(self.final - self.ledger)
            + abs(self.final - self.lots)
        )


def open_db(url: str, threads: int) -> Database:
    """A store whose pool holds a connection per thread."""
    if url.startswith("sqlite"):
        return Database(make_engine(url, pool_size=threads, max_overflow=0))
    return Database(make_engine(url, pool_size=threads, max_overflow=0, pool_timeout=120))


def funded_member(db: Database, principal: Principal, balance: int, name: str) -> int:
    """A new member holding `balance` points (a manual, audited adjustment)."""
    with db.transaction() as session:
        customer = Customer(workspace_id=principal.workspace_id, name=name)
        session.add(customer)
        session.flush()
        service.enroll(session, principal, customer.id, "store", True)
        if balance:
            service.adjust(session, principal, customer.id, balance, "bench funding", f"f{name}")
        return customer.id


def race(db: Database, principal: Principal, naive: bool = False) -> Race:
    """200 concurrent redemptions against one balance; the keys repeat 20 times."""
    who = funded_member(db, principal, START, f"race-{'naive' if naive else 'locked'}")
    keys = [f"k{i}" for i in range(THREADS - DUPLICATES)]
    keys += [f"k{i * 7 % (THREADS - DUPLICATES)}" for i in range(DUPLICATES)]
    outcomes: Counter[str] = Counter()
    gate = threading.Barrier(len(keys))
    lock = threading.Lock()

    def one(key: str) -> None:
        gate.wait()
        try:
            with db.transaction() as session:
                if naive:
                    _naive_redeem(session, principal.workspace_id, who, key)
                    outcome = "applied"
                else:
                    posted = service.redeem(session, principal, who, POINTS, key)
                    outcome = "replay" if posted.replay else "applied"
        except InsufficientPoints:
            outcome = "refused"
        except Exception:  # noqa: BLE001  (a unique violation, a deadlock: counted)
            outcome = "error"
        with lock:
            outcomes[outcome] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    return _tally(db, principal.workspace_id, who, outcomes, seconds)


def _naive_redeem(session: object, workspace_id: int, customer_id: int, key: str) -> None:
    """The baseline: read the balance, check it, write it back, with no lock and no key check."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    balance = ledger.balance_of(session, workspace_id, customer_id)
    if balance < POINTS:
        raise InsufficientPoints(balance, POINTS)
    time.sleep(0.001)  # the request does some work between read and write
    entry = ledger.Entry(customer_id, POINTS, "redeem", f"naive:{key}:{time.perf_counter_ns()}")
    values = transfer_values(
        workspace_id,
        entry,
        ledger.account_code(customer_id),
        ledger.REDEEMED,
        balance - POINTS,
    )
    insert_transfer(session, values)
    session.execute(
        update(PointsAccount)
        .where(PointsAccount.workspace_id == workspace_id, PointsAccount.customer_id == customer_id)
        .values(balance=balance - POINTS)
    )


def _tally(db: Database, ws: int, who: int, outcomes: Counter[str], seconds: float) -> Race:
    with db.transaction() as session:
        redeemed = session.execute(
            select(PointsTransfer.idempotency_key, PointsTransfer.balance_after).where(
                PointsTransfer.workspace_id == ws,
                PointsTransfer.customer_id == who,
                PointsTransfer.kind == "redeem",
            )
        ).all()
        final = ledger.balance_of(session, ws, who)
        in_ledger = ledger.ledger_balance(session, ws, ledger.account_code(who))
        lots = ledger.open_points(session, ws, who)
        per_key = Counter(k.split(":")[1] for k, _ in redeemed)
    return Race(
        applied=outcomes["applied"],
        refused=outcomes["refused"],
        replays=outcomes["replay"],
        final=final,
        expected=START - POINTS * len(redeemed),
        ledger=in_ledger,
        lots=lots,
        negative=sum(1 for _, after in redeemed if after < 0) + (final < 0),
        duplicates=sum(n - 1 for n in per_key.values() if n > 1),
        errors=outcomes["error"],
        seconds=seconds,
    )


def throughput(
    url: str,
    principal: Principal,
    workers: int,
    threads: int,
    seconds: float,
    server_pid: int | None,
) -> tuple[float, float, float]:
    """Earn and redeem transactions per second, each in its own transaction, in `workers`
    processes (API workers) of `threads` threads, each thread with members of its own; with the
    clients' and the server's CPU milliseconds per transaction (load-independent)."""
    db = open_db(url, 4)
    members = [
        funded_member(db, principal, 10_000, f"tp-{i}") for i in range(workers * threads * 4)
    ]
    db.engine.dispose()  # the workers fork: none may inherit a live connection
    ctx = mp.get_context("fork")
    gate, results = ctx.Barrier(workers + 1), ctx.Queue()
    pool = [
        ctx.Process(
            target=_worker,
            args=(url, principal, members[i::workers], threads, seconds, gate, results),
        )
        for i in range(workers)
    ]
    for proc in pool:
        proc.start()
    gate.wait()
    started = time.perf_counter()
    server = tree_cpu_seconds(server_pid) if server_pid else 0.0
    done = [results.get() for _ in pool]
    wall = time.perf_counter() - started
    server_cpu = tree_cpu_seconds(server_pid) - server if server_pid else 0.0
    for proc in pool:
        proc.join()
    n = max(sum(count for count, _ in done), 1)
    client_ms = sum(cpu for _, cpu in done) * 1000 / n
    return n / wall, client_ms, server_cpu * 1000 / n


def _worker(
    url: str,
    principal: Principal,
    members: list[int],
    threads: int,
    seconds: float,
    gate: Any,
    results: Any,
) -> None:
    """One API worker: `threads` threads alternate an earn and a redemption per member."""
    db = open_db(url, threads)
    keys = (f"w{os.getpid()}-{i}" for i in itertools.count())
    done = [0] * threads
    for n in range(20):  # warm: statements prepared and caches filled before the clock starts
        _earn_or_redeem(db, principal, members, n, next(keys))

    def work(slot: int, stop: float) -> None:
        mine, n = members[slot::threads], 0
        while time.monotonic() < stop:
            _earn_or_redeem(db, principal, mine, n, next(keys))
            n += 1
        done[slot] = n

    gate.wait()
    stop, cpu = time.monotonic() + seconds, cpu_seconds()
    pool = [threading.Thread(target=work, args=(i, stop)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    results.put((sum(done), cpu_seconds() - cpu))
    db.engine.dispose()


def _earn_or_redeem(db: Database, principal: Principal, mine: list[int], n: int, key: str) -> None:
    """Transaction n of a thread: each member earns, then redeems (spending the lots earned)."""
    who = mine[(n // 2) % len(mine)]
    with db.transaction() as session:
        if n % 2:
            service.redeem(session, principal, who, 3, key, channel="store")
        else:
            service.award_action(session, principal, who, "sign_in", key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="race on PostgreSQL, 4 s throughput")
    parser.add_argument("--seconds", type=float, help="throughput seconds per store")
    parser.add_argument("--workers", type=int, default=4, help="client processes (API workers)")
    parser.add_argument("--threads", type=int, default=1, help="client threads per worker")
    args = parser.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 20.0)
    install_keyring()
    pg = Postgres()
    folder = workdir("siyu-bench-loyalty-")
    rows, rates, locked = [], {}, {}
    try:
        for kind in ("postgresql", "sqlite"):
            url = store_url(kind, folder, pg, "loyalty")
            store = open_store_at(kind, url, "loyalty")
            store.close()
            db = open_db(url, 100)
            principal = system_principal(store.workspace_id)
            with db.transaction() as session:
                service.get_program(session, principal.workspace_id)
            if kind == "postgresql" or not args.quick:
                for naive in (True, False):
                    result = race(db, principal, naive)
                    rows.append(_row(kind, naive, result))
                    if not naive:
                        locked[kind] = result
            db.engine.dispose()
            server_pid = pg.pid if kind == "postgresql" else None
            rates[kind] = throughput(
                url, principal, args.workers, args.threads, seconds, server_pid
            )
    finally:
        pg.stop()
    print_table(
        [
            "store",
            "method",
            "applied",
            "refused",
            "replays",
            "errors",
            "final",
            "expected",
            "ledger",
            "negative",
            "lost",
            "duplicates",
            "seconds",
        ],
        rows,
    )
    print()
    print_table(
        [
            "store",
            "earn+redeem tx/s",
            "workers x threads",
            "client CPU ms/tx",
            "server CPU ms/tx",
            "tx per 2 CPU-s",
            "target",
            "measured vs target",
        ],
        [
            [
                k,
                round(v),
                f"{args.workers} x {args.threads}",
                round(c, 3),
                round(sv, 3),
                round(2000 / (c + sv)),
                1000,
                f"{v / 1000:.2f}x",
            ]
            for k, (v, c, sv) in rates.items()
        ],
    )
    print(f"load average {load_average()}", file=sys.stderr)
    pg_race = locked["postgresql"]
    last_line(
        "loyalty",
        pg_tx_per_s=round(rates["postgresql"][0]),
        sqlite_tx_per_s=round(rates["sqlite"][0]),
        lost=sum(r.lost for r in locked.values()),
        negative=sum(r.negative for r in locked.values()),
        duplicates=sum(r.duplicates for r in locked.values()),
        applied=pg_race.applied,
        final=pg_race.final,
    )


def _row(kind: str, naive: bool, r: Race) -> list[object]:
    method = "naive read-check-write (baseline)" if naive else "siyu ledger (row lock + key)"
    return [
        kind,
        method,
        r.applied,
        r.refused,
        r.replays,
        r.errors,
        r.final,
        r.expected,
        r.ledger,
        r.negative,
        r.lost,
        r.duplicates,
        round(r.seconds, 2),
    ]


if __name__ == "__main__":
    main()
