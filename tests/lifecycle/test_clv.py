"""CLV models on the CDNOW data shipped in `lifetimes`: published parameters and predictions."""

from __future__ import annotations

import csv
import importlib.resources

import numpy as np
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter

from siyu.core.errors import InvalidField
from siyu.lifecycle.clv import clv, fit_bgnbd, fit_gamma_gamma, ltv


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    """2,357 CDNOW customers in weeks: x, t_x, T and average repeat value zbar."""
    # Read the file directly: lifetimes' own loader needs an old setuptools.
    text = (importlib.resources.files("lifetimes") / "datasets").joinpath(
        "cdnow_customers_summary_with_transactions.csv"
    )
    rows = list(csv.DictReader(text.read_text().splitlines()))
    return {k: np.array([float(r[k]) for r in rows]) for k in ("x", "t_x", "T", "zbar")}


def test_bgnbd_reproduces_fader_hardie_lee_2005(cdnow: dict[str, np.ndarray]) -> None:
    model = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    fitted = (model.r, model.alpha, model.a, model.b)
    assert len(cdnow["x"]) == 2357
    assert [round(v, 3) for v in fitted] == [0.243, 4.414, 0.793, 2.426]


def test_gamma_gamma_reproduces_the_published_fit(cdnow: dict[str, np.ndarray]) -> None:
    spend = fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    # Published: p = 6.25, q = 3.74, v = 15.44 (Fader, Hardie & Lee, "RFM and CLV", 2005).
    assert spend.p == pytest.approx(6.25, abs=0.01)
    assert spend.q == pytest.approx(3.74, abs=0.01)
    assert spend.v == pytest.approx(15.44, abs=0.01)


def test_predictions_match_the_reference_library(cdnow: dict[str, np.ndarray]) -> None:
    x, t_x, T = cdnow["x"], cdnow["t_x"], cdnow["T"]
    model = fit_bgnbd(x, t_x, T)
    ref = BetaGeoFitter().fit(x, t_x, T)
    np.testing.assert_allclose(
        model.p_alive(x, t_x, T), ref.conditional_probability_alive(x, t_x, T), rtol=1e-5
    )
    np.testing.assert_allclose(
        model.expected_purchases(39, x, t_x, T),
        ref.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, T),
        rtol=1e-5,
    )
    repeat = x > 0
    spend = fit_gamma_gamma(x, cdnow["zbar"])
    gg = GammaGammaFitter().fit(x[repeat], cdnow["zbar"][repeat])
    np.testing.assert_allclose(
        spend.expected_value(x[repeat], cdnow["zbar"][repeat]),
        gg.conditional_expected_average_profit(x[repeat], cdnow["zbar"][repeat]),
        rtol=1e-3,
    )
    value = clv(model, spend, 52, x, t_x, T, cdnow["zbar"])
    assert value.shape == x.shape and np.all(value >= 0)
    # Someone who bought 10 times and recently is worth more than a one-off buyer long gone.
    assert value[(x >= 10) & (T - t_x < 4)].mean() > 10 * value[(x == 1) & (T - t_x > 30)].mean()


def test_history_that_cannot_be_is_refused_with_the_field() -> None:
    with pytest.raises(InvalidField) as bad:
        fit_bgnbd([1, 2], [5.0, 40.0], [30.0, 30.0])  # last purchase after the customer's age
    assert bad.value.detail["errors"][0]["field"] == "t_x"
    with pytest.raises(InvalidField):
        fit_gamma_gamma([1, 2], [10.0, -3.0])
    assert ltv(120.0, 0.25) == 480.0
    with pytest.raises(InvalidField):
        ltv(120.0, 0.0)
