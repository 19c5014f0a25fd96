"""Console pages for customers: search, profile, merge suggestions, undo; roles and CSRF."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.audit import AuditEntry
from siyu.core.db import Database
from siyu.customers.models import Customer, MergeRecord, MergeSuggestion
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role
from tests.conftest import Tenant

PASSWORD = "correct horse battery"
EARLY = "2026-03-01T10:00:00+08:00"
LATE = "2026-03-02T09:30:00+08:00"


def event(event_id: str, identifiers: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "view",
        "occurred_at": LATE,
        "identifiers": identifiers,
        **extra,
    }


def order(external_id: str, identifiers: dict[str, str], paid: int) -> dict[str, Any]:
    line = {
        "sku": "LIP-01",
        "product": "丝绒口红",
        "quantity": 1,
        "unit_price_fen": paid,
        "amount_fen": paid,
    }
    return {
        "external_id": external_id,
        "channel": "tmall",
        "ordered_at": EARLY,
        "total_fen": paid,
        "paid_fen": paid,
        "identifiers": identifiers,
        "lines": [line],
    }


@dataclass
class Seeded:
    x: int  # the Tmall buyer: phone, nick, one order, one event
    y: int  # a device seen alone
    suggestion: int  # pending: the nick and the device were then seen together


def seed(client: TestClient, tenant: Tenant) -> Seeded:
    """Create the data through the real API, as the channels would."""
    placed = client.post(
        "/api/v1/orders",
        json=order("TM1", {"phone": "13812345678", "taobao_nick": "小美"}, paid=12990),
        headers=tenant.headers,
    )
    assert placed.status_code == 201, placed.text
    batch = [
        event("e1", {"taobao_nick": "小美"}, attributes={"name": "王小美", "city": "杭州"}),
        event("e2", {"device_id": "d1"}),
        event("e3", {"taobao_nick": "小美", "device_id": "d1"}),
    ]
    for one in batch:  # one at a time, so e3 sees both owners already there
        sent = client.post("/api/v1/events:batch", json={"events": [one]}, headers=tenant.headers)
        assert sent.status_code == 200 and sent.json()["accepted"] == 1, sent.text
    listed = client.get("/api/v1/merge-suggestions", headers=tenant.headers).json()["items"]
    assert len(listed) == 1
    x = placed.json()["customer_id"]
    y = listed[0]["customer_b"] if listed[0]["customer_a"] == x else listed[0]["customer_a"]
    return Seeded(x=x, y=y, suggestion=listed[0]["id"])


def add_user(db: Database, tenant: Tenant, name: str, role: Role) -> None:
    with db.transaction() as session:
        user = workspaces.create_user(session, name, PASSWORD)
        workspaces.add_member(session, tenant.workspace_id, user, role)


def login(client: TestClient, username: str) -> str:
    """Log in through the form and return the shell's CSRF token."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code in (200, 303), response.text
    home = client.get("/")
    return re.search(r'name="csrf_token" value="([^"]+)"', home.text).group(1)  # type: ignore[union-attr]


@pytest.fixture
def ops(client: TestClient, db: Database, tenant: Tenant) -> str:
    """An operator logged in to the tenant's workspace; the CSRF token."""
    add_user(db, tenant, "ops", Role.operator)
    return login(client, "ops")


def state(db: Database) -> dict[str, Any]:
    """What a console action may change: live customers, suggestion statuses, merges."""
    with db.transaction() as session:
        return {
            "live": list(
                session.scalars(
                    select(Customer.id)
                    .where(Customer.merged_into_id.is_(None))
                    .order_by(Customer.id)
                )
            ),
            "suggestions": list(
                session.execute(
                    select(MergeSuggestion.id, MergeSuggestion.status).order_by(MergeSuggestion.id)
                )
            ),
            "merges": list(
                session.execute(
                    select(MergeRecord.id, MergeRecord.undone_at).order_by(MergeRecord.id)
                )
            ),
        }


def merge_of(db: Database, suggestion_id: int) -> int:
    with db.transaction() as session:
        merge_id = session.scalar(
            select(MergeSuggestion.merge_id).where(MergeSuggestion.id == suggestion_id)
        )
    assert merge_id is not None
    return merge_id


