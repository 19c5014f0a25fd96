"""Tags: groups, manual tagging in bulk, rule tags kept current, history, and the library."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import now
from siyu.core.db import bulk_insert, table_of
from siyu.core.errors import Conflict, InvalidField
from siyu.customers.models import Customer
from siyu.segments import rules
from siyu.segments.compiler import compile_rule, referenced
from siyu.tags.library import BUILTINS, BY_KEY
from siyu.tags.models import CustomerTag, Tag, TagGroup, TagHistory
from siyu.tags.schemas import GroupIn, TagIn, TagOut, TagPatch
from siyu.workspaces.models import Role

CHUNK = 500


def create_group(session: Session, principal: Principal, data: GroupIn) -> TagGroup:
    """A new tag group; names are unique in a workspace."""
    principal.require(Role.operator)
    _unique_name(session, principal, TagGroup, data.name)
    group = TagGroup(workspace_id=principal.workspace_id, created_at=now(), **data.model_dump())
    session.add(group)
    session.flush()
    return group


def list_groups(session: Session, principal: Principal) -> list[TagGroup]:
    """The workspace's tag groups by name."""
    stmt = scoped(select(TagGroup), TagGroup, principal).order_by(TagGroup.name)
    return list(session.scalars(stmt))


def _unique_name(
    session: Session, principal: Principal, model: Any, name: str, own_id: int | None = None
) -> None:
    stmt = scoped(select(model.id), model, principal).where(model.name == name)
    found = session.scalar(stmt)
    if found is not None and found != own_id:
        raise Conflict(zh=f"名称“{name}”已被使用", en=f"The name {name!r} is already taken")


def check_tag_rule(session: Session, principal: Principal, raw: Any, own_id: int | None) -> Any:
    """Parse a tag's rule; it may name manual tags only, and no segment (no refresh order)."""
    if raw is None:
        raise InvalidField("rule", "规则标签需要规则", "a rule tag needs a rule")
    rule = rules.parse_rule(raw)
    tag_refs, segment_refs = referenced(rule)
    if segment_refs:
        raise InvalidField(
            segment_refs[0][1], "标签规则不能引用人群", "a tag rule cannot use segments"
        )
    for tag_id, path in tag_refs:
        tag = session.scalar(
            scoped(select(Tag), Tag, principal).where(Tag.id == tag_id, Tag.id != (own_id or 0))
        )
        if tag is None:
            raise InvalidField(path, f"标签 {tag_id} 不存在", f"no tag {tag_id}")
        if tag.kind != "manual":
            raise InvalidField(path, "只能引用手工标签", "a tag rule may use manual tags only")
    return rule


def create_tag(session: Session, principal: Principal, data: TagIn) -> Tag:
    """A manual or rule tag; a rule tag is computed at once."""
    principal.require(Role.operator)
    _unique_name(session, principal, Tag, data.name)
    if data.group_id is not None:
        get_scoped(session, TagGroup, data.group_id, principal)
    rule = None
    if data.kind == "rule":
        rule = rules.dump(check_tag_rule(session, principal, data.rule, None))
    elif data.rule is not None:
        raise InvalidField("rule", "手工标签没有规则", "a manual tag has no rule")
    at = now()
    tag = Tag(
        workspace_id=principal.workspace_id,
        name=data.name,
        group_id=data.group_id,
        kind=data.kind,
        rule=rule,
        description=data.description,
        created_at=at,
        updated_at=at,
    )
    session.add(tag)
    session.flush()
    if tag.kind == "rule":
        refresh_rule_tag(session, tag)
        _schedule(session, principal.workspace_id)
    audit.record(session, principal, "create", "tag", tag.id, kind=tag.kind)
    return tag


def update_tag(session: Session, principal: Principal, tag_id: int, data: TagPatch) -> Tag:
    """Rename, regroup, or change a rule tag's rule (it is recomputed)."""
    principal.require(Role.operator)
    tag = get_scoped(session, Tag, tag_id, principal)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is not None:
        _unique_name(session, principal, Tag, changes["name"], tag.id)
        tag.name = changes["name"]
    if changes.get("group_id") is not None:
        get_scoped(session, TagGroup, changes["group_id"], principal)
    if "group_id" in changes:
        tag.group_id = changes["group_id"]
    if "description" in changes:
        tag.description = changes["description"]
    if changes.get("rule") is not None:
        if tag.kind != "rule":
            raise InvalidField("rule", "手工标签没有规则", "a manual tag has no rule")
        tag.rule = rules.dump(check_tag_rule(session, principal, changes["rule"], tag.id))
    tag.updated_at = now()
    session.flush()
    if "rule" in changes and tag.kind == "rule":
        refresh_rule_tag(session, tag)
    return tag


