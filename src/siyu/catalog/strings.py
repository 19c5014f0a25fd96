"""Console strings of the catalog pages: products, stock, supplier view (zh-CN, English)."""

from siyu.core.i18n import register

register(
    {
        "cat.title": ("商品与库存", "Products and stock"),
        "cat.mine": ("我的商品（品牌方）", "My products (supplier)"),
        "cat.supplier": ("品牌方", "Supplier"),
        "cat.product": ("商品", "Product"),
        "cat.category": ("品类", "Category"),
        "cat.sku": ("SKU", "SKU"),
        "cat.price": ("价格", "Price"),
        "cat.on_hand": ("实际库存", "On hand"),
        "cat.reserved": ("已预留", "Reserved"),
        "cat.available": ("可售", "Available"),
        "cat.version": ("版本", "Version"),
        "cat.none": ("还没有商品", "No products yet"),
        "cat.alerts": ("库存预警", "Low-stock alerts"),
        "cat.no_alerts": ("没有库存预警", "No low-stock alerts"),
        "cat.orders": ("含我方商品的订单", "Orders with my products"),
        "cat.quantity": ("数量", "Quantity"),
        "cat.amount": ("金额", "Amount"),
        "cat.pull": ("库存拉取", "Inventory pull"),
        "cat.pull_error": ("上次拉取失败", "The last pull failed"),
        "cat.feedback": ("我方商品的反馈与投诉", "Feedback and complaints on my products"),
        "cat.no_feedback": ("还没有反馈", "No feedback yet"),
        "cat.when": ("时间", "When"),
        "cat.kind": ("类型", "Type"),
        "cat.said": ("内容", "What was said"),
        "cat.customer": ("顾客（匿名）", "Customer (pseudonym)"),
        "cat.no_supplier": ("此账号未关联品牌方", "This account is not linked to a supplier"),
    }
)
