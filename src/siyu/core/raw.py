"""Statements beside SQLAlchemy's statement machinery, for hot paths and plain reads.

`reading` reads outside any transaction; `raw_rows` runs one statement on the driver's
connection inside the session's transaction, where SQLAlchemy's own work per statement (~100 µs)
costs several times a small indexed read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session


@contextmanager
def reading(bind: Engine | Session) -> Iterator[Connection]:
    """A connection outside any transaction: each read sees the latest commit and, on SQLite,
    neither takes nor waits for the write lock (a session's first statement takes it).

    A session bound to one connection (a transaction that encloses it, as in the tests) reads
    on that connection instead: only it sees what the enclosing transaction wrote.
    """
    if isinstance(bind, Session):
        owner = bind.get_bind()
        if isinstance(owner, Connection):
            yield bind.connection()
            return
        bind = owner
    with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


def raw_rows(session: Session, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one statement in the session's transaction, on the driver's connection.

    For hot paths: SQLAlchemy spends ~100 µs building and running a statement, several times
    the cost of a small indexed read. `?` marks parameters; values are driver values (no
    column conversions); `raw_in` writes a membership test.
    """
    if session.autoflush:
        session.flush()  # as session.execute would: the statement sees pending ORM changes
    conn = session.connection()
    return _driver_rows(driver(conn), conn.dialect.name, sql, params)


def marks(count: int) -> str:
    """`?, ?, ...` for `count` parameters."""
    return ", ".join("?" * count)


def raw_in(session: Session, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """A membership test for raw_rows and its parameters: `IN (?, ...)` on SQLite, `= ANY(?)`
    with one array on PostgreSQL (as one_of)."""
    if session.get_bind().dialect.name == "postgresql":
        return "= ANY(?)", [list(values)]
    return f"IN ({marks(len(values))})", list(values)


def _driver_rows(dbapi: Any, dialect: str, sql: str, params: Sequence[Any]) -> list[Any]:
    if dialect == "postgresql":
        sql = sql.replace("?", "%s")
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []
    finally:
        cursor.close()


def driver(conn: Connection) -> Any:
    """The DBAPI connection under SQLAlchemy's: sqlite3's (executemany) or psycopg's (COPY)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    return raw