def delete_tag(session: Session, principal: Principal, tag_id: int) -> None:
    """Delete a tag and who carried it; refused while a rule or segment still uses it."""
    principal.require(Role.operator)
    tag = get_scoped(session, Tag, tag_id, principal)
    users = _rules_naming(session, principal.workspace_id, tag.id)
    if users:
        raise Conflict(
            zh=f"标签仍被使用：{'、'.join(users)}",
            en=f"The tag is still used by: {', '.join(users)}",
        )
    session.delete(tag)
    session.flush()
    audit.record(session, principal, "delete", "tag", tag_id)


def _rules_naming(session: Session, workspace_id: int, tag_id: int) -> list[str]:
    from siyu.segments.models import Segment

    names = []
    models: tuple[Any, ...] = (Tag, Segment)
    for model in models:
        for row in session.scalars(select(model).where(model.workspace_id == workspace_id)):
            if row.rule and tag_id in {t for t, _ in referenced(rules.parse_rule(row.rule))[0]}:
                names.append(row.name)
    return names


def counts(session: Session, workspace_id: int) -> dict[int, int]:
    """Live customers carrying each tag."""
    stmt = (
        select(CustomerTag.tag_id, func.count(CustomerTag.customer_id.distinct()))
        .join(Customer, Customer.id == CustomerTag.customer_id)
        .where(CustomerTag.workspace_id == workspace_id, Customer.merged_into_id.is_(None))
        .group_by(CustomerTag.tag_id)
    )
    return {tag_id: n for tag_id, n in session.execute(stmt)}


def list_tags(session: Session, principal: Principal) -> list[TagOut]:
    """Every tag of the workspace with how many live customers carry it, by group and name."""
    stmt = scoped(select(Tag), Tag, principal).order_by(Tag.group_id, Tag.name)
    tags = list(session.scalars(stmt))
    numbers = counts(session, principal.workspace_id) if tags else {}
    return [to_out(t, numbers.get(t.id, 0)) for t in tags]


def to_out(tag: Tag, count: int = 0) -> TagOut:
    """The API view of a tag."""
    return TagOut.model_validate(
        {**{c: getattr(tag, c) for c in TagOut.model_fields if c != "count"}, "count": count}
    )


# ---------------------------------------------------------------- who carries a tag


def live_customers(session: Session, principal: Principal, ids: list[int], field: str) -> None:
    """Refuse unless every id is a live customer of the workspace (the error names the row)."""
    found: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        stmt = scoped(select(Customer.id), Customer, principal).where(
            Customer.id.in_(ids[start : start + CHUNK]), Customer.merged_into_id.is_(None)
        )
        found.update(session.scalars(stmt))
    for index, customer_id in enumerate(ids):
        if customer_id not in found:
            raise InvalidField(
                f"{field}.{index}",
                f"客户 {customer_id} 不存在或已被合并",
                f"customer {customer_id} does not exist or was merged",
            )


def holders(session: Session, tag_id: int, ids: Iterable[int] | None = None) -> set[int]:
    """Customers carrying a tag now (among `ids` when given)."""
    stmt = select(CustomerTag.customer_id).where(CustomerTag.tag_id == tag_id)
    if ids is None:
        return set(session.scalars(stmt))
    wanted, found = sorted(set(ids)), set[int]()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        found.update(session.scalars(stmt.where(CustomerTag.customer_id.in_(chunk))))
    return found


def apply(
    session: Session, tag: Tag, gained: Iterable[int], lost: Iterable[int], source: str
) -> tuple[int, int]:
    """Give and take a tag, with a history row for each change; returns (gained, lost)."""
    at = now()
    gained, lost = sorted(set(gained)), sorted(set(lost))
    base = {"workspace_id": tag.workspace_id, "tag_id": tag.id, "source": source}
    bulk_insert(
        session, table_of(CustomerTag), [base | {"customer_id": c, "added_at": at} for c in gained]
    )
    for start in range(0, len(lost), CHUNK):
        chunk = lost[start : start + CHUNK]
        session.execute(
            delete(CustomerTag).where(
                CustomerTag.tag_id == tag.id, CustomerTag.customer_id.in_(chunk)
            )
        )
    history = [base | {"customer_id": c, "change": "gained", "at": at} for c in gained]
    history += [base | {"customer_id": c, "change": "lost", "at": at} for c in lost]
    bulk_insert(session, table_of(TagHistory), history)
    return len(gained), len(lost)


def add(
    session: Session, principal: Principal, tag_id: int, ids: list[int], source: str = "manual"
) -> int:
    """Give a manual tag to customers (those who have it keep it once); returns how many new."""
    principal.require(Role.operator)
    tag = _manual(session, principal, tag_id)
    live_customers(session, principal, ids, "customer_ids")
    fresh = set(ids) - holders(session, tag.id, ids)
    changed, _ = apply(session, tag, fresh, (), source)
    audit.record(session, principal, "tag_add", "tag", tag.id, customers=changed, source=source)
    return changed


