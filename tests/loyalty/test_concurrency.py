"""200 concurrent redemptions against one balance, each its own transaction, on both stores:
the same case as bench/loyalty.py (exact final balance, never negative, keys applied once)."""

from __future__ import annotations

from bench.loyalty import POINTS, START, THREADS, open_db, race

from siyu.core.db import Database
from tests.conftest import make_tenant


def test_200_concurrent_redemptions_never_overspend(committed_db: Database) -> None:
    tenant = make_tenant(committed_db, "并发")
    db = open_db(committed_db.engine.url.render_as_string(hide_password=False), 50)
    try:
        result = race(db, tenant.principal)
    finally:
        db.engine.dispose()
    assert result.errors == 0
    assert result.applied == START // POINTS == 150
    assert result.applied + result.replays + result.refused == THREADS
    assert (result.final, result.expected, result.ledger, result.lots) == (1, 1, 1, 1)
    assert (result.lost, result.negative, result.duplicates) == (0, 0, 0)
