"""DuckDB in-process over the operational store, read-only, for the analytical passes.

SQLite is read through DuckDB's sqlite extension and PostgreSQL through its postgres extension;
both are loaded from the files the PyPI packages ship (never downloaded). The store is attached
READ_ONLY as `store`, and every table of the metadata that exists there gets a view in DuckDB's
main schema under its plain name (orders, order_line, customer, customer_metrics, event, ...)
with timestamps as naive UTC TIMESTAMP and JSON as text, so one SQL text reads either store.

DuckDB opens its own connection to the store, so it sees what is COMMITTED, never the rows of an
open transaction: a pass reads committed data, computes, and writes back in a new transaction.

On SQLite, DuckDB runs in a child process, kept between passes (children.py). The sqlite
extension carries its own copy of the SQLite library, and two copies in one process break
each other's POSIX file locks (closing one's file handle drops the other's locks; seen here as
"locking protocol" on commit), so the copy that reads must live in another process, as any
other reader would. PostgreSQL is read over libpq in-process.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any

import numpy as np
from sqlalchemy.engine import URL

from siyu.analytics import children, duck
from siyu.analytics.duck import STORE, AnalyticsQueryError
from siyu.analytics.portable import transpile
from siyu.core.db import Database
from siyu.core.errors import SiyuError

# Above this a copy of every column costs more than the passes' own narrow reads save.
SNAPSHOT_MAX_ROWS = 500_000
__all__ = ["Analytics", "AnalyticsQueryError", "AnalyticsUnavailable", "libpq_dsn"]


class AnalyticsUnavailable(SiyuError):
    status = 503
    code = "analytics_unavailable"
    zh = "分析引擎无法读取数据库"
    en = "The analytics engine cannot read the store"


def extension_file(package: str, name: str) -> str:
    """The extension binary a PyPI package ships (e.g. duckdb_extension_sqlite_scanner)."""
    module = __import__(package)
    folder = os.path.dirname(module.__file__ or "")
    found = sorted(glob.glob(os.path.join(folder, "extensions", "*", f"{name}.duckdb_extension")))
    if not found:
        raise AnalyticsUnavailable(en=f"The {name} extension package is not installed")
    return found[-1]


def libpq_dsn(url: URL) -> str:
    """A libpq connection string from a SQLAlchemy PostgreSQL URL (socket dir or host)."""
    parts: dict[str, Any] = {"dbname": url.database, "user": url.username}
    parts["password"] = url.password
    parts["host"] = url.query.get("host") or url.host
    parts["port"] = url.query.get("port") or url.port
    return " ".join(f"{k}={_quote(str(v))}" for k, v in parts.items() if v)


def _quote(value: str) -> str:
    """A libpq connection-string value."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(value: str) -> str:
    """A DuckDB string literal."""
    return "'" + value.replace("'", "''") + "'"


def setup_sql(db: Database) -> list[str]:
    """The statements that load the right extension and attach the store READ_ONLY."""
    url = db.engine.url
    dialect = db.engine.dialect.name
    if dialect == "sqlite":
        path = url.database
        if not path or path == ":memory:":
            raise AnalyticsUnavailable(en="An in-memory SQLite store cannot be attached")
        ext = extension_file("duckdb_extension_sqlite_scanner", "sqlite_scanner")
        target = _literal(os.path.abspath(path))
        return [f"LOAD {_literal(ext)}", f"ATTACH {target} AS {STORE} (TYPE sqlite, READ_ONLY)"]
    if dialect != "postgresql":
        raise AnalyticsUnavailable(en=f"Unsupported store: {dialect}")
    ext = extension_file("duckdb_extension_postgres_scanner", "postgres_scanner")
    dsn = _literal(libpq_dsn(url))
    return [f"LOAD {_literal(ext)}", f"ATTACH {dsn} AS {STORE} (TYPE postgres, READ_ONLY)"]


def _rows(db: Database, table: str) -> int:
    """A SQLite table's size from its largest rowid (one b-tree descent, not a count)."""
    (found,) = children.read_sqlite(db, f'SELECT MAX(rowid) FROM "{table}"')[0]
    return int(found or 0)


class Analytics:
    """DuckDB over one store, read-only; use as a context manager."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = db.engine.dialect.name
        setup = setup_sql(db)
        self._con: Any = None
        self._child: children.Child | None = None
        if self.dialect == "sqlite":
            try:
                self._child = children.borrow(db, setup)
            except children.ChildFailed as exc:
                raise AnalyticsUnavailable(
                    en=f"The analytics engine cannot read the store: {exc}"
                ) from None
            self.tables = self._child.tables
        else:
            self._con, self.tables = duck.open_store(setup)

    def _run(self, kind: str, sql: str, params: Sequence[Any] | None) -> Any:
        if self._child is None:
            return duck.run(self._con, kind, sql, list(params or []))
        try:
            status, answer = self._child.ask(kind, sql, list(params or []))
        except children.ChildFailed as exc:
            raise AnalyticsUnavailable(en=str(exc)) from None
        if status != "ok":
            raise AnalyticsQueryError(answer)
        return answer

    @contextlib.contextmanager
    def snapshot(
        self, tables: Iterable[str], max_rows: int = SNAPSHOT_MAX_ROWS
    ) -> Iterator[list[str]]:
        """On SQLite, copy these tables (those of at most max_rows rows) into DuckDB while the
        block runs: a pass of many queries then reads each from SQLite once, not once per
        query, and all of them see the same moment. Yields the tables copied."""
        taken: list[str] = []
        try:
            if self._child is not None:
                for table in tables:
                    if table in self.tables and _rows(self.db, table) <= max_rows:
                        self.execute(f'CREATE TEMP TABLE "{table}" AS SELECT * FROM main."{table}"')
                        taken.append(table)
            yield taken
        finally:
            try:
                for table in taken:
                    self.execute(f'DROP TABLE IF EXISTS temp."{table}"')
            except (AnalyticsQueryError, AnalyticsUnavailable):
                if self._child is not None:  # a copy left behind would shadow the live view
                    self._child.clean = False

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run portable SQL (see portable.py) with `?` parameters; store tables are named
        plainly (orders, order_line, customer, customer_metrics, event, ...)."""
        return list(self._run("rows", transpile(sql, "duckdb"), params))

    def columns(self, sql: str, params: Sequence[Any] | None = None) -> dict[str, np.ndarray]:
        """Like query, but the result as one numpy array per column (for millions of rows)."""
        return dict(self._run("columns", transpile(sql, "duckdb"), params))

    def describe(self, table: str) -> list[tuple[str, str]]:
        """(column, DuckDB type) of one of the plain-name views."""
        if table not in self.tables:
            raise AnalyticsQueryError(f"no table {table}")
        return [(r[0], r[1]) for r in self._run("rows", f'DESCRIBE "{table}"', [])]

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run DuckDB SQL as it is (not transpiled); the store stays read-only."""
        return list(self._run("rows", sql, params))

    def has_table(self, name: str) -> bool:
        """Whether the store has this table (another domain's may not be migrated yet)."""
        return name in self.tables

    def close(self) -> None:
        """Close DuckDB (on SQLite: hand its process back for the next pass)."""
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._child is not None:
            children.give_back(self.db, self._child)
            self._child = None

    def __enter__(self) -> Analytics:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
