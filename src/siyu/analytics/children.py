"""The DuckDB child processes that read a SQLite store, kept alive between passes.

Starting one costs a fork, loading the sqlite extension, attaching the store and creating its
80 views (~0.5 s); a nightly pass or a segment refresh would pay it every time. So a child
that finished cleanly waits in a small idle pool for the next `Analytics` on the same engine
(handlers make a `Database` per message around their session's engine). DuckDB reads the
SQLite file afresh at every query, so a reused child sees every commit; a migration changes
the tables' definitions, and a child made before it is not reused (its views would miss the
new tables and columns).
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing as mp
import os
import threading
import weakref
from typing import Any

from sqlalchemy.engine import Engine

from siyu.analytics import duck
from siyu.core.db import Database
from siyu.core.raw import reading

CHILD_TIMEOUT = 10.0
IDLE_MAX = 2  # each idle child holds a DuckDB (tens of MB); two cover a pass and a request

_lock = threading.Lock()
_idle: list[tuple[weakref.ref[Engine], int, Child]] = []  # (store's engine, schema hash, child)


class ChildFailed(RuntimeError):
    """The child could not open the store, or stopped."""


def _context() -> Any:
    """Children forked from one server that has imported duckdb alone (never SQLite): a start
    costs a fork, not a fresh interpreter importing duckdb (0.8 s)."""
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["siyu.analytics.duck"])
    return context


class Child:
    """One DuckDB process over a store, asked (kind, sql, params) through a pipe."""

    def __init__(self, setup: list[str], schema: int) -> None:
        context = _context()
        self.owner, self.schema = os.getpid(), schema
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(target=duck.serve, args=(theirs, setup), daemon=True)
        self._process.start()
        theirs.close()
        self.pid = self._process.pid
        self.clean = True  # False while a question is out: its answer would reach the next user
        status, answer = self._receive()
        if status != "ok":
            self.stop()
            raise ChildFailed(answer)
        self.tables: set[str] = set(answer)

    def ask(self, kind: str, sql: str, params: list[Any]) -> tuple[str, Any]:
        """Send one question and wait for its ("ok" | "error", answer)."""
        self.clean = False
        self._pipe.send((kind, sql, params))
        answer = self._receive()
        self.clean = True
        return answer

    def _receive(self) -> tuple[str, Any]:
        if not self._pipe.poll(None if self._process.is_alive() else 0):
            raise ChildFailed("The analytics process stopped")
        try:
            status, answer = self._pipe.recv()
        except EOFError:
            raise ChildFailed("The analytics process stopped") from None
        return status, answer

    def reusable(self) -> bool:
        """Whether another user may take it: alive, ours, and no answer left in the pipe."""
        return self.clean and self.owner == os.getpid() and self._process.is_alive()

    def stop(self) -> None:
        """Ask the child to close DuckDB, then make sure it is gone."""
        if self.owner != os.getpid():
            return  # a forked copy of the handle: the process is the parent's to stop
        with contextlib.suppress(BrokenPipeError, OSError):
            self._pipe.send(None)
        self._process.join(CHILD_TIMEOUT)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(CHILD_TIMEOUT)
        self._pipe.close()


# The tables' definitions: what the views are made from. Not `PRAGMA schema_version`, which
# every ANALYZE moves (the statistics live in tables of the schema).
_SCHEMA = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
    "ORDER BY name"
)


def read_sqlite(db: Database, sql: str) -> list[Any]:
    """Rows of one read in autocommit: a transaction would take the write lock (BEGIN
    IMMEDIATE), and wait behind a writer for a look at the catalog."""
    with reading(db.engine) as conn:
        return list(conn.exec_driver_sql(sql).all())


def schema_hash(db: Database) -> int:
    """A hash of the store's table definitions (a migration moves it; views before it are stale)."""
    return hash(tuple(read_sqlite(db, _SCHEMA)))


def borrow(db: Database, setup: list[str]) -> Child:
    """An idle child of this store at its current schema, or a new one."""
    schema, found, stale = schema_hash(db), None, []
    with _lock:
        for entry in reversed(_idle):
            store, version, child = entry
            if store() is db.engine and child.owner == os.getpid():
                _idle.remove(entry)
                if version == schema and found is None and child.reusable():
                    found = child
                else:
                    stale.append(child)
    for child in stale:
        child.stop()
    if found is not None and _answers(found):
        return found
    return Child(setup, schema)


def _answers(child: Child) -> bool:
    """One round trip (~0.1 ms): an idle child may have been killed since it was handed back."""
    try:
        return child.ask("rows", "SELECT 1", [])[0] == "ok"
    except (ChildFailed, OSError):
        child.stop()
        return False


def give_back(db: Database, child: Child) -> None:
    """Keep a cleanly finished child for the next pass; stop the least recently used beyond
    IDLE_MAX and those of stores that are gone."""
    if not child.reusable():
        child.stop()
        return
    with _lock:
        _idle.append((weakref.ref(db.engine), child.schema, child))
        keep = [e for e in _idle if e[0]() is not None and e[2].owner == os.getpid()]
        dropped = [e for e in _idle if e not in keep] + keep[:-IDLE_MAX]
        _idle[:] = keep[-IDLE_MAX:]
    for _, _, old in dropped:
        old.stop()


@atexit.register
def stop_idle() -> None:
    """Stop every idle child (at exit, and when a caller wants the processes gone)."""
    with _lock:
        idle, _idle[:] = list(_idle), []
    for _, _, child in idle:
        child.stop()
