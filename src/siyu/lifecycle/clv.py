"""Customer lifetime value: BG/NBD (will they buy again, how often) and Gamma-Gamma (how much).

Maximum-likelihood fits on numpy/scipy, vectorized over every customer at once, after
Fader, Hardie & Lee, "Counting your customers the easy way" (2005) and "RFM and CLV" (2005).
Inputs are per customer: x = repeat purchases, t_x = time of the last purchase, T = age, all
measured from the first purchase in one unit (days or weeks), and m_x = average repeat value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from siyu.core.errors import InvalidField

Array = NDArray[np.float64]


@dataclass(frozen=True)
class BgNbd:
    """Fitted BG/NBD: purchase rate ~ Gamma(r, alpha), drop-out probability ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:  # noqa: N803
        """Probability each customer is still active now."""
        x, t_x, T = _arrays(x, t_x, T)
        return 1.0 / (1.0 + self._dropped_odds(x, t_x, T))

    def expected_purchases(self, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:  # noqa: N803
        """Expected purchases in the next t units, given each customer's history."""
        x, t_x, T = _arrays(x, t_x, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        head = (a + b + x - 1.0) / (a - 1.0)
        tail = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(
            r + x, b + x, a + b + x - 1.0, z
        )
        return np.asarray(head * tail / (1.0 + self._dropped_odds(x, t_x, T)), dtype=np.float64)

    def _dropped_odds(self, x: Array, t_x: Array, T: Array) -> Array:  # noqa: N803
        odds = np.zeros_like(x)
        seen = x > 0
        odds[seen] = (self.a / (self.b + x[seen] - 1.0)) * (
            (self.alpha + T[seen]) / (self.alpha + t_x[seen])
        ) ** (self.r + x[seen])
        return odds


@dataclass(frozen=True)
class GammaGamma:
    """Fitted Gamma-Gamma spend model: p, q, v."""

    p: float
    q: float
    v: float

    def expected_value(self, x: ArrayLike, m_x: ArrayLike) -> Array:
        """Expected average order value; a customer with no repeat gets the population mean."""
        x, m_x = _arrays(x, m_x)
        return np.asarray(
            (self.p * (self.v + x * m_x)) / (self.p * x + self.q - 1.0), dtype=np.float64
        )


def fit_bgnbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> BgNbd:  # noqa: N803
    """Maximum-likelihood BG/NBD over all customers."""
    x, t_x, T = _arrays(x, t_x, T)
    _check_history(x, t_x, T)
    scale = max(float(T.max()), 1.0)  # fit in units where T <= 1: better-conditioned
    xs, ts, Ts = x, t_x / scale, T / scale

    def loss(log_params: Array) -> float:
        r, alpha, a, b = np.exp(log_params)
        return -float(_bgnbd_ll(r, alpha, a, b, xs, ts, Ts).sum()) / len(xs)

    r, alpha, a, b = np.exp(_minimize(loss, 4))
    return BgNbd(float(r), float(alpha * scale), float(a), float(b))


def fit_gamma_gamma(x: ArrayLike, m_x: ArrayLike) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma over customers with at least one repeat purchase."""
    x, m_x = _arrays(x, m_x)
    keep = x > 0
    x, m_x = x[keep], m_x[keep]
    if len(x) < 2 or np.any(m_x <= 0):
        raise InvalidField(
            "monetary_value",
            "至少需要两位有复购且金额为正的客户",
            "needs at least two repeat customers with a positive average value",
        )

    def loss(log_params: Array) -> float:
        p, q, v = np.exp(log_params)
        ll = (
            gammaln(p * x + q)
            - gammaln(p * x)
            - gammaln(q)
            + q * np.log(v)
            + (p * x - 1.0) * np.log(m_x)
            + p * x * np.log(x)
            - (p * x + q) * np.log(x * m_x + v)
        )
        return -float(ll.sum()) / len(x)

    p, q, v = np.exp(_minimize(loss, 3))
    return GammaGamma(float(p), float(q), float(v))


def clv(
    model: BgNbd,
    spend: GammaGamma,
    horizon: float,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    m_x: ArrayLike,
) -> Array:
    """Expected spend over the horizon: expected purchases x expected order value."""
    return model.expected_purchases(horizon, x, t_x, T) * spend.expected_value(x, m_x)


def ltv(arpu: float, churn_rate: float) -> float:
    """The seeds' LTV = ARPU x expected lifetime, the lifetime being 1 / churn per period."""
    if not 0 < churn_rate <= 1:
        raise InvalidField("churn_rate", "应在0到1之间（不含0）", "must be in (0, 1]")
    return arpu / churn_rate


def _bgnbd_ll(
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: Array,
    t_x: Array,
    T: Array,  # noqa: N803
) -> Array:
    """Per-customer log-likelihood (Fader, Hardie & Lee 2005, eq. 6)."""
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    seen = x > 0
    a4 = np.full_like(x, -np.inf)
    a4[seen] = np.log(a) - np.log(b + x[seen] - 1.0) - (r + x[seen]) * np.log(alpha + t_x[seen])
    return np.asarray(a1 + a2 + np.logaddexp(a3, a4), dtype=np.float64)


def _minimize(loss: object, n: int) -> Array:
    """Nelder-Mead in log space, polished by BFGS; the better of the two answers."""
    start = np.zeros(n)
    first = minimize(
        loss,
        start,
        method="Nelder-Mead",
        options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-12},
    )
    polished = minimize(loss, first.x, method="BFGS", options={"gtol": 1e-10})
    best = polished if polished.fun <= first.fun else first
    return np.asarray(best.x, dtype=np.float64)


def _arrays(*values: ArrayLike) -> tuple[Array, ...]:
    return tuple(np.asarray(v, dtype=np.float64) for v in values)


def _check_history(x: Array, t_x: Array, T: Array) -> None:  # noqa: N803
    if not len(x) == len(t_x) == len(T) or len(x) == 0:
        raise InvalidField(
            "x", "x、t_x、T 长度须相同且非空", "x, t_x and T must be equal, non-empty"
        )
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T) or np.any((x == 0) & (t_x != 0)):
        raise InvalidField(
            "t_x",
            "需满足 x ≥ 0、0 ≤ t_x ≤ T，且没有复购时 t_x = 0",
            "needs x >= 0, 0 <= t_x <= T, and t_x = 0 when x = 0",
        )
