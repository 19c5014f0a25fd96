"""Full OneID rebuild and weak-evidence suggestions over the stored graph."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from siyu.core.db import Database
from siyu.customers.models import Customer, MergeRecord, MergeSuggestion
from siyu.customers.oneid import Resolver, Sighting
from siyu.customers.rebuild import rebuild
from siyu.customers.suggestions import generate
from siyu.workspaces.models import Workspace
from tests.conftest import Tenant

AT = datetime(2026, 5, 1, tzinfo=UTC)


def sight(record: str, *identifiers: tuple[str, str], **attributes: str) -> Sighting:
    return Sighting(record, list(identifiers), "api", AT, dict(attributes))


def live(db: Database) -> list[int]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Customer.id).where(Customer.merged_into_id.is_(None)).order_by(Customer.id)
            )
        )


def test_rebuild_applies_changed_strong_types_to_past_records(db: Database, tenant: Tenant) -> None:
    with db.transaction() as session:
        session.get(Workspace, tenant.workspace_id).settings = {"oneid": {"strong": ["phone"]}}  # type: ignore[union-attr]
        Resolver(session, tenant.principal).resolve_many(
            [
                sight("r1", ("phone", "13812345678")),
                sight("r2", ("phone", "13812345679"), ("wechat_unionid", "oU1")),
                sight("r3", ("phone", "13812345678"), ("wechat_unionid", "oU1")),
            ]
        )
    first, second = live(db)
    with db.transaction() as session:
        assert rebuild(session, tenant.principal) == 0
        session.get(Workspace, tenant.workspace_id).settings = {}  # type: ignore[union-attr]
    with db.transaction() as session:
        assert rebuild(session, tenant.principal) == 1
        assert session.scalars(select(MergeRecord.reason)).all() == ["rebuild:strong"]
    assert live(db) == [first]
    with db.transaction() as session:
        assert rebuild(session, tenant.principal) == 0


def test_generate_suggests_same_name_and_address_once(db: Database, tenant: Tenant) -> None:
    with db.transaction() as session:
        Resolver(session, tenant.principal).resolve_many(
            [
                sight(
                    "a",
                    ("phone", "13812345678"),
                    name="张婷婷",
                    address="浙江省杭州市西湖区文三路88号",
                    city="杭州",
                ),
                sight(
                    "b",
                    ("phone", "13912345678"),
                    name="张婷婷",
                    address="杭州市西湖区文三路 88号",
                    city="杭州",
                ),
                sight(
                    "c",
                    ("phone", "13700000000"),
                    name="李雷",
                    address="北京市海淀区中关村大街1号",
                    city="北京",
                ),
            ]
        )
        a, b, _ = live(db)
        assert generate(session, tenant.principal) == 1
        assert generate(session, tenant.principal) == 0
        found = session.scalars(select(MergeSuggestion)).one()
    assert (found.customer_a, found.customer_b, found.status) == (a, b, "pending")
    assert {"name", "address"} <= set(found.evidence)
    assert found.score >= 0.8


def test_a_batch_can_join_a_new_customer_to_an_existing_one(db: Database, tenant: Tenant) -> None:
    with db.transaction() as session:
        ((old, _),) = Resolver(session, tenant.principal).resolve_many(
            [sight("r0", ("phone", "13812345678"))]
        )
        results = Resolver(session, tenant.principal).resolve_many(
            [
                sight("r1", ("wechat_unionid", "oU1"), city="杭州"),
                sight("r2", ("wechat_unionid", "oU1"), ("phone", "13812345678")),
                sight("r3", ("wechat_unionid", "oU1")),
            ]
        )
        assert [c for c, _ in results] == [old, old, old]
        assert session.get(Customer, old).city == "杭州"  # type: ignore[union-attr]
        assert session.scalars(select(MergeRecord)).all() == []
    # The unionid's customer existed only inside the batch, so joining it is no merge.
    assert live(db) == [old]
