"""The write floor: the rows a siyu run stored, written again raw into a fresh store of the
same schema, for what writing that much costs on this machine with no logic at all.

Every table the run filled (and a fresh store leaves empty) is read back as driver values, then
written in the same number of transactions as the run had, each carrying an equal slice of
every table, by the driver's fastest path: SQLite's executemany, PostgreSQL's COPY of the text
that COPY TO produced. Foreign-key checks are off and nothing is read or decided, so the floor
is below anything that keeps the schema's indexes and uniqueness (which it does keep).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import MetaData, Table, func, select

from siyu.core.db import Database
from siyu.core.raw import marks


def filled_tables(source: Database, fresh: Database) -> list[Table]:
    """Tables with rows in source and none in fresh, parents before children."""
    meta = MetaData()
    meta.reflect(source.engine)
    tables = []
    with source.engine.connect() as src, fresh.engine.connect() as dst:
        for table in meta.sorted_tables:
            count = select(func.count()).select_from(table)
            if src.scalar(count) and not dst.scalar(count):
                tables.append(table)
    return tables


def read_rows(source: Database, tables: list[Table]) -> dict[str, list[Any]]:
    """Each table's rows in id order: tuples on SQLite, COPY text lines on PostgreSQL."""
    rows: dict[str, list[Any]] = {}
    raw = source.engine.raw_connection()
    try:
        cur = raw.cursor()
        for table in tables:
            order = "ORDER BY id" if "id" in table.c else ""
            if source.engine.dialect.name == "postgresql":
                lines: list[bytes] = []
                with cur.copy(f"COPY (SELECT * FROM {table.name} {order}) TO STDOUT") as copy:  # type: ignore[attr-defined]
                    lines.extend(bytes(block) for block in copy)
                rows[table.name] = b"".join(lines).splitlines(keepends=True)
            else:
                cur.execute(f"SELECT * FROM {table.name} {order}")
                rows[table.name] = cur.fetchall()
    finally:
        raw.close()
    return rows


def write_floor(source: Database, fresh: Database, transactions: int) -> tuple[float, int]:
    """Wall seconds to write source's rows into the fresh store, and how many rows."""
    tables = filled_tables(source, fresh)
    print(f"floor tables: {', '.join(t.name for t in tables)}", flush=True)
    rows = read_rows(source, tables)
    postgres = fresh.engine.dialect.name == "postgresql"
    raw = fresh.engine.raw_connection()
    cur = raw.cursor()
    if postgres:
        cur.execute("SET session_replication_role = replica")  # no FK triggers (superuser)
        raw.commit()
    else:
        # siyu's SQLite connections are in autocommit mode: the pragma applies at once, and each
        # transaction below opens with an explicit BEGIN.
        cur.execute("PRAGMA foreign_keys = OFF")
    started = time.perf_counter()
    for k in range(transactions):
        if not postgres:
            cur.execute("BEGIN")
        for table in tables:
            every = rows[table.name]
            part = every[k * len(every) // transactions : (k + 1) * len(every) // transactions]
            if not part:
                continue
            if postgres:
                with cur.copy(f"COPY {table.name} FROM STDIN") as copy:  # type: ignore[attr-defined]
                    copy.write(b"".join(part))
            else:
                width = len(part[0])
                cur.executemany(f"INSERT INTO {table.name} VALUES ({marks(width)})", part)
        raw.commit()
    seconds = time.perf_counter() - started
    raw.close()
    return seconds, sum(len(r) for r in rows.values())
