"""Analytical definitions are written once, in SQLGlot's portable dialect, and transpiled.

The portable form is plain SQL that SQLGlot's default dialect parses: window functions, CASE,
FLOOR, COALESCE, `?` parameters. It avoids date arithmetic (thresholds in time are computed in
Python and passed as parameters), integer division and NTILE's arbitrary tie-breaking, so the
same text gives the same answer on DuckDB, Spark, SQLite and PostgreSQL.
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot

from siyu.core.errors import InvalidField

DIALECTS = ("duckdb", "spark", "sqlite", "postgres")


@lru_cache(maxsize=512)
def transpile(sql: str, dialect: str) -> str:
    """The portable SQL in one engine's dialect (one statement)."""
    if dialect not in DIALECTS:
        raise InvalidField("dialect", f"应为 {', '.join(DIALECTS)} 之一", f"one of {DIALECTS}")
    statements = sqlglot.transpile(sql, read="", write=dialect)
    if len(statements) != 1:
        raise InvalidField("sql", "只能包含一条语句", "must hold exactly one statement")
    return statements[0]
