"""The slate-level modelling table of the advanced chapter: oracle lift, pre-promotion features, encoding.

One row per randomized slate. Features describe only what was known before the promotion was
applied (the focal item, the user's history, the slate's composition at its seed positions);
every column the promotion itself changed is on an explicit deny-list that `assert_pre_treatment`
enforces. The simulator's oracle (each slate's expected click lift if promoted) is reconstructed
from the item rows and checked against the lift the experiment recorded on promoted slates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys_causal.interference.click_model import (
    CLICK_INPUT_COLUMNS,
    ClickModel,
    click_probabilities,
)
from recsys_causal.params import InterferenceParams

# ----------------------------------------------------------------------------------------------
# The deny-list: columns the promotion changed (or that reveal the outcome or the oracle).
# ----------------------------------------------------------------------------------------------
POST_TREATMENT_COLUMNS: frozenset[str] = frozenset(
    {
        # positions and visibility after the promotion
        "final_position",
        "final_position_if_promoted",
        "promoted_position",
        "visibility",
        "visibility_if_promoted",
        "visibility_gain",
        "is_displaced",
        # lifts (realized or oracle)
        "known_probability_lift",
        "total_known_probability_lift",
        "component_known_lift_total",
        "oracle_item_lift",
        "total_oracle_lift",
        "true_promote_lift",
        # simulated probabilities
        "p_no_promotion",
        "p_if_promoted",
        "p_if_control",
        "click_probability",
        "total_expected_clicks",
        "total_expected_clicks_no_promotion",
        "total_expected_clicks_if_promoted",
        "component_expected_total",
        "true_promote_expected_clicks",
        "true_control_expected_clicks",
        # clicks (the outcome)
        "simulated_click",
        "total_simulated_clicks",
        "component_simulated_total",
    }
)
# Prefixes of the per-component outcome, probability and lift columns of the component table.
POST_TREATMENT_PREFIXES: tuple[str, ...] = (
    "simulated_clicks_",
    "expected_clicks_",
    "no_promotion_expected_clicks_",
    "promoted_expected_clicks_",
    "known_probability_lift_",
    "oracle_",
    "p_if_",
    "true_",
    "final_position",
    "visibility_",
)

TREATMENT = "promotion_applied"
OUTCOME = "total_simulated_clicks"
ORACLE = "true_promote_lift"

NUMERIC_FEATURES: tuple[str, ...] = (
    TREATMENT,
    "focal_seed_position",
    "focal_observed_relevance",
    "focal_high_relevance",
    "log_focal_sample_rating_count",
    "focal_sample_mean_rating",
    "focal_sample_liked_rate",
    "focal_log_item_popularity_z",
    "log_user_n_ratings",
    "mean_rating",
    "liked_rate",
    "active_years",
    "unique_primary_genres",
    "log_activity_span_days",
    "slate_mean_relevance",
    "slate_std_relevance",
    "slate_high_relevance_rate",
    "slate_mean_sample_liked_rate",
    "slate_mean_log_popularity_z",
    "slate_mean_baseline_visibility",
    "same_cluster_competitor_count",
    "displaced_candidate_count",
    "same_cluster_displaced_count",
    "same_cluster_share",
    "displaced_share",
)
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "focal_spillover_cluster",
    "focal_popularity_bucket",
    "focal_position_bucket",
)

# Item-row columns of the focal item copied into the slate row (item row name -> slate name).
FOCAL_COLUMNS: dict[str, str] = {
    "observed_relevance": "focal_observed_relevance",
    "high_relevance": "focal_high_relevance",
    "sample_rating_count": "focal_sample_rating_count",
    "sample_mean_rating": "focal_sample_mean_rating",
    "sample_liked_rate": "focal_sample_liked_rate",
    "popularity_bucket": "focal_popularity_bucket",
    "log_item_popularity_z": "focal_log_item_popularity_z",
}
USER_COLUMNS: tuple[str, ...] = (
    "n_ratings",
    "mean_rating",
    "liked_rate",
    "active_years",
    "unique_primary_genres",
    "activity_span_days",
)
ORACLE_COLUMNS: tuple[str, ...] = (
    "slate_id",
    *CLICK_INPUT_COLUMNS,
    "p_no_promotion",
    "promotion_applied",
    "known_probability_lift",
)
# Columns of the component slate table the modelling table keeps: design, outcome.
DESIGN_COLUMNS: tuple[str, ...] = (
    "slate_id",
    "userId",
    TREATMENT,
    "assignment_arm",
    "focal_movieId",
    "focal_title",
    "focal_seed_position",
    "focal_spillover_cluster",
    OUTCOME,
)
# Oracle columns merged into the modelling table for validation only (never features).
ORACLE_OUTPUTS: tuple[str, ...] = (ORACLE, "true_promote_expected_clicks", "true_control_expected_clicks")


def require_columns(df: pd.DataFrame, columns: Iterable[str], table: str) -> None:
    """Raise a ValueError naming the missing columns of `table`."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{table} is missing columns {missing}")


