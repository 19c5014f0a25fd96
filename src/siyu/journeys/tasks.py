"""The worker's share of journeys: fire due schedules, then run due timers in batches."""

from __future__ import annotations

from siyu.core.db import Database
from siyu.journeys import effects, triggers  # noqa: F401  (registers outbox handlers)
from siyu.journeys.engine import BATCH, run_due


def run_journeys(db: Database, batch: int = BATCH) -> dict[str, int]:
    """One pass: schedule firings and one batch of steps; empty when nothing was due."""
    counts: dict[str, int] = {}
    entered = triggers.tick_schedules(db)
    if entered:
        counts["journey_entries"] = entered
    steps = run_due(db, batch)
    if steps:
        counts["journey_steps"] = steps
    return counts
