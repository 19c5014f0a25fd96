"""`siyu worker`: runs due outbox messages (and, as domains add them, timers) until stopped."""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

from siyu.channels import tasks as channels_tasks  # noqa: F401  (registers delivery handlers)
from siyu.core import outbox
from siyu.core.db import Database
from siyu.distribution import tasks as _fission_tasks  # noqa: F401  (registers handlers)
from siyu.ingest import landing  # noqa: F401  (registers the async events' outbox handler)
from siyu.journeys.tasks import run_journeys
from siyu.lifecycle import tasks as lifecycle_tasks  # noqa: F401  (refresh handlers)
from siyu.loyalty import tasks as loyalty_tasks  # noqa: F401  (points, tiers, daily tick)
from siyu.promotions import tasks as coupon_tasks  # noqa: F401  (coupons on events, refunds)
from siyu.promotions.invites import tasks as _invite_tasks  # noqa: F401

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