def remove(
    session: Session, principal: Principal, tag_id: int, ids: list[int], source: str = "manual"
) -> int:
    """Take a manual tag from customers; returns how many lost it."""
    principal.require(Role.operator)
    tag = _manual(session, principal, tag_id)
    live_customers(session, principal, ids, "customer_ids")
    _, changed = apply(session, tag, (), holders(session, tag.id, ids), source)
    audit.record(session, principal, "tag_remove", "tag", tag.id, customers=changed, source=source)
    return changed


def _manual(session: Session, principal: Principal, tag_id: int) -> Tag:
    tag = get_scoped(session, Tag, tag_id, principal)
    if tag.kind != "manual":
        raise Conflict(
            zh="规则标签由规则决定，不能手工增删",
            en="A rule tag follows its rule; it cannot be set by hand",
        )
    return tag


def tags_of(session: Session, principal: Principal, customer_id: int) -> list[tuple[Tag, datetime]]:
    """The tags a customer carries, with since when."""
    stmt = (
        scoped(select(Tag, func.min(CustomerTag.added_at)), Tag, principal)  # type: ignore[arg-type]
        .join(CustomerTag, CustomerTag.tag_id == Tag.id)
        .where(CustomerTag.customer_id == customer_id)
        .group_by(Tag.id)
        .order_by(Tag.name)
    )
    return [(tag, since) for tag, since in session.execute(stmt)]


def history_of(
    session: Session, principal: Principal, customer_id: int, limit: int = 200
) -> list[tuple[TagHistory, str]]:
    """When the customer gained or lost each tag, newest first."""
    stmt = (
        scoped(select(TagHistory, Tag.name), TagHistory, principal)  # type: ignore[arg-type]
        .join(Tag, Tag.id == TagHistory.tag_id)
        .where(TagHistory.customer_id == customer_id)
        .order_by(TagHistory.id.desc())
        .limit(limit)
    )
    return [(row, name) for row, name in session.execute(stmt)]


# ---------------------------------------------------------------- rule tags


def _schedule(session: Session, workspace_id: int) -> None:
    """Rule tags are also recomputed in the nightly full pass."""
    from siyu.segments.service import schedule_nightly

    schedule_nightly(session, workspace_id)


def _tz(session: Session, workspace_id: int) -> str:
    from siyu.segments.service import workspace_tz

    return workspace_tz(session, workspace_id)


def refresh_rule_tag(
    session: Session,
    tag: Tag,
    only: list[int] | None = None,
    limits: dict[str, float | None] | None = None,
) -> tuple[int, int]:
    """Recompute who has a rule tag (all customers, or `only` these); returns (gained, lost)."""
    assert tag.rule is not None
    at = now()
    tz = _tz(session, tag.workspace_id)
    stmt = compile_rule(tag.rule, tag.workspace_id, at, tz, only, thresholds=limits)
    wanted = set(session.scalars(stmt))
    current = holders(session, tag.id, only)
    changes = apply(session, tag, wanted - current, current - wanted, "rule")
    if only is None:
        tag.refreshed_at = at
    return changes


def refresh_rule_tags(
    session: Session,
    workspace_id: int,
    only: list[int] | None = None,
    limits: dict[str, float | None] | None = None,
) -> dict[int, tuple[int, int]]:
    """Every rule tag of a workspace: a full pass, or only the customers an event named."""
    stmt = select(Tag).where(Tag.workspace_id == workspace_id, Tag.kind == "rule")
    tags = list(session.scalars(stmt))
    return {tag.id: refresh_rule_tag(session, tag, only, limits) for tag in tags}


def install(session: Session, principal: Principal, keys: list[str] | None = None) -> list[Tag]:
    """Install library tags (all, or by key) with their groups; installed ones are skipped."""
    principal.require(Role.operator)
    for index, key in enumerate(keys or ()):
        if key not in BY_KEY:
            raise InvalidField(f"keys.{index}", f"没有内置标签 {key}", f"no built-in tag {key!r}")
    wanted = [b for b in BUILTINS if keys is None or b.key in keys]
    have = set(
        session.scalars(
            scoped(select(Tag.builtin_key), Tag, principal).where(Tag.builtin_key.is_not(None))
        )
    )
    groups = {g.name: g for g in list_groups(session, principal)}
    made = []
    at = now()
    for builtin in wanted:
        if builtin.key in have:
            continue
        if builtin.group not in groups:
            groups[builtin.group] = create_group(session, principal, GroupIn(name=builtin.group))
        _unique_name(session, principal, Tag, builtin.name)
        tag = Tag(
            workspace_id=principal.workspace_id,
            name=builtin.name,
            group_id=groups[builtin.group].id,
            kind="rule",
            rule=rules.dump(rules.parse_rule(builtin.rule)),
            builtin_key=builtin.key,
            description=builtin.description,
            created_at=at,
            updated_at=at,
        )
        session.add(tag)
        made.append(tag)
    session.flush()
    for tag in made:
        refresh_rule_tag(session, tag)
    if made:
        _schedule(session, principal.workspace_id)
    audit.record(session, principal, "install", "tag_library", None, tags=len(made))
    return made
