"""Console strings of the invite-rewards page (zh-CN, English)."""

from siyu.core.i18n import register

register(
    {
        "inv.title": ("邀请有礼", "Invite rewards"),
        "inv.campaign": ("活动", "Campaign"),
        "inv.goal": ("目标", "Goal"),
        "inv.invites": ("邀请", "Invites"),
        "inv.converted": ("转化", "Converted"),
        "inv.rejected": ("拦截（防作弊）", "Refused (anti-fraud)"),
        "inv.cost": ("奖励成本", "Reward cost"),
        "inv.cpa": ("每位新客成本", "Cost per new customer"),
        "inv.none": ("还没有邀请活动", "No invite campaigns yet"),
        "goal.register": ("注册", "Register"),
        "goal.first_order": ("首单", "First order"),
        "reason.self_invite": ("自邀", "Self-invite"),
        "reason.shared_phone": ("共用手机号", "Shared phone"),
        "reason.shared_device": ("共用设备", "Shared device"),
        "reason.shared_address": ("共用地址", "Shared address"),
        "reason.daily_cap": ("超出每日上限", "Daily cap reached"),
        "reason.not_new": ("非新客", "Not a new customer"),
    }
)
