"""Console strings in zh-CN (default) and English; every key has both."""

from __future__ import annotations

from collections.abc import Callable

LOCALES = ("zh-CN", "en")

CATALOG: dict[str, tuple[str, str]] = {
    "app.name": ("私域 siyu", "siyu"),
    "app.tagline": ("私域增长引擎", "Private-domain growth engine"),
    "nav.overview": ("概览", "Overview"),
    "nav.customers": ("客户", "Customers"),
    "nav.audit": ("审计日志", "Audit log"),
    "nav.logout": ("退出登录", "Log out"),
    "nav.workspace": ("工作区", "Workspace"),
    "nav.switch": ("切换", "Switch"),
    "nav.language": ("语言", "Language"),
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("用户名或密码错误", "Wrong username or password"),
    "login.expired": ("表单已过期，请重试", "The form expired; please try again"),
    "overview.title": ("工作区概览", "Workspace overview"),
    "overview.customers_total": ("客户总数", "Customers"),
    "overview.customers_7d": ("近7天新增", "New in 7 days"),
    "overview.customers_30d": ("近30天新增", "New in 30 days"),
    "overview.chart_title": ("客户增长", "Customers over time"),
    "overview.series_total": ("累计客户", "Total customers"),
    "overview.series_new": ("当日新增", "New that day"),
    "overview.empty": (
        "还没有客户。可通过 API 或导入添加。",
        "No customers yet. Add them through the API or an import.",
    ),
    "customers.title": ("客户", "Customers"),
    "customers.search": ("按手机号、邮箱或姓名查找", "Find by phone, email or name"),
    "customers.search_button": ("查找", "Search"),
    "customers.id": ("编号", "ID"),
    "customers.name": ("姓名", "Name"),
    "customers.phone": ("手机号", "Phone"),
    "customers.email": ("邮箱", "Email"),
    "customers.created": ("创建时间", "Created"),
    "customers.none": ("没有找到客户", "No customers found"),
    "customers.invalid": ("查询条件无效", "Invalid search"),
    "common.next": ("下一页", "Next page"),
    "audit.title": ("审计日志", "Audit log"),
    "audit.at": ("时间", "When"),
    "audit.actor": ("操作者", "Who"),
    "audit.action": ("操作", "Action"),
    "audit.target": ("对象", "Target"),
    "audit.outcome": ("结果", "Outcome"),
    "audit.address": ("地址", "Address"),
    "audit.filter": ("筛选操作", "Filter by action"),
    "error.forbidden": ("没有权限查看此页面", "You may not view this page"),
}


def translator(locale: str) -> Callable[[str], str]:
    """A function that looks a key up in the given locale."""
    index = 1 if locale == "en" else 0

    def t(key: str) -> str:
        return CATALOG[key][index]

    return t
