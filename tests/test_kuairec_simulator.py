"""The KuaiRec-format simulator: file format, oracle identities, confounding, determinism."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_causal.data.kuairec import KUAIREC_COLUMNS, load_interactions, read_header
from recsys_causal.longterm.panel import build_user_day_panel
from recsys_causal.params import LongtermParams
from recsys_causal.simulate.kuairec import ORACLE_COLUMNS, simulate_from_params, simulate_kuairec

SMALL = dict(n_users=100, n_days=22, seed=11)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    sim = simulate_kuairec(out, **SMALL)
    df, report = load_interactions(out, "small_matrix")
    panel = build_user_day_panel(df).panel
    return sim, df, report, panel


def test_file_is_in_the_real_format(world) -> None:
    sim, df, report, _ = world
    assert read_header(sim.path) == list(KUAIREC_COLUMNS)
    raw = pd.read_csv(sim.path)
    assert raw["date"].dtype == np.float64  # empty cells exist, as in the real small_matrix
    first = raw.iloc[0]
    assert len(first["time"]) == len("2020-07-05 05:27:48.378")
    # time is the timestamp in Beijing time (UTC+8), date its day
    t = dt.datetime.fromtimestamp(first["timestamp"], dt.UTC) + dt.timedelta(hours=8)
    assert t.strftime("%Y-%m-%d %H:%M:%S.%f")[:23] == first["time"]
    assert int(first["date"]) == int(t.strftime("%Y%m%d"))
    assert first["watch_ratio"] == pytest.approx(first["play_duration"] / first["video_duration"])
    assert report.rows_missing_date == sim.n_missing_time_rows >= 3
    assert report.rows_read == sim.n_rows and report.duplicate_rows == 0
    assert df["date"].min() == 20200705 and df["watch_ratio"].max() > 5  # heavy right tail


def test_oracle_forced_arm_equals_factual_expectation(world) -> None:
    sim, *_ = world
    o = sim.oracle
    assert list(o.columns) == list(ORACLE_COLUMNS)
    taken = np.where(o["treatment"].eq(1), o["y1"], o["y0"])
    np.testing.assert_allclose(taken, o["expected_outcome"], rtol=1e-12)
    assert (o["y1"] != o["y0"]).mean() > 0.9  # the effect is not zero


def test_oracle_and_panel_agree_on_treatment(world) -> None:
    sim, _, _, panel = world
    m = panel.merge(sim.oracle, on=["user_id", "event_date"], how="left", suffixes=("", "_oracle"), validate="one_to_one")
    assert m["y1"].notna().all(), "every panel user-day has an oracle row"
    assert (m["treatment"] == m["treatment_oracle"]).all()
    assert 0.25 < panel["treatment"].mean() < 0.75


def test_treatment_rate_rises_with_prior_high_watch_share(world) -> None:
    _, _, _, panel = world
    q = pd.qcut(panel["prior_3day_high_watch_share"].rank(method="first"), 4, labels=False)
    rates = panel.groupby(q)["treatment"].mean().to_numpy()
    assert np.all(np.diff(rates) > 0), rates
    assert rates[0] < 0.3 and rates[-1] > 0.75


def test_no_confounding_flat_rates_and_no_effect_zero_cate(tmp_path: Path) -> None:
    sim = simulate_kuairec(tmp_path, n_users=60, n_days=20, seed=2, confounding=0.0,
                           effect_mean=0.0, effect_activity=0.0, effect_quality=0.0)
    assert np.all(sim.oracle["cate"].to_numpy() == 0.0)
    panel = build_user_day_panel(load_interactions(tmp_path, "small_matrix")[0]).panel
    q = pd.qcut(panel["prior_3day_high_watch_share"].rank(method="first"), 4, labels=False)
    rates = panel.groupby(q)["treatment"].mean().to_numpy()
    assert rates.max() - rates.min() < 0.2


def test_effect_heterogeneity_follows_the_knobs(world) -> None:
    sim, *_ = world
    o = sim.oracle
    act = pd.qcut(o["latent_activity"].rank(method="first"), 4, labels=False)
    qual = pd.qcut(o["latent_quality"].rank(method="first"), 4, labels=False)
    by_act = o.groupby(act)["cate"].mean()
    by_qual = o.groupby(qual)["cate"].mean()
    assert by_act.iloc[-1] > 0 and by_act.iloc[-1] > by_act.iloc[0]
    assert by_qual.iloc[-1] < 0 and by_qual.iloc[-1] < by_qual.iloc[0]


def test_determinism(tmp_path: Path) -> None:
    a = simulate_kuairec(tmp_path / "a", n_users=30, n_days=16, seed=5)
    b = simulate_kuairec(tmp_path / "b", n_users=30, n_days=16, seed=5)
    c = simulate_kuairec(tmp_path / "c", n_users=30, n_days=16, seed=6)
    pd.testing.assert_frame_equal(a.oracle, b.oracle)
    digest = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()  # noqa: E731
    assert digest(a.path) == digest(b.path) != digest(c.path)
    pa_, pb = (build_user_day_panel(load_interactions(x, "small_matrix")[0]).panel for x in (tmp_path / "a", tmp_path / "b"))
    pd.testing.assert_frame_equal(pa_, pb)


def test_unmeasured_confounder_biases_upward(tmp_path: Path) -> None:
    # With a strong unmeasured shock the naive contrast exceeds the no-shock one by a clear margin.
    base = dict(n_users=60, n_days=16, seed=4, confounding=0.0)
    gaps = []
    for i, g in enumerate((0.0, 2.0)):
        sim = simulate_kuairec(tmp_path / str(i), unmeasured_confounding=g, **base)
        p = build_user_day_panel(load_interactions(tmp_path / str(i), "small_matrix")[0]).panel
        naive = p.loc[p.treatment.eq(1), "outcome"].mean() - p.loc[p.treatment.eq(0), "outcome"].mean()
        truth = p[["user_id", "event_date"]].merge(sim.oracle, on=["user_id", "event_date"])["cate"].mean()
        gaps.append(naive - truth)
    assert gaps[1] > gaps[0] + 20


def test_simulate_from_params_and_duplicates(tmp_path: Path) -> None:
    lt = LongtermParams(sim_n_users=10, sim_n_days=15, matrix="big_matrix", treatment_cutoff="median")
    sim = simulate_from_params(lt, seed=1, out_dir=tmp_path)
    assert sim.path.name == "big_matrix.csv" and sim.n_duplicate_rows >= 0
    keep_all, rep_all = load_interactions(tmp_path, "big_matrix", "keep_all")
    keep_first, rep_first = load_interactions(tmp_path, "big_matrix", "keep_first")
    assert rep_first.duplicates_removed == sim.n_duplicate_rows == len(keep_all) - len(keep_first)
    with pytest.raises(ValueError, match="treatment_cutoff"):
        simulate_kuairec(tmp_path, n_users=5, n_days=5, treatment_cutoff=0.0)


def test_treatment_design_is_the_true_propensity_form(tmp_path) -> None:
    """A logistic regression on `treatment_design` recovers the simulator's treatment logit:
    slopes 2.0 (3-day high-watch share) and 0.3 (log1p of the 3-day count) at confounding 1, and
    intercept 0.15 - 2.0 * 1.35 - 0.3 * log1p(3 * mean_plays)."""
    from sklearn.linear_model import LogisticRegression

    from recsys_causal.simulate.kuairec import treatment_design

    simulate_kuairec(tmp_path, n_users=400, n_days=30, seed=3, mean_plays_per_day=45.0)
    df, _ = load_interactions(tmp_path, "small_matrix")
    panel = build_user_day_panel(df).panel
    X = treatment_design(panel)
    assert list(X.columns) == ["prior_3day_high_watch_share", "log1p_prior_3day_interactions"]
    fit = LogisticRegression(C=1e6, max_iter=5000).fit(X, panel["treatment"])
    slope_h, slope_m = fit.coef_[0]
    assert abs(slope_h - 2.0) < 0.2 and abs(slope_m - 0.3) < 0.1
    assert abs(fit.intercept_[0] - (0.15 - 2.0 * 1.35 - 0.3 * np.log1p(3 * 45.0))) < 0.3


def test_the_windowed_oracle_equals_stepping_each_day_alone(tmp_path: Path) -> None:
    """All forced runs step together in one windowed world; the values are those of running one
    small world per day t, forced on day t and stepped through its outcome window."""
    from recsys_causal.simulate import kuairec as K

    horizon = 4
    rng = np.random.default_rng(5)
    n, total = 40, K.BURN_IN_DAYS + 16
    shape = (n, total)
    w = K._World(base=rng.normal(3.0, 0.4, n), tau=rng.normal(-0.03, 0.05, n), quality=rng.normal(size=n),
                 dow=K.DOW_LOG_RATE[np.arange(total) % 7], active=rng.random(shape) < 0.85,
                 eps=0.3 * rng.standard_normal(shape), u_count=rng.random(shape), u_treat=rng.random(shape),
                 u_share=rng.random(shape), z=rng.standard_normal(shape), confounding=1.0, gamma_u=0.5,
                 cutoff=0.5, mean_plays=20.0)
    paths = K._Paths(np.zeros(shape), np.zeros(shape, np.int64), np.zeros(shape, np.int64), np.zeros(shape, np.int8))
    for t in range(total):
        K._step(w, paths, t)
    rows_out = []
    for t in range(K.BURN_IN_DAYS, total - horizon):  # the reference: one world per day
        users = np.flatnonzero(w.active[:, t])
        sub = K._World(base=w.base[users], tau=w.tau[users], quality=w.quality[users], dow=w.dow,
                       active=w.active[users], eps=w.eps[users], u_count=w.u_count[users],
                       u_treat=w.u_treat[users], u_share=w.u_share[users], z=w.z[users], confounding=w.confounding,
                       gamma_u=w.gamma_u, cutoff=w.cutoff, mean_plays=w.mean_plays)
        ys = []
        for arm in (1, 0):
            q = K._Paths(paths.lam[users], paths.n[users], paths.k[users], paths.d[users])
            K._step(sub, q, t, forced=arm)
            for s in range(t + 1, t + horizon + 1):
                K._step(sub, q, s)
            ys.append(K._expected_window(sub, q, t, horizon))
        rows_out.append(pd.DataFrame({"user_id": users.astype(np.int64), "day": t - K.BURN_IN_DAYS,
                                      "treatment": paths.d[users, t].astype(np.int64), "y1": ys[0], "y0": ys[1],
                                      "expected_outcome": K._expected_window(w, paths, t, horizon)[users]}))
    reference = pd.concat(rows_out, ignore_index=True)
    pd.testing.assert_frame_equal(K._oracle_rows(w, paths, horizon), reference, check_exact=True)
    assert (reference["y1"] != reference["y0"]).any()


@pytest.mark.parametrize("matrix", ["small_matrix", "big_matrix"])
def test_rows_kept_in_memory_load_as_the_written_file_does(tmp_path: Path, matrix: str) -> None:
    """The study skips the CSV: its in-memory rows, typed as the loader types the file, give the
    same interactions, load report and oracle as writing the file and loading it."""
    from recsys_causal.data.kuairec import interactions_from_table, typed_table

    kw = dict(n_users=90, n_days=20, seed=11, matrix=matrix)
    written = simulate_kuairec(tmp_path, **kw)
    kept = simulate_kuairec(None, **kw)
    assert kept.path is None and written.table is None and kept.n_rows == written.n_rows
    pd.testing.assert_frame_equal(kept.oracle, written.oracle, check_exact=True)
    from_file, report_file = load_interactions(tmp_path, matrix, "keep_first")
    from_memory, report_memory = interactions_from_table(typed_table(kept.table), Path(f"{matrix}.csv"), "keep_first")
    pd.testing.assert_frame_equal(from_memory, from_file, check_exact=True)
    assert report_memory == report_file
    assert report_file.rows_missing_date + report_file.duplicates_removed > 0  # the awkward rows are exercised


def test_poisson_quantile_equals_scipy_over_the_simulators_rates_and_at_the_edges() -> None:
    """The simulator's count draw: the same integers as scipy.stats.poisson.ppf."""
    from scipy.stats import poisson

    from recsys_causal.simulate.kuairec import poisson_quantile

    rng = np.random.default_rng(11)
    for scale in (0.01, 0.3, 2.0, 8.0, 40.0, 400.0, 5000.0):
        mu = rng.gamma(1.5, scale, 200_000)
        q = rng.random(200_000)
        np.testing.assert_array_equal(poisson_quantile(q, mu), poisson.ppf(q, mu))
    q = np.array([0.0, 1e-300, 0.5, 1 - 1e-16, 1.0, 0.3, np.nan])
    mu = np.array([3.0, 3.0, 0.0, 3.0, 3.0, np.nan, 2.0])
    np.testing.assert_array_equal(poisson_quantile(q, mu), poisson.ppf(q, mu))
