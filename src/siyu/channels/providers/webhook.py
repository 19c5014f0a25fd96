"""Signed webhooks: JSON POST with an HMAC-SHA256 signature over timestamp and body."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from siyu.channels.providers.base import Outgoing, Provider, ProviderError, Sent, permanent
from siyu.core.clock import now


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """sha256=<hex HMAC-SHA256 of "timestamp." + body>."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookProvider(Provider):
    """POSTs the message to the configured URL; 2xx is sent, 4xx final, 429/5xx retried."""

    def send(self, out: Outgoing) -> Sent:
        """Deliver one message as a signed JSON event."""
        if not self.setup.base_url:
            raise permanent("channel_not_configured", "no_url")
        body = json.dumps(
            {
                "touch_id": out.touch_id,
                "customer_id": out.customer_id,
                "subject": out.subject,
                "text": out.text,
            },
            ensure_ascii=False,
        ).encode()
        timestamp = str(int(now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "X-Siyu-Timestamp": timestamp,
            "X-Siyu-Signature": webhook_signature(self.secret("signing_secret"), timestamp, body),
        }
        try:
            response = httpx.post(self.setup.base_url, content=body, headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            raise ProviderError("network", type(exc).__name__) from exc
        status = response.status_code
        if 200 <= status < 300:
            return Sent(message_id=f"webhook-{out.touch_id}")
        if status == 429:
            raise ProviderError("rate_limited", "http_429")
        if 400 <= status < 500:
            raise permanent("rejected", f"http_{status}")
        raise ProviderError("provider_error", f"http_{status}")
