"""The operational store: declarative base, engine, sessions and the transaction boundary."""

from __future__ import annotations

import select as _select
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from siyu.core.clock import as_utc
from siyu.core.raw import driver, marks
from siyu.core.statistics import analyze_grown

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT keys on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the auto-incrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both stores (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # The text SQLAlchemy's SQLite DATETIME writes, made in C (bulk loads bind millions).
        return _sqlite_text

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _sqlite_datetime


def _sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # The first 26 characters: without any "+00:00".
    return value.isoformat(sep=" ", timespec="microseconds")[:26]


def _sqlite_datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base for every table."""

    metadata = MetaData(naming_convention=NAMING)


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for the store: WAL and a busy timeout on SQLite."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not pysqlite, open transactions, so SAVEPOINTs nest correctly.
        # IMMEDIATE takes the single write lock up front: a deferred transaction that read
        # before another committed can't upgrade and fails at once (SQLITE_BUSY), whereas
        # this one waits its turn (the busy timeout above).
        event.listen(engine, "begin", _begin_immediate)
        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkout", _checkout_alive(engine.dialect))
    return engine


def _begin_immediate(conn: Connection) -> None:
    # An autocommit connection (`core.raw.reading`) runs each statement on its own, as a read.
    if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _checkout_alive(dialect: Dialect) -> Callable[[Any, Any, Any], None]:
    """A pool check that a connection is alive, with no round trip in the usual case.

    SQLAlchemy's pre-ping costs a round trip per checkout (a tenth of a short transaction). An
    idle connection has nothing to read unless the server spoke: a server that closed it or
    shut down leaves the socket readable (EOF or a FATAL notice), so only then is it pinged.
    Raising DisconnectionError makes the pool discard it and connect afresh.
    """

    def check(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_conn.closed:
            raise DisconnectionError("connection closed")
        poller = _select.poll()
        poller.register(dbapi_conn.fileno(), _select.POLLIN)
        if not poller.poll(0):
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError("connection lost") from exc

    return check


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    # 64 MB of page cache (the default is 2 MB): bulk loads insert into indexes of random keys
    # (blind indexes), which otherwise spill and re-read pages on every chunk.
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()
    dbapi_conn.isolation_level = None


class Database:
    """An engine and its session factory; the app, the worker and the CLI each hold one."""

    def __init__(self, engine: Engine, factory: sessionmaker[Session] | None = None) -> None:
        self.engine = engine
        self.factory = factory or sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Database:
        """Open the store at a URL."""
        return cls(make_engine(url))

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL (row locks with SKIP LOCKED are available)."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """The boundary: commit on success, roll back on error. Services only flush."""
        session = self.factory()
        try:
            yield session
            session.commit()
            if self.is_postgres:
                analyze_grown(self.engine)
        except BaseException:
            session.rollback()
            _run_after_rollback(session)
            raise
        finally:
            session.close()


def after_rollback(session: Session, action: Callable[[Session], object]) -> None:
    """Run an action in a fresh transaction if this one rolls back (e.g. audit a denied read)."""
    session.info.setdefault("after_rollback", []).append(action)


def _run_after_rollback(session: Session) -> None:
    actions = session.info.pop("after_rollback", [])
    if not actions:
        return
    try:
        for action in actions:
            action(session)
        session.commit()
    except Exception:
        session.rollback()


_SEQUENCES: dict[str, str] = {}


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, for Core bulk statements (no ORM bookkeeping per row)."""
    return cast(Table, model.__table__)


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """Primary keys for rows about to be inserted in bulk, so no insert needs RETURNING."""
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        if table.name not in _SEQUENCES:
            found = session.scalar(
                text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}
            )
            _SEQUENCES[table.name] = str(found)
        stmt = text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)")
        return list(session.scalars(stmt, {"s": _SEQUENCES[table.name], "n": count}))
    # SQLite has one writer: once this transaction has written, nobody else can insert until it
    # ends, so the ids after max(id) are ours. The empty delete takes that write lock.
    session.execute(table.delete().where(table.c.id < 0))
    top = session.scalar(select(func.max(table.c.id))) or 0
    return list(range(top + 1, top + 1 + count))


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows with the columns' own conversions and the driver's fastest path.

    SQLAlchemy's executemany costs ~25 µs a row in parameter handling; here each column's bind
    processor is looked up once, rows become tuples, and they go to SQLite's executemany or
    PostgreSQL's COPY. Every row must have the same keys; missing columns get their defaults.
    """
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    names = list(rows[0])
    defaults = [c for c in table.columns if c.name not in rows[0] and c.default is not None]
    columns = names + [c.name for c in defaults]
    kinds = [table.c[n].type for n in names] + [c.type for c in defaults]
    converters = _converters(dialect, kinds)
    fills = [_default_of(c) for c in defaults]
    tuples = _converted(rows, names, converters, fills)
    quoted = ", ".join(dialect.identifier_preparer.quote(c) for c in columns)
    name = dialect.identifier_preparer.format_table(table)
    raw = driver(conn)
    if dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {name} ({quoted}) FROM STDIN") as copy:
            for converted in tuples:
                copy.write_row(converted)
        return
    raw.executemany(f"INSERT INTO {name} ({quoted}) VALUES ({marks(len(columns))})", tuples)


def one_of(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter, no planning of many ORs."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def bulk_update(session: Session, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE many rows by one key column; every row has the same keys (driver executemany;
    on PostgreSQL one array statement, where an executemany is a round trip's work per row).

    The columns' own conversions apply (encryption, datetimes), as in bulk_insert.
    """
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    if dialect.name == "postgresql":
        from siyu.core.arrays import update_unnest  # arrays builds on this module

        return update_unnest(session, table, key, rows)
    names = [n for n in rows[0] if n != key] + [key]
    converters = _converters(dialect, [table.c[n].type for n in names])
    tuples = _converted(rows, names, converters, [])
    quote = dialect.identifier_preparer.quote
    sets = ", ".join(f"{quote(n)} = ?" for n in names[:-1])
    name = dialect.identifier_preparer.format_table(table)
    driver(conn).executemany(f"UPDATE {name} SET {sets} WHERE {quote(key)} = ?", tuples)


def _converters(dialect: Dialect, kinds: Sequence[Any]) -> list[tuple[int, Callable[[Any], Any]]]:
    """(column position, bind processor) for the columns that convert their values."""
    return [
        (i, f)
        for i, kind in enumerate(kinds)
        if (f := kind.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]


def _converted(
    rows: Sequence[dict[str, Any]],
    names: list[str],
    converters: list[tuple[int, Callable[[Any], Any]]],
    fills: list[Callable[[], Any]],
) -> list[tuple[Any, ...]]:
    """Rows as tuples of driver values; a datetime seen before in the batch converts once."""
    pick = itemgetter(*names)
    memo: dict[Any, Any] = {}
    plain = [(i, f) for i, f in converters if f is not _sqlite_text]
    times = [i for i, f in converters if f is _sqlite_text]
    tuples: list[tuple[Any, ...]] = []
    for row in rows:
        picked = pick(row)
        values = [picked] if len(names) == 1 else list(picked)
        values += [fill() for fill in fills]
        for i, convert in plain:
            if values[i] is not None:
                values[i] = convert(values[i])
        for i in times:
            value = values[i]
            if value is not None:
                text = memo.get(value)
                if text is None:
                    text = memo[value] = _sqlite_text(value)
                values[i] = text
        tuples.append(tuple(values))
    return tuples


def _default_of(column: Any) -> Callable[[], Any]:
    default = column.default
    if default.is_callable:
        return lambda: default.arg(None)
    return lambda: default.arg