def element(html: str, element_id: str) -> str:
    """The text right inside the element with this id (up to its first child tag)."""
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*>([^<]*)', html)
    assert match, f"no #{element_id}"
    return match.group(1).strip()


def test_search_by_identifier_links_each_row_to_its_profile(
    client: TestClient, tenant: Tenant, ops: str
) -> None:
    given = seed(client, tenant)
    page = client.get("/customers", params={"id_type": "taobao_nick", "id_value": " 小美 "})
    assert page.status_code == 200
    assert re.findall(r'href="/customers/(\d+)" class="customer-link"', page.text) == [str(given.x)]
    assert '<option value="taobao_nick" selected>淘宝昵称</option>' in page.text
    by_device = client.get("/customers", params={"id_type": "device_id", "id_value": "d1"})
    assert re.findall(r'class="customer-link">(\d+)<', by_device.text) == [str(given.y)]
    unknown = client.get("/customers", params={"id_type": "qq", "id_value": "1"})
    assert "未知的标识类型 qq" in element(unknown.text, "customers-error")


def test_profile_shows_attributes_identities_orders_and_timeline(
    client: TestClient, tenant: Tenant, ops: str
) -> None:
    given = seed(client, tenant)
    page = client.get(f"/customers/{given.x}")
    assert page.status_code == 200
    html = page.text
    assert element(html, "attr-name") == "王小美"
    assert element(html, "attr-phone") == "13812345678"
    assert 'id="identity-group-phone"' in html and 'id="identity-group-taobao_nick"' in html
    assert ">13812345678</td>" in html and ">小美</td>" in html
    assert element(html, "kpi-orders") == "1"
    assert element(html, "kpi-paid") == "¥129.90"
    assert element(html, "kpi-refunded") == "¥0.00"
    assert "天猫 × 1" in html
    # Newest first: the view (2 March) before the order (1 March); e3 went to x as well.
    refs = re.findall(r'<td class="mono ref">([^<]+)</td>', html)
    assert refs[-1] == "TM1" and set(refs) == {"e1", "e3", "TM1"}
    assert "no-identities" not in html and element(html, "profile-heading") == "客户画像"


