"""Look-alike expansion: customers most like a seed, by RFM, category, channel and tags.

Each customer is a vector: R, F and M scores scaled to 0..1, one-hot favourite category and
preferred channel, and one entry per tag (from `customer_tag`, when the tags domain's table is
there). The seed's centroid ranks everyone else by cosine similarity. Part of the seed is held
out first: how many of the held-out customers rank in the top places measures the precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, scoped
from siyu.core.errors import InvalidField
from siyu.lifecycle import tuning
from siyu.lifecycle.models import CustomerMetrics
from siyu.lifecycle.schemas import LookalikeOut

M = CustomerMetrics


def _matrix(session: Session, principal: Principal) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(customer ids, feature matrix, feature names) over the workspace's metrics rows."""
    levels = tuning.load(session, principal.workspace_id).rfm.levels
    # Typed loosely: scoped() takes a one-entity Select; this one has six columns.
    columns: Any = select(
        M.customer_id, M.r_score, M.f_score, M.m_score, M.favourite_category, M.preferred_channel
    )
    rows = session.execute(scoped(columns, M, principal).order_by(M.customer_id)).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    index = {int(cid): i for i, cid in enumerate(ids)}
    categories = sorted({r[4] for r in rows if r[4]})
    channels = sorted({r[5] for r in rows if r[5]})
    tags = _tags(session, principal, index)
    tag_ids = sorted({t for _, t in tags})
    names = [
        "r",
        "f",
        "m",
        *(f"category:{c}" for c in categories),
        *(f"channel:{c}" for c in channels),
        *(f"tag:{t}" for t in tag_ids),
    ]
    x = np.zeros((len(rows), len(names)), dtype=np.float64)
    col = {n: j for j, n in enumerate(names)}
    for i, (_, r, f, m, category, channel) in enumerate(rows):
        x[i, 0:3] = [(v or 0) / levels for v in (r, f, m)]
        if category:
            x[i, col[f"category:{category}"]] = 1.0
        if channel:
            x[i, col[f"channel:{channel}"]] = 1.0
    for i, tag in tags:
        x[i, col[f"tag:{tag}"]] = 1.0
    return ids, x, names


def _tags(session: Session, principal: Principal, index: dict[int, int]) -> list[tuple[int, int]]:
    """(row, tag id) pairs from the tags domain's table, if it exists in this store."""
    if not inspect(session.connection()).has_table("customer_tag"):
        return []
    found = session.execute(
        text("SELECT DISTINCT customer_id, tag_id FROM customer_tag WHERE workspace_id = :ws"),
        {"ws": principal.workspace_id},
    )
    return [(index[int(c)], int(t)) for c, t in found if int(c) in index]


def _cosine(x: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1) * (np.linalg.norm(centroid) or 1.0)
    return np.divide(x @ centroid, norms, out=np.zeros(len(x)), where=norms > 0)


def lookalike(
    session: Session, principal: Principal, customer_ids: list[int], limit: int, holdout: float
) -> LookalikeOut:
    """Top `limit` non-seed customers by similarity, and the held-out precision."""
    ids, x, names = _matrix(session, principal)
    position = {int(cid): i for i, cid in enumerate(ids)}
    seeds = sorted(set(customer_ids))
    missing = [c for c in seeds if c not in position]
    if missing:
        raise InvalidField(
            "customer_ids",
            f"{len(missing)} 个编号不是本工作区已计算的客户",
            f"{len(missing)} ids are not computed customers of this workspace",
        )
    order = np.random.default_rng(len(seeds)).permutation(len(seeds))
    held_n = int(round(holdout * len(seeds))) if len(seeds) >= 5 else 0
    held = {seeds[i] for i in order[:held_n]}
    train = [c for c in seeds if c not in held]
    train_rows = np.array([position[c] for c in train])
    score = _cosine(x, x[train_rows].mean(axis=0))
    candidate = np.ones(len(ids), dtype=bool)
    candidate[train_rows] = False
    ranked = np.flatnonzero(candidate)[np.argsort(-score[candidate], kind="stable")]
    precision = recall = base = None
    if held:
        is_held = np.isin(ids[ranked], list(held))
        precision = float(is_held[:held_n].mean())
        recall = float(is_held[:limit].sum() / held_n)
        base = held_n / len(ranked)
    seed_set = set(seeds)
    top = [i for i in ranked if int(ids[i]) not in seed_set][:limit]
    return LookalikeOut(
        items=[{"customer_id": int(ids[i]), "score": round(float(score[i]), 6)} for i in top],
        seed_size=len(seeds),
        holdout_size=held_n,
        holdout_precision=precision,
        holdout_recall=recall,
        base_rate=base,
        features=names,
    )
