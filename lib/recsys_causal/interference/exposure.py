"""The slate-promotion experiment: assignment, simulated clicks, exposure mapping, component table.

Unit of randomization: the slate. A share `promotion_probability` of slates (complete
randomization: exactly round(p * slates) of them) has its focal item promoted to position 1.
Every item row then gets an exposure label, its role relative to the promotion:

- `direct_focal`: the focal item itself (the direct effect is measured on it);
- `same_cluster_competitor`: a non-focal item of the focal item's spillover cluster (genre);
- `other_competitor`: any other non-focal item;

plus `would_be_displaced` (a non-focal item above the focal item, which promotion pushes down one
place) and `is_displaced` (it actually was, i.e. its slate was promoted). Labels are roles, so
control slates carry them too: the contrast of a component between arms is its effect.

`component_table` sums, per slate and per component, simulated clicks, expected clicks in the
assigned arm, expected clicks without promotion, the realized known lift and item counts (the
source notebook's column names), plus the oracle: expected clicks if promoted and the lift
(promoted - not promoted) for every slate, whatever its arm.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.interference.click_model import (
    ClickModel,
    click_centers,
    click_probabilities,
    promoted_positions,
    same_cluster,
    visibility,
    would_be_displaced,
)
from recsys_causal.seeds import stream_rng

COMPONENTS: tuple[str, ...] = ("direct_focal", "other_competitor", "same_cluster_competitor")
"""Exposure labels, in the source's column order (alphabetical)."""
COMPONENT_LABELS: dict[str, str] = {
    "direct_focal": "Promoted (focal) item",
    "same_cluster_competitor": "Same-cluster competitors",
    "other_competitor": "Other competitors",
}
ARM_PROMOTE = "promote_focal_item"
ARM_CONTROL = "leave_slate_unchanged"

#: Columns the exposure step adds to each slate row (appended after the upstream slate columns;
#: `same_cluster_as_focal` keeps its upstream place when the slate table already has it).
EXPOSURE_ADDED_COLUMNS: tuple[str, ...] = (
    "promotion_applied",
    "assignment_arm",
    "exposure_label",
    "same_cluster_as_focal",
    "would_be_displaced",
    "is_displaced",
    "promoted_position",
    "final_position",
    "visibility",
    "p_no_promotion",
    "p_if_promoted",
    "click_probability",
    "simulated_click",
    "known_probability_lift",
    "oracle_item_lift",
)

SLATE_ID_COLUMNS: tuple[str, ...] = (
    "slate_id",
    "userId",
    "promotion_applied",
    "assignment_arm",
    "focal_movieId",
    "focal_title",
    "focal_spillover_cluster",
    "focal_seed_position",
)
TOTAL_COLUMNS: tuple[str, ...] = (
    "total_simulated_clicks",
    "total_expected_clicks",
    "total_expected_clicks_no_promotion",
    "total_known_probability_lift",
)
# (prefix in the component table, item-level column it sums)
_COMPONENT_SUMS: tuple[tuple[str, str], ...] = (
    ("simulated_clicks", "simulated_click"),
    ("expected_clicks", "click_probability"),
    ("no_promotion_expected_clicks", "p_no_promotion"),
    ("known_probability_lift", "known_probability_lift"),
    ("item_count", "_one"),
)
_ORACLE_SUMS: tuple[tuple[str, str], ...] = (
    ("promoted_expected_clicks", "p_if_promoted"),
    ("oracle_lift", "oracle_item_lift"),
)


def component_columns() -> list[str]:
    """The component table's columns, in order: the source's, then the oracle additions."""
    cols = [*SLATE_ID_COLUMNS, *TOTAL_COLUMNS]
    for prefix, _ in _COMPONENT_SUMS:
        cols += [f"{prefix}_{c}" for c in COMPONENTS]
    cols += ["component_simulated_total", "component_expected_total", "component_known_lift_total"]
    for prefix, _ in _ORACLE_SUMS:
        cols += [f"{prefix}_{c}" for c in COMPONENTS]
    cols += ["total_expected_clicks_if_promoted", "total_oracle_lift"]
    return cols


# ----------------------------------------------------------------------------------------------
# Assignment
# ----------------------------------------------------------------------------------------------
def n_promoted(n_slates: int, promotion_probability: float) -> int:
    """Slates promoted under complete randomization: round(p * n), kept within 1 .. n - 1."""
    if n_slates < 2:
        raise ValueError("complete randomization needs at least 2 slates")
    return int(min(max(np.floor(promotion_probability * n_slates + 0.5), 1), n_slates - 1))


