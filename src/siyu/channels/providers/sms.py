"""SMS through Aliyun (RPC signature v1, HMAC-SHA1) or Tencent Cloud (TC3-HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlparse

from siyu.channels.providers.base import (
    Outgoing,
    Provider,
    ProviderError,
    Sent,
    http_json,
    permanent,
)
from siyu.core.clock import now

ALIYUN_BASE = "https://dysmsapi.aliyuncs.com"
TENCENT_BASE = "https://sms.tencentcloudapi.com"
ALIYUN_CODES = {
    "isv.BUSINESS_LIMIT_CONTROL": ("rate_limited", True),
    "isv.DAY_LIMIT_CONTROL": ("rate_limited", True),
    "Throttling.User": ("rate_limited", True),
    "isv.MOBILE_NUMBER_ILLEGAL": ("invalid_recipient", False),
    "isv.BLACK_KEY_CONTROL_LIMIT": ("template_rejected", False),
    "isv.SMS_TEMPLATE_ILLEGAL": ("template_rejected", False),
    "isv.SMS_SIGNATURE_ILLEGAL": ("template_rejected", False),
    "isv.TEMPLATE_MISSING_PARAMETERS": ("template_rejected", False),
    "InvalidAccessKeyId.NotFound": ("auth", False),
    "SignatureDoesNotMatch": ("auth", False),
}
TENCENT_PREFIXES = (
    ("LimitExceeded.", "rate_limited", True),
    ("RequestLimitExceeded", "rate_limited", True),
    ("InvalidParameterValue.IncorrectPhoneNumber", "invalid_recipient", False),
    ("UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber", "invalid_recipient", False),
    ("AuthFailure", "auth", False),
    ("FailedOperation.TemplateIncorrectOrUnapproved", "template_rejected", False),
    ("FailedOperation.SignatureIncorrectOrUnapproved", "template_rejected", False),
    ("InvalidParameterValue.TemplateParameterFormatError", "template_rejected", False),
)


def percent_encode(value: str) -> str:
    """Aliyun's rules: RFC 3986 unreserved characters kept, space %20, * %2A, ~ kept."""
    return quote(value, safe="~")


def aliyun_signature(params: dict[str, str], secret: str, method: str = "GET") -> str:
    """Base64 HMAC-SHA1 (key secret + "&") of METHOD&%2F&encoded(sorted canonical query)."""
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items())
    )
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _sha256(data: str) -> str:
    return hashlib.sha256(data.encode()).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_authorization(
    secret_id: str, secret_key: str, host: str, payload: str, timestamp: int, service: str = "sms"
) -> str:
    """The Authorization header of TC3-HMAC-SHA256 over content-type and host."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = (
        f"POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:{host}\n\n"
        f"content-type;host\n{_sha256(payload)}"
    )
    scope = f"{date}/{service}/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{_sha256(canonical)}"
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


class AliyunSms(Provider):
    """dysmsapi SendSms over the RPC (GET, signature v1) protocol."""

    def send(self, out: Outgoing) -> Sent:
        """Send a template SMS; Code OK answers a BizId."""
        if not out.to:
            raise permanent("no_recipient", "no_phone")
        params = {
            "AccessKeyId": self.option("access_key_id", ""),
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": str(out.touch_id),
            "PhoneNumbers": out.to,
            "RegionId": self.option("region", "cn-hangzhou"),
            "SignName": self.option("sign_name", ""),
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": secrets.token_hex(16),
            "SignatureVersion": "1.0",
            "TemplateCode": out.sms_template_code or self.option("template_code", ""),
            "TemplateParam": json.dumps(out.sms_params, ensure_ascii=False),
            "Timestamp": now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        params["Signature"] = aliyun_signature(params, self.secret("access_key_secret"))
        _, answer = http_json("GET", f"{self.base(ALIYUN_BASE)}/", params=params)
        code = str(answer.get("Code", ""))
        if code == "OK":
            return Sent(message_id=str(answer.get("BizId")))
        reason, transient = ALIYUN_CODES.get(code, ("provider_error", True))
        raise ProviderError(reason, code or "no_code", str(answer.get("Message", "")), transient)


class TencentSms(Provider):
    """SendSms (2021-01-11) with a TC3-HMAC-SHA256 signed JSON POST."""

    def send(self, out: Outgoing) -> Sent:
        """Send a template SMS; each number has its own Code in SendStatusSet."""
        if not out.to:
            raise permanent("no_recipient", "no_phone")
        body = {
            "PhoneNumberSet": [f"+86{out.to}"],
            "SmsSdkAppId": self.option("sdk_app_id", ""),
            "SignName": self.option("sign_name", ""),
            "TemplateId": out.sms_template_code or self.option("template_code", ""),
            "TemplateParamSet": [str(v) for v in out.sms_params.values()],
            "SessionContext": str(out.touch_id),
        }
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        base = self.base(TENCENT_BASE)
        timestamp = int(now().timestamp())
        auth = tc3_authorization(
            self.option("secret_id", ""),
            self.secret("secret_key"),
            urlparse(base).netloc,
            payload,
            timestamp,
        )
        headers = {
            "Authorization": auth,
            "Content-Type": "application/json; charset=utf-8",
            "Host": urlparse(base).netloc,
            "X-TC-Action": "SendSms",
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": "2021-01-11",
            "X-TC-Region": self.option("region", "ap-guangzhou"),
        }
        _, answer = http_json("POST", f"{base}/", content=payload.encode(), headers=headers)
        return _tencent_result(answer)


def _tencent_result(answer: dict[str, Any]) -> Sent:
    response = answer.get("Response")
    if not isinstance(response, dict):
        raise ProviderError("bad_response", "no_response")
    error = response.get("Error")
    if isinstance(error, dict):
        raise tencent_error(str(error.get("Code", "")), str(error.get("Message", "")))
    statuses = response.get("SendStatusSet") or []
    if not statuses or not isinstance(statuses[0], dict):
        raise ProviderError("bad_response", "no_status")
    first = statuses[0]
    if first.get("Code") != "Ok":
        raise tencent_error(str(first.get("Code", "")), str(first.get("Message", "")))
    return Sent(message_id=str(first.get("SerialNo")))


def tencent_error(code: str, message: str) -> ProviderError:
    """Tencent Cloud's error code as a retryable or final failure."""
    for prefix, reason, transient in TENCENT_PREFIXES:
        if code.startswith(prefix):
            return ProviderError(reason, code, message, transient)
    return ProviderError("provider_error", code or "no_code", message)
