"""A KuaiRec-format simulator with a known truth (the oracle) for the long-term track.

`simulate_kuairec(...)` writes `small_matrix.csv` (or `big_matrix.csv`) in the real file format
into a folder and returns the oracle. Analysis code never sees the simulated frame: it reads the
written CSV back through `recsys_causal.data.kuairec.load_interactions`, exactly like real data.

The generative process (users vectorised, one step per calendar day)
---------------------------------------------------------------------
Each user i has a latent standardised *activity* a_i and *watch quality* q_i (both N(0, 1)).
On day t (7 burn-in days precede the written window, so day 0 already has a history):

* active: A_it = 1{U_act < sigmoid(2.4 + 0.9 a_i)}  (exogenous; inactive days have no plays);
* intensity: log lam_it = log(mean_plays) + 0.40 a_i + 0.30 q_i + dow(t) + eps_it
  + tau_i * (number of high-watch days among the previous 7 days)
  + 0.15 * gamma_u * (sum of the unmeasured shocks z of the previous 7 days);
  plays n_it = A_it * (1 + Poisson(lam_it));
* treatment (a high-watch day), decided before the day's watch ratios:
  logit P(D_it = 1) = 0.15 + c * [2.0 (h_it - 1.35) + 0.3 (log1p(m_it) - log1p(3 mean_plays))] + gamma_u * z_it,
  where h_it = prior_3day_high_watch_share and m_it = prior_3day_interactions, both exactly the
  panel's pre-treatment covariates (sums over the 3 previous calendar days, inactive days 0).
  `c = confounding` (0: randomised; large: weak overlap). `z_it ~ N(0, 1)` is the
  **unmeasured confounder**: a user-day shock (e.g. a free week starting) that raises the chance
  of a high-watch day today and the activity of the next 7 days, and that no earlier log row
  carries, so no panel covariate recovers it. Its bias is **upward**: treated days have higher
  z, hence more future activity, so every adjusted estimator overstates the effect
  (by more the larger `unmeasured_confounding` = gamma_u).
* watch ratios: with cutoff c* = `treatment_cutoff`, the number K of plays with
  watch_ratio >= `high_watch_threshold` is drawn so that K / n >= c* exactly when D_it = 1
  (higher-quality users sit higher within each arm). High plays get a heavy-tailed ratio
  (threshold * (1 + Lomax), plus rare replays up to ~100x); other plays a ratio below the
  threshold. So the panel's treatment (share >= cutoff) equals the latent D_it.

The effect: a high-watch day shifts the log-intensity of each of the next 7 days by
tau_i = effect_mean + effect_activity * a_i + effect_quality * q_i. With the defaults
(-0.03, +0.06, -0.06) the average effect on next-7-day interactions is small and positive
(about +1% of the control mean at report scale: active users, who gain, have more interactions
to gain on), clearly positive in the top activity quartile and negative in the top quality
quartile. Effects accumulate (a treated day also raises h, hence later treatment), so the
oracle's effect is the *total* effect of the day, including its effect through later days.

The oracle
----------
For every active user-day (i, t) with a full `outcome_horizon_days` window after it, the oracle
re-runs days t .. t+H with D_it forced to 1 (y1) and to 0 (y0), with **common random numbers**:
every uniform and normal draw (activity, intensity noise, Poisson counts by inverse CDF,
treatment uniforms, watch-ratio uniforms, z) is the one of the factual run; later days follow
the natural process (their treatments may change because h changes). The outcome of a path is
its *expected* next-H interactions given that path: sum_{s=1..H} A_{i,t+s} (1 + lam_{i,t+s}),
i.e. the expectation over the Poisson noise of the outcome days. Forcing the arm actually taken
reproduces the factual path, so y_{D} equals `expected_outcome` (tested). `cate = y1 - y0`.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from scipy.special import expit, ndtri, pdtr

from recsys_causal.data.kuairec import KUAIREC_COLUMNS
from recsys_causal.params import LongtermParams

EFFECT_WINDOW_DAYS = 7  # a high-watch day shifts the next 7 days' log-intensity
BURN_IN_DAYS = 7  # simulated before the written window so day 0 has a history
PRIOR_DAYS = 3  # the treatment rule looks at the previous 3 days (the panel's prior window)
DOW_LOG_RATE = np.array([0.02, -0.03, -0.04, -0.02, 0.0, 0.06, 0.05])  # Mon..Sun
UTC8_MS = 8 * 3600 * 1000  # KuaiRec's `time` is Beijing time
ORACLE_COLUMNS = (
    "user_id", "event_date", "treatment", "y1", "y0", "cate", "expected_outcome",
    "latent_activity", "latent_quality", "log_rate_effect",
)


@dataclass
class SimulationResult:
    """What `simulate_kuairec` wrote and the truth behind it."""

    path: Path | None  # the written CSV (None when the rows were kept in memory)
    oracle: pd.DataFrame  # ORACLE_COLUMNS, one row per active user-day with a full outcome window
    users: pd.DataFrame  # user_id, latent_activity, latent_quality, log_rate_effect
    n_rows: int  # data rows written (including the extra rows without a time and duplicates)
    n_missing_time_rows: int
    n_duplicate_rows: int
    table: pa.Table | None = None  # the rows, in the CSV's columns and text (when kept in memory)

    @property
    def ate(self) -> float:
        """Average of y1 - y0 over the oracle's user-days."""
        return float(self.oracle["cate"].mean()) if len(self.oracle) else float("nan")