def complete_randomization(n_slates: int, promotion_probability: float, rng: np.random.Generator) -> np.ndarray:
    """0/1 vector with exactly `n_promoted(...)` ones at random places."""
    t = np.zeros(n_slates, dtype=np.int8)
    t[: n_promoted(n_slates, promotion_probability)] = 1
    return rng.permutation(t)


def slate_codes(slates: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    """Slate index of every row (order of first appearance) and the slate ids."""
    codes, uniques = pd.factorize(slates["slate_id"], sort=False)
    return codes.astype(np.int64), pd.Index(uniques)


# ----------------------------------------------------------------------------------------------
# Exposure mapping
# ----------------------------------------------------------------------------------------------
def exposure_labels(is_focal: Any, same_cluster_as_focal: Any) -> np.ndarray:
    """`direct_focal`, `same_cluster_competitor` or `other_competitor` for each row."""
    focal = np.asarray(is_focal).astype(bool)
    same = np.asarray(same_cluster_as_focal).astype(bool)
    return np.where(focal, "direct_focal", np.where(same, "same_cluster_competitor", "other_competitor"))


def map_exposure(slates: pd.DataFrame, promotion_applied_by_slate: np.ndarray) -> pd.DataFrame:
    """Positions, labels and displacement of every row given each slate's assignment (no clicks).

    `promotion_applied_by_slate` is indexed by slate in order of first appearance.
    """
    codes, _ = slate_codes(slates)
    treat = np.asarray(promotion_applied_by_slate, dtype=np.int8)[codes]
    focal = slates["is_focal_item"].to_numpy().astype(bool)
    seed_pos = slates["slate_position_seed"].to_numpy(dtype=np.int64)
    focal_pos = slates["focal_seed_position"].to_numpy(dtype=np.int64)
    same = same_cluster(slates)
    moved = would_be_displaced(focal, seed_pos, focal_pos)
    promoted_pos = promoted_positions(focal, seed_pos, focal_pos)
    final = np.where(treat == 1, promoted_pos, seed_pos)
    return slates.assign(
        promotion_applied=treat,
        assignment_arm=pd.Series(np.where(treat == 1, ARM_PROMOTE, ARM_CONTROL), index=slates.index, dtype="string"),
        exposure_label=pd.Series(exposure_labels(focal, same), index=slates.index, dtype="string"),
        same_cluster_as_focal=(same & ~focal).astype(np.int8),
        would_be_displaced=moved.astype(np.int8),
        is_displaced=(moved & (treat == 1)).astype(np.int8),
        promoted_position=promoted_pos,
        final_position=final,
        visibility=visibility(final),
    )


def run_promotion_experiment(
    slates: pd.DataFrame,
    model: ClickModel,
    promotion_probability: float,
    seed: int,
) -> pd.DataFrame:
    """Randomize promotion by slate, apply it, simulate clicks: the item-row exposure table.

    Adds `EXPOSURE_ADDED_COLUMNS` to the slate rows. `p_no_promotion` and `p_if_promoted` are
    both kept for every row (the oracle); `click_probability` is the assigned arm's,
    `simulated_click` ~ Bernoulli(click_probability); `known_probability_lift` is the realized
    lift (p_if_promoted - p_no_promotion on promoted slates, 0 on control slates, as in the
    source) and `oracle_item_lift` the lift had the slate been promoted, for every row.
    """
    slates = slates.reset_index(drop=True)
    _, ids = slate_codes(slates)
    treat = complete_randomization(len(ids), promotion_probability, stream_rng(seed, "interference_assignment"))
    rows = map_exposure(slates, treat)
    p0, p1 = click_probabilities(rows, model, click_centers(rows))
    treated = rows["promotion_applied"].to_numpy() == 1
    p = np.where(treated, p1, p0)
    clicks = (stream_rng(seed, "interference_clicks").random(len(rows)) < p).astype(np.int8)
    return rows.assign(
        p_no_promotion=p0,
        p_if_promoted=p1,
        click_probability=p,
        simulated_click=clicks,
        known_probability_lift=np.where(treated, p1 - p0, 0.0),
        oracle_item_lift=p1 - p0,
    )


# ----------------------------------------------------------------------------------------------
# Component table
# ----------------------------------------------------------------------------------------------
def component_table(exposure: pd.DataFrame) -> pd.DataFrame:
    """One row per slate: per-component and total sums (columns: `component_columns()`; those of
    click probabilities, lifts and the oracle only when the item rows have them)."""
    codes, ids = slate_codes(exposure)
    g = len(ids)
    label_code = pd.Categorical(exposure["exposure_label"].astype(str), categories=list(COMPONENTS)).codes
    if (label_code < 0).any():
        raise ValueError("exposure_label holds values outside " + ", ".join(COMPONENTS))
    cell = codes * len(COMPONENTS) + label_code
    first = exposure.drop_duplicates("slate_id", keep="first").set_index("slate_id").loc[ids]
    focal_rows = exposure.loc[exposure["is_focal_item"].to_numpy().astype(bool)]
    if focal_rows["slate_id"].duplicated().any() or len(focal_rows) != g:
        raise ValueError("every slate needs exactly one focal item")
    focal_rows = focal_rows.set_index("slate_id").loc[ids]
    out: dict[str, Any] = {
        "slate_id": ids.to_numpy(),
        "userId": first["userId"].to_numpy(),
        "promotion_applied": first["promotion_applied"].to_numpy(dtype=np.int8),
        "assignment_arm": first["assignment_arm"].to_numpy(),
        "focal_movieId": focal_rows["movieId"].to_numpy(),
        "focal_title": focal_rows["title"].to_numpy(),
        "focal_spillover_cluster": focal_rows["spillover_cluster"].to_numpy(),
        "focal_seed_position": focal_rows["slate_position_seed"].to_numpy(dtype=np.int64),
    }
    work = exposure.assign(_one=1.0)
    sums: dict[str, np.ndarray] = {}
    for prefix, col in (*_COMPONENT_SUMS, *_ORACLE_SUMS):
        if col not in work:  # a logged experiment has no click probabilities, lifts or oracle
            continue
        per_cell = np.bincount(cell, weights=work[col].to_numpy(dtype=np.float64), minlength=g * len(COMPONENTS))
        per_cell = per_cell.reshape(g, len(COMPONENTS))
        for j, c in enumerate(COMPONENTS):
            sums[f"{prefix}_{c}"] = per_cell[:, j]

    def total(col: str) -> np.ndarray:
        return np.bincount(codes, weights=work[col].to_numpy(dtype=np.float64), minlength=g)

    for name, col in (("total_simulated_clicks", "simulated_click"), ("total_expected_clicks", "click_probability"),
                      ("total_expected_clicks_no_promotion", "p_no_promotion"),
                      ("total_known_probability_lift", "known_probability_lift")):
        if col in work:
            out[name] = total(col)
    out.update(sums)
    for name, prefix in (("component_simulated_total", "simulated_clicks"), ("component_expected_total", "expected_clicks"),
                         ("component_known_lift_total", "known_probability_lift")):
        if f"{prefix}_{COMPONENTS[0]}" in sums:
            out[name] = sum(sums[f"{prefix}_{c}"] for c in COMPONENTS)
    for name, col in (("total_expected_clicks_if_promoted", "p_if_promoted"), ("total_oracle_lift", "oracle_item_lift")):
        if col in work:
            out[name] = total(col)
    table = pd.DataFrame(out)
    for c in COMPONENTS:
        table[f"item_count_{c}"] = table[f"item_count_{c}"].astype(np.int64)
    int_cols = ["total_simulated_clicks", "component_simulated_total", *(f"simulated_clicks_{c}" for c in COMPONENTS)]
    if np.issubdtype(exposure["simulated_click"].dtype, np.integer):  # clicks; a rating outcome stays as it is
        table[int_cols] = table[int_cols].round().astype(np.int64)
    table["assignment_arm"] = table["assignment_arm"].astype("string")
    return table[[c for c in component_columns() if c in table]]


# ----------------------------------------------------------------------------------------------
# Descriptions of the design (for the chapter)
# ----------------------------------------------------------------------------------------------
def assignment_balance(exposure: pd.DataFrame, component: pd.DataFrame) -> pd.DataFrame:
    """Pre-promotion slate covariates by arm, with standardized mean differences.

    Randomization makes the arms alike in expectation; this table shows it for the covariates
    the click model uses (focal relevance and position, user liked rate, slate competition).
    `chance_band` = 2 sqrt(1/n1 + 1/n0): about 95% of standardized differences fall within it
    by chance alone under randomization.
    """
    focal = exposure.loc[exposure["is_focal_item"].to_numpy().astype(bool)].set_index("slate_id")
    per_slate = exposure.groupby("slate_id", sort=False).agg(
        same_cluster_competitors=("same_cluster_as_focal", "sum"),
        displaced_candidates=("would_be_displaced", "sum"),
        slate_mean_relevance=("observed_relevance", "mean"),
    )
    design = ["promotion_applied", "focal_seed_position", "total_expected_clicks_no_promotion"]
    tab = component.set_index("slate_id")[[c for c in design if c in component.columns]]  # no oracle in a log
    tab = tab.join(focal[["observed_relevance", "liked_rate"]].rename(
        columns={"observed_relevance": "focal_relevance", "liked_rate": "user_liked_rate"}
    )).join(per_slate)
    covariates = {
        "focal_seed_position": "Focal item's seed position",
        "focal_relevance": "Focal item's rating by the user",
        "user_liked_rate": "User's liked rate",
        "slate_mean_relevance": "Mean rating of the slate",
        "same_cluster_competitors": "Same-cluster competitors per slate",
        "displaced_candidates": "Items above the focal item",
        "total_expected_clicks_no_promotion": "Expected clicks without promotion (oracle)",
    }
    t = tab["promotion_applied"].to_numpy() == 1
    chance_band = 2.0 * np.sqrt(1.0 / t.sum() + 1.0 / (~t).sum())
    rows = []
    for col, label in covariates.items():
        if col not in tab:
            continue
        x = pd.to_numeric(tab[col]).to_numpy(dtype=np.float64)
        m1, m0 = np.nanmean(x[t]), np.nanmean(x[~t])
        pooled = np.sqrt((np.nanvar(x[t], ddof=1) + np.nanvar(x[~t], ddof=1)) / 2.0)
        rows.append({
            "covariate": label,
            "promoted_mean": m1,
            "control_mean": m0,
            "standardized_difference": (m1 - m0) / pooled if pooled > 0 else 0.0,
            "chance_band": chance_band,
        })
    return pd.DataFrame(rows)


EXPOSURE_GROUPS: tuple[str, ...] = (
    "Focal item",
    "Same cluster, above focal (displaced)",
    "Same cluster, below focal",
    "Other, above focal (displaced)",
    "Other, below focal",
)


def item_lift_by_exposure(exposure: pd.DataFrame) -> pd.DataFrame:
    """Mean oracle lift per item (p if promoted - p if not) by exposure label x displacement.

    Averaged over all slates, whatever their arm: the mechanism the component effects sum up.
    Without an oracle (a logged experiment) the same columns hold the randomized estimate, the
    promoted-minus-control difference in mean outcome, and `basis` says so.
    """
    label = exposure["exposure_label"].astype(str).to_numpy()
    moved = exposure["would_be_displaced"].to_numpy().astype(bool)
    group = np.select(
        [
            label == "direct_focal",
            (label == "same_cluster_competitor") & moved,
            label == "same_cluster_competitor",
            (label == "other_competitor") & moved,
        ],
        list(EXPOSURE_GROUPS[:4]),
        default=EXPOSURE_GROUPS[4],
    )
    n_slates = exposure["slate_id"].nunique()
    if "oracle_item_lift" not in exposure:
        return _estimated_lift_by_group(exposure, group)
    df = pd.DataFrame({
        "group": pd.Categorical(group, categories=list(EXPOSURE_GROUPS), ordered=True),
        "lift": exposure["oracle_item_lift"].to_numpy(dtype=np.float64),
        "p_no_promotion": exposure["p_no_promotion"].to_numpy(dtype=np.float64),
    })
    out = df.groupby("group", observed=False).agg(
        items=("lift", "size"), mean_item_lift=("lift", "mean"), mean_p_no_promotion=("p_no_promotion", "mean"),
        lift_sum=("lift", "sum"),
    ).reset_index()
    out["lift_per_slate"] = out.pop("lift_sum") / n_slates
    out["group"] = out["group"].astype(str)
    return out


def _estimated_lift_by_group(exposure: pd.DataFrame, group: np.ndarray) -> pd.DataFrame:
    """`item_lift_by_exposure`'s columns from the arms' difference in mean outcome (no oracle)."""
    codes, ids = slate_codes(exposure)
    t = exposure["promotion_applied"].to_numpy() == 1
    slate_t = np.zeros(len(ids), dtype=bool)
    slate_t[codes] = t
    y = exposure["simulated_click"].to_numpy(dtype=np.float64)
    rows = []
    for g in EXPOSURE_GROUPS:
        m = group == g
        per_slate = np.bincount(codes[m], weights=y[m], minlength=len(ids))
        rows.append({
            "group": g,
            "items": int(m.sum()),
            "mean_item_lift": (y[m & t].mean() if (m & t).any() else np.nan) - (y[m & ~t].mean() if (m & ~t).any() else np.nan),
            "mean_p_no_promotion": y[m & ~t].mean() if (m & ~t).any() else np.nan,
            "lift_per_slate": per_slate[slate_t].mean() - per_slate[~slate_t].mean(),
        })
    return pd.DataFrame(rows).assign(basis="randomized estimate")


# ----------------------------------------------------------------------------------------------
# A synthetic slate frame in the upstream schema (tests and demonstrations)
# ----------------------------------------------------------------------------------------------
_CLUSTERS = ("Action", "Comedy", "Drama", "Thriller", "Romance", "Sci-Fi")


def example_slates(
    n_slates: int = 200,
    seed: int = 0,
    slate_size: int = 12,
    focal_min_position: int = 5,
    focal_max_position: int = 12,
    n_movies: int = 300,
) -> pd.DataFrame:
    """Random slates with the columns of `movielens_interference_slates.parquet`.

    Not MovieLens: a small, fast stand-in so the experiment code can be tested on its own.
    """
    rng = np.random.default_rng(seed)
    movie_cluster = rng.choice(len(_CLUSTERS), size=n_movies, p=[0.25, 0.25, 0.2, 0.1, 0.1, 0.1])
    movie_pop_z = rng.normal(size=n_movies)
    movie_pop_z[rng.random(n_movies) < 0.05] = np.nan
    movie_liked = rng.beta(4, 4, size=n_movies)
    movie_liked[rng.random(n_movies) < 0.05] = np.nan
    movie_count = rng.integers(1, 400, size=n_movies)
    user_ids = 100_000 + np.arange(n_slates) * 50
    user_liked = rng.beta(3, 3, size=n_slates)
    user_n = rng.integers(20, 800, size=n_slates)
    movies = np.argsort(rng.random((n_slates, n_movies)), axis=1)[:, :slate_size]  # without replacement
    focal_pos = rng.integers(focal_min_position, focal_max_position + 1, size=n_slates)
    n = n_slates * slate_size
    slate_idx = np.repeat(np.arange(n_slates), slate_size)
    position = np.tile(np.arange(1, slate_size + 1), n_slates)
    movie = movies.ravel()
    is_focal = (position == focal_pos[slate_idx]).astype(np.int8)
    focal_movie = movies[np.arange(n_slates), focal_pos - 1]
    cluster_names = np.array(_CLUSTERS)
    rating = np.clip(np.round(rng.normal(3.6, 0.9, size=n) * 2) / 2, 0.5, 5.0)
    buckets = ["very_low", "low", "medium", "high", "very_high"]
    bucket_code = np.clip(np.round(np.nan_to_num(movie_pop_z[movie]) + 2.0), 0, 4).astype(int)
    pop_bucket = pd.Categorical.from_codes(bucket_code, categories=buckets, ordered=True)
    return pd.DataFrame({
        "slate_id": pd.array([f"user_{u}_seed" for u in user_ids[slate_idx]], dtype="string"),
        "userId": user_ids[slate_idx],
        "movieId": 1_000 + movie,
        "title": pd.array([f"Movie {m} (2000)" for m in movie], dtype="string"),
        "genres": pd.array(cluster_names[movie_cluster[movie]], dtype="string"),
        "slate_position_seed": position,
        "is_focal_item": is_focal,
        "focal_seed_position": focal_pos[slate_idx],
        "focal_movieId": 1_000 + focal_movie[slate_idx],
        "focal_title": pd.array([f"Movie {m} (2000)" for m in focal_movie[slate_idx]], dtype="string"),
        "spillover_cluster": pd.array(cluster_names[movie_cluster[movie]], dtype="string"),
        "focal_spillover_cluster": pd.array(cluster_names[movie_cluster[focal_movie[slate_idx]]], dtype="string"),
        "same_cluster_as_focal": ((movie_cluster[movie] == movie_cluster[focal_movie[slate_idx]])
                                  & (is_focal == 0)).astype(np.int8),
        "observed_relevance": rating,
        "high_relevance": (rating >= 4.0).astype(np.int8),
        "baseline_visibility": visibility(position),
        "slate_score": -position.astype(np.float64),
        "sample_rating_count": movie_count[movie],
        "sample_mean_rating": 3.0 + movie_liked[movie],
        "sample_liked_rate": movie_liked[movie],
        "popularity_bucket": pop_bucket,
        "log_item_popularity_z": movie_pop_z[movie],
        "n_ratings": user_n[slate_idx],
        "mean_rating": 3.0 + user_liked[slate_idx],
        "liked_rate": user_liked[slate_idx],
        "active_years": rng.integers(1, 5, size=n_slates)[slate_idx],
        "unique_primary_genres": rng.integers(3, 15, size=n_slates)[slate_idx],
        "activity_span_days": rng.integers(0, 2_000, size=n_slates)[slate_idx],
    })
