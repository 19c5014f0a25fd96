"""One Provider per channel behind a single interface; `provider_for` picks the right one."""

from __future__ import annotations

from siyu.channels.providers.base import Outgoing, Provider, ProviderError, ProviderSetup, Sent
from siyu.channels.providers.email import SmtpProvider
from siyu.channels.providers.sandbox import SandboxProvider
from siyu.channels.providers.sms import AliyunSms, TencentSms
from siyu.channels.providers.webhook import WebhookProvider
from siyu.channels.providers.wecom import WecomProvider

REGISTRY: dict[str, type[Provider]] = {
    "wecom": WecomProvider,
    "aliyun": AliyunSms,
    "tencent": TencentSms,
    "smtp": SmtpProvider,
    "webhook": WebhookProvider,
    "sandbox": SandboxProvider,
}


def provider_for(setup: ProviderSetup) -> Provider:
    """The provider a config names."""
    return REGISTRY[setup.provider](setup)


__all__ = ["Outgoing", "Provider", "ProviderError", "ProviderSetup", "Sent", "provider_for"]