# ----------------------------------------------------------------------------------------------
# The day step (shared by the factual run and the oracle's forced runs)
# ----------------------------------------------------------------------------------------------
@dataclass
class _World:
    base: np.ndarray  # (n,) user log-rate
    tau: np.ndarray  # (n,) effect of a high-watch day on later log-rates
    quality: np.ndarray  # (n,)
    dow: np.ndarray  # (T,), or (n, T) in the oracle's windowed world
    active: np.ndarray  # (n, T) bool, exogenous
    eps: np.ndarray  # (n, T) intensity noise
    u_count: np.ndarray  # (n, T) uniforms -> Poisson counts by inverse CDF
    u_treat: np.ndarray  # (n, T)
    u_share: np.ndarray  # (n, T)
    z: np.ndarray  # (n, T) unmeasured shocks
    confounding: float
    gamma_u: float
    cutoff: float
    mean_plays: float


@dataclass
class _Paths:
    lam: np.ndarray  # (n, T) intensity
    n: np.ndarray  # (n, T) plays
    k: np.ndarray  # (n, T) high-watch plays
    d: np.ndarray  # (n, T) treatment (0 on inactive days)

    def copy(self) -> _Paths:
        return _Paths(self.lam.copy(), self.n.copy(), self.k.copy(), self.d.copy())


#: The panel covariates (h, m) the simulator's treatment logit is built from: it is linear in
#: h and log1p(m) (module docstring), so a logistic regression on `treatment_design` of them is a
#: propensity model of the true form.
TREATMENT_INPUTS: tuple[str, str] = ("prior_3day_high_watch_share", "prior_3day_interactions")


def treatment_design(panel: pd.DataFrame) -> pd.DataFrame:
    """The treatment logit's inputs h and log1p(m) per panel row (`TREATMENT_INPUTS`); no intercept."""
    h, m = TREATMENT_INPUTS
    return pd.DataFrame({h: panel[h].to_numpy(float), f"log1p_{m}": np.log1p(panel[m].to_numpy(float))},
                        index=panel.index)


def poisson_quantile(q: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """`scipy.stats.poisson.ppf(q, mu)`: the smallest k with pdtr(k, mu) >= q (-1 at q = 0, inf at 1).

    scipy inverts the CDF by an iterative root search (`pdtrik`) and then checks one step
    down; starting instead from the Cornish-Fisher guess and stepping with the same CDF
    (`pdtr`) to the smallest such k gives the same integers (a test checks it against scipy
    over a range of rates) in a fifth of the time, which is a tenth of a simulated data set.
    """
    q, mu = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(mu, dtype=float))
    inside = (q > 0) & (q < 1) & np.isfinite(mu) & (mu >= 0)
    qi, mi = q[inside], mu[inside]
    z = ndtri(qi)
    k = np.maximum(np.floor(mi + np.sqrt(mi) * z + (z * z - 1.0) / 6.0), 0.0)
    # only the entries still moving are evaluated again: a guess is almost always within one
    low = np.flatnonzero(pdtr(k, mi) < qi)
    rose = np.zeros(len(k), dtype=bool)
    rose[low] = True
    while low.size:  # k too small: step up until pdtr(k) >= q
        k[low] += 1.0
        low = low[pdtr(k[low], mi[low]) < qi[low]]
    # an entry that stepped up has pdtr(k - 1) < q already; the others may step down
    high = np.flatnonzero(~rose & (k > 0))
    while high.size:  # k - 1 reaches q too: step down
        high = high[pdtr(k[high] - 1.0, mi[high]) >= qi[high]]
        k[high] -= 1.0
        high = high[k[high] > 0]
    out = np.where(q <= 0, -1.0, np.where(q >= 1, np.inf, np.nan))
    out[inside] = k
    return out


