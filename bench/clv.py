"""CLV at scale: BG/NBD + Gamma-Gamma fitted by siyu and by `lifetimes` on the same customers.

What is measured against what, in one run on one machine:

- Customers are generated deterministically (numpy seed) from the models themselves, in weeks:
  purchase rate ~ Gamma(r=0.243, alpha=4.414), drop-out after each repeat ~ Beta(a=0.793,
  b=2.426) (the CDNOW values), first purchase at 0, age T uniform in 1..78 weeks; spend per
  order ~ Gamma(p=6.25, nu) with nu ~ Gamma(q=3.74, v=15.44). Each customer gives
  x (repeats), t_x, T and m_x (mean repeat value), the inputs both libraries take.
- siyu: `siyu.lifecycle.clv.fit_bgnbd` and `fit_gamma_gamma` (numpy/scipy, vectorized).
  lifetimes: `BetaGeoFitter().fit` and `GammaGammaFitter().fit` with their defaults (penalizer
  0), the reference implementation. `seconds` is the wall time of the two fits each, after
  generation; `max_param_diff` is the largest absolute difference over the seven parameters.
- The targets: the same parameters to three decimals (max_param_diff < 0.0005) and siyu at
  least 5x faster.

    python bench/clv.py            # 1,000,000 customers
    python bench/clv.py --quick    # 100,000 customers
    python bench/clv.py --customers 300000

The last line is `clv customers=... seconds=... lifetimes_seconds=... speedup=...
max_param_diff=...`.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _common import last_line, load_average, peak_rss_mb, print_table

from siyu.lifecycle.clv import fit_bgnbd, fit_gamma_gamma

TRUE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "p": 6.25, "q": 3.74, "v": 15.44}


def generate(n: int, seed: int = 2005) -> tuple[np.ndarray, ...]:
    """x, t_x, T, m_x for n customers drawn from BG/NBD + Gamma-Gamma (weeks, yuan)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(TRUE["r"], 1.0 / TRUE["alpha"], n)
    drop = rng.beta(TRUE["a"], TRUE["b"], n)
    age = rng.uniform(1.0, 78.0, n)
    x, t_x, t = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.arange(n)
    while active.size:
        t[active] += rng.exponential(1.0, active.size) / rate[active]
        bought = t[active] <= age[active]
        active = active[bought]
        x[active] += 1
        t_x[active] = t[active]
        active = active[rng.random(active.size) >= drop[active]]
    nu = rng.gamma(TRUE["q"], 1.0 / TRUE["v"], n)
    shape = np.maximum(TRUE["p"] * x, 1e-9)
    m_x = np.where(x > 0, rng.gamma(shape, 1.0 / np.maximum(nu * x, 1e-9)), 0.0)
    return x, t_x, age, m_x


def run_siyu(x: np.ndarray, t_x: np.ndarray, age: np.ndarray, m_x: np.ndarray) -> tuple:
    started = time.perf_counter()
    model = fit_bgnbd(x, t_x, age)
    spend = fit_gamma_gamma(x, m_x)
    seconds = time.perf_counter() - started
    return seconds, {
        "r": model.r,
        "alpha": model.alpha,
        "a": model.a,
        "b": model.b,
        "p": spend.p,
        "q": spend.q,
        "v": spend.v,
    }


def run_lifetimes(x: np.ndarray, t_x: np.ndarray, age: np.ndarray, m_x: np.ndarray) -> tuple:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = BetaGeoFitter().fit(x, t_x, age)
        repeat = x > 0
        gg = GammaGammaFitter().fit(x[repeat], m_x[repeat])
    seconds = time.perf_counter() - started
    params = {k: float(bg.params_[k]) for k in ("r", "alpha", "a", "b")}
    params |= {k: float(gg.params_[k]) for k in ("p", "q", "v")}
    return seconds, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 customers")
    parser.add_argument("--customers", type=int, default=None)
    args = parser.parse_args()
    n = args.customers or (100_000 if args.quick else 1_000_000)
    started = time.perf_counter()
    x, t_x, age, m_x = generate(n)
    generated = time.perf_counter() - started
    print(
        f"generated {n:,} customers in {generated:.1f} s: {int((x > 0).sum()):,} with a repeat, "
        f"mean x {x.mean():.3f}; load average {load_average()}"
    )
    siyu_s, ours = run_siyu(x, t_x, age, m_x)
    ref_s, theirs = run_lifetimes(x, t_x, age, m_x)
    print_table(
        ["parameter", "generated with", "siyu", "lifetimes", "|diff|"],
        [
            [k, TRUE[k], f"{ours[k]:.5f}", f"{theirs[k]:.5f}", f"{abs(ours[k] - theirs[k]):.6f}"]
            for k in TRUE
        ],
    )
    print_table(
        ["fitter", "customers", "seconds"],
        [
            ["siyu (numpy/scipy)", f"{n:,}", f"{siyu_s:.2f}"],
            ["lifetimes", f"{n:,}", f"{ref_s:.2f}"],
        ],
    )
    print(f"peak rss {peak_rss_mb():.0f} MB")
    diff = max(abs(ours[k] - theirs[k]) for k in TRUE)
    last_line(
        "clv",
        customers=n,
        seconds=f"{siyu_s:.2f}",
        lifetimes_seconds=f"{ref_s:.2f}",
        speedup=f"{ref_s / siyu_s:.1f}",
        max_param_diff=f"{diff:.6f}",
    )


if __name__ == "__main__":
    main()
