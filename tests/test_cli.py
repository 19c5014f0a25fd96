"""The `siyu` command as a user runs it: a real data directory, a real server, real files."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

PHONE = "13812345678"


def run_siyu(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIYU_DATA_DIR": str(data_dir)}
    env.pop("SIYU_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "siyu", *args], env=env, capture_output=True, text=True, timeout=300
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    data_dir: Path
    log: Path
    pid: int


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`siyu serve` on a fresh data directory, with debug logging captured to a file."""
    yield from _serve(tmp_path)


def _serve(tmp_path: Path, *args: str) -> Iterator[Server]:
    port, log = free_port(), tmp_path / "server.log"
    env = {**os.environ, "SIYU_DATA_DIR": str(tmp_path / "data"), "SIYU_LOG_LEVEL": "DEBUG"}
    env.pop("SIYU_DATABASE_URL", None)
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "siyu", "serve", "--port", str(port), *args],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/api/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Server(url, tmp_path / "data", log, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "siyu", "--version"], capture_output=True, text=True
    )
    assert result.stdout.strip() == "siyu 0.1.0"


def test_workspace_create_prints_id_and_key_last(tmp_path: Path) -> None:
    result = run_siyu(tmp_path, "workspace", "create", "品牌一号")
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("workspace=1 key=sy_")
    again = run_siyu(tmp_path, "workspace", "create", "品牌一号")
    assert again.returncode == 1
    assert "已存在" in again.stdout


def test_phone_never_lands_in_the_file_or_the_logs_yet_is_found(server: Server) -> None:
    created = (
        run_siyu(server.data_dir, "workspace", "create", "品牌A").stdout.strip().splitlines()[-1]
    )
    key = created.split("key=")[1]
    headers = {"Authorization": f"Bearer {key}"}
    response = httpx.post(
        f"{server.url}/api/v1/customers", json={"name": "张三", "phone": PHONE}, headers=headers
    )
    assert response.status_code == 201
    found = httpx.get(
        f"{server.url}/api/v1/customers", params={"phone": "+86 138-1234-5678"}, headers=headers
    )
    assert [c["id"] for c in found.json()["items"]] == [response.json()["id"]]
    plain = httpx.get(f"{server.url}/api/v1/customers", params={"phone": PHONE}, headers=headers)
    assert len(plain.json()["items"]) == 1
    assert httpx.get(f"{server.url}/docs").status_code == 200
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert {
        "/api/v1/health",
        "/api/v1/customers",
        "/api/v1/customers/{customer_id}",
        "/api/v1/audit",
    } <= set(paths)
    stored = b"".join(p.read_bytes() for p in server.data_dir.glob("siyu.db*"))
    assert PHONE.encode() not in stored
    assert "张三".encode() not in stored
    assert PHONE not in server.log.read_text()
    assert "GET /api/v1/customers 200" in server.log.read_text()


def test_serve_with_two_workers_answers_from_two_processes_over_one_store(
    tmp_path: Path,
) -> None:
    serving = _serve(tmp_path, "--workers", "2")
    server = next(serving)
    try:
        created = run_siyu(server.data_dir, "workspace", "create", "品牌W").stdout.strip()
        headers = {"Authorization": f"Bearer {created.splitlines()[-1].split('key=')[1]}"}
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        commands = [Path(f"/proc/{c}/cmdline").read_bytes() for c in children]
        # uvicorn's supervisor spawns one process per worker (and multiprocessing's tracker).
        assert sum(b"resource_tracker" not in c for c in commands) == 2, commands
        events = [
            {
                "event_id": f"w-{i}",
                "type": "view",
                "occurred_at": "2026-03-01T10:00:00+08:00",
                "identifiers": {"phone": PHONE},
            }
            for i in range(3)
        ]
        answers = [
            httpx.post(
                f"{server.url}/api/v1/events:batch",
                json={"events": events},
                headers={**headers, "Prefer": "respond-async"},
            )
            for _ in range(2)
        ]
        assert [a.status_code for a in answers] == [202, 202]
        assert [a.json()["queued"] for a in answers] == [3, 0]
        assert [a.json()["duplicates"] for a in answers] == [0, 3]
    finally:
        serving.close()


def test_keys_rotate_keeps_customers_readable(tmp_path: Path) -> None:
    key = (
        run_siyu(tmp_path, "workspace", "create", "品牌R")
        .stdout.strip()
        .splitlines()[-1]
        .split("key=")[1]
    )
    assert key
    demo = run_siyu(tmp_path, "demo", "--no-serve", "--customers", "12")
    assert demo.returncode == 0, demo.stderr
    last = demo.stdout.strip().splitlines()[-1]
    customers = int(re.search(r" customers=(\d+) ", last).group(1))  # type: ignore[union-attr]
    rotated = run_siyu(tmp_path, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    # Merged customers keep their rows (for undo), so there are at least as many rows.
    rows = int(re.search(r"customer=(\d+) ", rotated.stdout).group(1))  # type: ignore[union-attr]
    assert rows >= customers and "identity=" in rotated.stdout and "orders=" in rotated.stdout
    assert "primary_key=2" in rotated.stdout
    # The demo is idempotent: a second run reuses the workspace and its customers.
    again = run_siyu(tmp_path, "demo", "--no-serve")
    assert again.stdout.strip().splitlines()[-1] == last