def _min_high(n: np.ndarray, cutoff: float) -> np.ndarray:
    """Smallest K with K / n >= cutoff (float comparison exactly as the panel does it)."""
    k = np.ceil(cutoff * n).astype(np.int64)
    safe = np.maximum(n, 1)
    k = np.where((k - 1 >= 0) & ((k - 1) / safe >= cutoff), k - 1, k)
    k = np.where(k / safe < cutoff, k + 1, k)
    return np.clip(k, 0, n)


def _step(w: _World, p: _Paths, t: int, forced: int | None = None, rows: np.ndarray | None = None) -> None:
    """Simulate day t for all users (or `rows`), writing into `p` in place."""
    idx = slice(None) if rows is None else rows
    lo = max(0, t - EFFECT_WINDOW_DAYS)
    recent_d = p.d[idx, lo:t].sum(axis=1)
    recent_z = w.z[idx, lo:t].sum(axis=1)
    dow = w.dow[t] if w.dow.ndim == 1 else w.dow[idx, t]  # per row in the oracle's windowed world
    lam = np.exp(w.base[idx] + dow + w.eps[idx, t] + w.tau[idx] * recent_d + 0.15 * w.gamma_u * recent_z)
    act = w.active[idx, t]
    n = np.where(act, 1 + poisson_quantile(w.u_count[idx, t], lam), 0).astype(np.int64)
    lo3 = max(0, t - PRIOR_DAYS)
    nn = p.n[idx, lo3:t]
    share = np.divide(p.k[idx, lo3:t], nn, out=np.zeros(nn.shape), where=nn > 0)
    h = share.sum(axis=1)
    m = nn.sum(axis=1)
    logit = 0.15 + w.confounding * (2.0 * (h - 1.35) + 0.3 * (np.log1p(m) - np.log1p(3 * w.mean_plays)))
    logit = logit + w.gamma_u * w.z[idx, t]
    if forced is None:
        d = (w.u_treat[idx, t] < expit(logit)) & act
    else:
        d = np.full(n.shape, bool(forced)) & act
    kmin = _min_high(n, w.cutoff)
    u = w.u_share[idx, t]
    q = w.quality[idx]
    frac_t = u ** (1.8 * np.exp(-0.4 * q))  # position within [kmin, n] on treated days
    frac_c = u ** (0.6 * np.exp(-0.4 * q))  # position within [0, kmin - 1] on control days
    k_t = np.minimum(kmin + np.floor(frac_t * (n - kmin + 1)).astype(np.int64), n)
    k_c = np.minimum(np.floor(frac_c * kmin).astype(np.int64), np.maximum(kmin - 1, 0))
    k = np.where(d, k_t, k_c)
    p.lam[idx, t] = lam
    p.n[idx, t] = n
    p.k[idx, t] = np.where(act, k, 0)
    p.d[idx, t] = d.astype(np.int8)


