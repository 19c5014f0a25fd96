"""WeCom (企业微信): cached access token, private messages to external contacts, welcome
messages, group-message (群发) and moments (朋友圈) tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from siyu.channels.models import ProviderToken
from siyu.channels.providers.base import (
    Outgoing,
    Provider,
    ProviderError,
    Sent,
    http_json,
    permanent,
)
from siyu.core.clock import now

DEFAULT_BASE = "https://qyapi.weixin.qq.com"
EXPIRED = {42001, 40014}  # access_token expired / invalid: refresh and retry once
RATE_LIMITED = {45009, 45033, 45035}
INVALID_RECIPIENT = {40003, 40096, 84061, 41050}
EARLY = timedelta(minutes=5)  # refresh a little before WeCom's expiry


class WecomProvider(Provider):
    """Talks the qyapi JSON protocol; the token lives encrypted in channel_provider_token."""

    def send(self, out: Outgoing) -> Sent:
        """A welcome message (with a welcome_code) or a private message to one contact."""
        text = {"content": out.text}
        code = out.extra.get("welcome_code")
        if code:
            self.call(
                "/cgi-bin/externalcontact/send_welcome_msg", {"welcome_code": code, "text": text}
            )
            return Sent(message_id=f"welcome-{out.touch_id}", delivered=True)
        if not out.to:
            raise permanent("no_recipient", "no_external_userid")
        body = {
            "chat_type": "single",
            "external_userid": [out.to],
            "sender": out.extra.get("sender") or self.option("sender"),
            "text": text,
        }
        answer = self.call("/cgi-bin/externalcontact/add_msg_template", body)
        failed = [f for f in answer.get("fail_list") or [] if f == out.to]
        if failed:
            raise permanent("invalid_recipient", "fail_list", out.to)
        return Sent(message_id=str(answer.get("msgid") or f"wecom-{out.touch_id}"))

    def group_message(self, sender: str | None, text: str) -> str:
        """A 群发 task to the sender's customer groups; returns WeCom's msgid."""
        body = {"chat_type": "group", "sender": sender, "text": {"content": text}}
        return str(self.call("/cgi-bin/externalcontact/add_msg_template", body).get("msgid"))

    def moment(self, sender: str | None, text: str) -> str:
        """A 朋友圈 task for the sender; returns WeCom's jobid."""
        body: dict[str, Any] = {"text": {"content": text}}
        if sender:
            body["visible_range"] = {"sender_list": {"user_list": [sender]}}
        return str(self.call("/cgi-bin/externalcontact/add_moment_task", body).get("jobid"))

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with the access token; an expired token is refreshed and the call retried once."""
        for attempt in range(2):
            token = self.token(force=attempt > 0)
            url = f"{self.base(DEFAULT_BASE)}{path}"
            _, answer = http_json("POST", url, params={"access_token": token}, json=body)
            errcode = answer.get("errcode", -2)
            if errcode == 0:
                return answer
            if errcode in EXPIRED and attempt == 0:
                continue
            raise classify(errcode, str(answer.get("errmsg", "")))
        raise ProviderError("auth", "token_refresh_failed")

    def token(self, force: bool = False) -> str:
        """The cached token, or a fresh one from gettoken."""
        session, ws = self.setup.session, self.setup.workspace_id
        cached = session.scalars(
            select(ProviderToken).where(
                ProviderToken.workspace_id == ws, ProviderToken.channel == "wecom"
            )
        ).first()
        if cached is not None and not force and cached.expires_at > now() + EARLY:
            return cached.token
        params = {"corpid": self.option("corp_id", ""), "corpsecret": self.secret("corp_secret")}
        _, answer = http_json("GET", f"{self.base(DEFAULT_BASE)}/cgi-bin/gettoken", params=params)
        if answer.get("errcode", -2) != 0 or not answer.get("access_token"):
            raise permanent("auth", str(answer.get("errcode")), str(answer.get("errmsg", "")))
        expires = now() + timedelta(seconds=int(answer.get("expires_in", 7200)))
        if cached is None:
            cached = ProviderToken(workspace_id=ws, channel="wecom", token="", expires_at=expires)
            session.add(cached)
        cached.token, cached.expires_at = str(answer["access_token"]), expires
        session.flush()
        return cached.token


def classify(errcode: Any, errmsg: str) -> ProviderError:
    """WeCom's errcode as a retryable or final failure."""
    if errcode in RATE_LIMITED:
        return ProviderError("rate_limited", str(errcode), errmsg)
    if errcode in INVALID_RECIPIENT:
        return permanent("invalid_recipient", str(errcode), errmsg)
    if errcode in EXPIRED:
        return ProviderError("auth", str(errcode), errmsg)
    return ProviderError("provider_error", str(errcode), errmsg)
