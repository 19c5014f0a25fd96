"""Keys, sessions and CSRF: every bad credential is a clear 4xx and nothing is written."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.customers.models import Customer
from siyu.workspaces import service
from siyu.workspaces.models import ApiKey, ConsoleSession, Role
from tests.conftest import Tenant

PASSWORD = "correct horse battery"


def customers_in(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Customer)) or 0


def add_user(db: Database, tenant: Tenant, role: Role = Role.admin, name: str = "ops") -> None:
    with db.transaction() as session:
        user = service.create_user(session, name, PASSWORD)
        service.add_member(session, tenant.workspace_id, user, role)


def login(client: TestClient, username: str = "ops", password: str = PASSWORD) -> str:
    """Log in through the form and return the page's CSRF token."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code in (200, 303, 401), response.text
    home = client.get("/")
    match = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    return match.group(1) if match else ""


def test_keys_are_stored_hashed_and_shown_once(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    created = client.post(
        "/api/v1/api-keys", json={"name": "etl", "role": "operator"}, headers=tenant.headers
    ).json()
    with db.transaction() as session:
        stored = session.get(ApiKey, created["id"])
        assert stored is not None and created["key"] not in (stored.key_hash, stored.prefix)
    listed = client.get("/api/v1/api-keys", headers=tenant.headers).json()
    assert all("key" not in k for k in listed)
    assert [k["name"] for k in listed] == ["admin", "etl"]


def test_missing_wrong_and_revoked_keys_are_401(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    body = {"phone": "13812345678"}
    assert client.post("/api/v1/customers", json=body).status_code == 401
    assert (
        client.post(
            "/api/v1/customers", json=body, headers={"Authorization": "Bearer sy_nope"}
        ).json()["code"]
        == "unauthorized"
    )
    assert (
        client.post(
            "/api/v1/customers", json=body, headers={"Authorization": "Basic abc"}
        ).status_code
        == 401
    )
    created = client.post(
        "/api/v1/api-keys", json={"name": "tmp", "role": "operator"}, headers=tenant.headers
    ).json()
    assert (
        client.delete(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers).status_code
        == 200
    )
    revoked = client.post(
        "/api/v1/customers",
        json=body,
        headers={"Authorization": f"Bearer {created['key']}", "Accept-Language": "en"},
    )
    assert revoked.status_code == 401
    assert revoked.json() == {
        "code": "unauthorized",
        "message": "The API key is invalid or revoked",
    }
    assert customers_in(db) == 0


def test_last_used_is_kept_to_the_minute_not_rewritten_every_request(
    client: TestClient, db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    def last_used() -> object:
        with db.transaction() as session:
            return session.scalars(
                select(ApiKey.last_used_at).where(ApiKey.workspace_id == tenant.workspace_id)
            ).one()

    assert last_used() is None
    first = clock.now()
    assert client.get("/api/v1/api-keys", headers=tenant.headers).status_code == 200
    assert last_used() == first
    clock.advance(minutes=0.5)
    assert client.get("/api/v1/api-keys", headers=tenant.headers).status_code == 200
    assert last_used() == first
    later = clock.advance(minutes=0.5)
    assert client.get("/api/v1/api-keys", headers=tenant.headers).status_code == 200
    assert last_used() == later == first + service.LAST_USED_PRECISION


def test_non_admin_cannot_create_keys_or_read_audit(client: TestClient, tenant: Tenant) -> None:
    key = client.post(
        "/api/v1/api-keys", json={"name": "op", "role": "operator"}, headers=tenant.headers
    ).json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    assert (
        client.post(
            "/api/v1/api-keys", json={"name": "x", "role": "admin"}, headers=headers
        ).status_code
        == 403
    )
    assert client.get("/api/v1/audit", headers=headers).status_code == 403
    names = [k["name"] for k in client.get("/api/v1/api-keys", headers=tenant.headers).json()]
    assert names == ["admin", "op"]


def test_console_login_session_cookie_and_csrf(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    add_user(db, tenant)
    csrf = login(client)
    cookie = next(c for c in client.cookies.jar if c.name == "siyu_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert client.get("/").status_code == 200
    # An unsafe API call with only the cookie needs the CSRF header.
    refused = client.post("/api/v1/customers", json={"phone": "13812345678"})
    assert (refused.status_code, refused.json()["code"]) == (403, "csrf_failed")
    assert customers_in(db) == 0
    ok = client.post(
        "/api/v1/customers", json={"phone": "13812345678"}, headers={"X-CSRF-Token": csrf}
    )
    assert ok.status_code == 201
    # Logging out without the token is refused and the session survives.
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200
    assert (
        client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    )
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_wrong_password_and_expired_session(
    client: TestClient, db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    add_user(db, tenant)
    login(client, password="not the password")
    assert "siyu_session" not in client.cookies
    login(client)
    assert client.get("/", follow_redirects=False).status_code == 200
    clock.advance(hours=13)
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    expired = client.get("/api/v1/workspace", headers={"Accept-Language": "en"})
    assert expired.json() == {
        "code": "unauthorized",
        "message": "Your session has expired; please log in again",
    }


def test_switching_to_a_workspace_without_membership_is_404(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    add_user(db, tenant)
    csrf = login(client)
    response = client.post(
        "/workspace/switch", data={"workspace_id": other_tenant.workspace_id, "csrf_token": csrf}
    )
    assert response.status_code == 404
    with db.transaction() as session:
        assert session.scalars(select(ConsoleSession.workspace_id)).all() == [tenant.workspace_id]


def test_login_form_without_its_token_is_refused(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    add_user(db, tenant)
    response = client.post(
        "/login", data={"username": "ops", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 403
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ConsoleSession)) == 0


def test_session_lifetime_follows_settings(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    add_user(db, tenant)
    with db.transaction() as session:
        cs, _ = service.login(session, "ops", PASSWORD, "127.0.0.1", hours=2)
        assert cs.expires_at - cs.created_at == timedelta(hours=2)