def test_profile_masks_pii_for_an_analyst_exactly_as_the_api(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    given = seed(client, tenant)
    add_user(db, tenant, "viewer", Role.analyst)
    login(client, "viewer")
    html = client.get(f"/customers/{given.x}").text
    assert element(html, "attr-name") == "王**"
    assert element(html, "attr-phone") == "138****5678"
    assert "13812345678" not in html and "王小美" not in html
    assert ">138****5678</td>" in html  # the phone identity too


def test_accept_in_the_console_merges_and_undo_separates_them_again(
    client: TestClient, db: Database, tenant: Tenant, ops: str
) -> None:
    given = seed(client, tenant)
    pending = client.get("/merge-suggestions").text
    assert f'id="accept-{given.suggestion}"' in pending
    assert f'href="/customers/{given.x}"' in pending and f'href="/customers/{given.y}"' in pending

    accepted = client.post(
        f"/merge-suggestions/{given.suggestion}/accept",
        data={"csrf_token": ops},
        follow_redirects=False,
    )

    assert (accepted.status_code, accepted.headers["location"]) == (
        303,
        "/merge-suggestions?done=accepted",
    )
    after = state(db)
    assert after["live"] == [min(given.x, given.y)]
    assert after["suggestions"] == [(given.suggestion, "accepted")]
    merge_id = merge_of(db, given.suggestion)
    survivor, absorbed = min(given.x, given.y), max(given.x, given.y)
    kept = client.get(f"/customers/{survivor}").text
    assert f'id="merge-{merge_id}"' in kept and f'id="undo-{merge_id}"' in kept
    assert 'id="identity-group-device_id"' in kept
    gone = client.get(f"/customers/{absorbed}").text
    assert element(gone, "merged-into-link") == f"#{survivor}"
    assert f'id="undo-{merge_id}"' in gone

    undone = client.post(
        f"/merges/{merge_id}/undo",
        data={"csrf_token": ops, "back": str(survivor)},
        follow_redirects=False,
    )

    assert undone.headers["location"] == f"/customers/{survivor}?done=undone"
    after = state(db)
    assert after["live"] == sorted([given.x, given.y])
    assert after["suggestions"] == [(given.suggestion, "undone")]
    assert after["merges"][0][1] is not None
    page = client.get(undone.headers["location"]).text
    assert element(page, "profile-notice") == "已撤销合并，两位客户已恢复为各自独立"
    assert f'id="undo-{merge_id}"' not in page
    assert "merged-banner" not in client.get(f"/customers/{absorbed}").text
    settled = state(db)
    twice = client.post(f"/merges/{merge_id}/undo", data={"csrf_token": ops, "back": str(absorbed)})
    assert twice.status_code == 409
    assert element(twice.text, "profile-error") == "此合并已撤销"
    assert f'<span class="muted">#{absorbed}</span>' in twice.text  # still that profile
    assert state(db) == settled
    undone_tab = client.get("/merge-suggestions", params={"status": "undone"}).text
    assert f'id="suggestion-{given.suggestion}"' in undone_tab


def test_htmx_accept_replaces_the_row_and_a_second_decision_is_refused_inline(
    client: TestClient, db: Database, tenant: Tenant, ops: str
) -> None:
    given = seed(client, tenant)
    url = f"/merge-suggestions/{given.suggestion}"
    htmx = {"HX-Request": "true"}

    row = client.post(f"{url}/accept", data={"csrf_token": ops}, headers=htmx)

    assert row.status_code == 200
    assert row.text.lstrip().startswith(
        f'<article class="suggestion card" id="suggestion-{given.suggestion}"'
    )
    assert "<html" not in row.text
    assert element(row.text, f"suggestion-{given.suggestion}-status") == "已合并"
    assert f'id="undo-suggestion-{given.suggestion}"' in row.text
    before = state(db)

    again = client.post(f"{url}/reject", data={"csrf_token": ops}, headers=htmx)

    assert again.status_code == 200
    assert re.search(r'class="error row-error"[^>]*>此建议已处理（accepted）<', again.text)
    client.cookies.set("siyu_lang", "en")
    english = client.post(f"{url}/accept", data={"csrf_token": ops}, headers=htmx)
    assert "This suggestion is already accepted" in english.text
    plain = client.post(f"{url}/accept", data={"csrf_token": ops})
    assert plain.status_code == 409
    assert element(plain.text, "suggestions-error") == "This suggestion is already accepted"
    assert state(db) == before

    # Undo from the row: htmx answers with the row, now undone.
    undone = client.post(
        f"/merges/{merge_of(db, given.suggestion)}/undo",
        data={"csrf_token": ops, "suggestion": str(given.suggestion)},
        headers=htmx,
    )
    assert element(undone.text, f"suggestion-{given.suggestion}-status") == "Undone"
    assert state(db)["live"] == sorted([given.x, given.y])


def test_reject_marks_the_suggestion_rejected_and_merges_nothing(
    client: TestClient, db: Database, tenant: Tenant, ops: str
) -> None:
    given = seed(client, tenant)

    rejected = client.post(
        f"/merge-suggestions/{given.suggestion}/reject",
        data={"csrf_token": ops},
        follow_redirects=False,
    )

    assert rejected.headers["location"] == "/merge-suggestions?done=rejected"
    after = state(db)
    assert after["suggestions"] == [(given.suggestion, "rejected")]
    assert after["live"] == sorted([given.x, given.y]) and after["merges"] == []
    page = client.get("/merge-suggestions?done=rejected").text
    assert element(page, "suggestions-notice") == "已标记为不同的人"
    assert element(page, "suggestions-empty") == "这里没有合并建议"
    tab = client.get("/merge-suggestions", params={"status": "rejected"}).text
    assert element(tab, f"suggestion-{given.suggestion}-status") == "已驳回"


def test_posts_without_the_csrf_token_are_refused_and_change_nothing(
    client: TestClient, db: Database, tenant: Tenant, ops: str
) -> None:
    given = seed(client, tenant)
    before = state(db)
    for path in (
        f"/merge-suggestions/{given.suggestion}/accept",
        f"/merge-suggestions/{given.suggestion}/reject",
        "/merge-suggestions/generate",
    ):
        refused = client.post(path, data={}, headers={"HX-Request": "true"})
        assert (refused.status_code, refused.json()["code"]) == (403, "csrf_failed")
        forged = client.post(path, data={"csrf_token": "forged"})
        assert forged.status_code == 403
    assert state(db) == before
    client.post(f"/merge-suggestions/{given.suggestion}/accept", data={"csrf_token": ops})
    merged = state(db)
    refused = client.post(f"/merges/{merge_of(db, given.suggestion)}/undo", data={})
    assert refused.status_code == 403
    assert state(db) == merged


def test_an_analyst_reads_without_buttons_and_every_post_is_403(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    given = seed(client, tenant)
    accepted = client.post(
        f"/api/v1/merge-suggestions/{given.suggestion}/accept", headers=tenant.headers
    ).json()
    add_user(db, tenant, "viewer", Role.analyst)
    csrf = login(client, "viewer")
    before = state(db)

    listing = client.get("/merge-suggestions", params={"status": "accepted"})
    profile = client.get(f"/customers/{accepted['survivor_id']}")

    assert listing.status_code == 200 and profile.status_code == 200
    assert f'id="suggestion-{given.suggestion}"' in listing.text
    for html in (listing.text, profile.text):
        assert "<button" not in html.split("</header>", 1)[1]  # only the shell's own buttons
        assert "find-duplicates" not in html
    assert 'id="read-only-note"' in listing.text
    for path, data in (
        (f"/merge-suggestions/{given.suggestion}/reject", {"csrf_token": csrf}),
        ("/merge-suggestions/generate", {"csrf_token": csrf}),
        (f"/merges/{accepted['id']}/undo", {"csrf_token": csrf, "back": "1"}),
    ):
        refused = client.post(path, data=data, follow_redirects=False)
        assert refused.status_code == 403, path
        assert 'id="read-only"' in refused.text
        assert "你的角色只能查看，不能执行此操作" in refused.text
    assert state(db) == before


def test_a_customer_of_another_workspace_is_a_404_page_and_the_attempt_is_audited(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant, ops: str
) -> None:
    theirs = client.post(
        "/api/v1/customers", json={"phone": "13900001111"}, headers=other_tenant.headers
    ).json()["id"]

    page = client.get(f"/customers/{theirs}")

    assert page.status_code == 404
    assert 'id="nav-customers"' in page.text  # inside the shell
    assert "找不到这位客户或这个页面" in page.text and "13900001111" not in page.text
    assert client.get("/customers/987654321").status_code == 404
    with db.transaction() as session:
        denied = session.scalars(
            select(AuditEntry).where(
                AuditEntry.workspace_id == tenant.workspace_id,
                AuditEntry.outcome == "denied",
                AuditEntry.target_id == str(theirs),
            )
        ).all()
    assert [(d.action, d.target_type) for d in denied] == [("read", "customer")]


def test_find_duplicates_now_adds_suggestions_and_says_how_many(
    client: TestClient, db: Database, tenant: Tenant, ops: str
) -> None:
    twin = {"name": "李静怡", "birthday": "1990-05-17", "city": "杭州"}
    sent = client.post(
        "/api/v1/events:batch",
        json={
            "events": [
                event("t1", {"phone": "13700000001"}, attributes=twin),
                event("t2", {"phone": "13600000002"}, attributes=twin),
            ]
        },
        headers=tenant.headers,
    )
    assert sent.json()["accepted"] == 2

    found = client.post(
        "/merge-suggestions/generate", data={"csrf_token": ops}, follow_redirects=False
    )

    assert found.headers["location"] == "/merge-suggestions?added=1"
    assert [status for _, status in state(db)["suggestions"]] == ["pending"]
    page = client.get(found.headers["location"]).text
    assert element(page, "suggestions-added") == "新增 1 条合并建议"
    assert 'data-evidence="name"' in page and 'data-evidence="birth_date"' in page
    again = client.post(
        "/merge-suggestions/generate", data={"csrf_token": ops}, follow_redirects=False
    )
    assert again.headers["location"] == "/merge-suggestions?added=0"
