"""Customer lifetime value: BG/NBD (will they buy again, how often) and Gamma-Gamma (how much).

Maximum-likelihood fits on numpy/scipy, vectorized over every customer at once, after
Fader, Hardie & Lee, "Counting your customers the easy way" (2005) and "RFM and CLV" (2005).
Inputs are per customer: x = repeat purchases, t_x = time of the last purchase, T = age, all
measured from the first purchase in one unit (days or weeks), and m_x = average repeat value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1

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
    """Maximum-likelihood BG/NBD over all customers (analytic gradient, BFGS)."""
    x, t_x, T = _arrays(x, t_x, T)
    _check_history(x, t_x, T)
    scale = max(float(T.max()), 1.0)  # fit in units where T <= 1: better-conditioned
    loss = _BgNbdLoss(x, t_x / scale, T / scale)
    r, alpha, a, b = np.exp(_minimize(loss, 4))
    return BgNbd(float(r), float(alpha * scale), float(a), float(b))


class _BgNbdLoss:
    """Mean negative log-likelihood (Fader, Hardie & Lee 2005, eq. 6) and its gradient in log
    parameters. Terms that depend on x alone are computed once per distinct x; customers
    without a repeat need only ln(alpha + T)."""

    def __init__(self, x: Array, t_x: Array, T: Array) -> None:  # noqa: N803
        self.n = len(x)
        self.ux, self.counts = np.unique(x, return_counts=True)
        zero = x == 0
        self.T0 = T[zero]
        seen = ~zero
        self.x, self.t_x, self.T = x[seen], t_x[seen], T[seen]
        ux_seen = np.unique(self.x)
        self.ux_seen, self.inv = ux_seen, np.searchsorted(ux_seen, self.x)

    def __call__(self, theta: Array) -> tuple[float, Array]:
        r, alpha, a, b = np.exp(theta)
        ux, counts = self.ux, self.counts
        fixed = counts @ (
            gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux) - betaln(a, b)
        )
        d_r = counts @ (digamma(r + ux) - digamma(r) + np.log(alpha))
        d_alpha = self.n * r / alpha
        d_a = counts @ (digamma(a + b) - digamma(a + b + ux))
        d_b = counts @ (digamma(b + ux) - digamma(a + b + ux) - digamma(b) + digamma(a + b))
        # No repeat: the likelihood's last factor is (alpha + T)^-r alone.
        log_t0 = np.log(alpha + self.T0)
        ll = fixed - r * log_t0.sum()
        d_r -= log_t0.sum()
        d_alpha -= r * (1.0 / (alpha + self.T0)).sum()
        # Repeaters: log of (alpha + T)^-(r + x) + a / (b + x - 1) (alpha + t_x)^-(r + x).
        rx = r + self.x
        log_big, log_last = np.log(alpha + self.T), np.log(alpha + self.t_x)
        a3 = -rx * log_big
        a4 = (np.log(a) - np.log(b + self.ux_seen - 1.0))[self.inv] - rx * log_last
        both = np.logaddexp(a3, a4)
        w4 = np.exp(a4 - both)
        w3 = 1.0 - w4
        ll += both.sum()
        d_r -= (w3 * log_big + w4 * log_last).sum()
        d_alpha -= (rx * (w3 / (alpha + self.T) + w4 / (alpha + self.t_x))).sum()
        d_a += w4.sum() / a
        by_x = np.bincount(self.inv, weights=w4, minlength=len(self.ux_seen))
        d_b -= (by_x / (b + self.ux_seen - 1.0)).sum()
        grad = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return -float(ll) / self.n, -grad / self.n


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
    # Fit on values scaled to mean 1 (fen or yuan alike); only v carries the unit.
    unit = float(m_x.mean())
    p, q, v = np.exp(_minimize(_GammaGammaLoss(x, m_x / unit), 3))
    return GammaGamma(float(p), float(q), float(v * unit))


class _GammaGammaLoss:
    """Mean negative log-likelihood of the Gamma-Gamma model and its gradient (log params)."""

    def __init__(self, x: Array, m_x: Array) -> None:
        self.n, self.x, self.m_x = len(x), x, m_x
        self.xm = x * m_x
        self.ux, self.inv, self.counts = np.unique(x, return_inverse=True, return_counts=True)
        log_m = np.log(m_x)
        self.sum_x_log_m, self.sum_log_m = float(x @ log_m), float(log_m.sum())
        self.sum_x_log_x, self.sum_x = float(x @ np.log(x)), float(x.sum())

    def __call__(self, theta: Array) -> tuple[float, Array]:
        p, q, v = np.exp(theta)
        ux, counts = self.ux, self.counts
        log_xmv = np.log(self.xm + v)
        ll = (
            counts @ (gammaln(p * ux + q) - gammaln(p * ux))
            - self.n * gammaln(q)
            + self.n * q * np.log(v)
            + p * self.sum_x_log_m
            - self.sum_log_m
            + p * self.sum_x_log_x
            - ((p * self.x + q) * log_xmv).sum()
        )
        d_p = (
            counts @ (ux * (digamma(p * ux + q) - digamma(p * ux)))
            + self.sum_x_log_m
            + self.sum_x_log_x
            - float(self.x @ log_xmv)
        )
        d_q = counts @ digamma(p * ux + q) - self.n * digamma(q) + self.n * np.log(v)
        d_q -= log_xmv.sum()
        d_v = self.n * q / v - ((p * self.x + q) / (self.xm + v)).sum()
        grad = np.array([d_p * p, d_q * q, d_v * v])
        return -float(ll) / self.n, -grad / self.n


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


def _minimize(loss: Any, n: int) -> Array:
    """BFGS on the analytic gradient from the origin of log space; a step that overflows
    counts as infinitely bad, so the line search backs off."""

    def safe(theta: Array) -> tuple[float, Array]:
        with np.errstate(all="ignore"):
            value, grad = loss(theta)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros(n)
        return value, grad

    found = minimize(safe, np.zeros(n), jac=True, method="BFGS", options={"gtol": 1e-9})
    return np.asarray(found.x, dtype=np.float64)


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


def discounted_clv(
    model: BgNbd,
    spend: GammaGamma,
    horizon_days: float,
    annual_rate: float,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    m_x: ArrayLike,
    step_days: float = 30.0,
) -> Array:
    """CLV over the horizon with each month's expected purchases discounted to today.

    Units are days. Month k contributes (E[purchases by k] - E[by k-1]) x E[order value] /
    (1 + annual_rate)^(k months in years); `clv` above is the same without the discount.
    """
    value = spend.expected_value(x, m_x)
    total = np.zeros_like(value)
    before = np.zeros_like(value)
    steps = int(np.ceil(horizon_days / step_days))
    for k in range(1, steps + 1):
        t = min(k * step_days, horizon_days)
        upto = model.expected_purchases(t, x, t_x, T)
        total += (upto - before) * value / (1.0 + annual_rate) ** (t / 365.0)
        before = upto
    return total


def mean_interval(model: BgNbd) -> float:
    """Mean time between purchases of an active customer (alpha / r), in the model's unit."""
    return model.alpha / model.r
