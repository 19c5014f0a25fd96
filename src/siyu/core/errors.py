"""Domain errors: each has an HTTP status, a stable code and a message in zh-CN and English."""

from __future__ import annotations

from typing import Any


class SiyuError(Exception):
    """Base for errors an operator should see; rendered in one place (core.http)."""

    status = 400
    code = "bad_request"
    zh = "请求有误"
    en = "Bad request"

    def __init__(self, zh: str | None = None, en: str | None = None, **detail: Any) -> None:
        self.zh_message = zh or self.zh
        self.en_message = en or self.en
        self.detail = detail
        super().__init__(self.en_message)

    def message(self, locale: str) -> str:
        """The message in the caller's language."""
        return self.zh_message if locale.startswith("zh") else self.en_message

    def body(self, locale: str) -> dict[str, Any]:
        """The JSON body every error response carries."""
        return {"code": self.code, "message": self.message(locale), **self.detail}


class ValidationFailed(SiyuError):
    status = 422
    code = "validation_error"
    zh = "输入无效"
    en = "Invalid input"


class InvalidField(ValidationFailed):
    """One named field is wrong; says which and why."""

    def __init__(self, field: str, zh_reason: str, en_reason: str) -> None:
        super().__init__(
            zh=f"字段 {field} 无效：{zh_reason}",
            en=f"Field {field} is invalid: {en_reason}",
            errors=[{"field": field, "reason": en_reason}],
        )


class Unauthorized(SiyuError):
    status = 401
    code = "unauthorized"
    zh = "未登录或凭证无效"
    en = "Missing or invalid credentials"


class Forbidden(SiyuError):
    status = 403
    code = "forbidden"
    zh = "没有权限执行此操作"
    en = "You are not allowed to do this"


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    zh = "表单已过期或缺少安全令牌，请刷新页面后重试"
    en = "The form is missing its security token or has expired; reload and try again"


class NotFound(SiyuError):
    status = 404
    code = "not_found"
    zh = "未找到"
    en = "Not found"


class Conflict(SiyuError):
    status = 409
    code = "conflict"
    zh = "与现有数据冲突"
    en = "Conflicts with existing data"


class PayloadTooLarge(SiyuError):
    status = 413
    code = "payload_too_large"
    zh = "请求体过大"
    en = "Request body is too large"
