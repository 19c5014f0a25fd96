"""Look-alike expansion seeded by a saved segment's live members.

The scoring (RFM, favourite category, preferred channel and tags, cosine to the seed's centroid)
is the lifecycle domain's; this module turns a segment into a seed, refuses seeds too small to
hold part of them out, and names the segment in the answer.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.errors import InvalidField
from siyu.lifecycle.lookalike import lookalike
from siyu.lifecycle.models import CustomerMetrics
from siyu.segments import service
from siyu.segments.schemas import LookalikeRequest, SegmentLookalikeOut
from siyu.workspaces.models import Role

# Below this, one held-out customer is a coin toss, not a measurement.
MIN_SEED = 5


def _computed(session: Session, principal: Principal, ids: list[int]) -> list[int]:
    """The ids among `ids` that have a customer_metrics row (the only ones that can be scored)."""
    found: set[int] = set()
    M = CustomerMetrics
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        stmt = select(M.customer_id).where(
            M.workspace_id == principal.workspace_id, M.customer_id.in_(chunk)
        )
        found.update(session.scalars(stmt))
    return [c for c in ids if c in found]


def expand(
    session: Session, principal: Principal, segment_id: int, request: LookalikeRequest
) -> SegmentLookalikeOut:
    """Top N non-members most like the segment, with precision on a held-out part of it."""
    principal.require(Role.operator, Role.analyst)
    members = service.member_ids(session, principal, segment_id)
    if not members:
        raise InvalidField(
            "segment_id",
            f"人群 {segment_id} 当前没有成员，无法作为种子",
            f"segment {segment_id} has no members to use as a seed",
        )
    seed = _computed(session, principal, members)
    held = round(request.holdout * len(seed))
    if len(seed) < MIN_SEED or held < 1 or held >= len(seed):
        raise InvalidField(
            "segment_id",
            f"种子太小：{len(members)} 位成员中 {len(seed)} 位已有计算指标，至少需要 {MIN_SEED} 位"
            f"且按留出比例 {request.holdout} 至少留出 1 位",
            f"seed too small: {len(seed)} of {len(members)} members have computed metrics; "
            f"at least {MIN_SEED} are needed and holdout {request.holdout} must hold out 1",
        )
    found = lookalike(session, principal, seed, request.top_n, request.holdout)
    return SegmentLookalikeOut(
        **found.model_dump(),
        segment_id=segment_id,
        top_n=request.top_n,
        members=len(members),
        members_without_metrics=len(members) - len(seed),
    )
