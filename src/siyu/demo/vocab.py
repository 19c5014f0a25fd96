"""Static vocabulary of the demo beauty brand: names, places, products, groups and staff."""

from __future__ import annotations

from dataclasses import dataclass

BRAND = "澜蔻"
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
)
# Beauty buyers are mostly women; the given-name characters lean that way, with a few men's.
GIVEN_F = (
    "婷雪丽静敏燕艳娟霞芳娜秀英华慧巧美玉萍红玲桂兰琳晶欣悦佳怡"
    "梦涵诗雨思颖晓璐瑶琪菲嘉妍宁倩蕾薇洁月"
)
GIVEN_M = "伟强磊军洋勇杰涛明超浩宇轩博文鹏"
MOBILE_PREFIXES = (
    "138 139 137 136 135 150 151 152 158 159 182 187 188 130 131 132 155 156 185 186 "
    "133 153 180 181 189 177 199 166"
).split()
NICK_WORDS = ("小", "爱美妆", "宝宝", "酱", "喵", "的小屋", "lily", "coco", "momo", "yoyo", "_mm")

# province / city / districts / roads, one city a line.
_PLACES = """
上海/上海/浦东新区 徐汇区 静安区 闵行区 杨浦区/张杨路 漕溪北路 南京西路 莘庄路 国定路
北京/北京/朝阳区 海淀区 东城区 丰台区/建国路 中关村大街 东直门内大街 丰台北路
广东/广州市/天河区 越秀区 海珠区 番禺区/天河路 中山五路 江南大道 市桥路
广东/深圳市/南山区 福田区 宝安区 龙岗区/科技园路 深南大道 宝安大道 龙岗大道
浙江/杭州市/西湖区 拱墅区 滨江区 余杭区/文三路 莫干山路 江南大道 文一西路
江苏/南京市/鼓楼区 玄武区 建邺区/中山北路 珠江路 江东中路
江苏/苏州市/姑苏区 工业园区 吴中区/人民路 星湖街 东吴北路
四川/成都市/锦江区 武侯区 高新区/春熙路 人民南路 天府大道
湖北/武汉市/江汉区 武昌区 洪山区/解放大道 中南路 珞喻路
重庆/重庆/渝中区 江北区 渝北区/解放碑步行街 观音桥步行街 金开大道
陕西/西安市/雁塔区 碑林区 未央区/小寨东路 南大街 凤城八路
湖南/长沙市/岳麓区 芙蓉区 天心区/麓山南路 五一大道 书院路
福建/厦门市/思明区 湖里区/厦禾路 湖滨南路
山东/青岛市/市南区 崂山区/香港中路 海尔路
天津/天津/和平区 南开区/南京路 鞍山西道
辽宁/沈阳市/和平区 沈河区/南京北街 青年大街
"""
PLACES: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = tuple(
    (p, c, tuple(d.split()), tuple(r.split()))
    for p, c, d, r in (line.split("/") for line in _PLACES.split("\n") if line)
)
ESTATES = tuple("阳光花园 锦绣华庭 万科城 翠苑 金色家园 绿城桂花园 保利天悦 时代广场".split())


@dataclass(frozen=True)
class Product:
    """One SKU the brand sells; price in fen."""

    sku: str
    name: str
    category: str
    price_fen: int


_CATALOG = (
    (
        "口红",
        "lip",
        (
            ("丝绒雾面口红 #316 豆沙", 16900),
            ("丝绒雾面口红 #888 正红", 16900),
            ("水光唇釉 #05 蜜桃", 13900),
            ("雕花口红礼盒", 23900),
        ),
    ),
    (
        "眼影",
        "eye",
        (("动物眼影盘 小猫盘", 15900), ("十二色大地眼影盘", 19900), ("单色珠光眼影 #02", 8900)),
    ),
    (
        "粉底",
        "fdn",
        (("持妆粉底液 30ml 象牙白", 26900), ("轻透气垫 BB 霜", 22900), ("遮瑕粉底棒", 19900)),
    ),
    (
        "护肤",
        "skn",
        (
            ("玻尿酸保湿精华 30ml", 36900),
            ("烟酰胺焕亮面霜 50g", 32900),
            ("水乳护肤套装", 45900),
            ("氨基酸洁面乳", 8900),
            ("补水面膜 10片装", 12900),
        ),
    ),
    ("睫毛膏", "msc", (("纤长卷翘睫毛膏", 11900), ("防水浓密睫毛膏", 12900))),
    ("香水", "pfm", (("栀子花淡香水 50ml", 59900), ("木质东方香水 30ml", 45900))),
)
PRODUCTS: tuple[Product, ...] = tuple(
    Product(f"LK-{code}-{i + 1:03d}", f"{BRAND}{name}", category, price)
    for category, code, items in _CATALOG
    for i, (name, price) in enumerate(items)
)
# How often each category sells (lipstick and skincare lead, perfume is a rare gift).
CATEGORY_WEIGHTS = {"口红": 30, "眼影": 16, "粉底": 14, "护肤": 26, "睫毛膏": 9, "香水": 5}

STORES = {
    "tmall": f"{BRAND}官方旗舰店",
    "jd": f"{BRAND}京东自营旗舰店",
    "youzan": f"{BRAND}会员商城",
    "douyin": f"{BRAND}抖音官方旗舰店",
}
TOUCHPOINTS = ("package_card", "red_packet_card", "kol_comment", "shopping_guide")
TOUCHPOINT_ZH = {
    "package_card": "包裹卡",
    "red_packet_card": "红包卡",
    "kol_comment": "KOL评论区",
    "shopping_guide": "导购",
}
STAFF = ("美妆顾问-小雅", "美妆顾问-Amy", "导购-王芳", "导购-陈静", "会员管家-琪琪", "店长-刘敏")
GROUPS = ("澜蔻VIP会员群", "眼妆技巧交流群", "护肤打卡群", "618快闪群", "双11快闪群", "新品试用群")
KOLS = ("7012345678", "7023456789", "7034567890", "7045678901")
COMPLAINT_REASONS = ("过敏泛红", "色号与图片不符", "物流太慢", "包装破损", "疑似临期", "客服回复慢")
FEEDBACK = ("质地很好", "希望出更多色号", "味道有点重", "保湿效果不错", "包装好看")
PAGES = ("首页", "商品详情", "会员中心", "领券中心", "新品专区", "积分商城")
COUPONS = ("满300减40", "满199减20", "新人无门槛10元", "会员日85折")
