"""The fission console pages render for staff, and b and S roles see only their own."""

from __future__ import annotations

from fastapi.testclient import TestClient

from siyu.catalog import service as catalog
from siyu.catalog.schemas import ProductIn, SkuIn, SupplierIn
from siyu.core.db import Database
from siyu.distribution import service
from siyu.distribution.schemas import DistributorIn
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role
from tests.conftest import Tenant

PASSWORD = "correct horse battery"


def login(client: TestClient, username: str) -> None:
    client.cookies.clear()
    answer = client.get("/login")
    token = (
        answer.text.split('name="csrf_token" value="')[1].split('"')[0]
        if "csrf_token" in answer.text
        else ""
    )
    done = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code in (302, 303), done.text


def test_staff_pages_render_and_a_supplier_sees_only_its_products(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    p = tenant.principal
    with db.transaction() as session:
        user = workspaces.create_user(session, "ops", PASSWORD)
        workspaces.add_member(session, tenant.workspace_id, user, Role.operator)
        mine = catalog.create_supplier(session, p, SupplierIn(code="S1", name="花漾"))
        other = catalog.create_supplier(session, p, SupplierIn(code="S2", name="别家"))
        for supplier, code in ((mine, "MINE-1"), (other, "THEIRS-1")):
            catalog.create_product(
                session,
                p,
                ProductIn(
                    supplier_id=supplier.id,
                    name=code,
                    category="美妆",
                    skus=[SkuIn(code=code, name=code, price_fen=100, on_hand=5)],
                ),
            )
        service.add_console_user(session, p, "brand", PASSWORD, supplier_id=mine.id)
        service.onboard(session, p, DistributorIn(code="A", name="店主A"))
    login(client, "ops")
    for url, marker in (
        ("/distribution", 'id="ranking-table"'),
        ("/distribution/touchpoints", 'id="funnels-table"'),
        ("/catalog", "THEIRS-1"),
        ("/promotions/groups", 'id="groups-table"'),
        ("/promotions/invites", 'id="invite-campaigns"'),
    ):
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert marker in answer.text, url
    login(client, "brand")
    assert client.get("/fission", follow_redirects=False).headers["location"] == "/catalog"
    page = client.get("/catalog").text
    assert "MINE-1" in page and "THEIRS-1" not in page
    assert client.get("/distribution", follow_redirects=False).status_code == 303
