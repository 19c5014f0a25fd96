"""The one source of time: real in production, simulated in demos and tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


class Clock:
    """Real wall-clock time, always timezone-aware UTC."""

    def now(self) -> datetime:
        """Return the current time in UTC."""
        return datetime.now(UTC)


class SimulatedClock(Clock):
    """A clock that only moves when told to, so weeks of SOPs run in seconds."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the simulated time in UTC."""
        with self._lock:
            return self._now

    def advance(self, *, days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
        """Move the clock forward and return the new time."""
        delta = timedelta(days=days, hours=hours, minutes=minutes)
        if delta < timedelta(0):
            raise ValueError("a clock never runs backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to a given (later) time."""
        self.advance(minutes=(when.astimezone(UTC) - self.now()).total_seconds() / 60)


_clock: Clock = Clock()


def get_clock() -> Clock:
    """Return the process-wide clock."""
    return _clock


def set_clock(clock: Clock) -> Clock:
    """Install a clock (e.g. a SimulatedClock) and return the previous one."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def now() -> datetime:
    """Current time from the installed clock (UTC, aware)."""
    return _clock.now()


def local_now(tz: str) -> datetime:
    """Current time in a named time zone, e.g. Asia/Shanghai."""
    return _clock.now().astimezone(ZoneInfo(tz))


def as_utc(value: datetime) -> datetime:
    """Treat naive datetimes read back from SQLite as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
