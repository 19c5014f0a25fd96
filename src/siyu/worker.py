"""`siyu worker`: runs due outbox messages (and, as domains add them, timers) until stopped."""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

from siyu import handlers  # noqa: F401  (every domain's outbox handlers and subscriptions)
from siyu.core import outbox
from siyu.core.db import Database
from siyu.journeys.tasks import run_journeys

log = logging.getLogger(__name__)


class Worker:
    """A polling loop over the outbox; several may run at once on PostgreSQL."""

    def __init__(self, db: Database, batch: int = 100, idle_sleep: float = 1.0) -> None:
        self.db = db
        self.batch = batch
        self.idle_sleep = idle_sleep
        self.stopping = False

    def stop(self, *_: object) -> None:
        """Finish the message in hand, then leave the loop."""
        self.stopping = True

    def run(self, once: bool = False) -> dict[str, int]:
        """Run until stopped (or, with once, until nothing is due); returns totals by outcome."""
        totals: dict[str, int] = {}
        while not self.stopping:
            counts = outbox.run_due(self.db, self.batch)
            for key, value in run_journeys(self.db).items():
                counts[key] = counts.get(key, 0) + value
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
            if not counts:
                if once:
                    break
                time.sleep(self.idle_sleep)
        return totals

    def install_signals(self) -> None:
        """Stop cleanly on SIGTERM and SIGINT."""

        def handle(signum: int, frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
