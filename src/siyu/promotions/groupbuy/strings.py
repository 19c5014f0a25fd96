"""Console strings of the group-buy page (zh-CN, English)."""

from siyu.core.i18n import register

register(
    {
        "gb.title": ("拼团", "Group-buy"),
        "gb.templates": ("拼团活动", "Group-buy offers"),
        "gb.name": ("名称", "Name"),
        "gb.size": ("成团人数", "Group size"),
        "gb.price": ("拼团价", "Group price"),
        "gb.limit": ("时限（分钟）", "Time limit (minutes)"),
        "gb.groups": ("团", "Groups"),
        "gb.code": ("团码", "Code"),
        "gb.seats": ("已参团 / 已付款", "Joined / paid"),
        "gb.status": ("状态", "Status"),
        "gb.expires": ("截止", "Ends"),
        "gb.refunds": ("待退款", "Refunds to make"),
        "gb.none": ("暂无", "None yet"),
        "gb_status.open": ("拼团中", "Open"),
        "gb_status.succeeded": ("已成团", "Succeeded"),
        "gb_status.failed": ("未成团（已退款）", "Failed (refunded)"),
        "gb.summary": ("成团情况", "Outcomes"),
    }
)