def is_post_treatment(column: str) -> bool:
    """True when `column` is on the deny-list (or has a denied prefix)."""
    return column in POST_TREATMENT_COLUMNS or column.startswith(POST_TREATMENT_PREFIXES)


def assert_pre_treatment(columns: Iterable[str]) -> None:
    """Raise if any modelling column was changed by the promotion (the treatment flag is allowed)."""
    bad = sorted(c for c in columns if c != TREATMENT and is_post_treatment(str(c)))
    if bad:
        raise ValueError(f"post-treatment columns in the modelling features: {bad}")


# ----------------------------------------------------------------------------------------------
# Oracle: every slate's expected click lift if its focal item were promoted.
# ----------------------------------------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def has_oracle(exposure: pd.DataFrame) -> bool:
    """True when the item rows carry the simulator's click probabilities (absent from a logged experiment)."""
    return all(c in exposure.columns for c in ("p_no_promotion", "known_probability_lift"))


def no_oracle_checks() -> pd.DataFrame:
    """The oracle-checks table of a logged experiment: one row saying there is no oracle."""
    return pd.DataFrame({"check": ["oracle"], "value": ["none: a logged experiment has no true lift"]})


def reconstruct_promoted_probabilities(exposure: pd.DataFrame, params: InterferenceParams) -> pd.DataFrame:
    """Recompute, from the click model's formula, each item's click probability if promoted.

    Independent of the simulator's code: promotion moves the focal item to position 1 and pushes
    every item above its seed position down by one; the logit adds the focal boost and subtracts
    the non-focal, same-cluster and displacement penalties (coefficients from `params`).
    Returns the item rows with `final_position_if_promoted`, `visibility_if_promoted`,
    `p_if_promoted_reconstructed` and `true_item_lift_if_promoted`.
    """
    rows = exposure
    focal = rows["is_focal_item"].to_numpy() == 1
    non_focal = ~focal
    same = rows["spillover_cluster"].astype("string").eq(rows["focal_spillover_cluster"].astype("string")).to_numpy()
    displaced = non_focal & (rows["slate_position_seed"].to_numpy() < rows["focal_seed_position"].to_numpy())
    pos = rows["slate_position_seed"].to_numpy(dtype=float)
    pos_if = np.where(focal, 1.0, np.where(displaced, pos + 1.0, pos))
    vis_if = 1.0 / np.log2(pos_if + 1.0)
    liked = rows["liked_rate"].to_numpy(dtype=float)
    item_liked = rows["sample_liked_rate"].to_numpy(dtype=float)
    item_mean = np.nanmean(item_liked)
    item_liked = np.where(np.isnan(item_liked), item_mean, item_liked)
    pop = np.nan_to_num(rows["log_item_popularity_z"].to_numpy(dtype=float), nan=0.0)
    p = params
    logit = (
        p.click_intercept
        + p.click_relevance * (rows["observed_relevance"].to_numpy(dtype=float) - 3.5)
        + p.click_visibility * vis_if
        + p.click_user_liked * (liked - np.nanmean(liked))
        + p.click_item_liked * (item_liked - item_mean)
        + p.click_popularity * pop
        + p.click_focal_boost * focal
        - p.click_nonfocal_penalty * non_focal
        - p.click_same_cluster_penalty * (non_focal & same)
        - p.click_displaced_penalty * displaced
    )
    p_if = np.clip(_sigmoid(logit), p.click_prob_min, p.click_prob_max)
    return rows.assign(
        final_position_if_promoted=pos_if,
        visibility_if_promoted=vis_if,
        p_if_promoted_reconstructed=p_if,
        true_item_lift_if_promoted=p_if - rows["p_no_promotion"].to_numpy(dtype=float),
    )


