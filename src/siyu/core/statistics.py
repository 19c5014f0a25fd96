"""Planner statistics: SQLite's refreshed after bulk work, PostgreSQL's kept up as tables grow."""

from __future__ import annotations

import logging
import time
import weakref

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from siyu.core.raw import reading

log = logging.getLogger(__name__)


# How often one process looks for PostgreSQL tables that outgrew their statistics (seconds of
# the machine's monotonic clock: an operational interval, not business time).
GROWTH_CHECK_SECONDS = 5.0
_checked: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()
_GROWN = (
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "WHERE s.n_mod_since_analyze >= GREATEST(1000, c.reltuples)"
)


def analyze_grown(engine: Engine) -> list[str]:
    """ANALYZE the PostgreSQL tables changed by more than their size since their statistics
    were taken (at most every GROWTH_CHECK_SECONDS per process); returns the tables.

    Autovacuum looks once a minute. A table that grows from empty meanwhile (a new store's
    first import or event stream) keeps the plans made when it was empty: the driver's
    prepared statements then scan a 30,000-row event table once per 100-event batch (65 ms).
    Doubling is the trigger, so a table is analyzed O(log rows) times as it grows.
    """
    at = time.monotonic()
    if at - _checked.get(engine, -GROWTH_CHECK_SECONDS) < GROWTH_CHECK_SECONDS:
        return []
    _checked[engine] = at
    try:
        with reading(engine) as conn:
            # Never wait behind a lock (a migration, a test's open transaction): next time.
            conn.exec_driver_sql("SET lock_timeout = '100ms'")
            try:
                grown = list(conn.exec_driver_sql(_GROWN).scalars())
                for table in grown:
                    conn.exec_driver_sql(f'ANALYZE "{table}"')
            finally:
                conn.exec_driver_sql("RESET lock_timeout")
    except DBAPIError:
        log.info("statistics refresh skipped", exc_info=True)
        return []
    return grown


def refresh_statistics(session: Session) -> None:
    """Refresh SQLite's planner statistics (a full ANALYZE: ~1 s for a 500 MB store).

    Without them SQLite guesses that `workspace_id = ?` is as selective as `customer_id IN
    (...)` and reads a whole workspace's index for one customer's rows. Not a sampled one
    (`analysis_limit`): a sample of one workspace's index sees one value in N rows and records
    N rows per workspace, the same wrong guess. PostgreSQL's are kept by autovacuum and by
    `analyze_grown` after each transaction.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("ANALYZE"))
