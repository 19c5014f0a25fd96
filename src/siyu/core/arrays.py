"""Many rows as one PostgreSQL array statement: INSERT ... SELECT FROM unnest(...) RETURNING.

A multi-row VALUES insert with RETURNING costs the client a parameter per cell: psycopg parses
a statement that grows with the batch (most of a large batch's insert time). Here every column
is one array parameter, so the statement text is fixed, small and prepared once per shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from siyu.core.db import _converted, _converters

_SQL: dict[tuple[Any, ...], str] = {}


def insert_unnest(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    conflict: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert rows (same keys each) in one statement; a conflict on `conflict` skips the row.

    PostgreSQL only. Returns the `returning` columns of the rows inserted; the columns' own
    conversions apply (encryption, datetimes), as in bulk_insert.
    """
    if not rows:
        return []
    conn = session.connection()
    dialect = conn.dialect
    names = list(rows[0])
    kinds = [table.c[n].type for n in names]
    tuples = _converted(rows, names, _converters(dialect, kinds), [])
    shape = (table.name, tuple(names), tuple(conflict), tuple(returning))
    sql = _SQL.get(shape)
    if sql is None:
        quote = dialect.identifier_preparer.quote
        casts = _casts(dialect, kinds)
        sql = (
            f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
            f"({', '.join(quote(n) for n in names)}) SELECT * FROM unnest({casts})"
        )
        if conflict:
            sql += f" ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO NOTHING"
        if returning:
            sql += f" RETURNING {', '.join(quote(c) for c in returning)}"
        _SQL[shape] = sql
    return _execute(conn, sql, tuples, bool(returning))


def update_unnest(session: Session, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE many rows by one key column in one array statement (PostgreSQL only).

    Every row has the same keys; a key given twice takes its last row, as executemany would.
    """
    if not rows:
        return
    last = list({row[key]: row for row in rows}.values())
    conn = session.connection()
    dialect = conn.dialect
    names = [key] + [n for n in last[0] if n != key]
    kinds = [table.c[n].type for n in names]
    tuples = _converted(last, names, _converters(dialect, kinds), [])
    shape = ("update", table.name, tuple(names))
    sql = _SQL.get(shape)
    if sql is None:
        quote = dialect.identifier_preparer.quote
        casts = _casts(dialect, kinds)
        sets = ", ".join(f"{quote(n)} = v.{quote(n)}" for n in names[1:])
        name = dialect.identifier_preparer.format_table(table)
        sql = (
            f"UPDATE {name} SET {sets} FROM unnest({casts}) "
            f"AS v({', '.join(quote(n) for n in names)}) WHERE {name}.{quote(key)} = v.{quote(key)}"
        )
        _SQL[shape] = sql
    _execute(conn, sql, tuples, False)


def _casts(dialect: Any, kinds: Sequence[Any]) -> str:
    """One typed array parameter per column, sent in binary (%b): psycopg's text array dumper
    runs two regular expressions on every element, a third of a large update's time."""
    return ", ".join(
        f"CAST(%b AS {kind.dialect_impl(dialect).compile(dialect=dialect)}[])" for kind in kinds
    )


def _execute(
    conn: Any, sql: str, tuples: Sequence[Sequence[Any]], returning: bool
) -> list[tuple[Any, ...]]:
    """Run on the driver's cursor with the rows turned into one list per column."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(sql, [list(column) for column in zip(*tuples, strict=True)])
        return list(cur.fetchall()) if returning else []