def _expected_window(w: _World, p: _Paths, t: int, horizon: int) -> np.ndarray:
    sl = slice(t + 1, t + 1 + horizon)
    return (w.active[:, sl] * (1.0 + p.lam[:, sl])).sum(axis=1)


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------
def simulate_kuairec(
    out_dir: str | Path | None,
    n_users: int = 1411,
    n_days: int = 60,
    start_date: str = "2020-07-05",
    *,
    effect_mean: float = -0.03,
    effect_activity: float = 0.06,
    effect_quality: float = -0.06,
    confounding: float = 1.0,
    unmeasured_confounding: float = 0.0,
    seed: int = 0,
    high_watch_threshold: float = 1.0,
    treatment_cutoff: float = 0.5,
    outcome_horizon_days: int = 7,
    matrix: str = "small_matrix",
    mean_plays_per_day: float = 45.0,
    n_videos: int | None = None,
    missing_time_rows: int | None = None,
    duplicate_rows: int | None = None,
    with_oracle: bool = True,
) -> SimulationResult:
    """Simulate KuaiRec-like logs, write `<out_dir>/<matrix>.csv`, and return the oracle
    (`out_dir=None`: keep the rows in memory, `SimulationResult.table`, the CSV's text unwritten).

    `missing_time_rows` extra rows with empty time/date/timestamp (default: a few for
    small_matrix, as in the real file) and `duplicate_rows` exact copies of earlier rows
    (default: 0.1% for big_matrix, none for small_matrix) are added *outside* the generative
    process, so with `duplicate_policy="keep_first"` the loaded data equals the latent process.
    `with_oracle=False` skips the forced re-runs (for benchmarks writing big files).
    """
    if not 0.0 < float(treatment_cutoff) <= 1.0:
        raise ValueError(f"treatment_cutoff = {treatment_cutoff!r}: the simulator needs a share in (0, 1]")
    if high_watch_threshold <= 0:
        raise ValueError(f"high_watch_threshold = {high_watch_threshold!r}: expected > 0")
    if n_users < 1 or n_days < 1:
        raise ValueError("n_users and n_days must be positive")
    if matrix not in ("small_matrix", "big_matrix"):
        raise ValueError(f"matrix = {matrix!r}: expected small_matrix or big_matrix")
    start = _dt.date.fromisoformat(start_date)
    ss = np.random.SeedSequence(seed)
    rng_latent, rng_days, rng_rows = (np.random.default_rng(s) for s in ss.spawn(3))

    # --- users -------------------------------------------------------------------------------
    activity = rng_latent.standard_normal(n_users)
    quality = rng_latent.standard_normal(n_users)
    tau = effect_mean + effect_activity * activity + effect_quality * quality
    base = np.log(mean_plays_per_day) + 0.40 * activity + 0.30 * quality - 0.5 * 0.3**2
    p_active = expit(2.4 + 0.9 * activity)

    # --- exogenous draws (common random numbers) -----------------------------------------------
    total = BURN_IN_DAYS + n_days
    first = start - _dt.timedelta(days=BURN_IN_DAYS)
    dow = np.array([DOW_LOG_RATE[(first + _dt.timedelta(days=t)).weekday()] for t in range(total)])
    shape = (n_users, total)
    w = _World(
        base=base, tau=tau, quality=quality, dow=dow,
        active=rng_days.random(shape) < p_active[:, None],
        eps=0.3 * rng_days.standard_normal(shape),
        u_count=rng_days.random(shape),
        u_treat=rng_days.random(shape),
        u_share=rng_days.random(shape),
        z=rng_days.standard_normal(shape),
        confounding=float(confounding), gamma_u=float(unmeasured_confounding),
        cutoff=float(treatment_cutoff), mean_plays=float(mean_plays_per_day),
    )
    paths = _Paths(np.zeros(shape), np.zeros(shape, np.int64), np.zeros(shape, np.int64), np.zeros(shape, np.int8))
    for t in range(total):
        _step(w, paths, t)

    # --- oracle --------------------------------------------------------------------------------
    H = int(outcome_horizon_days)
    frames = [_oracle_rows(w, paths, H)] if with_oracle else []
    oracle = _oracle_frame([f for f in frames if len(f)], start, activity, quality, tau)

    # --- rows ----------------------------------------------------------------------------------
    n_written = paths.n[:, BURN_IN_DAYS:]
    k_written = paths.k[:, BURN_IN_DAYS:]
    table, n_missing, n_dup = _play_table(
        matrix, n_written, k_written, start, rng_rows,
        threshold=float(high_watch_threshold),
        n_videos=n_videos or (3327 if matrix == "small_matrix" else 10728),
        missing_time_rows=missing_time_rows, duplicate_rows=duplicate_rows,
    )
    path = _write_csv(Path(out_dir), matrix, table) if out_dir is not None else None
    users = pd.DataFrame({
        "user_id": np.arange(n_users, dtype=np.int64),
        "latent_activity": activity, "latent_quality": quality, "log_rate_effect": tau,
    })
    return SimulationResult(path, oracle, users, int(table.num_rows), n_missing, n_dup,
                            table=None if out_dir is not None else table)


