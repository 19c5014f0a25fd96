"""Alembic migrations, run from the package so a pip-installed siyu can upgrade its store."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at the package's migrations and the given engine."""
    cfg = Config()
    cfg.set_main_option("script_location", str(files("siyu") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the store's schema up to a revision (head by default)."""
    command.upgrade(alembic_config(engine), revision)
