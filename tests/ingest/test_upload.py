"""The upload API: multipart import, job lookup, column mappings, roles, scoping, body limits."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.api import create_app
from siyu.core.audit import AuditEntry
from siyu.core.db import Database
from siyu.core.settings import Settings
from tests.conftest import Tenant
from tests.ingest.files import TMALL_HEADERS, tmall_row
from tests.ingest.test_importers import jobs, snapshot


def csv_bytes(rows: list[list[str]], headers: list[str] = TMALL_HEADERS) -> bytes:
    """A GBK-encoded CSV, as Excel on a Chinese Windows saves it."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(headers)
    writer.writerows(rows)
    return text.getvalue().encode("gbk")


def upload(
    client: TestClient, tenant: Tenant | dict[str, str], body: bytes, **form: str
) -> tuple[int, dict]:  # type: ignore[type-arg]
    headers = tenant if isinstance(tenant, dict) else tenant.headers
    response = client.post(
        "/api/v1/imports",
        files={"file": ("天猫订单.csv", body, "text/csv")},
        data=form,
        headers=headers,
    )
    return response.status_code, response.json()


def key_with_role(client: TestClient, tenant: Tenant, role: str) -> dict[str, str]:
    created = client.post(
        "/api/v1/api-keys", json={"name": role, "role": role}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


def test_upload_imports_and_returns_counts_and_error_rows(
    client: TestClient, db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    body = csv_bytes(
        [tmall_row("U1", "买家", "13812345678"), tmall_row("U2", "买家", "13812345678", paid="x")]
    )
    status, job = upload(client, tenant, body)
    assert status == 201
    assert {k: job[k] for k in ("layout", "filename", "status")} == {
        "layout": "tmall",
        "filename": "天猫订单.csv",
        "status": "completed",
    }
    assert (job["rows_done"], job["rows_ok"], job["rows_failed"], job["rows_duplicate"]) == (
        2,
        1,
        1,
        0,
    )
    assert job["errors"] == [
        {
            "row": 3,
            "column": "买家实际支付金额",
            "value": "x",
            "reason_zh": "不是有效的金额",
            "reason_en": "not a valid amount",
        }
    ]
    stored = list((tmp_path / "imports" / str(tenant.workspace_id)).iterdir())
    assert sorted(p.suffix for p in stored) == [".csv", ".csv"]  # the file and its report
    fetched = client.get(f"/api/v1/imports/{job['id']}", headers=tenant.headers)
    assert fetched.status_code == 200
    assert fetched.json() == job
    again_status, again = upload(client, tenant, body)
    assert (again_status, again["rows_ok"], again["rows_duplicate"]) == (201, 0, 1)
    assert [o[1] for o in snapshot(db, tenant.workspace_id)["orders"]] == ["U1"]
    with db.transaction() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "import")).all()
    assert [(e.actor.startswith("key:"), e.target_id) for e in entries] == [
        (True, str(job["id"])),
        (True, str(again["id"])),
    ]
    assert "13812345678" not in str([e.detail for e in entries])


@pytest.fixture
def limited(db: Database, tmp_path: Path) -> Iterator[Callable[[int], TestClient]]:
    """Apps with a 64 KiB body limit and a given upload limit."""
    clients: list[TestClient] = []

    def make(max_upload_bytes: int) -> TestClient:
        settings = Settings(
            data_dir=tmp_path, max_body_bytes=64 * 1024, max_upload_bytes=max_upload_bytes
        )
        clients.append(TestClient(create_app(settings, db)).__enter__())
        return clients[-1]

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def test_upload_larger_than_the_body_limit_is_allowed_on_that_path_only(
    limited: Callable[[int], TestClient], db: Database, tenant: Tenant
) -> None:
    client = limited(200 * 1024 * 1024)
    body = csv_bytes([tmall_row(f"B{i}", f"n{i}", "13812345678") for i in range(1000)])
    assert len(body) > 64 * 1024
    status, job = upload(client, tenant, body)
    assert (status, job["rows_ok"]) == (201, 1000)
    other = client.post(
        "/api/v1/events:batch",
        content=body,
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert other.status_code == 413, other.text


def test_upload_over_its_own_limit_is_413_and_nothing_written(
    limited: Callable[[int], TestClient], db: Database, tenant: Tenant
) -> None:
    body = csv_bytes([tmall_row(f"B{i}", "n", "13812345678") for i in range(100)])
    status, error = upload(limited(4096), tenant, body)
    assert (status, error["code"]) == (413, "payload_too_large")
    assert jobs(db, tenant.workspace_id) == []


def test_analyst_may_not_upload_and_nothing_is_written(
    client: TestClient, db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    analyst = key_with_role(client, tenant, "analyst")
    status, error = upload(client, analyst, csv_bytes([tmall_row("A1", "n", "13812345678")]))
    assert (status, error["code"]) == (403, "forbidden")
    assert jobs(db, tenant.workspace_id) == []
    assert not (tmp_path / "imports").exists()
    operator = key_with_role(client, tenant, "operator")
    status, job = upload(client, operator, csv_bytes([tmall_row("A1", "n", "13812345678")]))
    assert (status, job["rows_ok"]) == (201, 1)


def test_another_workspace_cannot_see_the_job(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    _, job = upload(client, tenant, csv_bytes([tmall_row("W1", "n", "13812345678")]))
    denied = client.get(f"/api/v1/imports/{job['id']}", headers=other_tenant.headers)
    assert (denied.status_code, denied.json()["code"]) == (404, "not_found")


def test_unreadable_upload_is_a_clear_422_and_the_file_is_dropped(
    client: TestClient, db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    status, error = upload(client, tenant, b"\x00\xff\xfe garbage \xff")
    assert (status, error["code"]) == (422, "import_file_error")
    assert error["message"].startswith("无法识别文件编码")
    assert list((tmp_path / "imports" / str(tenant.workspace_id)).iterdir()) == []
    assert jobs(db, tenant.workspace_id) == []


def test_column_mapping_is_saved_then_used_by_an_upload(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    body = {
        "name": "pos",
        "columns": {
            "单号": "external_id",
            "时间": "ordered_at",
            "实收": "paid_yuan",
            "手机": "phone",
        },
        "constants": {"channel": "store"},
    }
    saved = client.post("/api/v1/column-mappings", json=body, headers=tenant.headers)
    assert saved.status_code == 201
    assert saved.json() == {**body, "id": saved.json()["id"], "kind": "orders"}
    bad = client.post(
        "/api/v1/column-mappings",
        json={**body, "name": "bad", "columns": {"单号": "vip"}},
        headers={**tenant.headers, "Accept-Language": "en"},
    )
    assert (bad.status_code, bad.json()["errors"]) == (
        422,
        [{"field": "columns.单号", "reason": "unknown field vip"}],
    )
    file = csv_bytes([["P1", "2026-04-01 12:00", "25.99", "13812345678"]], list(body["columns"]))
    status, job = upload(client, tenant, file, mapping="pos")
    assert (status, job["layout"], job["rows_ok"]) == (201, "generic:pos", 1)
    assert [(o[0], o[1], o[7]) for o in snapshot(db, tenant.workspace_id)["orders"]] == [
        ("store", "P1", 2599)
    ]