def simulator_promoted_probabilities(exposure: pd.DataFrame, params: InterferenceParams) -> np.ndarray:
    """Each item's click probability if promoted, from the simulator's own click model."""
    _, p_if = click_probabilities(exposure, ClickModel.from_params(params))
    return np.asarray(p_if, dtype=float)


def oracle_slate_lift(
    exposure: pd.DataFrame, params: InterferenceParams, p_if_promoted: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-slate oracle lift and the reconstruction checks.

    The oracle uses the simulator's click model (`p_if_promoted`, each item's probability if its
    slate were promoted; by default `simulator_promoted_probabilities`). The independent
    reconstruction (`reconstruct_promoted_probabilities`) must agree with it on every item, and
    the oracle must equal the lift the experiment recorded on promoted slates.
    Returns (oracle per slate, checks).
    """
    require_columns(exposure, ORACLE_COLUMNS, "exposure mapping")
    rows = reconstruct_promoted_probabilities(exposure, params)
    p_sim = simulator_promoted_probabilities(exposure, params) if p_if_promoted is None else np.asarray(p_if_promoted, dtype=float)
    p0 = rows["p_no_promotion"].to_numpy(dtype=float)
    rows = rows.assign(p_if_promoted_oracle=p_sim, oracle_item_lift=p_sim - p0)
    oracle = (
        rows.groupby("slate_id", sort=True)
        .agg(
            true_promote_lift=("oracle_item_lift", "sum"),
            true_promote_expected_clicks=("p_if_promoted_oracle", "sum"),
            true_control_expected_clicks=("p_no_promotion", "sum"),
            reconstructed_promote_lift=("true_item_lift_if_promoted", "sum"),
        )
        .reset_index()
    )
    checks = oracle_checks(rows, oracle)
    return oracle.drop(columns="reconstructed_promote_lift"), checks


def oracle_checks(rows: pd.DataFrame, oracle: pd.DataFrame) -> pd.DataFrame:
    """Checks of the oracle: summary of the true lift and the two reconstruction differences."""
    promoted = rows.groupby("slate_id", sort=True).agg(
        promotion_applied=("promotion_applied", "max"),
        recorded_lift=("known_probability_lift", "sum"),
    )
    merged = oracle.set_index("slate_id").join(promoted)
    on_promoted = merged["promotion_applied"].eq(1)
    diff_recorded = (merged.loc[on_promoted, "recorded_lift"] - merged.loc[on_promoted, "true_promote_lift"]).abs()
    diff_indep = (rows["p_if_promoted_reconstructed"] - rows["p_if_promoted_oracle"]).abs()
    lift = merged["true_promote_lift"]
    return pd.DataFrame(
        {
            "check": [
                "mean_true_lift_if_all_promoted",
                "median_true_lift_if_all_promoted",
                "share_positive_true_lift",
                "max_abs_difference_for_observed_promoted_slates",
                "max_abs_difference_independent_reconstruction",
            ],
            "value": [
                float(lift.mean()),
                float(lift.median()),
                float((lift > 0).mean()),
                float(diff_recorded.max()) if len(diff_recorded) else float("nan"),
                float(diff_indep.max()),
            ],
        }
    )


# ----------------------------------------------------------------------------------------------
# Slate-level modelling table
# ----------------------------------------------------------------------------------------------
def slate_composition(exposure: pd.DataFrame) -> pd.DataFrame:
    """Per-slate composition at the seed positions (what the promotion would act on)."""
    focal = exposure["is_focal_item"].to_numpy() == 1
    same = exposure["spillover_cluster"].astype("string").eq(exposure["focal_spillover_cluster"].astype("string")).to_numpy()
    displaced = ~focal & (exposure["slate_position_seed"].to_numpy() < exposure["focal_seed_position"].to_numpy())
    rows = exposure[["slate_id", "observed_relevance", "high_relevance", "sample_liked_rate",
                     "log_item_popularity_z", "baseline_visibility"]].assign(
        same_cluster_candidate=(~focal & same).astype("int8"),
        would_be_displaced=displaced.astype("int8"),
        same_cluster_displaced=(~focal & same & displaced).astype("int8"),
        item=1,
    )
    comp = (
        rows.groupby("slate_id", sort=True)
        .agg(
            slate_mean_relevance=("observed_relevance", "mean"),
            slate_std_relevance=("observed_relevance", "std"),
            slate_high_relevance_rate=("high_relevance", "mean"),
            slate_mean_sample_liked_rate=("sample_liked_rate", "mean"),
            slate_mean_log_popularity_z=("log_item_popularity_z", "mean"),
            slate_mean_baseline_visibility=("baseline_visibility", "mean"),
            same_cluster_competitor_count=("same_cluster_candidate", "sum"),
            displaced_candidate_count=("would_be_displaced", "sum"),
            same_cluster_displaced_count=("same_cluster_displaced", "sum"),
            slate_items=("item", "sum"),
        )
        .reset_index()
    )
    competitors = (comp["slate_items"] - 1).clip(lower=1)
    return comp.assign(
        same_cluster_share=comp["same_cluster_competitor_count"] / competitors,
        displaced_share=comp["displaced_candidate_count"] / competitors,
    ).drop(columns="slate_items")


def position_bucket_edges(lo: int, hi: int) -> list[tuple[int, int]]:
    """Inclusive focal-position ranges: up to 6, 7-9, 10 and beyond, clipped to [lo, hi]."""
    raw = [(lo, 6), (7, 9), (10, hi)]
    out = [(max(a, lo), min(b, hi)) for a, b in raw]
    return [(a, b) for a, b in out if a <= b]


def integer_buckets(values: pd.Series, ranges: list[tuple[int, int | None]], prefix: str = "") -> pd.Series:
    """Ordered categorical of inclusive integer ranges; `None` as upper bound means 'and more'.

    Labels read '5–6', '10–12', '6+' (or a single value); the categories keep the numeric order.
    """
    labels = []
    for a, b in ranges:
        if b is None:
            labels.append(f"{prefix}{a}+")
        elif a == b:
            labels.append(f"{prefix}{a}")
        else:
            labels.append(f"{prefix}{a}–{b}")
    v = values.to_numpy(dtype=float)
    codes = np.full(len(v), -1, dtype=np.int64)
    for i, (a, b) in enumerate(ranges):
        inside = (v >= a) & (v <= (np.inf if b is None else b))
        codes[inside & (codes < 0)] = i
    dtype = pd.CategoricalDtype(labels, ordered=True)
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), index=values.index)


def build_model_table(
    exposure: pd.DataFrame, component_slate: pd.DataFrame, oracle: pd.DataFrame | None, params: InterferenceParams
) -> pd.DataFrame:
    """One row per slate: the design and outcome columns (`DESIGN_COLUMNS`), focal and user
    features, slate composition, derived logs and the focal position bucket, plus the oracle
    (`ORACLE_OUTPUTS`) when given, kept for validation only. Apart from the outcome and the
    oracle, no column is on the post-treatment deny-list."""
    require_columns(component_slate, DESIGN_COLUMNS, "component slate table")
    require_columns(exposure, ["slate_id", "is_focal_item", *FOCAL_COLUMNS, *USER_COLUMNS], "exposure mapping")
    focal_rows = exposure.loc[exposure["is_focal_item"].eq(1), ["slate_id", *FOCAL_COLUMNS, *USER_COLUMNS]]
    if focal_rows["slate_id"].duplicated().any():
        raise ValueError("exposure mapping has more than one focal item in a slate")
    focal_rows = focal_rows.rename(columns=FOCAL_COLUMNS)
    table = component_slate[list(DESIGN_COLUMNS)].merge(focal_rows, on="slate_id", how="left", validate="one_to_one")
    table = table.merge(slate_composition(exposure), on="slate_id", how="left", validate="one_to_one")
    if oracle is not None:
        table = table.merge(oracle[["slate_id", *ORACLE_OUTPUTS]], on="slate_id", how="left", validate="one_to_one")
    table = table.sort_values("slate_id", kind="stable").reset_index(drop=True)
    return table.assign(
        log_focal_sample_rating_count=np.log1p(table["focal_sample_rating_count"].astype(float)),
        log_user_n_ratings=np.log1p(table["n_ratings"].astype(float)),
        log_activity_span_days=np.log1p(table["activity_span_days"].astype(float).clip(lower=0)),
        focal_position_bucket=integer_buckets(
            table["focal_seed_position"],
            position_bucket_edges(params.focal_min_position, params.focal_max_position),
            prefix="positions ",
        ),
    )


def model_table_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Counts of the modelling table (slates per arm, missing focal relevance, oracle lift)."""
    rows = {
        "slates": len(table),
        "treated_slates": int(table[TREATMENT].sum()),
        "control_slates": int((1 - table[TREATMENT]).sum()),
        "feature_rows_missing_focal_relevance": int(table["focal_observed_relevance"].isna().sum()),
    }
    if ORACLE in table:
        rows["mean_true_promote_lift"] = float(table[ORACLE].mean())
        rows["share_positive_true_promote_lift"] = float((table[ORACLE] > 0).mean())
    return pd.DataFrame({"metric": list(rows), "value": [float(v) for v in rows.values()]})


