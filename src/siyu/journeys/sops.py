"""Built-in SOP templates from the operators' playbook, ready to install, enable and edit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, scoped
from siyu.core.errors import NotFound
from siyu.journeys import service
from siyu.journeys.models import Journey

Options = dict[str, Any]


def _send(key: str, channel: str, content: str, nxt: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "type": "send",
        "channel": channel,
        "content": content,
        "next": nxt,
        **extra,
    }


def new_customer(o: Options) -> dict[str, Any]:
    """新客48小时激活: welcome, 满50减20 coupon, brand intro, a question, an extra benefit."""
    ch = str(o.get("channel", "wecom"))
    steps = [
        _send(
            "welcome",
            ch,
            "亲爱的{{ customer.name or '小伙伴' }}，欢迎加入我们的大家庭！"
            "我是您的专属美妆顾问，有任何美妆问题都可以随时问我哦。",
            "coupon",
            label="及时欢迎",
            purpose="transactional",
        ),
        {
            "key": "coupon",
            "type": "coupon",
            "template": o.get("coupon", "满50减20"),
            "label": "专属券 满50减20",
            "next": "wait_intro",
        },
        {"key": "wait_intro", "type": "wait", "duration": {"hours": 4}, "next": "intro"},
        _send(
            "intro",
            ch,
            "为您介绍我们的品牌理念与明星产品，新人专享满50减20券已放入您的账户。",
            "wait_question",
            label="介绍品牌和产品",
        ),
        {"key": "wait_question", "type": "wait", "until_time": "20:00", "next": "question"},
        _send(
            "question",
            ch,
            "想更懂您：您平时更偏爱哪类妆容？回复 1 日常通勤 2 精致约会 3 舞台浓妆。",
            "listen",
            label="引导互动",
        ),
        {
            "key": "listen",
            "type": "wait",
            "until_event": {"event": "message", "timeout": {"hours": 20}, "on_event": "benefit"},
            "next": "benefit",
        },
        {
            "key": "benefit",
            "type": "points",
            "points": int(o.get("points", 100)),
            "reason": "新客专属福利",
            "label": "专属福利 积分/小样",
        },
    ]
    return {
        "name": o.get("name", "新客48小时激活"),
        "description": "添加企业微信后48小时内的5个关键动作",
        "trigger": {"type": "event", "event": "add_contact"},
        "start": "welcome",
        "steps": steps,
        "holdout_percent": int(o.get("holdout_percent", 10)),
        "goal": {"event": "order", "within_days": 7},
        "re_entry": {"policy": "never"},
    }


def first_order(o: Options) -> dict[str, Any]:
    """首单打标: tag first-time buyers, and high or low AOV by their first order."""
    high = int(o.get("high_aov_fen", 20000))
    rule = {"all": [{"attribute": "total_spend_fen", "op": "gte", "value": high}], "next": "hi"}
    steps = [
        {"key": "first", "type": "tag", "tag": "首单客户", "next": "by_value"},
        {"key": "by_value", "type": "branch", "rules": [rule], "next": "lo"},
        {"key": "hi", "type": "tag", "tag": "高客单用户", "next": "thanks"},
        {"key": "lo", "type": "tag", "tag": "低客单用户", "next": "thanks"},
        _send(
            "thanks",
            o.get("channel", "wecom"),
            "感谢您的首单！使用中有任何问题随时找我。",
            None,
            purpose="transactional",
        ),
    ]
    return {
        "name": o.get("name", "首单打标"),
        "description": "新客完成首单后按金额打标签",
        "trigger": {"type": "first_order"},
        "start": "first",
        "steps": steps,
    }


def vip_care(o: Options) -> dict[str, Any]:
    """VIP关怀: member-day 8折, early access to new products, a dedicated 1v1 service."""
    ch = str(o.get("channel", "wecom"))
    steps = [
        {"key": "vip_tag", "type": "tag", "tag": "VIP", "next": "welcome"},
        _send(
            "welcome",
            ch,
            "尊敬的VIP，您已享会员日额外8折、新品优先体验和专属客服。",
            "assign",
            purpose="transactional",
        ),
        {
            "key": "assign",
            "type": "task",
            "title": "VIP专属客服1v1问候",
            "assignee": o.get("assignee", "vip-service"),
            "due": {"days": 1},
            "next": "wait",
        },
        {"key": "wait", "type": "wait", "duration": {"days": 7}, "next": "early"},
        _send("early", ch, "新品抢先试用名额已为您预留，欢迎提出您的意见参与产品共创。", None),
    ]
    return {
        "name": o.get("name", "VIP关怀"),
        "description": "忠诚用户深度运营：专属折扣、优先体验、专属客服",
        "trigger": {"type": "lifecycle_stage", "stage": o.get("stage", "loyal")},
        "start": "vip_tag",
        "steps": steps,
        "re_entry": {"policy": "after_days", "days": 90},
    }


def dormant_recall(o: Options) -> dict[str, Any]:
    """沉睡召回 in waves: light → moments + private chat; medium → coupon; heavy → SMS + call."""
    ch = str(o.get("channel", "wecom"))
    moments = str(o.get("moments_channel", ch))
    sms = o.get("sms_channel", "sms")

    def level(stage: str, nxt: str) -> dict[str, Any]:
        return {"all": [{"lifecycle_stage": stage}], "next": nxt}

    steps = [
        {
            "key": "level",
            "type": "branch",
            "rules": [
                level("dormant_light", "light_moments"),
                level("dormant_medium", "medium_coupon"),
                level("dormant_heavy", "heavy_sms"),
            ],
        },
        _send(
            "light_moments",
            moments,
            "好久不见，本周新品上架，快来看看～",
            "light_wait",
            label="朋友圈",
        ),
        {"key": "light_wait", "type": "wait", "duration": {"days": 2}, "next": "light_chat"},
        _send(
            "light_chat", ch, "{{ customer.name or '亲' }}，最近有什么美妆困扰吗？我来帮您。", None
        ),
        {
            "key": "medium_coupon",
            "type": "coupon",
            "template": o.get("coupon", "回归券"),
            "next": "medium_chat",
        },
        _send("medium_chat", ch, "为您准备了一张专属回归券，7天内有效。", None),
        _send("heavy_sms", sms, "【品牌】许久未见，回归礼已备好，点击领取。", "heavy_wait"),
        {"key": "heavy_wait", "type": "wait", "duration": {"days": 3}, "next": "heavy_call"},
        {
            "key": "heavy_call",
            "type": "task",
            "title": "电话回访沉睡客户",
            "assignee": o.get("assignee", "guide"),
            "due": {"days": 2},
        },
    ]
    return {
        "name": o.get("name", "沉睡召回"),
        "description": "按休眠程度分层、多波次触达",
        "trigger": {
            "type": "schedule",
            "schedule": {"kind": "periodic", "every_days": 7, "time_of_day": "10:00"},
            "audience": {"stages": ["dormant_light", "dormant_medium", "dormant_heavy"]},
        },
        "start": "level",
        "steps": steps,
        "holdout_percent": int(o.get("holdout_percent", 10)),
        "goal": {"event": "order", "within_days": 14},
        "re_entry": {"policy": "after_days", "days": 30},
    }


def member_day(o: Options) -> dict[str, Any]:
    """会员日: every month on the 8th, the member-day 8折 to everyone."""
    steps = [
        _send(
            "announce", o.get("channel", "wecom"), "今天是会员日！全场会员额外8折，仅限今日。", None
        ),
    ]
    return {
        "name": o.get("name", "会员日"),
        "description": "每月会员日周期群发",
        "trigger": {
            "type": "schedule",
            "schedule": {"kind": "cron", "cron": o.get("cron", "0 10 8 * *")},
            "audience": o.get("audience", {}),
        },
        "start": "announce",
        "steps": steps,
        "goal": {"event": "order", "within_days": 2},
        "re_entry": {"policy": "always"},
    }


def birthday(o: Options) -> dict[str, Any]:
    """生日: on the day, a wish, birthday points and a coupon."""
    steps = [
        _send(
            "wish",
            o.get("channel", "wecom"),
            "生日快乐，{{ customer.name or '亲爱的' }}！生日礼已放入您的账户。",
            "gift",
        ),
        {
            "key": "gift",
            "type": "points",
            "points": int(o.get("points", 200)),
            "reason": "生日礼",
            "next": "coupon",
        },
        {"key": "coupon", "type": "coupon", "template": o.get("coupon", "生日券")},
    ]
    return {
        "name": o.get("name", "生日关怀"),
        "description": "生日当天送祝福、积分和优惠券",
        "trigger": {
            "type": "schedule",
            "schedule": {"kind": "periodic", "every_days": 1, "time_of_day": "09:00"},
            "audience": {"birthday_today": True},
        },
        "start": "wish",
        "steps": steps,
        "re_entry": {"policy": "after_days", "days": 300},
    }


SOPS: dict[str, Callable[[Options], dict[str, Any]]] = {
    "new_customer_48h": new_customer,
    "first_order_tagging": first_order,
    "vip_care": vip_care,
    "dormant_recall": dormant_recall,
    "member_day": member_day,
    "birthday": birthday,
}


def catalog() -> list[dict[str, str]]:
    """The built-in SOPs: key, name and description."""
    found = []
    for key, build in SOPS.items():
        data = build({})
        found.append({"key": key, "name": data["name"], "description": data["description"]})
    return found


def definition(key: str, options: Options | None = None) -> dict[str, Any]:
    """A built-in SOP's definition (options: channel, coupon, points, name, ...)."""
    build = SOPS.get(key)
    if build is None:
        raise NotFound(zh=f"没有名为 {key} 的内置SOP", en=f"No built-in SOP named {key!r}")
    return build(options or {})


def install(
    session: Session, principal: Principal, key: str, options: Options | None = None
) -> Journey:
    """Create a journey (a draft) from a built-in SOP; installing twice returns the first."""
    data = definition(key, options)
    stmt = scoped(select(Journey), Journey, principal).where(Journey.name == data["name"])
    found = session.scalars(stmt).first()
    if found is not None:
        return found
    return service.create(session, principal, data, sop=key)
