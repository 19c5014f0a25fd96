"""Simulated time for journeys: weeks of SOPs in seconds, in one process or across several.

`FileClock` is a simulated clock that several processes share through a small file (a driver
moves it, workers read it), so real worker processes — which may be killed with SIGKILL and
restarted — run on the same simulated time. `python -m siyu.journeys.sim URL CLOCK_FILE`
is such a worker. `advance_to_next` is the driver's step: jump to the next due timer once
nothing is due now.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from siyu.core import outbox
from siyu.core.clock import Clock, SimulatedClock, set_clock
from siyu.core.db import Database
from siyu.journeys import engine
from siyu.journeys.models import JourneyRun
from siyu.journeys.tasks import run_journeys


class FileClock(Clock):
    """Simulated time read from a file holding an ISO instant (cached for a few ms)."""

    def __init__(self, path: Path, refresh: float = 0.005) -> None:
        self.path = path
        self.refresh = refresh
        self._read_at = 0.0
        self._now = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        """The instant in the file (UTC)."""
        tick = time.monotonic()
        if tick - self._read_at > self.refresh:
            text = self.path.read_text().strip()
            if text:
                self._now = datetime.fromisoformat(text)
            self._read_at = tick
        return self._now

    def set(self, when: datetime) -> None:
        """Move the shared time (atomically: write a temp file, then rename)."""
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(when.astimezone(UTC).isoformat())
        os.replace(tmp, self.path)
        self._now, self._read_at = when.astimezone(UTC), time.monotonic()


def _outbox_next(db: Database, at: datetime | None = None) -> datetime | None:
    """When pending background work can next be claimed (after its run_at and any lease);
    given `at`, it answers as soon as unleased work is due by then, without reading leases."""
    message = outbox.OutboxMessage
    with db.transaction() as session:
        stmt = select(func.min(message.run_at)).where(
            message.status == "pending", message.locked_until.is_(None)
        )
        free = session.scalar(stmt)
        if free is not None and at is not None and free <= at:
            return free
        # No index serves this (one on locked_until would slow every lease): read it last.
        leased = session.scalar(
            select(func.min(message.locked_until)).where(
                message.status == "pending", message.locked_until.is_not(None)
            )
        )
    found = [t for t in (free, leased) if t is not None]
    return min(found) if found else None


def outbox_due(db: Database, at: datetime) -> bool:
    """Whether background work is pending that a worker may claim now."""
    due = _outbox_next(db, at)
    return due is not None and due <= at


def pending_work(db: Database) -> bool:
    """Whether any background work is still pending (due or not)."""
    return _outbox_next(db) is not None


def busy(db: Database, journey_id: int) -> bool:
    """Whether the journey has a run in flight or background work is pending (cheap enough to
    poll: it stops at the first active run, where counting reads every one)."""
    stmt = select(JourneyRun.id).where(
        JourneyRun.journey_id == journey_id, JourneyRun.status == "active"
    )
    with db.transaction() as session:
        if session.scalar(stmt.limit(1)) is not None:
            return True
    return pending_work(db)


def active_runs(db: Database) -> int:
    """Runs still in flight."""
    with db.transaction() as session:
        stmt = select(func.count(JourneyRun.id)).where(JourneyRun.status == "active")
        return int(session.scalar(stmt) or 0)


def advance_to_next(db: Database, clock: SimulatedClock | FileClock, until: datetime) -> bool:
    """If nothing is due now, jump to the next due timer or outbox message (a lease a killed
    worker left behind counts from when it expires), never past `until`; False at the end."""
    at = clock.now()
    with db.transaction() as session:
        due = engine.next_due(session)
    if due is not None and due <= at:
        return True
    work = _outbox_next(db, at)
    found = [t for t in (due, work) if t is not None]
    if not found:
        return False
    soonest = min(found)
    if soonest <= at:
        return True
    if soonest > until:
        return False
    clock.set(soonest)
    return True


def run_until(
    db: Database,
    clock: SimulatedClock,
    until: datetime,
    batch: int = 500,
    on_day: Callable[[int, int], None] | None = None,
) -> int:
    """In this process: run journeys and the outbox, jumping time, until `until`; steps run.

    on_day(days passed, days in all) is told each time the simulated date moves on."""
    steps, start, told = 0, clock.now(), 0
    days = (until - start).days
    while True:
        counts = run_journeys(db, batch)
        steps += counts.get("journey_steps", 0)
        busy = bool(counts) | bool(outbox.run_due(db, batch))
        if on_day is not None and (clock.now() - start).days > told:
            told = min((clock.now() - start).days, days)
            on_day(told, days)
        if not busy and not advance_to_next(db, clock, until):
            if clock.now() < until:
                clock.set(until)
                continue
            return steps


def worker_main(
    url: str, clock_file: Path, data_dir: Path | None, batch: int, pause: float = 0.0
) -> None:
    """A worker process on the shared simulated clock; runs until killed (`pause` slows it
    between batches, so a crash drill's kills land while work is in progress)."""
    from siyu.core.crypto import Keyring, set_keyring

    if data_dir is not None:
        set_keyring(Keyring.load_or_create(data_dir))
    set_clock(FileClock(clock_file))
    import siyu.handlers  # noqa: F401  (every domain's outbox handlers, as `siyu worker` loads them)

    # Tell a driver that this process is up (it kills workers only once they are working).
    clock_file.with_name(f"{clock_file.name}.ready.{os.getpid()}").touch()
    # A driver may start workers while it still prepares the store; it writes the clock last.
    while not clock_file.exists():
        time.sleep(0.01)
    db = Database.from_url(url)
    while True:
        try:
            counts = run_journeys(db, batch)
            idle = not counts and not outbox.run_due(db, batch)
        except OperationalError:  # SQLite's busy timeout under a long batch elsewhere: retry
            idle = True
        time.sleep(0.01 if idle else pause)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("clock_file", type=Path)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args()
    worker_main(args.url, args.clock_file, args.data_dir, args.batch, args.pause)