# ----------------------------------------------------------------------------------------------
# Encoding
# ----------------------------------------------------------------------------------------------
def sanitize(name: str) -> str:
    """Feature name safe for LightGBM and XGBoost: runs of other characters become '_'."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


@dataclass(frozen=True)
class EncodedFeatures:
    """The numeric feature matrix, outcome and treatment of the modelling table."""

    X: pd.DataFrame
    y: pd.Series
    treatment: pd.Series

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "metric": ["rows", "features", "outcome_mean", "outcome_std", "treatment_rate"],
                "value": [len(self.X), self.X.shape[1], float(self.y.mean()), float(self.y.std()),
                          float(self.treatment.mean())],
            }
        )


def encode_features(table: pd.DataFrame) -> EncodedFeatures:
    """One-hot encode the categoricals, fill numeric gaps with medians, sanitize names.

    Only `NUMERIC_FEATURES` and `CATEGORICAL_FEATURES` enter; the deny-list is checked on both
    the source columns and the encoded names.
    """
    cols = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
    require_columns(table, cols, "modelling table")
    assert_pre_treatment(cols)
    num = table[list(NUMERIC_FEATURES)].apply(pd.to_numeric, errors="coerce").astype(float)
    num = num.fillna(num.median()).fillna(0.0)
    cat = table[list(CATEGORICAL_FEATURES)].astype("string").fillna("unknown")
    dummies = pd.get_dummies(cat, columns=list(CATEGORICAL_FEATURES), dtype=float)
    X = pd.concat([num, dummies], axis=1)
    names = [sanitize(c) for c in X.columns]
    if len(set(names)) != len(names):
        raise ValueError("two features share a sanitized name")
    X.columns = names
    assert_pre_treatment(X.columns)
    return EncodedFeatures(
        X=X.astype("float32"),
        y=table[OUTCOME].astype(float).rename(OUTCOME),
        treatment=table[TREATMENT].astype("int8").rename(TREATMENT),
    )


def with_treatment(X: pd.DataFrame, value: int) -> pd.DataFrame:
    """Copy of X with every slate's treatment flag set to `value` (a counterfactual matrix)."""
    return X.assign(**{TREATMENT: np.float32(value)})


def treatment_matrices(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X as a matrix, and copies with every slate's flag set to 1 and to 0: what cross-fitting
    fits and predicts (the same numbers as the frames; a matrix spares the boosters their
    per-call checks of the column names, a third of an XGBoost fit on these tables)."""
    j = X.columns.get_loc(TREATMENT)
    M = X.to_numpy()
    M1, M0 = M.copy(), M.copy()
    M1[:, j], M0[:, j] = 1, 0
    return M, M1, M0
