"""The lifecycle's analytical definitions, written once in the portable SQL of analytics.portable.

They run on DuckDB over either store and, in the portability test, on Spark. Ranks break no
ties arbitrarily (customers with equal values share a score), and time thresholds arrive as
parameters, so every engine gives the same members and scores.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from siyu.lifecycle.schemas import CELLS, RfmSettings

# Orders that count: paid in some form and not wholly refunded; money net of refunds.
PAID = """
  SELECT o.id, o.customer_id, o.channel, o.ordered_at, o.paid_fen - o.refunded_fen AS net_fen
  FROM orders o JOIN customer c ON c.id = o.customer_id
  WHERE o.workspace_id = ? AND c.merged_into_id IS NULL
    AND o.status IN ('paid', 'shipped', 'completed', 'partially_refunded')
    AND o.paid_fen > o.refunded_fen
"""

AGGREGATE = f"""
  SELECT customer_id, COUNT(*) AS order_count, SUM(net_fen) AS total_spend_fen,
         MIN(ordered_at) AS first_order_at, MAX(ordered_at) AS last_order_at
  FROM ({PAID}) paid GROUP BY customer_id
"""

# Every live customer with computed attributes (zeros and NULLs without orders).
METRICS = f"""
WITH paid AS ({PAID}),
seq AS (
  SELECT customer_id, net_fen,
         ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ordered_at, id) AS n
  FROM paid
),
agg AS (
  SELECT customer_id, COUNT(*) AS order_count, SUM(net_fen) AS total_spend_fen,
         MIN(ordered_at) AS first_order_at, MAX(ordered_at) AS last_order_at
  FROM paid GROUP BY customer_id
),
rep AS (
  SELECT customer_id, SUM(net_fen) AS repeat_spend_fen FROM seq WHERE n > 1 GROUP BY customer_id
),
chan AS (
  SELECT customer_id, channel,
         ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY COUNT(*) DESC, channel) AS pick
  FROM paid GROUP BY customer_id, channel
),
cat AS (
  SELECT p.customer_id, l.category,
         ROW_NUMBER() OVER (
           PARTITION BY p.customer_id
           ORDER BY COUNT(DISTINCT p.id) DESC, SUM(l.amount_fen) DESC, l.category
         ) AS pick
  FROM paid p JOIN order_line l ON l.order_id = p.id
  WHERE l.category IS NOT NULL AND l.quantity > l.refunded_quantity
  GROUP BY p.customer_id, l.category
)
SELECT c.id AS customer_id, COALESCE(a.order_count, 0) AS order_count,
       COALESCE(a.total_spend_fen, 0) AS total_spend_fen, a.first_order_at, a.last_order_at,
       COALESCE(r.repeat_spend_fen, 0) AS repeat_spend_fen,
       ch.channel AS preferred_channel, ct.category AS favourite_category
FROM customer c
LEFT JOIN agg a ON a.customer_id = c.id
LEFT JOIN rep r ON r.customer_id = c.id
LEFT JOIN chan ch ON ch.customer_id = c.id AND ch.pick = 1
LEFT JOIN cat ct ON ct.customer_id = c.id AND ct.pick = 1
WHERE c.workspace_id = ? AND c.merged_into_id IS NULL
ORDER BY c.id
"""

# Customers who hold an identity of one of the member types (the list is bound, not pasted).
MEMBERS = """
SELECT DISTINCT i.customer_id FROM identity i JOIN customer c ON c.id = i.customer_id
WHERE i.workspace_id = ? AND c.merged_into_id IS NULL AND i.type IN ({marks})
"""


def members_sql(types: list[str]) -> str:
    """MEMBERS with one parameter per identity type."""
    return MEMBERS.format(marks=", ".join("?" for _ in types) or "NULL")


def _quantile(column: str, levels: int) -> tuple[str, list[Any]]:
    # Ties share the rank of their first: 1 + floor(levels * (rank - 1) / n). Exact in floating
    # point whenever the quotient is whole, so every engine agrees.
    rank = f"RANK() OVER (ORDER BY {column})"
    # levels is a validated int, written as a literal so no engine has to infer a parameter type.
    return f"CAST(1 + FLOOR({int(levels)}.0 * ({rank} - 1) / COUNT(*) OVER ()) AS INT)", []


def _bins(column: str, thresholds: list[Any]) -> tuple[str, list[Any]]:
    terms = " + ".join(f"CASE WHEN {column} >= ? THEN 1 ELSE 0 END" for _ in thresholds)
    return f"CAST(1 + {terms} AS INT)", list(thresholds)


def rfm_sql(settings: RfmSettings, workspace_id: int, as_of: datetime) -> tuple[str, list[Any]]:
    """RFM scores and cell per buyer: (customer_id, r_score, f_score, m_score, rfm_cell)."""
    if settings.mode == "quantile":
        parts = [_quantile(c, settings.levels) for c in ("last_order_at", "order_count", "spend")]
    else:
        # Recency thresholds become instants: within 30 days means last order >= as_of - 30d.
        recent = [as_of - timedelta(days=d) for d in sorted(settings.recency_days, reverse=True)]
        parts = [
            _bins("last_order_at", recent),
            _bins("order_count", settings.frequency_orders),
            _bins("spend", settings.monetary_fen),
        ]
    params: list[Any] = [workspace_id]
    for _, p in parts:
        params += p
    cases = " ".join(
        f"WHEN r_score {'>=' if r else '<'} ? AND f_score {'>=' if f else '<'} ? "
        f"AND m_score {'>=' if m else '<'} ? THEN '{code}'"
        for code, r, f, m in CELLS
    )
    params += [settings.high_from] * 3 * len(CELLS)
    sql = f"""
WITH agg AS (
  SELECT customer_id, order_count, total_spend_fen AS spend, last_order_at FROM ({AGGREGATE}) a
),
scored AS (
  SELECT customer_id, {parts[0][0]} AS r_score, {parts[1][0]} AS f_score,
         {parts[2][0]} AS m_score
  FROM agg
)
SELECT customer_id, r_score, f_score, m_score, CASE {cases} END AS rfm_cell
FROM scored ORDER BY customer_id
"""
    return sql, params


# Buyers this year, their revenue, last year's buyers, and how many of those did not come back.
LTV = f"""
WITH per AS (
  SELECT customer_id,
         MAX(CASE WHEN ordered_at > ? THEN 1 ELSE 0 END) AS this_year,
         MAX(CASE WHEN ordered_at > ? AND ordered_at <= ? THEN 1 ELSE 0 END) AS last_year,
         SUM(CASE WHEN ordered_at > ? THEN net_fen ELSE 0 END) AS spend
  FROM ({PAID}) paid GROUP BY customer_id
)
SELECT SUM(this_year), SUM(spend), SUM(last_year),
       SUM(CASE WHEN last_year = 1 AND this_year = 0 THEN 1 ELSE 0 END)
FROM per
"""
