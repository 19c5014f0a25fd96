"""The loyalty program of a workspace: its rules and ladder, made with defaults on first use."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from siyu.core.clock import now
from siyu.core.db import table_of
from siyu.loyalty.models import LoyaltyProgram, Tier
from siyu.workspaces.models import Workspace

# The default ladder: (name, 12-month spend in fen, activity score, points %, price %, free
# shipping, birthday points, early-access hours, member-day %, dedicated service).
DEFAULT_TIERS = (
    ("普通会员", 0, 0, 100, 100, False, 50, 0, 100, False),
    ("银卡", 100_000, 60, 120, 98, True, 100, 0, 90, False),
    ("金卡", 300_000, 150, 150, 95, True, 200, 24, 80, False),
    ("黑金", 1_000_000, 0, 200, 90, True, 500, 48, 80, True),
)
DEFAULT_ACTIONS = {"sign_in": 5, "review": 10, "share": 5, "join_group": 20}


def workspace_tz(session: Session, workspace_id: int) -> str:
    """The workspace's time zone (member day and birthdays are local days)."""
    workspace = session.get(Workspace, workspace_id)
    return workspace.timezone if workspace else "Asia/Shanghai"


def get_program(session: Session, workspace_id: int) -> LoyaltyProgram:
    """The workspace's program, created with the default rules and ladder on first use."""
    found = session.scalars(
        select(LoyaltyProgram).where(LoyaltyProgram.workspace_id == workspace_id)
    ).first()
    if found is not None:
        return found
    dialect = session.get_bind().dialect.name
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    t = now()
    stmt = maker(table_of(LoyaltyProgram)).values(
        workspace_id=workspace_id,
        points_per_yuan=1,
        point_value_fen=1,
        expiry="end_of_next_year",
        member_day=18,
        member_day_multiplier_pct=200,
        category_multiplier_pct={},
        action_points=DEFAULT_ACTIONS,
        review_day=1,
        grace_days=30,
        created_at=t,
        updated_at=t,
    )
    # Two first earners at once: one creates it, the other finds it.
    made = session.execute(stmt.on_conflict_do_nothing(index_elements=["workspace_id"]))
    if made.rowcount:  # type: ignore[attr-defined]
        for rank, row in enumerate(DEFAULT_TIERS):
            session.add(_tier(workspace_id, rank, row))
        session.flush()
        from siyu.loyalty import schedule

        schedule.start(session, workspace_id)
    return session.scalars(
        select(LoyaltyProgram).where(LoyaltyProgram.workspace_id == workspace_id)
    ).one()


def _tier(workspace_id: int, rank: int, row: tuple) -> Tier:  # type: ignore[type-arg]
    name, spend, activity, mult, price, ship, bday, early, member_day, service = row
    return Tier(
        workspace_id=workspace_id,
        rank=rank,
        name=name,
        min_spend_fen=spend,
        min_activity=activity,
        points_multiplier_pct=mult,
        discount_pct=price,
        free_shipping=ship,
        birthday_points=bday,
        early_access_hours=early,
        member_day_pct=member_day,
        dedicated_service=service,
    )


def tiers(session: Session, workspace_id: int) -> list[Tier]:
    """The ladder, lowest rank first."""
    get_program(session, workspace_id)
    return list(
        session.scalars(select(Tier).where(Tier.workspace_id == workspace_id).order_by(Tier.rank))
    )


def expires_at(policy: str, at: datetime, tz: str) -> datetime | None:
    """When points earned at `at` expire under the program's expiry policy."""
    if policy == "never":
        return None
    if policy.startswith("days:"):
        return at + timedelta(days=int(policy[5:]))
    # End of the following year, local time: they lapse at the start of the year after.
    local = at.astimezone(ZoneInfo(tz))
    return datetime(local.year + 2, 1, 1, tzinfo=ZoneInfo(tz))


def is_member_day(program: LoyaltyProgram, at: datetime, tz: str) -> bool:
    """Whether `at` falls on member day in the workspace's time zone."""
    return program.member_day is not None and at.astimezone(ZoneInfo(tz)).day == program.member_day


_RULES = (
    select(LoyaltyProgram.action_points, LoyaltyProgram.expiry, Workspace.timezone)
    .join(Workspace, Workspace.id == LoyaltyProgram.workspace_id)
    .where(LoyaltyProgram.workspace_id == bindparam("ws"))
)


def rules(session: Session, workspace_id: int) -> tuple[dict[str, int], str, str]:
    """(action points, expiry policy, time zone) in one query; makes the program if missing."""
    row = session.connection().execute(_RULES, {"ws": workspace_id}).first()
    if row is None:
        program = get_program(session, workspace_id)
        return program.action_points, program.expiry, workspace_tz(session, workspace_id)
    return row[0] or {}, row[1], row[2]
