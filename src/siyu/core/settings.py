"""Typed settings, read from SIYU_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process settings; keys live in files in the data directory, never in the repo."""

    model_config = SettingsConfigDict(env_prefix="SIYU_", extra="ignore")

    data_dir: Path = Field(default=Path("./siyu-data"))
    database_url: str | None = None
    timezone: str = "Asia/Shanghai"
    locale: str = "zh-CN"
    max_body_bytes: int = 1_048_576
    # File uploads (POST /api/v1/imports) may be larger than any other request body.
    max_upload_bytes: int = 200 * 1_048_576
    session_hours: int = 12
    host: str = "127.0.0.1"
    port: int = 8000
    secure_cookies: bool = False

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'siyu.db').resolve()}"

    def ensure_data_dir(self) -> Path:
        """Create the data directory if needed and return it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change SIYU_* at run time)."""
    get_settings.cache_clear()
