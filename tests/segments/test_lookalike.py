"""Look-alike expansion from a saved segment over the API, with exact scores on a tiny world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.ingest import service as ingest
from siyu.segments.models import Segment
from siyu.tags import service as tags
from siyu.tags.schemas import TagIn
from tests.conftest import Tenant
from tests.segments.data import NOW, contact, customer_of, metrics

LIPSTICK = {"type": "attribute", "field": "favourite_category", "op": "eq", "value": "口红"}
HANGZHOU = {"type": "attribute", "field": "city", "op": "eq", "value": "杭州"}
SEED_RULE = {"type": "or", "children": [LIPSTICK, HANGZHOU]}


@dataclass
class World:
    """Customer ids by person number 1..10 (1-5 seed, 6-9 others, 10 seed without metrics)."""

    ids: dict[int, int]


def lookalike_world(db: Database, clock: SimulatedClock, tenant: Tenant, first: int = 1) -> World:
    """Five identical lipstick lovers (VIP), four others, and a Hangzhou member never computed.

    Features are r, f, m (score / 5), category, channel and the VIP tag. The seed centroid is
    [1,1,1, 口红, tmall, VIP]; cosine: 7 (眼影, tmall, VIP) = 5/6, 6 (眼影, tmall) = 4/sqrt(30),
    8 (scores 1, 护肤, tmall) = 1.6/sqrt(6 * 2.12), 9 (nothing computed) = 0.
    """
    clock.set(NOW)
    p = tenant.principal
    with db.transaction() as session:
        # Phones from `first` on, so this world can sit beside another story's people.
        people = [contact(first + w - 1, "杭州" if w == 10 else "苏州") for w in range(1, 11)]
        ingest.ingest_events(session, p, people)
        ids = {w: customer_of(session, tenant.workspace_id, first + w - 1) for w in range(1, 11)}
        rows: dict[int, dict[str, Any]] = {
            **{w: {"score": 5, "favourite_category": "口红"} for w in range(1, 6)},
            6: {"score": 5, "favourite_category": "眼影"},
            7: {"score": 5, "favourite_category": "眼影"},
            8: {"score": 1, "favourite_category": "护肤"},
        }
        for w, row in rows.items():
            s = row.pop("score")
            metrics(
                session,
                tenant.workspace_id,
                ids[w],
                r_score=s,
                f_score=s,
                m_score=s,
                preferred_channel="tmall",
                **row,
            )
        metrics(session, tenant.workspace_id, ids[9])
        vip = tags.create_tag(session, p, TagIn(name="种子VIP"))
        tags.add(session, p, vip.id, [ids[w] for w in (1, 2, 3, 4, 5, 7)])
    return World(ids)


@pytest.fixture
def world(db: Database, clock: SimulatedClock, tenant: Tenant) -> World:
    return lookalike_world(db, clock, tenant)


def _segment(client: TestClient, tenant: Tenant, name: str, rule: dict[str, Any]) -> int:
    made = client.post(
        "/api/v1/segments", json={"name": name, "rule": rule}, headers=tenant.headers
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _expand(client: TestClient, tenant: Tenant, segment_id: int, body: Any = None) -> Any:
    return client.post(
        f"/api/v1/segments/{segment_id}/lookalike", json=body, headers=tenant.headers
    )


def test_top_n_and_held_out_precision_are_exact(
    client: TestClient, tenant: Tenant, world: World
) -> None:
    seed = _segment(client, tenant, "口红种子", SEED_RULE)
    answer = _expand(client, tenant, seed, {"top_n": 3, "holdout": 0.2})
    assert answer.status_code == 200, answer.text
    got = answer.json()
    ids = world.ids
    assert got["items"] == [
        {"customer_id": ids[7], "score": 0.833333},
        {"customer_id": ids[6], "score": 0.730297},
        {"customer_id": ids[8], "score": 0.448618},
    ]
    # The held-out seed is identical to the centroid, so it ranks first among the 5 candidates
    # (9 computed customers less 4 training seeds).
    assert {k: got[k] for k in got if k not in ("items", "features")} == {
        "segment_id": seed,
        "top_n": 3,
        "members": 6,
        "members_without_metrics": 1,
        "seed_size": 5,
        "holdout_size": 1,
        "holdout_precision": 1.0,
        "holdout_recall": 1.0,
        "base_rate": 0.2,
    }
    assert got["features"][:3] == ["r", "f", "m"]
    assert {f for f in got["features"] if f.startswith(("category:", "channel:"))} == {
        "category:口红",
        "category:眼影",
        "category:护肤",
        "channel:tmall",
    }
    default = _expand(client, tenant, seed).json()
    assert [i["customer_id"] for i in default["items"]] == [ids[7], ids[6], ids[8], ids[9]]
    assert default["top_n"] == 100 and default["holdout_size"] == 1


def test_unknown_or_foreign_segment_is_404(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, world: World
) -> None:
    seed = _segment(client, tenant, "口红种子", SEED_RULE)
    assert _expand(client, other_tenant, seed).status_code == 404
    assert _expand(client, tenant, 987_654).status_code == 404


@pytest.mark.parametrize(
    ("rule", "holdout", "words"),
    [
        ({**HANGZHOU, "value": "拉萨"}, 0.2, "has no members"),
        (HANGZHOU, 0.2, "0 of 1 members have computed metrics"),
        (
            {"type": "attribute", "field": "favourite_category", "op": "eq", "value": "眼影"},
            0.2,
            "2 of 2 members",
        ),
        # Five seeds at 5 % would hold out round(0.25) = 0 customers: nothing to measure.
        (SEED_RULE, 0.05, "holdout 0.05 must hold out 1"),
    ],
)
def test_empty_or_small_seed_is_422_with_a_reason(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    world: World,
    rule: dict[str, Any],
    holdout: float,
    words: str,
) -> None:
    seed = _segment(client, tenant, "种子", rule)
    answer = _expand(client, tenant, seed, {"top_n": 5, "holdout": holdout})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "segment_id"
    assert words in answer.json()["errors"][0]["reason"]
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Segment)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"top_n": 0}, "top_n"),
        ({"top_n": 1001}, "top_n"),
        ({"holdout": 0.9}, "holdout"),
        ({"holdout": 0.0}, "holdout"),
        ({"top_n": 5, "limit": 5}, "limit"),
    ],
)
def test_bounds_are_checked(
    client: TestClient, tenant: Tenant, world: World, body: dict[str, Any], field: str
) -> None:
    seed = _segment(client, tenant, "口红种子", SEED_RULE)
    answer = _expand(client, tenant, seed, body)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"].endswith(field)
