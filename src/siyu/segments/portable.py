"""A rule as portable SQL with `?` parameters (SQLGlot's default dialect), for DuckDB and Spark.

The query is the compiler's own, rendered by SQLAlchemy for PostgreSQL with positional
parameters, then read by SQLGlot; user values stay parameters on every engine.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlglot
from sqlalchemy.dialects.postgresql.base import PGDialect

from siyu.segments.compiler import compile_rule


def _value(value: Any) -> Any:
    # The engines' timestamp columns are naive UTC.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def render_portable(
    rule: Any,
    workspace_id: int,
    at: datetime,
    tz: str = "Asia/Shanghai",
    thresholds: dict[str, float | None] | None = None,
) -> tuple[str, list[Any]]:
    """(portable SQL selecting customer ids, its positional parameters)."""
    return render_statement(
        compile_rule(rule, workspace_id, at, tz, portable=True, thresholds=thresholds)
    )


def render_statement(stmt: Any) -> tuple[str, list[Any]]:
    """Any query the compiler built (compiled with portable=True), as portable SQL."""
    compiled = stmt.compile(
        dialect=PGDialect(paramstyle="qmark"), compile_kwargs={"render_postcompile": True}
    )
    order = compiled.positiontup or []
    params = [_value(compiled.params[name]) for name in order]
    return _transpile(str(compiled)), params


@lru_cache(maxsize=1024)
def _transpile(text: str) -> str:
    # Instants are parameters, so a rule's text is the same night after night: parse it once.
    return sqlglot.transpile(text, read="postgres", write="")[0]
