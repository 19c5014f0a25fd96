"""Loopback servers speaking the providers' protocols: WeCom qyapi, Aliyun dysmsapi (RPC v1),
Tencent Cloud SMS (TC3-HMAC-SHA256) and a webhook receiver. Each verifies the signature the
client sent with its own implementation of the provider's documented scheme, and can be told
to answer the providers' error codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlparse

CORP_SECRET = "corp-secret-1"
ALIYUN_SECRET = "aliyun-secret-1"
TENCENT_KEY = "tencent-key-1"
WEBHOOK_SECRET = "hook-secret-1"
INVALID_PHONE = "13800000000"
BAD_CONTACT = "wm-bad"


@dataclass
class State:
    """What the fake servers saw and what they will answer next."""

    tokens_issued: int = 0
    valid_token: str | None = None
    expire_next: int = 0  # answer 42001 to this many calls
    wecom_rate_limited: int = 0  # answer 45009
    aliyun_limited: int = 0  # answer isv.BUSINESS_LIMIT_CONTROL
    tencent_limited: int = 0  # answer LimitExceeded.PhoneNumberDailyLimit
    garbage: int = 0  # answer HTML to this many SMS calls
    webhook_status: list[int] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["kind"] == kind]


def aliyun_encode(value: str) -> str:
    # The documented recipe: URL-encode, then + -> %20, * -> %2A, %7E -> ~.
    return (
        quote_plus(value, encoding="utf-8")
        .replace("+", "%20")
        .replace("*", "%2A")
        .replace("%7E", "~")
    )


def aliyun_expected(params: dict[str, str]) -> str:
    query = "&".join(
        aliyun_encode(k) + "=" + aliyun_encode(params[k])
        for k in sorted(params)
        if k != "Signature"
    )
    string_to_sign = "GET&" + aliyun_encode("/") + "&" + aliyun_encode(query)
    mac = hmac.new((ALIYUN_SECRET + "&").encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def tencent_expected(headers: Any, body: bytes, host: str) -> str:
    timestamp = headers["X-TC-Timestamp"]
    date = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{headers['Content-Type'].lower()}\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = date + "/sms/tc3_request"
    string_to_sign = "\n".join(
        ["TC3-HMAC-SHA256", timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )

    def sign(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = sign(sign(sign(("TC3" + TENCENT_KEY).encode(), date), "sms"), "tc3_request")
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        return

    def _json(self, body: Any, status: int = 200) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _html(self) -> None:
        raw = b"<html>502 Bad Gateway</html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path == "/cgi-bin/gettoken":
            return self._gettoken(params)
        if url.path == "/" and params.get("Action") == "SendSms":
            return self._aliyun(params)
        self._json({"error": "no route"}, 404)

    def do_POST(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        params = dict(parse_qsl(url.query))
        body = self._body()
        if url.path.startswith("/cgi-bin/externalcontact/"):
            return self._wecom(url.path.rsplit("/", 1)[1], params, json.loads(body))
        if url.path == "/" and self.headers.get("X-TC-Action") == "SendSms":
            return self._tencent(body)
        if url.path == "/hook":
            return self._hook(body)
        self._json({"error": "no route"}, 404)

    # ------------------------------------------------------------ WeCom

    def _gettoken(self, params: dict[str, str]) -> None:
        if params.get("corpsecret") != CORP_SECRET:
            return self._json({"errcode": 40001, "errmsg": "invalid credential"})
        self.state.tokens_issued += 1
        self.state.valid_token = f"tok-{self.state.tokens_issued}"
        self.state.calls.append({"kind": "gettoken"})
        self._json(
            {
                "errcode": 0,
                "errmsg": "ok",
                "access_token": self.state.valid_token,
                "expires_in": 7200,
            }
        )

    def _wecom(self, action: str, params: dict[str, str], body: dict[str, Any]) -> None:
        s = self.state
        s.calls.append(
            {"kind": f"wecom.{action}", "token": params.get("access_token"), "body": body}
        )
        if s.expire_next > 0:
            s.expire_next -= 1
            s.valid_token = None
            return self._json({"errcode": 42001, "errmsg": "access_token expired"})
        if params.get("access_token") != s.valid_token:
            return self._json({"errcode": 40014, "errmsg": "invalid access_token"})
        if s.wecom_rate_limited > 0:
            s.wecom_rate_limited -= 1
            return self._json({"errcode": 45009, "errmsg": "api freq out of limit"})
        if action == "add_msg_template":
            bad = [u for u in body.get("external_userid", []) if u == BAD_CONTACT]
            return self._json(
                {"errcode": 0, "errmsg": "ok", "fail_list": bad, "msgid": f"msg-{len(s.calls)}"}
            )
        if action == "send_welcome_msg":
            return self._json({"errcode": 0, "errmsg": "ok"})
        if action == "add_moment_task":
            return self._json({"errcode": 0, "errmsg": "ok", "jobid": f"job-{len(s.calls)}"})
        self._json({"errcode": 60011, "errmsg": "no privilege"})

    # ------------------------------------------------------------ SMS

    def _aliyun(self, params: dict[str, str]) -> None:
        s = self.state
        s.calls.append({"kind": "aliyun", "params": params})
        if s.garbage > 0:
            s.garbage -= 1
            return self._html()
        if params.get("Signature") != aliyun_expected(params):
            s.bad_signatures += 1
            return self._json({"Code": "SignatureDoesNotMatch", "Message": "bad signature"}, 400)
        if s.aliyun_limited > 0:
            s.aliyun_limited -= 1
            return self._json({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发流控"})
        if params["PhoneNumbers"] == INVALID_PHONE:
            return self._json({"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"})
        self._json(
            {"Code": "OK", "Message": "OK", "BizId": f"biz-{len(s.calls)}", "RequestId": "req"}
        )

    def _tencent(self, body: bytes) -> None:
        s = self.state
        payload = json.loads(body)
        s.calls.append({"kind": "tencent", "body": payload, "auth": self.headers["Authorization"]})
        signature = self.headers["Authorization"].rsplit("Signature=", 1)[-1]
        if signature != tencent_expected(self.headers, body, self.headers["Host"]):
            s.bad_signatures += 1
            return self._json(
                {
                    "Response": {
                        "Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad"},
                        "RequestId": "r",
                    }
                }
            )
        if s.tencent_limited > 0:
            s.tencent_limited -= 1
            return self._json(
                {
                    "Response": {
                        "Error": {
                            "Code": "LimitExceeded.PhoneNumberDailyLimit",
                            "Message": "limit",
                        },
                        "RequestId": "r",
                    }
                }
            )
        phone = payload["PhoneNumberSet"][0]
        code = (
            "InvalidParameterValue.IncorrectPhoneNumber" if phone.endswith(INVALID_PHONE) else "Ok"
        )
        status = {
            "SerialNo": f"serial-{len(s.calls)}",
            "PhoneNumber": phone,
            "Fee": 1,
            "Code": code,
            "Message": "send success" if code == "Ok" else "bad number",
        }
        self._json({"Response": {"SendStatusSet": [status], "RequestId": "r"}})

    # ------------------------------------------------------------ webhook

    def _hook(self, body: bytes) -> None:
        s = self.state
        timestamp = self.headers["X-Siyu-Timestamp"]
        mac = hmac.new(WEBHOOK_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        ok = self.headers["X-Siyu-Signature"] == "sha256=" + mac.hexdigest()
        s.calls.append({"kind": "hook", "body": json.loads(body), "signed": ok})
        status = s.webhook_status.pop(0) if s.webhook_status else 200
        self._json({"ok": ok}, status if ok else 401)


@contextmanager
def providers() -> Iterator[tuple[str, State]]:
    """Start the fake providers on a loopback port; yields (base URL, state)."""
    state = State()
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
