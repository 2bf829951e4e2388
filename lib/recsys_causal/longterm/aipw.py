"""Doubly robust (AIPW) estimation of the long-term effect of a high-watch day.

Every row of the user-day panel gets one AIPW score per (propensity model x outcome model)
pair,

    psi = m1 - m0 + A (Y - m1) / e - (1 - A) (Y - m0) / (1 - e),   e clipped to [eps, 1 - eps],

and the mean score is the AIPW estimate of the average treatment effect. Inference comes three
ways, so a reader can see what each leaves out:

1. a user-cluster bootstrap of the score mean with the nuisance predictions held fixed
   (vectorized through `recsys_causal.bootstrap`);
2. the influence-function standard error clustered by user (per-user sums of centred scores);
3. a refit bootstrap that resamples users and re-fits the propensity and outcome models inside
   every replicate (few replicates; the only bootstrap here that loops).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys_causal.bootstrap import (
    cluster_bootstrap_mean,
    cluster_codes,
    draw_counts,
    draw_indices,
    map_replicates,
    percentile_interval,
)
from recsys_causal.inference import Z95, influence_function_se, sd_mcse
from recsys_causal.scores import aipw_score, clip_propensity
from recsys_causal.seeds import stream_rng

PROPENSITY_MODELS: tuple[str, ...] = ("logistic", "lightgbm")
OUTCOME_MODELS: tuple[str, ...] = ("linear_ridge", "lightgbm")
PROPENSITY_COLUMN: dict[str, str] = {m: f"propensity_{m}" for m in PROPENSITY_MODELS}
PROPENSITY_LABEL: dict[str, str] = {"logistic": "logistic propensity", "lightgbm": "LightGBM propensity"}
OUTCOME_LABEL: dict[str, str] = {"linear_ridge": "ridge outcome", "lightgbm": "LightGBM outcome"}
KEYS: tuple[str, str] = ("user_id", "event_date")

# (e, m1, m0) for every row of a panel subset, cross-fitted inside that subset.
RefitFn = Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray, np.ndarray]]


# ----------------------------------------------------------------------------------------------
# The score
# ----------------------------------------------------------------------------------------------
def score_name(propensity_model: str, outcome_model: str) -> str:
    """Stable name of one nuisance pair's score, e.g. aipw_logistic_propensity_lightgbm_outcome."""
    return f"aipw_{propensity_model}_propensity_{outcome_model}_outcome"


def pair_label(propensity_model: str, outcome_model: str) -> str:
    """Readable label of a nuisance pair, e.g. 'logistic propensity + LightGBM outcome'."""
    return f"{PROPENSITY_LABEL.get(propensity_model, propensity_model)} + {OUTCOME_LABEL.get(outcome_model, outcome_model)}"


