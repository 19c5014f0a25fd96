"""kill -9 at any moment: real worker processes killed with SIGKILL and restarted while runs
progress on a shared simulated clock; afterwards every run did every step exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from siyu.core import outbox
from siyu.core.clock import SimulatedClock, set_clock
from siyu.core.db import Database, make_engine
from siyu.core.migrate import upgrade
from siyu.journeys import service, sim, triggers
from siyu.journeys.models import JourneyRun, JourneyStep, JourneyTask, JourneyTimer
from siyu.journeys.tasks import run_journeys
from siyu.workspaces.service import create_workspace
from tests.browser import own_keyring
from tests.conftest import Tenant
from tests.journeys.helpers import make_customers, simple
from tests.pg import TempPostgres

REPO = Path(__file__).resolve().parents[2]
CUSTOMERS = 60
MAX_KILLS = 5
STALL = 90  # seconds without a run finishing: work was lost, not slow
MIN_BUSY = 3  # kills while runs are in flight before the clock may move on
STEPS = ("hello", "soon", "call", "later", "bye")
DEFINITION = {
    "name": "崩溃演练",
    "trigger": {"type": "manual"},
    "start": "hello",
    "steps": [
        {
            "key": "hello",
            "type": "send",
            "channel": "sandbox",
            "content": "欢迎",
            "purpose": "transactional",
            "next": "soon",
        },
        {"key": "soon", "type": "wait", "duration": {"hours": 1}, "next": "call"},
        {"key": "call", "type": "task", "title": "回访", "assignee": "guide", "next": "later"},
        {"key": "later", "type": "wait", "duration": {"days": 1}, "next": "bye"},
        {
            "key": "bye",
            "type": "send",
            "channel": "sandbox",
            "content": "再见",
            "purpose": "transactional",
        },
    ],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: TempPostgres | None
) -> Iterator[str]:
    """A real, committed store that other processes can open."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.db'}"
    else:
        if postgres is None:
            pytest.skip("PostgreSQL is not installed here")
        admin = make_engine(postgres.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS siyu_crash"))
            conn.execute(text("CREATE DATABASE siyu_crash"))
        admin.dispose()
        url = postgres.url("siyu_crash")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url


def _spawn(url: str, clock_file: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "siyu.journeys.sim",
        url,
        str(clock_file),
        "--data-dir",
        str(data_dir),
        "--batch",
        "5",
        "--pause",
        "0.02",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sigkilled_workers_lose_nothing_and_repeat_nothing(store_url: str, tmp_path: Path) -> None:
    clock_file = tmp_path / "clock.txt"
    clock = sim.FileClock(clock_file)
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    clock.set(start)
    previous = set_clock(clock)
    db = Database.from_url(store_url)
    rng = random.Random(6)
    workers: list[subprocess.Popen[bytes]] = []
    kills = busy = 0
    try:
        with own_keyring(tmp_path):
            with db.transaction() as session:
                workspace, _ = create_workspace(session, "崩溃演练")
            ids = make_customers(db, workspace.id, CUSTOMERS)
            from siyu.core.auth import system_principal

            principal = system_principal(workspace.id)
            with db.transaction() as session:
                journey = service.create(session, principal, DEFINITION)
                service.set_status(session, principal, journey.id, "active")
                assert triggers.enter_manually(session, journey, ids, "drill") == CUSTOMERS
            workers = [_spawn(store_url, clock_file, tmp_path) for _ in range(2)]
            kill_at: dict[int, float] = {}
            deadline = time.monotonic() + 240
            left, moved_at = CUSTOMERS, time.monotonic()
            while (active := sim.active_runs(db)) or sim.pending_work(db):
                assert time.monotonic() < deadline, "the runs did not finish"
                if active != left:
                    left, moved_at = active, time.monotonic()
                assert not active or time.monotonic() - moved_at < STALL, f"{active} runs stalled"
                for i, worker in enumerate(workers):
                    ready = tmp_path / f"clock.txt.ready.{worker.pid}"
                    if worker.pid not in kill_at and ready.exists() and kills < MAX_KILLS:
                        # Up and claiming work: kill it at a random moment soon.
                        kill_at[worker.pid] = time.monotonic() + rng.uniform(0.05, 0.5)
                    if time.monotonic() >= kill_at.get(worker.pid, float("inf")):
                        worker.send_signal(signal.SIGKILL)
                        worker.wait()
                        workers[i] = _spawn(store_url, clock_file, tmp_path)
                        kills += 1
                        busy += sim.active_runs(db) > 0
                if busy >= MIN_BUSY:
                    # Held until then: the runs wait at their first timer, so the kills land
                    # while they are in flight however slowly the workers start.
                    sim.advance_to_next(db, clock, start + timedelta(days=30))
                time.sleep(0.01)
            _check(db, journey.id, kills)
            assert busy >= MIN_BUSY
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
        set_clock(previous)
        db.engine.dispose()


def _check(db: Database, journey_id: int, kills: int) -> None:
    assert kills >= 3
    with db.transaction() as session:
        statuses = Counter(session.scalars(select(JourneyRun.status)))
        assert statuses == {"completed": CUSTOMERS}
        steps = Counter(
            (run_id, key)
            for run_id, key in session.execute(select(JourneyStep.run_id, JourneyStep.step_key))
        )
        runs = list(session.scalars(select(JourneyRun.id)))
        assert steps == Counter({(r, k): 1 for r in runs for k in STEPS})
        tasks = Counter(session.scalars(select(JourneyTask.run_id)))
        assert tasks == Counter({r: 1 for r in runs})
        assert session.scalar(select(func.count(JourneyTimer.id))) == 0
        try:
            from siyu.channels.models import Touch
        except ImportError:
            return
        keys = Counter(session.scalars(select(Touch.idempotency_key)))
        assert keys == Counter({f"journey:{r}:{k}": 1 for r in runs for k in ("hello", "bye")})


def test_a_dead_workers_lease_is_claimable_when_the_clock_reaches_its_end(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    # The stall after SIGKILL: a worker leased a delivery and died; the driver jumps the clock
    # to the lease's end, which must make it claimable (it did not: nothing moved ever after).
    from siyu.channels.models import SandboxMessage, Touch

    ids = make_customers(db, tenant.workspace_id, 1)
    with db.transaction() as session:
        journey = service.create(session, tenant.principal, simple())
        service.set_status(session, tenant.principal, journey.id, "active")
        assert triggers.enter_manually(session, journey, ids, "k") == 1
    assert run_journeys(db) == {"journey_steps": 1}
    leased = outbox.claim(db, 10, owner="killed:1")
    assert len(leased) == 1
    assert outbox.run_due(db) == {}  # held by the dead worker
    end = clock.now() + outbox.LEASE
    assert sim.advance_to_next(db, clock, end + timedelta(days=2))
    assert clock.now() == end
    assert outbox.run_due(db) == {"done": 1}
    with db.transaction() as session:
        touches = list(session.scalars(select(Touch.status)))
        count = session.scalar(select(func.count(SandboxMessage.id)))
    assert touches == ["delivered"] and count == 1
    assert sim.advance_to_next(db, clock, end + timedelta(days=2))
    assert clock.now() == end - outbox.LEASE + timedelta(days=1)  # on to the wait's end
