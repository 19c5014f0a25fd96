"""A throwaway PostgreSQL server for the test session: initdb into a temp dir, unix socket only."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def find_bindir() -> Path | None:
    """Where initdb and postgres live (Debian keeps them out of PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


class TempPostgres:
    """initdb + postgres on a private socket directory; stopped at the end of the session."""

    def __init__(self, bindir: Path, settings: dict[str, str] | None = None) -> None:
        self.bindir = bindir
        self.settings = settings or {}
        self.root = Path(tempfile.mkdtemp(prefix="siyu-pg-"))
        self.data = self.root / "data"
        self.port = 5432 + (os.getpid() % 1000) + 10000
        self.proc: subprocess.Popen[bytes] | None = None

    def _as_postgres(self, *cmd: str) -> list[str]:
        # PostgreSQL refuses to run as root; CI is root.
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)

    def start(self) -> str:
        """Create the cluster, start the server and return a SQLAlchemy URL to a fresh database."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(
            self._as_postgres(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        options = [
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]
        for name, value in self.settings.items():
            options += ["-c", f"{name}={value}"]
        self.proc = subprocess.Popen(
            self._as_postgres(
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-k",
                str(self.root),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=",
                *options,
            ),
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "server.log", "wb"),  # noqa: SIM115
        )
        socket = self.root / f".s.PGSQL.{self.port}"
        for _ in range(300):
            if socket.exists():
                break
            if self.proc.poll() is not None:
                raise RuntimeError((self.root / "server.log").read_text())
            time.sleep(0.05)
        return self.url("postgres")

    def url(self, database: str) -> str:
        """URL of a database on this server."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.root}&port={self.port}"

    def stop(self) -> None:
        """Stop the server and remove its files."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)