def _normalize_keys(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(event_date=pd.to_datetime(df["event_date"]).astype("datetime64[ns]"))


def aipw_base(panel: pd.DataFrame, counterfactuals: pd.DataFrame, covariates: Sequence[str] = ()) -> pd.DataFrame:
    """Counterfactual predictions (one row per user-day per outcome model) joined to the panel.

    Raises when a required column is missing or a row fails to join (a silent NaN here would
    bias every estimate).
    """
    need_panel = [*KEYS, *PROPENSITY_COLUMN.values()]
    need_cf = [*KEYS, "model", "treatment", "outcome", "pred_y1", "pred_y0"]
    for name, df, need in (("weighted panel", panel, need_panel), ("counterfactuals", counterfactuals, need_cf)):
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise ValueError(f"{name} lacks columns {missing}")
    extra = [c for c in ("analysis_weight", *covariates) if c in panel.columns and c not in need_panel]
    left = _normalize_keys(counterfactuals)
    if "cate_hat" not in left.columns:
        left = left.assign(cate_hat=left["pred_y1"] - left["pred_y0"])
    right = _normalize_keys(panel[[*need_panel, *extra]])
    base = left.merge(right, on=list(KEYS), how="left", validate="many_to_one", indicator=True)
    unmatched = int(base["_merge"].ne("both").sum())
    if unmatched:
        raise ValueError(f"{unmatched} counterfactual rows have no panel row with the same user_id and event_date")
    base = base.drop(columns="_merge")
    required = ["treatment", "outcome", "pred_y1", "pred_y0", *PROPENSITY_COLUMN.values()]
    bad = [c for c in required if base[c].isna().any()]
    if bad:
        raise ValueError(f"AIPW inputs have missing values in {bad}")
    return base.sort_values(["model", *KEYS], kind="mergesort").reset_index(drop=True)


def compute_scores(
    base: pd.DataFrame,
    clip_eps: float = 0.01,
    primary: tuple[str, str] = ("logistic", "lightgbm"),
) -> pd.DataFrame:
    """Long table of AIPW scores: one row per user-day per (propensity, outcome) pair."""
    frames = []
    for outcome_model in OUTCOME_MODELS:
        part = base[base["model"].eq(outcome_model)]
        if part.empty:
            continue
        for prop in PROPENSITY_MODELS:
            col = PROPENSITY_COLUMN[prop]
            psi = aipw_score(part["outcome"], part["treatment"], part[col], part["pred_y1"], part["pred_y0"], clip_eps)
            frames.append(
                pd.DataFrame(
                    {
                        "user_id": part["user_id"].to_numpy(),
                        "event_date": part["event_date"].to_numpy(),
                        "treatment": part["treatment"].to_numpy(dtype=np.int64),
                        "outcome": part["outcome"].to_numpy(dtype=float),
                        "propensity_model": prop,
                        "outcome_model": outcome_model,
                        "aipw_score_name": score_name(prop, outcome_model),
                        "aipw_score": psi,
                        "e_clipped": clip_propensity(part[col], clip_eps),
                        "pred_y1": part["pred_y1"].to_numpy(dtype=float),
                        "pred_y0": part["pred_y0"].to_numpy(dtype=float),
                        "cate_hat": part["cate_hat"].to_numpy(dtype=float),
                        "propensity_logistic": part["propensity_logistic"].to_numpy(dtype=float),
                        "propensity_lightgbm": part["propensity_lightgbm"].to_numpy(dtype=float),
                        "is_primary_aipw": (prop, outcome_model) == tuple(primary),
                    }
                )
            )
    if not frames:
        raise ValueError(f"no outcome model among {OUTCOME_MODELS} in the counterfactual table")
    scores = pd.concat(frames, ignore_index=True)
    if not scores["is_primary_aipw"].any():
        raise ValueError(f"primary pair {primary} has no scores (outcome models present: {sorted(base['model'].unique())})")
    return scores


def primary_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The primary pair's scores, one row per user-day, sorted by user and date."""
    out = scores[scores["is_primary_aipw"]].sort_values(list(KEYS), kind="mergesort")
    return out.reset_index(drop=True)


def summarize_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The seed's results table: one row per nuisance pair with the score distribution."""
    g = scores.groupby(["propensity_model", "outcome_model", "aipw_score_name"], sort=False)
    res = g.agg(
        n_rows=("aipw_score", "size"),
        n_users=("user_id", "nunique"),
        mean_y1_hat=("pred_y1", "mean"),
        mean_y0_hat=("pred_y0", "mean"),
        gcomp_component=("cate_hat", "mean"),
        aipw_ate=("aipw_score", "mean"),
        aipw_score_std=("aipw_score", "std"),
        aipw_p05=("aipw_score", lambda v: v.quantile(0.05)),
        aipw_median=("aipw_score", "median"),
        aipw_p95=("aipw_score", lambda v: v.quantile(0.95)),
        share_positive_score=("aipw_score", lambda v: (v > 0).mean()),
        is_primary_aipw=("is_primary_aipw", "first"),
    ).reset_index()
    res["relative_lift_vs_y0"] = res["aipw_ate"] / res["mean_y0_hat"]
    primary = res.pop("is_primary_aipw")
    res["is_primary_aipw"] = primary.astype(bool)
    return res


def score_matrix(scores: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Wide view: row keys (user-days sorted by user, date), an (n x pairs) score matrix, pair names."""
    names = list(dict.fromkeys(scores["aipw_score_name"]))
    wide = scores.pivot(index=list(KEYS), columns="aipw_score_name", values="aipw_score")
    wide = wide.sort_index()
    if wide.isna().any().any():
        raise ValueError("nuisance pairs are scored on different user-days")
    keys = wide.index.to_frame(index=False)
    return keys, wide[names].to_numpy(dtype=float), names


# ----------------------------------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------------------------------
def fixed_nuisance_bootstrap(
    scores: pd.DataFrame, n_bootstrap: int, seed: int, counts: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """User-cluster bootstrap of every pair's mean score in one pass; nuisances held fixed.

    Returns the summary (one row per pair) and the long replicate table.
    """
    keys, mat, names = score_matrix(scores)
    res = cluster_bootstrap_mean(mat, keys["user_id"], n_replicates=n_bootstrap, seed=seed, counts=counts)
    meta = scores.drop_duplicates("aipw_score_name").set_index("aipw_score_name")
    summary = res.frame(names).rename(columns={"statistic": "aipw_score_name"}).drop(columns="estimate")
    reps = res.replicates
    long = pd.DataFrame(
        {
            "bootstrap_type": "fixed_nuisance",
            "bootstrap_id": np.tile(np.arange(reps.shape[0]), len(names)),
            "propensity_model": np.repeat(meta.loc[names, "propensity_model"].to_numpy(), reps.shape[0]),
            "outcome_model": np.repeat(meta.loc[names, "outcome_model"].to_numpy(), reps.shape[0]),
            "aipw_score_name": np.repeat(names, reps.shape[0]),
            "estimate": reps.T.ravel(),
        }
    )
    return summary, long


def influence_function_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Influence-function (user-clustered) SE and normal 95% interval for every pair."""
    rows = []
    for name, part in scores.groupby("aipw_score_name", sort=False):
        est, se, _ = influence_function_se(part["aipw_score"].to_numpy(), part["user_id"])
        rows.append({"aipw_score_name": name, "if_se": se, "if_ci_95_lower": est - Z95 * se, "if_ci_95_upper": est + Z95 * se})
    return pd.DataFrame(rows)


def user_row_blocks(user_ids: np.ndarray | pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows sorted by user: (order, starts, lengths) so user g's rows are order[starts[g]:starts[g]+lengths[g]]."""
    codes, g = cluster_codes(user_ids)
    order = np.argsort(codes, kind="stable")
    lengths = np.bincount(codes, minlength=g)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return order, starts, lengths


def resample_rows(drawn: np.ndarray, order: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Row indices of a cluster resample (every row of every drawn cluster), with no Python loop."""
    ln = lengths[drawn]
    total = int(ln.sum())
    first = np.repeat(starts[drawn], ln)
    within = np.arange(total) - np.repeat(np.cumsum(ln) - ln, ln)
    return order[first + within]


def refit_bootstrap(
    panel: pd.DataFrame,
    refit: RefitFn,
    n_replicates: int,
    seed: int | np.random.Generator,
    clip_eps: float = 0.01,
    n_jobs: int = 1,
) -> np.ndarray:
    """AIPW estimates of `n_replicates` user-resamples with the nuisances re-fitted in each.

    Each replicate draws users with replacement, takes all their rows, calls
    `refit(resample) -> (e, m1, m0)` (cross-fitted inside the resample, grouped by the original
    user_id so copies of a user stay in one fold) and averages the AIPW scores.
    """
    panel = panel.reset_index(drop=True)
    order, starts, lengths = user_row_blocks(panel["user_id"])
    draws = draw_indices(len(lengths), n_replicates, seed)
    y = panel["outcome"].to_numpy(dtype=float)
    a = panel["treatment"].to_numpy(dtype=float)

    def one(b: int) -> float:
        rows = resample_rows(draws[b], order, starts, lengths)
        e, m1, m0 = refit(panel.iloc[rows].reset_index(drop=True))
        return float(aipw_score(y[rows], a[rows], e, m1, m0, clip_eps).mean())

    return map_replicates(one, n_replicates, n_jobs)


def aipw_refit_bootstrap(panel: pd.DataFrame, refit: RefitFn, n_replicates: int, seed: int,
                         clip_eps: float = 0.01, n_jobs: int = 1) -> np.ndarray:
    """The primary pair's refit bootstrap on the (user_id, event_date)-sorted panel, drawn from the
    seed's `longterm_refit_bootstrap` stream (`refit_bootstrap` does the work)."""
    panel_sorted = _normalize_keys(panel).sort_values(list(KEYS), kind="mergesort").reset_index(drop=True)
    return refit_bootstrap(panel_sorted, refit, n_replicates, stream_rng(seed, "longterm_refit_bootstrap"),
                           clip_eps, n_jobs)


def trimmed_aipw(
    primary: pd.DataFrame,
    propensity_col: str,
    alpha: float,
    n_bootstrap: int,
    seed: int,
    counts: np.ndarray | None = None,
) -> dict[str, float]:
    """AIPW on the overlap population: rows with e outside [alpha, 1 - alpha] are dropped.

    The bootstrap keeps all users and gives trimmed rows zero weight, so it uses the same
    draws as the untrimmed bootstrap.
    """
    e = primary[propensity_col].to_numpy(dtype=float)
    keep = ((e >= alpha) & (e <= 1.0 - alpha)).astype(float)
    if keep.sum() == 0:
        raise ValueError(f"trimming at alpha={alpha} drops every row")
    res = cluster_bootstrap_mean(
        primary["aipw_score"].to_numpy(), primary["user_id"], n_replicates=n_bootstrap, seed=seed,
        weights=keep, counts=counts,
    )
    kept = primary[keep.astype(bool)]
    return {
        "estimate": float(res.estimate[0]),
        "ci_95_lower": float(res.ci_lower[0]),
        "ci_95_upper": float(res.ci_upper[0]),
        "bootstrap_std": float(res.se[0]),
        "rows_kept": int(keep.sum()),
        "rows_total": int(len(primary)),
        "users_kept": int(kept["user_id"].nunique()),
        "trim_alpha": float(alpha),
    }


@dataclass(frozen=True)
class AipwOutputs:
    """Everything `run_aipw` computes (the builder turns it into artifacts)."""

    scores: pd.DataFrame
    results: pd.DataFrame
    bootstrap: pd.DataFrame
    trimmed: dict[str, float]


def run_aipw(
    panel: pd.DataFrame,
    counterfactuals: pd.DataFrame,
    *,
    clip_eps: float,
    primary: tuple[str, str],
    n_bootstrap: int,
    trim_alpha: float,
    seed: int,
    refit_replicates: np.ndarray | None = None,
    counts: np.ndarray | None = None,
) -> AipwOutputs:
    """Scores, results (with three kinds of intervals for the primary pair) and the trimmed row.

    `counts` (replicates x users, users in order of first appearance in the (user_id,
    event_date)-sorted rows) lets the caller share bootstrap draws with other estimators;
    `refit_replicates` are the primary pair's refit-bootstrap estimates (`aipw_refit_bootstrap`),
    computed apart because they cost one nuisance refit each.
    """
    base = aipw_base(panel, counterfactuals)
    scores = compute_scores(base, clip_eps, primary)
    results = summarize_scores(scores)
    keys, _, _ = score_matrix(scores)
    if counts is None:
        counts = draw_counts(cluster_codes(keys["user_id"])[1], n_bootstrap, seed)
    boot_summary, boot_long = fixed_nuisance_bootstrap(scores, n_bootstrap, seed, counts=counts)
    results = results.merge(boot_summary, on="aipw_score_name", how="left")
    results = results.merge(influence_function_table(scores), on="aipw_score_name", how="left")
    results["refit_reps"] = 0
    results["refit_std"] = np.nan
    results["refit_ci_95_lower"] = np.nan
    results["refit_ci_95_upper"] = np.nan
    if refit_replicates is not None and len(refit_replicates) > 0:
        reps = np.asarray(refit_replicates, dtype=float)
        lo, hi = percentile_interval(reps[:, None])
        i = results.index[results["is_primary_aipw"]][0]
        results.loc[i, ["refit_reps", "refit_std", "refit_ci_95_lower", "refit_ci_95_upper"]] = [
            len(reps), float(np.std(reps, ddof=1)), float(lo[0]), float(hi[0])
        ]
        row = results.loc[i]
        boot_long = pd.concat(
            [
                boot_long,
                pd.DataFrame(
                    {
                        "bootstrap_type": "refit",
                        "bootstrap_id": np.arange(len(reps)),
                        "propensity_model": row["propensity_model"],
                        "outcome_model": row["outcome_model"],
                        "aipw_score_name": row["aipw_score_name"],
                        "estimate": reps,
                    }
                ),
            ],
            ignore_index=True,
        )
    prim = primary_scores(scores)
    trimmed = trimmed_aipw(prim, PROPENSITY_COLUMN[primary[0]], trim_alpha, n_bootstrap, seed, counts=counts)
    is_p = results["is_primary_aipw"]
    for col, key in (("trim_alpha", "trim_alpha"), ("trim_estimate", "estimate"), ("trim_ci_95_lower", "ci_95_lower"),
                     ("trim_ci_95_upper", "ci_95_upper"), ("trim_rows_kept", "rows_kept"),
                     ("trim_rows_total", "rows_total"), ("trim_users_kept", "users_kept")):
        results[col] = np.where(is_p, float(trimmed[key]), np.nan)
    return AipwOutputs(scores=scores, results=results, bootstrap=boot_long, trimmed=trimmed)


# ----------------------------------------------------------------------------------------------
# Presenting inference and comparing estimators
# ----------------------------------------------------------------------------------------------
INFERENCE_METHODS = {
    "fixed_nuisance": "User-cluster bootstrap, nuisances fixed",
    "influence_function": "Influence-function SE, clustered by user",
    "refit": "Refit bootstrap (nuisances re-fitted per replicate)",
}


def primary_row(results: pd.DataFrame) -> pd.Series:
    """The results row of the primary nuisance pair."""
    rows = results[results["is_primary_aipw"].astype(bool)]
    if len(rows) != 1:
        raise ValueError(f"expected one primary AIPW row, found {len(rows)}")
    return rows.iloc[0]


def inference_table(results: pd.DataFrame) -> pd.DataFrame:
    """The primary estimate with its three 95% intervals side by side (from the results artifact)."""
    r = primary_row(results)
    est = float(r["aipw_ate"])
    rows = [
        ("fixed_nuisance", r["bootstrap_std"], r["ci_95_lower"], r["ci_95_upper"], r["bootstrap_reps"]),
        ("influence_function", r["if_se"], r["if_ci_95_lower"], r["if_ci_95_upper"], np.nan),
        ("refit", r["refit_std"], r["refit_ci_95_lower"], r["refit_ci_95_upper"], r["refit_reps"]),
    ]
    out = pd.DataFrame(
        [
            {
                "inference": INFERENCE_METHODS[k], "key": k, "estimate": est, "se": float(se),
                # a bootstrap SE carries its own Monte Carlo error; the analytic SE has none
                "se_monte_carlo_error": float(sd_mcse(float(se), int(reps))) if pd.notna(reps) else np.nan,
                "ci_95_lower": float(lo), "ci_95_upper": float(hi), "ci_width": float(hi) - float(lo),
                "replicates": reps,
            }
            for k, se, lo, hi, reps in rows
        ]
    )
    return out[out["se"].notna()].reset_index(drop=True)


def comparison_with_aipw(
    comparison: pd.DataFrame,
    results: pd.DataFrame,
    trimmed: dict[str, float],
    primary_propensity: str,
) -> pd.DataFrame:
    """Upstream estimator table + primary AIPW + overlap-trimmed AIPW; oracle row last; a `role`
    column (estimate / robustness / oracle) and a `primary` flag on the report's headline row."""
    comp = comparison.copy()
    is_oracle = comp["method"].astype(str).str.contains("oracle", case=False)
    r = primary_row(results)
    denom = float(r["mean_y0_hat"])
    msm = comp[comp["method"].astype(str).str.startswith("MSM")]
    if "relative_lift_vs_msm_control_mean" in comp.columns and len(msm):
        m = msm.iloc[0]
        lift = m["relative_lift_vs_msm_control_mean"]
        if pd.notna(lift) and lift != 0:
            denom = float(m["estimate"]) / float(lift)
    label = pair_label(str(r["propensity_model"]), str(r["outcome_model"]))
    new_rows = pd.DataFrame(
        [
            {
                "method": "Doubly robust AIPW",
                "model": label,
                "estimate": float(r["aipw_ate"]),
                "ci_95_lower": float(r["ci_95_lower"]),
                "ci_95_upper": float(r["ci_95_upper"]),
                "source": "Chapter 05 user-cluster bootstrap over AIPW scores (nuisances fixed)",
                "relative_lift_vs_msm_control_mean": float(r["aipw_ate"]) / denom,
                "role": "estimate",
            },
            {
                "method": "AIPW, overlap-trimmed",
                "model": (
                    f"{label}; {PROPENSITY_LABEL[primary_propensity]} in "
                    f"[{trimmed['trim_alpha']:g}, {1 - trimmed['trim_alpha']:g}]"
                ),
                "estimate": trimmed["estimate"],
                "ci_95_lower": trimmed["ci_95_lower"],
                "ci_95_upper": trimmed["ci_95_upper"],
                "source": "Chapter 05 user-cluster bootstrap over trimmed AIPW scores (nuisances fixed)",
                "relative_lift_vs_msm_control_mean": trimmed["estimate"] / denom,
                "role": "robustness",
            },
        ]
    )
    comp = comp.assign(role=np.where(is_oracle, "oracle", "estimate"))
    out = pd.concat([comp[~is_oracle], new_rows, comp[is_oracle]], ignore_index=True)
    out["primary"] = False
    out.loc[len(comp[~is_oracle]), "primary"] = True  # the primary AIPW row
    return out


def oracle_ate(comparison: pd.DataFrame) -> float | None:
    """The oracle ATE from an estimator table (None on real data)."""
    rows = comparison[comparison["method"].astype(str).str.contains("oracle", case=False)]
    return float(rows["estimate"].iloc[0]) if len(rows) else None


# ----------------------------------------------------------------------------------------------
# Display tables and sentences
# ----------------------------------------------------------------------------------------------
def results_table(results: pd.DataFrame) -> pd.DataFrame:
    """The results artifact for display: one row per nuisance pair, readable label first."""
    r = results.copy()
    r.insert(0, "nuisance pair", [pair_label(p, o) for p, o in zip(r["propensity_model"], r["outcome_model"], strict=True)])
    cols = [
        "nuisance pair", "is_primary_aipw", "n_rows", "n_users", "mean_y1_hat", "mean_y0_hat", "gcomp_component",
        "aipw_ate", "ci_95_lower", "ci_95_upper", "aipw_score_std", "aipw_p05", "aipw_median", "aipw_p95",
        "share_positive_score", "relative_lift_vs_y0",
    ]
    return r[cols].rename(columns={"is_primary_aipw": "primary", "ci_95_lower": "boot_ci_lower", "ci_95_upper": "boot_ci_upper"})

