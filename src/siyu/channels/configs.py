"""Channel configs (secrets encrypted, never shown), the frequency policy and templates."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channels import frequency
from siyu.channels.models import CHANNELS, PROVIDERS, ChannelConfig, MessageTemplate
from siyu.channels.rendering import render_fields, sample_variables
from siyu.channels.schemas import ConfigIn, ConfigOut, PolicyIn, TemplateIn
from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.errors import Conflict, InvalidField
from siyu.workspaces.models import Role

CACHE = "channels.cache"  # session.info key of the per-transaction settings memo


# ---------------------------------------------------------------- templates


def check_template(data: TemplateIn) -> None:
    """Compile and render against a sample: a syntax error or undeclared variable is refused."""
    if data.channel == "sms" and not data.sms_template_code:
        raise InvalidField(
            "sms_template_code", "短信模板需填写模板编号", "SMS templates need a code"
        )
    for name in data.variables:
        if not name.isidentifier():
            raise InvalidField("variables", f"变量名 {name} 无效", f"{name} is not a valid name")
    fields = {"text": data.body, "subject": data.subject, "sms_params": data.sms_params}
    render_fields(fields, sample_variables(data.variables), text_field="body")


def create_template(session: Session, principal: Principal, data: TemplateIn) -> MessageTemplate:
    """Save a template after checking it."""
    principal.require(Role.operator)
    check_template(data)
    _unique_name(session, principal, data.name, None)
    template = MessageTemplate(workspace_id=principal.workspace_id, **data.model_dump())
    session.add(template)
    session.flush()
    return template


def update_template(
    session: Session, principal: Principal, template_id: int, data: TemplateIn
) -> MessageTemplate:
    """Replace a template's content (version + 1); touches already rendered keep their text."""
    principal.require(Role.operator)
    template = get_scoped(session, MessageTemplate, template_id, principal)
    check_template(data)
    _unique_name(session, principal, data.name, template.id)
    for key, value in data.model_dump().items():
        setattr(template, key, value)
    template.version += 1
    session.flush()
    return template


def _unique_name(session: Session, principal: Principal, name: str, own: int | None) -> None:
    stmt = scoped(select(MessageTemplate.id), MessageTemplate, principal).where(
        MessageTemplate.name == name
    )
    found = session.scalar(stmt)
    if found is not None and found != own:
        raise Conflict(zh=f"模板名 {name} 已存在", en=f"a template named {name} exists")


def list_templates(session: Session, principal: Principal) -> list[MessageTemplate]:
    """The workspace's templates by name."""
    stmt = scoped(select(MessageTemplate), MessageTemplate, principal)
    return list(session.scalars(stmt.order_by(MessageTemplate.name)))


# ---------------------------------------------------------------- configs and policy


def config_out(config: ChannelConfig) -> ConfigOut:
    """A config as the API shows it: secret names only, never values."""
    names = sorted(json.loads(config.secrets)) if config.secrets else []
    return ConfigOut(
        id=config.id,
        channel=config.channel,
        provider=config.provider,
        enabled=config.enabled,
        base_url=config.base_url,
        options=config.options,
        secret_names=names,
        rate_per_second=config.rate_per_second,
        burst=config.burst,
    )


def put_config(
    session: Session, principal: Principal, channel: str, data: ConfigIn
) -> ChannelConfig:
    """Create or replace a channel's config (admin only); omitted secrets are kept."""
    principal.require()
    if channel not in CHANNELS:
        raise InvalidField("channel", f"未知渠道 {channel}", f"unknown channel {channel}")
    if data.provider not in PROVIDERS[channel]:
        allowed = ", ".join(PROVIDERS[channel])
        raise InvalidField("provider", f"应为 {allowed}", f"must be one of {allowed}")
    if data.base_url and not data.base_url.startswith(("http://", "https://")):
        raise InvalidField("base_url", "应以 http:// 或 https:// 开头", "must be an http(s) URL")
    session.info.pop(CACHE, None)
    config = config_of(session, principal.workspace_id, channel)
    if config is None:
        config = ChannelConfig(workspace_id=principal.workspace_id, channel=channel)
        session.add(config)
    config.provider, config.enabled, config.base_url = data.provider, data.enabled, data.base_url
    config.options, config.rate_per_second, config.burst = (
        data.options,
        data.rate_per_second,
        data.burst,
    )
    if data.secrets is not None:
        config.secrets = json.dumps(data.secrets)
    session.flush()
    return config


def config_of(session: Session, workspace_id: int, channel: str) -> ChannelConfig | None:
    """A workspace's config for a channel, enabled or not."""
    return session.scalars(
        select(ChannelConfig).where(
            ChannelConfig.workspace_id == workspace_id, ChannelConfig.channel == channel
        )
    ).first()


def list_configs(session: Session, principal: Principal) -> list[ChannelConfig]:
    """Every configured channel of the workspace."""
    stmt = scoped(select(ChannelConfig), ChannelConfig, principal)
    return list(session.scalars(stmt.order_by(ChannelConfig.channel)))


def put_policy(session: Session, principal: Principal, data: PolicyIn) -> Any:
    """Replace the workspace's frequency policy (admin only)."""
    principal.require()
    if data.daily_cap > data.weekly_cap:
        raise InvalidField("daily_cap", "不能大于每周上限", "must not exceed weekly_cap")
    session.info.pop(CACHE, None)
    policy = frequency.policy_of(session, principal.workspace_id)
    if policy.id is None:
        session.add(policy)
    for key, value in data.model_dump().items():
        setattr(policy, key, value)
    session.flush()
    return policy


def configured_channels(session: Session, principal: Principal) -> list[str]:
    """Channels a journey step may name: the enabled configs, and the sandbox."""
    stmt = scoped(select(ChannelConfig.channel), ChannelConfig, principal).where(
        ChannelConfig.enabled.is_(True)
    )
    return sorted({"sandbox", *session.scalars(stmt)})


def template_body(session: Session, principal: Principal, template_id: int) -> str | None:
    """A stored template's body (None when the workspace has no such template)."""
    stmt = scoped(select(MessageTemplate.body), MessageTemplate, principal).where(
        MessageTemplate.id == template_id
    )
    return session.scalar(stmt)
