"""The Provider interface: what to send, what came back, and how a failure is classified."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.orm import Session

TIMEOUT = 10.0


@dataclass
class ProviderSetup:
    """A channel config as a provider sees it: decrypted secrets and the session for caches."""

    session: Session
    workspace_id: int
    channel: str
    provider: str
    base_url: str | None
    options: dict[str, Any]
    secrets: dict[str, Any]


@dataclass
class Outgoing:
    """One rendered message for one recipient."""

    touch_id: int
    customer_id: int
    to: str | None
    text: str
    subject: str | None = None
    sms_template_code: str | None = None
    sms_params: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sent:
    """The provider accepted the message (delivered=True when acceptance is delivery)."""

    message_id: str
    delivered: bool = False


class ProviderError(Exception):
    """A failed send: transient ones are retried with backoff, permanent ones are not."""

    def __init__(self, reason: str, code: str, message: str = "", transient: bool = True) -> None:
        super().__init__(f"{reason}: {code} {message}".strip())
        self.reason = reason  # rate_limited | invalid_recipient | auth | provider_error | ...
        self.code = code
        self.transient = transient


def permanent(reason: str, code: str, message: str = "") -> ProviderError:
    """A failure no retry can fix (an invalid recipient, a rejected template)."""
    return ProviderError(reason, code, message, transient=False)


class Provider:
    """Sends one message; raises ProviderError with a reason when it cannot."""

    def __init__(self, setup: ProviderSetup) -> None:
        self.setup = setup

    def send(self, out: Outgoing) -> Sent:
        """Deliver one message, or raise ProviderError."""
        raise NotImplementedError

    def option(self, name: str, default: Any = None) -> Any:
        """A non-secret option of the config."""
        return self.setup.options.get(name, default)

    def secret(self, name: str) -> str:
        """A secret of the config; a missing one is a permanent configuration error."""
        value = self.setup.secrets.get(name)
        if not value:
            raise permanent("channel_not_configured", "missing_secret", name)
        return str(value)

    def base(self, default: str) -> str:
        """The configured base URL (tests point it at loopback), without a trailing slash."""
        return (self.setup.base_url or default).rstrip("/")


def http_json(method: str, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """One HTTP call answering JSON; network trouble and garbage are transient errors."""
    try:
        response = httpx.request(method, url, timeout=TIMEOUT, **kwargs)
    except httpx.HTTPError as exc:
        raise ProviderError("network", type(exc).__name__) from exc
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ProviderError("bad_response", f"http_{response.status_code}", "not JSON") from exc
    if not isinstance(body, dict):
        raise ProviderError("bad_response", f"http_{response.status_code}", "not an object")
    return response.status_code, body