def simulate_from_params(params: LongtermParams, seed: int, out_dir: str | Path | None,
                         with_oracle: bool = True) -> SimulationResult:
    """Run `simulate_kuairec` with the knobs of a `LongtermParams` section.

    A `treatment_cutoff` of "median" has no fixed value before the data exist; the simulator
    then uses 0.5 (the panel's median cutoff is computed from the loaded data).
    """
    cutoff = params.treatment_cutoff
    cutoff = 0.5 if cutoff == "median" else float(cutoff)
    if cutoff <= 0.0:
        cutoff = 0.5
    return simulate_kuairec(
        out_dir,
        n_users=params.sim_n_users,
        n_days=params.sim_n_days,
        start_date=params.sim_start_date,
        effect_mean=params.sim_effect_mean,
        effect_activity=params.sim_effect_activity,
        effect_quality=params.sim_effect_quality,
        confounding=params.sim_confounding,
        unmeasured_confounding=params.sim_unmeasured_confounding,
        seed=seed,
        high_watch_threshold=params.high_watch_threshold,
        treatment_cutoff=cutoff,
        outcome_horizon_days=params.outcome_horizon_days,
        matrix=params.matrix,
        with_oracle=with_oracle,
    )


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def _oracle_rows(w: _World, paths: _Paths, horizon: int) -> pd.DataFrame:
    """y1, y0 and the factual expected outcome of every active user-day with a full window.

    Each (user, day t) is one row of a windowed world holding days t - W .. t + H (W = the
    effect window, so the step sees the same history): all forced runs step together, day by
    day of the window, instead of one small world per t. The values are those of stepping each
    t's world alone (same elementwise arithmetic, same order), in (t, user) order.
    """
    W, total = EFFECT_WINDOW_DAYS, w.active.shape[1]
    days = np.arange(BURN_IN_DAYS, total - horizon)
    t_idx, u_idx = np.nonzero(w.active[:, days].T)  # t-major, users ascending within a day
    t_abs = days[t_idx]
    cols = t_abs[:, None] + np.arange(-W, horizon + 1)[None, :]  # (rows, W + H + 1) absolute days
    u2 = u_idx[:, None]
    sub = _World(
        base=w.base[u_idx], tau=w.tau[u_idx], quality=w.quality[u_idx], dow=w.dow[cols],
        active=w.active[u2, cols], eps=w.eps[u2, cols], u_count=w.u_count[u2, cols],
        u_treat=w.u_treat[u2, cols], u_share=w.u_share[u2, cols], z=w.z[u2, cols],
        confounding=w.confounding, gamma_u=w.gamma_u, cutoff=w.cutoff, mean_plays=w.mean_plays,
    )
    ys = []
    for arm in (1, 0):
        q = _Paths(paths.lam[u2, cols], paths.n[u2, cols], paths.k[u2, cols], paths.d[u2, cols])
        _step(sub, q, W, forced=arm)
        for s in range(W + 1, W + horizon + 1):
            _step(sub, q, s)
        ys.append(_expected_window(sub, q, W, horizon))
    factual = _expected_window(sub, _Paths(paths.lam[u2, cols], paths.n[u2, cols], paths.k[u2, cols],
                                           paths.d[u2, cols]), W, horizon)
    return pd.DataFrame({
        "user_id": u_idx.astype(np.int64), "day": (t_abs - BURN_IN_DAYS).astype(np.int64),
        "treatment": paths.d[u_idx, t_abs].astype(np.int64),
        "y1": ys[0], "y0": ys[1], "expected_outcome": factual,
    })


def _oracle_frame(frames: list[pd.DataFrame], start: _dt.date, activity: np.ndarray,
                  quality: np.ndarray, tau: np.ndarray) -> pd.DataFrame:
    if frames:
        o = pd.concat(frames, ignore_index=True)
    else:
        o = pd.DataFrame({c: pd.Series(dtype="float64") for c in ("user_id", "day", "treatment", "y1", "y0", "expected_outcome")})
        o = o.astype({"user_id": "int64", "day": "int64", "treatment": "int64"})
    uid = o["user_id"].to_numpy()
    o["event_date"] = pd.Timestamp(start) + pd.to_timedelta(o["day"].to_numpy(), unit="D")
    o["event_date"] = o["event_date"].astype("datetime64[us]")
    o["cate"] = o["y1"] - o["y0"]
    o["latent_activity"] = activity[uid]
    o["latent_quality"] = quality[uid]
    o["log_rate_effect"] = tau[uid]
    return o.sort_values(["user_id", "event_date"], kind="stable").reset_index(drop=True)[list(ORACLE_COLUMNS)]


