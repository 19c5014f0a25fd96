"""Workspaces, users, API keys and console sessions."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal, system_principal
from siyu.core.clock import now
from siyu.core.errors import Conflict, InvalidField, NotFound, Unauthorized
from siyu.core.raw import reading
from siyu.workspaces.models import ApiKey, ConsoleSession, Membership, Role, User, Workspace

_hasher = PasswordHasher()
# How fresh an API key's last_used_at is kept: to the minute, not rewritten on every request.
LAST_USED_PRECISION = timedelta(minutes=1)
_KEY = select(
    ApiKey.id,
    ApiKey.workspace_id,
    ApiKey.role,
    ApiKey.distributor_id,
    ApiKey.supplier_id,
    ApiKey.revoked_at,
    ApiKey.last_used_at,
).where(ApiKey.key_hash == bindparam("hash"))
_NAME = re.compile(r"^[\w\-. \u4e00-\u9fff]{1,128}$")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def create_workspace(session: Session, name: str) -> tuple[Workspace, str]:
    """A new workspace and its first admin API key (returned once, stored hashed)."""
    name = name.strip()
    if not _NAME.match(name):
        raise InvalidField(
            "name",
            "工作区名称应为1到128个字母、数字或汉字",
            "must be 1 to 128 letters, digits or CJK characters",
        )
    if session.scalars(select(Workspace).where(Workspace.name == name)).first():
        raise Conflict(zh=f"工作区 {name} 已存在", en=f"Workspace {name} already exists")
    workspace = Workspace(name=name)
    session.add(workspace)
    session.flush()
    _, key = create_api_key(session, system_principal(workspace.id), "admin", Role.admin)
    return workspace, key


def create_api_key(
    session: Session,
    principal: Principal,
    name: str,
    role: Role,
    distributor_id: int | None = None,
    supplier_id: int | None = None,
) -> tuple[ApiKey, str]:
    """A new key in the caller's workspace; the plain key is returned this once only."""
    principal.require(Role.admin)
    raw = "sy_" + secrets.token_urlsafe(32)
    key = ApiKey(
        workspace_id=principal.workspace_id,
        name=name,
        prefix=raw[:11],
        key_hash=_sha256(raw),
        role=role,
        distributor_id=distributor_id,
        supplier_id=supplier_id,
        created_at=now(),
    )
    session.add(key)
    session.flush()
    audit.record(session, principal, "create", "api_key", key.id, role=str(role))
    return key, raw


def revoke_api_key(session: Session, principal: Principal, key_id: int) -> ApiKey:
    """Revoke a key of the caller's workspace; it stops working at once."""
    principal.require(Role.admin)
    key = session.get(ApiKey, key_id)
    if key is None or key.workspace_id != principal.workspace_id:
        raise NotFound()
    key.revoked_at = key.revoked_at or now()
    audit.record(session, principal, "revoke", "api_key", key.id)
    return key


def principal_for_key(session: Session, raw: str, address: str | None, locale: str) -> Principal:
    """Resolve a bearer key to its principal, or raise Unauthorized.

    The key is read outside the session's transaction, so on SQLite a request does its own
    work (parsing, validating) before its first statement takes the write lock.
    """
    with reading(session) as conn:
        key = conn.execute(_KEY, {"hash": _sha256(raw)}).first()
    if key is None or key.revoked_at is not None:
        raise Unauthorized(zh="API 密钥无效或已吊销", en="The API key is invalid or revoked")
    at = now()
    if key.last_used_at is None or at - key.last_used_at >= LAST_USED_PRECISION:
        # Every request writing this one row would queue concurrent requests behind its lock.
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=at))
    return Principal(
        workspace_id=key.workspace_id,
        role=key.role,
        api_key_id=key.id,
        distributor_id=key.distributor_id,
        supplier_id=key.supplier_id,
        address=address,
        locale=locale,
    )


def create_user(session: Session, username: str, password: str, locale: str = "zh-CN") -> User:
    """A console user with an argon2 password hash."""
    if len(password) < 8:
        raise InvalidField("password", "密码至少8位", "must be at least 8 characters")
    if session.scalars(select(User).where(User.username == username)).first():
        raise Conflict(zh=f"用户 {username} 已存在", en=f"User {username} already exists")
    user = User(username=username, password_hash=_hasher.hash(password), locale=locale)
    session.add(user)
    session.flush()
    return user


def add_member(session: Session, workspace_id: int, user: User, role: Role) -> Membership:
    """Give a user a role in a workspace."""
    member = Membership(workspace_id=workspace_id, user_id=user.id, role=role)
    session.add(member)
    session.flush()
    return member


def memberships(session: Session, user_id: int) -> list[tuple[Membership, Workspace]]:
    """The workspaces a user can switch between, with their role in each."""
    stmt = (
        select(Membership, Workspace)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(Membership.user_id == user_id)
        .order_by(Workspace.name)
    )
    return [(m, w) for m, w in session.execute(stmt)]


def login(
    session: Session, username: str, password: str, address: str | None, hours: int
) -> tuple[ConsoleSession, str]:
    """Check a password and open a console session; returns the session and its cookie token."""
    user = session.scalars(select(User).where(User.username == username)).first()
    try:
        if user is None or user.disabled:
            raise VerificationError()
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized(zh="用户名或密码错误", en="Wrong username or password") from None
    options = memberships(session, user.id)
    if not options:
        raise Unauthorized(zh="此用户不属于任何工作区", en="This user belongs to no workspace")
    token = secrets.token_urlsafe(32)
    console_session = ConsoleSession(
        token_hash=_sha256(token),
        user_id=user.id,
        workspace_id=options[0][1].id,
        created_at=now(),
        expires_at=now() + timedelta(hours=hours),
        address=address,
    )
    session.add(console_session)
    session.flush()
    audit.record(
        session,
        _session_principal(console_session, options[0][0], address),
        "login",
        "user",
        user.id,
    )
    return console_session, token


def _session_principal(
    cs: ConsoleSession, member: Membership, address: str | None, locale: str = "zh-CN"
) -> Principal:
    return Principal(
        workspace_id=cs.workspace_id,
        role=member.role,
        user_id=cs.user_id,
        session_id=cs.id,
        distributor_id=member.distributor_id,
        supplier_id=member.supplier_id,
        address=address,
        locale=locale,
    )


def principal_for_session(
    session: Session, token: str, address: str | None, locale: str
) -> tuple[Principal, ConsoleSession]:
    """Resolve a session cookie, refusing an unknown or expired one."""
    cs = session.scalars(
        select(ConsoleSession).where(ConsoleSession.token_hash == _sha256(token))
    ).first()
    if cs is None or cs.expires_at <= now():
        raise Unauthorized(
            zh="会话已过期，请重新登录", en="Your session has expired; please log in again"
        )
    member = session.scalars(
        select(Membership).where(
            Membership.user_id == cs.user_id, Membership.workspace_id == cs.workspace_id
        )
    ).first()
    if member is None:
        raise Unauthorized()
    return _session_principal(cs, member, address, locale), cs


def switch_workspace(session: Session, cs: ConsoleSession, workspace_id: int) -> None:
    """Move a console session to another workspace the user belongs to."""
    if not any(w.id == workspace_id for _, w in memberships(session, cs.user_id)):
        raise NotFound()
    cs.workspace_id = workspace_id


def logout(session: Session, cs: ConsoleSession) -> None:
    """End a console session."""
    session.delete(cs)
