"""The simulated clock moves only when told, and only forwards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from siyu.core import clock as core_clock
from siyu.core.clock import SimulatedClock


def test_simulated_clock_advances_and_is_installed(clock: SimulatedClock) -> None:
    start = clock.now()
    assert core_clock.now() == start
    clock.advance(days=30, hours=2)
    assert (core_clock.now() - start).total_seconds() == 30 * 86400 + 7200
    assert core_clock.local_now("Asia/Shanghai").utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]


def test_clock_never_runs_backwards() -> None:
    sim = SimulatedClock(datetime(2026, 6, 18, tzinfo=UTC))
    with pytest.raises(ValueError):
        sim.advance(hours=-1)
    with pytest.raises(ValueError):
        SimulatedClock(datetime(2026, 6, 18))