def _play_table(
    matrix: str, n: np.ndarray, k: np.ndarray, start: _dt.date, rng: np.random.Generator,
    threshold: float, n_videos: int, missing_time_rows: int | None, duplicate_rows: int | None,
) -> tuple[pa.Table, int, int]:
    """Expand user-day counts into play rows: the KuaiRec CSV's columns, as its text."""
    n_users, n_days = n.shape
    flat_n = n.ravel()
    groups = np.flatnonzero(flat_n > 0)
    counts = flat_n[groups]
    total = int(counts.sum())
    g_rows = np.repeat(np.arange(len(groups)), counts)
    starts = np.cumsum(counts) - counts
    pos = np.arange(total) - np.repeat(starts, counts)
    high = pos < np.repeat(k.ravel()[groups], counts)
    user = (groups // n_days)[g_rows].astype(np.int64)
    day = (groups % n_days)[g_rows].astype(np.int64)
    del g_rows, pos

    vid_duration = np.clip(np.round(np.exp(rng.normal(np.log(9000.0), 0.5, n_videos))), 2000, 300_000).astype(np.int64)
    video = rng.integers(0, n_videos, total).astype(np.int64)
    vd = vid_duration[video]
    # Watch ratios: heavy right tail above the threshold, below it otherwise.
    tail = rng.pareto(2.2, total) * 0.35
    replay = rng.random(total) < 0.002
    tail = np.where(replay, np.exp(rng.uniform(np.log(4.0), np.log(100.0), total)), tail)
    target = np.where(high, threshold * (1.0 + tail) + 1e-9, threshold * 0.999 * rng.beta(1.3, 1.0, total))
    play = np.where(high, np.ceil(target * vd), np.floor(target * vd)).astype(np.int64)
    ratio = play / vd
    # Times: uniform within the (Beijing) day, sorted within each user-day.
    day0_ms = int(_dt.datetime(start.year, start.month, start.day, tzinfo=_dt.UTC).timestamp() * 1000) - UTC8_MS
    ms_in_day = rng.integers(0, 86_400_000, total)
    order = np.argsort(np.repeat(np.arange(len(groups), dtype=np.int64), counts) * 86_400_000 + ms_in_day, kind="stable")
    ms_in_day = ms_in_day[order]  # sorted within each group; group blocks keep their order
    del order
    epoch_ms = day0_ms + day * 86_400_000 + ms_in_day
    dates = np.array([int((start + _dt.timedelta(days=int(d))).strftime("%Y%m%d")) for d in range(n_days)])

    n_missing = (max(3, total // 25_000) if matrix == "small_matrix" else 0) if missing_time_rows is None else int(missing_time_rows)
    n_dup = (total // 1000 if matrix == "big_matrix" else 0) if duplicate_rows is None else int(duplicate_rows)
    src_missing = rng.integers(0, total, n_missing) if total else np.zeros(0, np.int64)
    src_dup = np.sort(rng.integers(0, total, n_dup)) if total else np.zeros(0, np.int64)
    extra = np.concatenate([src_dup, src_missing])
    idx = np.concatenate([np.arange(total), extra])
    has_time = np.concatenate([np.ones(total + n_dup, bool), np.zeros(n_missing, bool)])

    ts = pa.array((epoch_ms[idx] + UTC8_MS).astype("datetime64[ms]"), mask=~has_time)
    time_str = pc.cast(ts, pa.string())  # "2020-07-05 05:27:48.378", as strftime("%Y-%m-%d %H:%M:%S"), 25x faster
    # small_matrix stores date as a float ("20200705.0": pandas wrote a column holding NaN)
    fmt = "{}.0" if matrix == "small_matrix" else "{}"
    day_idx = pa.array(day[idx], mask=~has_time)
    date_arr = pa.array([fmt.format(d) for d in dates]).take(day_idx)
    table = pa.table({
        "user_id": pa.array(user[idx]),
        "video_id": pa.array(video[idx]),
        "play_duration": pa.array(play[idx]),
        "video_duration": pa.array(vd[idx]),
        "time": time_str,
        "date": date_arr,
        "timestamp": pa.array(epoch_ms[idx] / 1000.0, mask=~has_time),
        "watch_ratio": pa.array(ratio[idx]),
    })
    assert tuple(table.column_names) == KUAIREC_COLUMNS
    return table, n_missing, n_dup


def _write_csv(out_dir: Path, matrix: str, table: pa.Table) -> Path:
    """Write the play rows in the KuaiRec CSV format (atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{matrix}.csv"
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write((",".join(KUAIREC_COLUMNS) + "\n").encode())
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=1 << 16))
    tmp.replace(path)
    return path
