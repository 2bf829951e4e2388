"""The one AIPW score: estimated propensities clipped, a known probability used as it is."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_causal.scores import aipw_score, clip_propensity


def test_known_propensity_with_zero_outcome_models_is_horvitz_thompson() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 500)
    y = rng.normal(3 + 2 * a, 1)
    psi = aipw_score(y, a, 0.3, np.zeros(500), np.zeros(500), clip_eps=None)
    ht = a * y / 0.3 - (1 - a) * y / 0.7
    assert np.allclose(psi, ht)


def test_estimated_propensities_are_clipped_and_correct_models_give_the_effect() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    x = rng.normal(size=n)
    e = 1 / (1 + np.exp(-x))
    a = (rng.random(n) < e).astype(int)
    y = 1.0 + 2.0 * a + x + rng.normal(size=n)
    psi = aipw_score(y, a, e, 3.0 + x, 1.0 + x, clip_eps=0.01)
    assert abs(psi.mean() - 2.0) < 0.1  # doubly robust: both nuisances right
    wrong_m = aipw_score(y, a, e, np.zeros(n), np.zeros(n), clip_eps=0.01)
    assert abs(wrong_m.mean() - 2.0) < 0.3  # the propensity alone still identifies it
    assert clip_propensity(np.array([0.0, 0.5, 1.0]), 0.05).tolist() == [0.05, 0.5, 0.95]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="0/1"):
        aipw_score([1.0], [2], 0.5, [0.0], [0.0], clip_eps=None)
    with pytest.raises(ValueError, match="strictly between"):
        aipw_score([1.0], [1], 1.0, [0.0], [0.0], clip_eps=None)
    with pytest.raises(ValueError, match="clip_eps"):
        clip_propensity([0.5], 0.5)


def test_normal_interval_and_iid_mean_se() -> None:
    from recsys_causal.inference import Z95, mean_with_se, normal_interval, normal_quantile

    assert normal_quantile(0.95) == pytest.approx(1.959964, abs=1e-6) == pytest.approx(Z95)
    lo, hi = normal_interval(1.0, 0.5)
    assert (lo, hi) == pytest.approx((1.0 - 0.5 * Z95, 1.0 + 0.5 * Z95))
    est, se = mean_with_se(np.array([1.0, 2.0, 3.0, 6.0]))
    assert est == pytest.approx(3.0) and se == pytest.approx(np.std([1, 2, 3, 6], ddof=1) / 2)
    with pytest.raises(ValueError, match="level"):
        normal_quantile(1.0)


def test_normal_quantile_and_p_value_are_scipy_stats_norm_without_importing_it():
    """The special functions behind every interval and p-value give scipy.stats.norm's numbers
    bit for bit, and the module that holds them starts no scipy.stats import."""
    import subprocess
    import sys

    from scipy import stats

    from recsys_causal.inference import normal_quantile, two_sided_p_value

    for level in (0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1 - 1e-9):
        assert normal_quantile(level) == float(stats.norm.ppf(0.5 + level / 2.0)), level
    z = np.concatenate([np.linspace(-40.0, 40.0, 20001), [0.0, 1.959963984540054, np.nan]])
    np.testing.assert_array_equal(two_sided_p_value(z), 2.0 * stats.norm.sf(np.abs(z)))
    probe = "import sys, recsys_causal.inference; print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
