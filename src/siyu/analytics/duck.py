"""One DuckDB connection over an attached store, and the loop that serves it from a child process.

This module imports only duckdb and numpy, so a spawned child starts quickly. The views give
every store table its plain name with timestamps as naive UTC TIMESTAMP and JSON as text.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import Any

import duckdb
import numpy as np

STORE = "store"


class AnalyticsQueryError(RuntimeError):
    """A query DuckDB refused (bad SQL, a write to the read-only store...)."""


def open_store(setup: list[str]) -> tuple[duckdb.DuckDBPyConnection, set[str]]:
    """Connect, run the setup (load extension, attach READ_ONLY), create the plain-name views."""
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "threads": 2,
        }
    )
    try:
        con.execute("SET TimeZone = 'UTC'")
        for statement in setup:
            con.execute(statement)
        return con, _views(con)
    except Exception:
        con.close()
        raise


def _views(con: duckdb.DuckDBPyConnection) -> set[str]:
    # From the store's own columns, so a table another domain has not migrated yet (or a
    # column added later) never breaks the engine.
    found = con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? AND schema_name IN ('main', 'public') "
        "ORDER BY table_name, column_index",
        [STORE],
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column, kind in found:
        name = f'"{column}"'
        if kind.startswith("TIMESTAMP"):
            name = f"CAST({name} AS TIMESTAMP) AS {name}"
        elif kind == "JSON":
            name = f"CAST({name} AS VARCHAR) AS {name}"
        tables.setdefault(table, []).append(name)
    # One transaction for all the views: each on its own commits the catalog (0.34 s for 80).
    con.execute("BEGIN")
    for table, columns in tables.items():
        con.execute(f'CREATE VIEW "{table}" AS SELECT {", ".join(columns)} FROM {STORE}."{table}"')
    con.execute("COMMIT")
    return set(tables)


def run(con: duckdb.DuckDBPyConnection, kind: str, sql: str, params: list[Any]) -> Any:
    """Execute DuckDB SQL: rows as tuples, or (kind "columns") one numpy array per column."""
    try:
        result = con.execute(sql, params)
        if kind == "columns":
            return {k: np.asarray(v) for k, v in result.fetchnumpy().items()}
        return result.fetchall()
    except duckdb.Error as exc:
        raise AnalyticsQueryError(f"{type(exc).__name__}: {exc}") from None


def serve(pipe: Connection, setup: list[str]) -> None:
    """The child's loop: open the store, then answer (kind, sql, params) until told None."""
    try:
        con, tables = open_store(setup)
    except Exception as exc:  # reported to the parent, which raises it
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    pipe.send(("ok", tables))
    while True:
        message = pipe.recv()
        if message is None:
            break
        try:
            pipe.send(("ok", run(con, *message)))
        except AnalyticsQueryError as exc:
            pipe.send(("error", str(exc)))
    con.close()
