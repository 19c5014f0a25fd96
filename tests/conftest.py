"""Shared fixtures: both stores (SQLite, a real PostgreSQL), a rolled-back transaction per test."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from siyu.api import create_app
from siyu.core.auth import Principal, system_principal
from siyu.core.clock import SimulatedClock, set_clock
from siyu.core.crypto import Keyring, set_keyring
from siyu.core.db import Database, make_engine
from siyu.core.migrate import upgrade
from siyu.core.settings import Settings
from siyu.workspaces import service as workspaces
from tests.pg import TempPostgres, find_bindir

STORES = ["sqlite", "postgresql"]
_COMMITTED = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def keyring() -> Iterator[Keyring]:
    """One keyring for the in-process tests (subprocess tests get their data dir's own)."""
    ring = Keyring.generate()
    set_keyring(ring)
    yield ring
    set_keyring(None)


@pytest.fixture(scope="session")
def postgres() -> Iterator[TempPostgres | None]:
    """A PostgreSQL server for the session; required in CI, skipped locally when absent."""
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run must install it")
        yield None
        return
    server = TempPostgres(bindir)
    server.start()
    yield server
    server.stop()


def _migrated_engine(kind: str, tmp: Path, postgres: TempPostgres | None, name: str = "siyu_test"):  # type: ignore[no-untyped-def]
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp / 'siyu-test.db'}")
    else:
        if postgres is None:
            pytest.skip("PostgreSQL is not installed here")
        admin = make_engine(postgres.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        engine = make_engine(postgres.url(name))
    upgrade(engine)
    return engine


@pytest.fixture(scope="session")
def engines(
    tmp_path_factory: pytest.TempPathFactory, postgres: TempPostgres | None
) -> Iterator[dict]:  # type: ignore[type-arg]
    """Migrated engines, created on first use per store."""
    cache: dict = {}  # type: ignore[type-arg]
    tmp = tmp_path_factory.mktemp("stores")

    def get(kind: str):  # type: ignore[no-untyped-def]
        if kind not in cache:
            cache[kind] = _migrated_engine(kind, tmp, postgres)
        return cache[kind]

    yield get  # type: ignore[misc]
    for engine in cache.values():
        engine.dispose()


@pytest.fixture(scope="session")
def store_templates(
    tmp_path_factory: pytest.TempPathFactory, postgres: TempPostgres | None
) -> Iterator[dict]:  # type: ignore[type-arg]
    """Migrated, empty template stores (a SQLite file, a PostgreSQL database), made on first use."""
    made: dict = {}  # type: ignore[type-arg]
    tmp = tmp_path_factory.mktemp("templates")

    def get(kind: str) -> str:
        if kind not in made:
            engine = _migrated_engine(kind, tmp, postgres, "siyu_template")
            engine.dispose()
            made[kind] = str(tmp / "siyu-test.db") if kind == "sqlite" else "siyu_template"
        return str(made[kind])

    yield get  # type: ignore[misc]


@pytest.fixture(params=STORES)
def committed_db(
    request: pytest.FixtureRequest, store_templates, tmp_path: Path, postgres: TempPostgres | None
) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    """A fresh migrated store of its own whose transactions really commit, for code that reads
    committed data through another connection (the DuckDB analytics engine); dropped after.
    A module overrides `db` with it: `def db(committed_db): return committed_db`."""
    template = store_templates(request.param)
    if request.param == "sqlite":
        path = tmp_path / "committed.db"
        shutil.copyfile(template, path)
        engine = make_engine(f"sqlite:///{path}")
        yield Database(engine)
        engine.dispose()
        return
    assert postgres is not None
    name = f"siyu_c{os.getpid()}_{next(_COMMITTED)}"
    admin = make_engine(postgres.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
    engine = make_engine(postgres.url(name))
    yield Database(engine)
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=STORES)
def db(request: pytest.FixtureRequest, engines) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    """A Database whose transactions are savepoints in one outer transaction, rolled back after."""
    engine = engines(request.param)
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    database = Database(engine, factory)
    yield database
    outer.rollback()
    connection.close()


@pytest.fixture
def clock() -> Iterator[SimulatedClock]:
    """A simulated clock installed for the test."""
    sim = SimulatedClock()
    previous = set_clock(sim)
    yield sim
    set_clock(previous)


@dataclass
class Tenant:
    """A workspace with an admin key, ready to call the API."""

    workspace_id: int
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def principal(self) -> Principal:
        return system_principal(self.workspace_id)


def make_tenant(db: Database, name: str) -> Tenant:
    """Create a workspace and return it with its admin key."""
    with db.transaction() as session:
        workspace, key = workspaces.create_workspace(session, name)
    return Tenant(workspace.id, key)


@pytest.fixture
def tenant(db: Database) -> Tenant:
    """Workspace A."""
    return make_tenant(db, "品牌A")


@pytest.fixture
def other_tenant(db: Database) -> Tenant:
    """Workspace B."""
    return make_tenant(db, "品牌B")


@pytest.fixture
def client(db: Database, tmp_path: Path) -> Iterator[TestClient]:
    """The app over the test's database."""
    settings = Settings(data_dir=tmp_path, max_body_bytes=256 * 1024)
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client
