"""Cross-fitted AIPW with the known propensity: identities against HT, DiM and the oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from recsys_causal.crossfit import stratified_folds
from recsys_causal.interference import aipw as A
from recsys_causal.interference.features import OUTCOME, TREATMENT, EncodedFeatures
from recsys_causal.interference.randomized import difference_in_means
from recsys_causal.scores import aipw_score


def aipw_scores(y, t, m1, m0, pi):
    return aipw_score(y, t, pi, m1, m0, clip_eps=None)


def horvitz_thompson(y, t, pi):
    y, t = np.asarray(y, dtype=float), np.asarray(t, dtype=float)
    return float(np.mean(t * y / pi - (1 - t) * y / (1 - pi)))


def design(n: int = 200, n_treated: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.zeros(n, dtype=int)
    t[:n_treated] = 1
    t = rng.permutation(t)
    y = rng.poisson(2.0, size=n).astype(float) + 0.5 * t
    return y, t


def test_zero_outcome_models_give_horvitz_thompson() -> None:
    y, t = design(n=10, n_treated=3)
    y = np.arange(10, dtype=float)
    pi = 0.4
    scores = aipw_scores(y, t, np.zeros(10), np.zeros(10), pi)
    ht = np.mean([yi / pi if ti else -yi / (1 - pi) for yi, ti in zip(y, t, strict=True)])
    assert scores.mean() == pytest.approx(ht)
    assert horvitz_thompson(y, t, pi) == pytest.approx(ht)


def test_constant_outcome_models_give_horvitz_thompson_when_n_treated_is_n_pi() -> None:
    y, t = design(n=200, n_treated=100)
    c = np.full(200, 3.7)
    assert aipw_scores(y, t, c, c, 0.5).mean() == pytest.approx(horvitz_thompson(y, t, 0.5))
    # ... and HT then equals the difference in means
    assert horvitz_thompson(y, t, 0.5) == pytest.approx(difference_in_means(y, t).estimate[0])


def test_constant_outcome_models_shift_the_outcome_otherwise() -> None:
    """With n_1 != n π a constant c is not neutral: AIPW is then HT of the outcome minus c."""
    y, t = design(n=200, n_treated=80)
    c = np.full(200, 3.7)
    aipw = aipw_scores(y, t, c, c, 0.5).mean()
    assert aipw == pytest.approx(horvitz_thompson(y - 3.7, t, 0.5))
    assert abs(aipw - horvitz_thompson(y, t, 0.5)) > 0.1


def test_perfect_outcome_models_give_the_oracle_mean() -> None:
    rng = np.random.default_rng(3)
    n = 300
    mu0 = rng.uniform(1, 3, size=n)
    tau = rng.normal(-0.2, 0.3, size=n)
    t = rng.permutation(np.repeat([0, 1], n // 2))
    y = mu0 + t * tau  # expected clicks: no outcome noise
    scores = aipw_scores(y, t, mu0 + tau, mu0, 0.5)
    assert scores.mean() == pytest.approx(tau.mean(), abs=1e-12)
    table = A.aipw_table(y, t, mu0 + tau, mu0, 0.5, oracle=tau)
    aipw_row = table[table["estimator"].str.contains("AIPW")].iloc[0]
    assert aipw_row["estimate"] == pytest.approx(tau.mean())
    assert aipw_row["se"] == pytest.approx(tau.std(ddof=1) / np.sqrt(n))
    assert bool(aipw_row["covers_oracle"])
    assert table.iloc[-1]["estimate"] == pytest.approx(tau.mean())


def test_stratified_folds_balance_treatment_and_are_deterministic() -> None:
    _, t = design(n=300, n_treated=150)
    folds = stratified_folds(t, 5, seed=4)
    assert set(folds) == set(range(5))
    for k in range(5):
        assert t[folds == k].sum() == 30
    np.testing.assert_array_equal(folds, stratified_folds(t, 5, seed=4))


def test_crossfit_arm_models_predict_each_arm_out_of_fold() -> None:
    rng = np.random.default_rng(0)
    n = 240
    x = rng.normal(size=n)
    t = rng.permutation(np.repeat([0, 1], n // 2))
    y = 1.0 + 2.0 * x + t * (0.5 - 1.0 * x)
    X = pd.DataFrame({TREATMENT: t.astype("float32"), "x": x.astype("float32")})
    enc = EncodedFeatures(X, pd.Series(y, name=OUTCOME), pd.Series(t, name=TREATMENT))
    folds = stratified_folds(t, 3, seed=0)
    m1, m0 = A.crossfit_arm_models(enc, LinearRegression(), seed=0, folds=folds)
    np.testing.assert_allclose(m1, 1.5 + 1.0 * X["x"], atol=1e-4)
    np.testing.assert_allclose(m0, 1.0 + 2.0 * X["x"], atol=1e-4)
