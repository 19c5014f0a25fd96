"""Journey execution throughput: N customers through the new-customer SOP on a simulated clock.

Every customer enters the built-in 48-hour activation SOP (welcome, coupon, a wait, brand
introduction, a wait until 20:00, a question, a wait for a reply that times out, a points
benefit: 8 step executions per run) on the sandbox channel. Real worker processes
(`python -m siyu.journeys.sim`) run the timers and the outbox on a simulated clock shared
through a file; the driver jumps the clock to the next due timer once nothing is due.

Cases: SQLite with 1 worker; PostgreSQL with 1 and 2 workers; PostgreSQL with 2 workers, each
SIGKILLed every few seconds (`--kill-every`, at least twice the engine's 1 s batch budget, so
batches can commit between kills) and restarted. Workers start while the store is prepared and
wait for the clock file; a case's time counts from when they are up (a restart after a kill
counts). Afterwards it checks: lost (runs not finished,
or steps missing), duplicates (a step or a touch done twice) and cap violations (marketing
touches over the frequency policy's daily or weekly cap).

    python bench/journeys.py --quick          # 1,000 customers
    python bench/journeys.py                  # 1,000,000 customers
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    REPO,
    Postgres,
    install_keyring,
    last_line,
    load_average,
    open_store_at,
    print_table,
    store_url,
)
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

import siyu.handlers  # noqa: E402, F401  (every domain's tables and handlers, as `siyu worker`)
from siyu.core.clock import SimulatedClock, set_clock  # noqa: E402
from siyu.core.db import bulk_insert, table_of  # noqa: E402
from siyu.core.statistics import refresh_statistics  # noqa: E402
from siyu.customers.models import Customer  # noqa: E402
from siyu.journeys import engine, service, sim, sops  # noqa: E402
from siyu.journeys.models import Journey, JourneyRun, JourneyStep  # noqa: E402

STEPS_PER_RUN = 8
# name: (store, workers, killed)
CASES = {
    "sqlite": ("sqlite", 1, False),
    "pg1": ("postgresql", 1, False),
    "pg2": ("postgresql", 2, False),
    "pg2-kill": ("postgresql", 2, True),
}
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def _populate(store, n: int) -> int:  # type: ignore[no-untyped-def]
    """n customers, the SOP enabled, everyone entered; returns the journey id."""
    with store.db.transaction() as session:
        at = START
        for i in range(0, n, 20_000):
            rows = [
                {"workspace_id": store.workspace_id, "created_at": at, "updated_at": at}
                for _ in range(min(20_000, n - i))
            ]
            bulk_insert(session, table_of(Customer), rows)
        options = {"channel": "sandbox", "holdout_percent": 0}
        journey = sops.install(session, store.principal, "new_customer_48h", options)
        service.set_status(session, store.principal, journey.id, "active")
        journey_id = journey.id
    ids_stmt = select(Customer.id).where(Customer.workspace_id == store.workspace_id)
    with store.db.transaction() as session:
        ids = list(session.scalars(ids_stmt.order_by(Customer.id)))
    for i in range(0, len(ids), 5000):
        with store.db.transaction() as session:
            journey = session.get(Journey, journey_id)
            assert journey is not None
            engine.enter(session, journey, [(c, f"bench:{c}") for c in ids[i : i + 5000]])
    # Statistics, as a live store has them (autovacuum's first pass would come a minute into
    # the run): without them PostgreSQL plans the first batches over empty-looking tables.
    with store.db.transaction() as session:
        if store.kind == "postgresql":
            session.execute(text("ANALYZE"))
        else:
            refresh_statistics(session)
    return journey_id


def _spawn(url: str, clock_file: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "siyu.journeys.sim", url, str(clock_file)]
    cmd += ["--data-dir", str(data_dir), "--batch", "500"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(
        ["nice", "-n", "10", *cmd], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _clock_file(workdir: Path, kind: str, workers: int, kill_every: float | None) -> Path:
    return workdir / f"clock-{kind}-{workers}-{kill_every}.txt"


def _ready(clock_file: Path, proc: subprocess.Popen[bytes]) -> bool:
    """Whether the worker process is up (imported; it works once the clock file exists)."""
    return clock_file.with_name(f"{clock_file.name}.ready.{proc.pid}").exists()


def _drive(  # type: ignore[no-untyped-def]
    store,
    journey_id: int,
    clock_file: Path,
    procs: list[subprocess.Popen[bytes]],
    kill_every: float | None,
) -> tuple[float, int]:
    """Run the already started workers until every run finished; returns (seconds, kills).

    The workers were started while the store was prepared and wait for the clock file, so
    the time counts from the moment all are up and the clock is written; a restart after a
    kill counts (that is the price of the crash)."""
    while not all(_ready(clock_file, proc) for proc in procs):
        time.sleep(0.05)
    clock = sim.FileClock(clock_file)
    clock.set(START)
    previous = set_clock(clock)
    rng = random.Random(9)
    kills, started = 0, time.perf_counter()
    kill_at: dict[int, float] = {}
    try:
        while _busy(store, journey_id):
            for i, proc in enumerate(procs if kill_every else []):
                if proc.pid not in kill_at and _ready(clock_file, proc):
                    # Kill each worker a few seconds after it is up and working.
                    assert kill_every is not None
                    kill_at[proc.pid] = time.perf_counter() + kill_every * rng.uniform(0.5, 1.5)
                if time.perf_counter() >= kill_at.get(proc.pid, float("inf")):
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    procs[i] = _spawn(store.url, clock_file, clock_file.parent)
                    kills += 1
            # SQLite: a worker's batch may hold the write lock; try again next round.
            with contextlib.suppress(OperationalError):
                sim.advance_to_next(store.db, clock, START + timedelta(days=30))
            time.sleep(0.05)
        return time.perf_counter() - started, kills
    finally:
        set_clock(previous)


def _busy(store, journey_id: int) -> bool:  # type: ignore[no-untyped-def]
    """Whether runs or background work remain (retried while SQLite's writer lock is held)."""
    while True:
        try:
            return sim.busy(store.db, journey_id)
        except OperationalError:
            time.sleep(0.5)


def _reset_statements(store) -> None:  # type: ignore[no-untyped-def]
    with store.db.transaction() as session:
        session.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        session.execute(text("SELECT pg_stat_statements_reset()"))


def _print_statements(store, top: int = 15) -> None:  # type: ignore[no-untyped-def]
    """The statements that took the most server time during the case."""
    with store.db.transaction() as session:
        found = session.execute(
            text(
                "SELECT total_exec_time, calls, rows, query FROM pg_stat_statements "
                "ORDER BY total_exec_time DESC LIMIT :top"
            ),
            {"top": top},
        ).all()
    rows = [
        [round(t / 1000, 2), c, r, round(t / c, 3), " ".join(q.split())[:100]]
        for t, c, r, q in found
    ]
    print_table(["server s", "calls", "rows", "ms/call", "statement"], rows)


def _check(store, journey_id: int, n: int) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    """(steps, lost, duplicates, cap violations)."""
    with store.db.transaction() as session:
        steps = int(
            session.scalar(
                select(func.count(JourneyStep.id)).where(JourneyStep.journey_id == journey_id)
            )
            or 0
        )
        finished = session.scalar(
            select(func.count(JourneyRun.id)).where(
                JourneyRun.journey_id == journey_id, JourneyRun.status == "completed"
            )
        )
        lost = (n - int(finished or 0)) + max(0, n * STEPS_PER_RUN - steps)
        twice = session.execute(
            text(
                "SELECT count(*) FROM (SELECT run_id, step_key FROM journey_step "
                "GROUP BY run_id, step_key HAVING count(*) > 1) d"
            )
        ).scalar_one()
        duplicates, violations = int(twice), 0
        try:
            touches = session.execute(
                text(
                    "SELECT count(*) FROM (SELECT idempotency_key FROM touch "
                    "GROUP BY workspace_id, idempotency_key HAVING count(*) > 1) d"
                )
            ).scalar_one()
            duplicates += int(touches)
            violations = _cap_violations(session)
        except Exception:  # no channels domain: the step log is the only record
            session.rollback()
    return steps, lost, duplicates, violations


def _cap_violations(session) -> int:  # type: ignore[no-untyped-def]
    """Customer-days over the daily cap, and customer-weeks over the weekly cap (counted
    touches: queued, deferred, sent, delivered; marketing only)."""
    from siyu.channels.models import COUNTED, FrequencyPolicy

    policy = session.scalars(select(FrequencyPolicy)).first()
    daily, weekly = (policy.daily_cap, policy.weekly_cap) if policy else (1, 3)
    counted = ", ".join(f"'{s}'" for s in COUNTED)
    days = session.execute(
        text(
            f"SELECT customer_id, slot_day, count(*) FROM touch WHERE purpose = 'marketing' "
            f"AND status IN ({counted}) GROUP BY customer_id, slot_day"
        )
    ).all()
    per: dict[int, dict[int, int]] = {}
    over = 0
    for customer, day, count in days:
        per.setdefault(customer, {})[day] = count
        over += count > daily
    for by_day in per.values():
        for start in by_day:
            over += sum(by_day.get(d, 0) for d in range(start, start + 7)) > weekly
    return over


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 customers")
    parser.add_argument("--customers", type=int, help="default 1,000,000 (2,000 with --quick)")
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds between kills")
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}"
    )
    parser.add_argument(
        "--pg-statements",
        action="store_true",
        help="print each PostgreSQL case's statements by total time (pg_stat_statements)",
    )
    args = parser.parse_args()
    chosen = [c.strip() for c in args.cases.split(",") if c.strip()]
    if unknown := [c for c in chosen if c not in CASES]:
        parser.error(f"unknown case(s) {', '.join(unknown)}; the cases are {', '.join(CASES)}")
    if args.kill_every < 2 * engine.BUDGET:
        # A worker killed before its batch commits redoes it: kills this close may never let
        # one commit, and the kill case would not finish.
        parser.error(f"--kill-every must be at least {2 * engine.BUDGET:g} s (2 batch budgets)")
    # A SIGTERM (a timeout) still runs the finally blocks: workers and PostgreSQL are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    n = args.customers or (1_000 if args.quick else 1_000_000)
    print(f"{os.cpu_count()} CPUs; load average {load_average()}; {n:,} customers", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="siyu-bench-journeys-"))
    install_keyring(workdir)
    # The run's tables grow from empty to tens of thousands of rows within a minute, which a
    # live store never does: autovacuum's default one-minute round would leave the planner
    # with the empty tables' statistics for the whole case (touches then found by seq scan).
    settings = {"autovacuum_naptime": "1s"}
    if args.pg_statements:
        settings["shared_preload_libraries"] = "pg_stat_statements"
    pg = Postgres(settings)
    cases = [
        (kind, workers, args.kill_every if kill else None)
        for name, (kind, workers, kill) in CASES.items()
        if name in chosen
    ]
    rows: list[list[Any]] = []
    totals = {"lost": 0, "duplicates": 0, "cap_violations": 0}
    best = 0.0
    try:
        for kind, workers, kill in cases:
            name = f"j_{kind[:2]}_{workers}_{'k' if kill else 'n'}"
            url = store_url(kind, workdir, pg, name)
            clock_file = _clock_file(workdir, kind, workers, kill)
            # Workers import while the store is migrated and populated (they wait for the clock).
            procs = [_spawn(url, clock_file, workdir) for _ in range(workers)]
            try:
                store = open_store_at(kind, url, name)
                previous = set_clock(SimulatedClock(START))
                journey_id = _populate(store, n)
                if args.pg_statements and kind == "postgresql":
                    _reset_statements(store)
                set_clock(previous)
                seconds, kills = _drive(store, journey_id, clock_file, procs, kill)
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait()
            if args.pg_statements and kind == "postgresql":
                _print_statements(store)
            steps, lost, dups, caps = _check(store, journey_id, n)
            rate = steps / seconds
            label = f"{kind} x{workers}" + (f" SIGKILL/{kill:g}s" if kill else "")
            rows.append([label, steps, round(seconds, 1), round(rate), kills, lost, dups, caps])
            print(f"{label}: {rate:,.0f} steps/s; load {load_average()}", flush=True)
            totals["lost"] += lost
            totals["duplicates"] += dups
            totals["cap_violations"] += caps
            if kind == "postgresql" and workers == 2 and not kill:
                best = rate
            store.close()
    finally:
        pg.stop()
    base = rows[0][3] or 1
    print_table(
        ["case", "steps", "seconds", "steps/s", "kills", "lost", "dup", "cap_viol"],
        rows,
    )
    print(f"ratios to {rows[0][0]}: " + ", ".join(f"{r[0]} {r[3] / base:.2f}" for r in rows))
    last_line("journeys", steps_per_s=round(best), **totals)


if __name__ == "__main__":
    main()
