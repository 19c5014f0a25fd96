"""Built-in tag definitions in the seeds' vocabulary: each a rule tree, installed per workspace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Builtin:
    """One library tag: a stable key, its group, its Chinese name and its rule."""

    key: str
    group: str
    name: str
    description: str
    rule: dict[str, Any]


def _attr(field: str, op: str, value: Any = None) -> dict[str, Any]:
    node = {"type": "attribute", "field": field, "op": op}
    return node if value is None else node | {"value": value}


def _all(*children: dict[str, Any]) -> dict[str, Any]:
    return {"type": "and", "children": list(children)}


def _bought(category: str, times: int, days: int) -> dict[str, Any]:
    return {
        "type": "order",
        "categories": [category],
        "op": "gte",
        "value": times,
        "window": {"last_days": days},
    }


def _event(kind: str, times: int, days: int | None, **properties: str) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "event", "event_type": kind, "op": "gte", "value": times}
    if days is not None:
        node["window"] = {"last_days": days}
    if properties:
        node["properties"] = properties
    return node


def _source(touchpoint: str) -> dict[str, Any]:
    via_contact = _event("add_contact", 1, None, touchpoint=touchpoint)
    via_order = {"type": "order", "touchpoints": [touchpoint], "op": "gte", "value": 1}
    return {"type": "or", "children": [via_contact, via_order]}


def _promo(start: str, end: str) -> dict[str, Any]:
    window = {"start": start, "end": end}
    return {"type": "order", "op": "gte", "value": 1, "window": window}


LIFECYCLE, VALUE, CATEGORY, PROMO, CHANNEL, SOURCE, ACTIVITY, MEMBER = (
    "生命周期",
    "价值分层",
    "品类偏好",
    "大促敏感",
    "渠道偏好",
    "来源触点",
    "互动活跃",
    "会员等级",
)
CATEGORIES = (
    ("lipstick", "口红", "口红爱好者"),
    ("eyeshadow", "眼影", "眼影爱好者"),
    ("foundation", "粉底", "粉底用户"),
    ("skincare", "护肤", "护肤达人"),
    ("mascara", "睫毛膏", "睫毛膏用户"),
    ("perfume", "香水", "香水用户"),
)
CHANNEL_NAMES = (
    ("tmall", "天猫"),
    ("jd", "京东"),
    ("douyin", "抖音"),
    ("youzan", "有赞"),
    ("wechat", "小程序"),
    ("store", "门店"),
)
SOURCES = (
    ("package_card", "包裹卡来源"),
    ("red_packet_card", "红包卡来源"),
    ("kol_comment", "KOL来源"),
    ("shopping_guide", "导购来源"),
)
STAGE_TAGS = (
    ("dormant_light", "轻度休眠"),
    ("dormant_medium", "中度休眠"),
    ("dormant_heavy", "重度休眠"),
)

BUILTINS: tuple[Builtin, ...] = (
    Builtin(
        "new_customer",
        LIFECYCLE,
        "新客",
        "30天内完成首单，且只买过一次",
        _all(_attr("order_count", "eq", 1), _attr("days_since_first_order", "lt", 30)),
    ),
    Builtin(
        "repeat_customer", LIFECYCLE, "复购客", "买过两次及以上", _attr("order_count", "gte", 2)
    ),
    Builtin(
        "loyal_customer", LIFECYCLE, "忠实客户", "买过五次及以上", _attr("order_count", "gte", 5)
    ),
    Builtin(
        "sleeping_customer",
        LIFECYCLE,
        "沉睡客户",
        "买过，但90天没有再买",
        _all(_attr("order_count", "gte", 1), _attr("days_since_last_order", "gte", 90)),
    ),
    Builtin(
        "lost_customer",
        LIFECYCLE,
        "流失客户",
        "180天以上没有购买",
        _all(_attr("order_count", "gte", 1), _attr("days_since_last_order", "gte", 180)),
    ),
    Builtin(
        "fan_no_order",
        LIFECYCLE,
        "未购粉丝",
        "已加好友或入会，尚未下单",
        _attr("order_count", "eq", 0),
    ),
    *(
        Builtin(
            f"stage_{stage}",
            LIFECYCLE,
            name,
            f"生命周期阶段：{name}",
            {"type": "lifecycle", "stages": [stage]},
        )
        for stage, name in STAGE_TAGS
    ),
    Builtin(
        "high_aov",
        VALUE,
        "高客单用户",
        "客单价不低于本工作区第80百分位",
        {"type": "percentile", "field": "aov_fen", "percentile": 80},
    ),
    Builtin(
        "low_aov",
        VALUE,
        "低客单用户",
        "客单价低于本工作区第20百分位",
        {"type": "percentile", "field": "aov_fen", "percentile": 20, "op": "lt"},
    ),
    Builtin(
        "top_spender",
        VALUE,
        "高消费用户",
        "累计消费不低于第90百分位",
        {"type": "percentile", "field": "total_spend_fen", "percentile": 90},
    ),
    Builtin(
        "important_value",
        VALUE,
        "重要价值客户",
        "RFM：近、频、额都高",
        {"type": "rfm", "cells": ["important_value"]},
    ),
    Builtin(
        "important_retain",
        VALUE,
        "重要挽留客户",
        "RFM：消费高但久未购买、频次低",
        {"type": "rfm", "cells": ["important_retain"]},
    ),
    *(
        Builtin(f"likes_{key}", CATEGORY, name, f"180天内买过{zh}至少两次", _bought(zh, 2, 180))
        for key, zh, name in CATEGORIES
    ),
    Builtin(
        "promo_618",
        PROMO,
        "618大促敏感",
        "2026年618大促期间下过单",
        _promo("2026-05-20", "2026-06-20"),
    ),
    Builtin(
        "promo_1111",
        PROMO,
        "双11大促敏感",
        "2026年双11大促期间下过单",
        _promo("2026-10-20", "2026-11-11"),
    ),
    Builtin(
        "coupon_sensitive",
        PROMO,
        "优惠券敏感",
        "180天内用券至少两次",
        _event("coupon_used", 2, 180),
    ),
    *(
        Builtin(
            f"prefers_{channel}",
            CHANNEL,
            f"{name}偏好",
            f"最常在{name}下单",
            _attr("preferred_channel", "eq", channel),
        )
        for channel, name in CHANNEL_NAMES
    ),
    *(
        Builtin(f"source_{tp}", SOURCE, name, f"经{name[:-2]}加好友或下单", _source(tp))
        for tp, name in SOURCES
    ),
    Builtin("active_sign_in", ACTIVITY, "签到活跃", "30天内签到至少5次", _event("sign_in", 5, 30)),
    Builtin("in_community", ACTIVITY, "社群成员", "加入过社群", _event("join_group", 1, None)),
    Builtin("sharer", ACTIVITY, "分享达人", "90天内分享至少3次", _event("share", 3, 90)),
    Builtin("recent_complaint", ACTIVITY, "近期投诉", "90天内有投诉", _event("complaint", 1, 90)),
    Builtin(
        "member",
        MEMBER,
        "会员",
        "在会员中心入会",
        _event("sign_in", 1, None, membership="join"),
    ),
    Builtin(
        "member_silver",
        MEMBER,
        "银卡会员",
        "累计消费满500元",
        _attr("total_spend_fen", "between", [50_000, 199_999]),
    ),
    Builtin(
        "member_gold",
        MEMBER,
        "金卡会员",
        "累计消费满2000元",
        _attr("total_spend_fen", "between", [200_000, 499_999]),
    ),
    Builtin(
        "member_black",
        MEMBER,
        "黑金会员",
        "累计消费满5000元",
        _attr("total_spend_fen", "gte", 500_000),
    ),
)
BY_KEY = {b.key: b for b in BUILTINS}
