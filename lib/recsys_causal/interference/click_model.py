"""The click model of the slate-promotion experiment: positions, visibility and click probabilities.

Every item of a slate is clicked with probability sigmoid(logit), clipped to
[prob_min, prob_max]. Without promotion the logit is

    intercept + relevance * (rating - 3.5) + visibility * 1/log2(seed position + 1)
    + user_liked * (user liked rate - mean) + item_liked * (item liked rate - mean)
    + popularity * log-popularity z-score

and when the slate's focal item is promoted (moved to position 1, every item that sat above it
shifted down one place) the same terms are evaluated at the new position, plus the promotion
terms of the source notebook's `promoted_logit`:

    + focal_boost * is_focal - nonfocal_penalty * non_focal
    - same_cluster_penalty * (non_focal & same cluster as the focal item)
    - displaced_penalty * (non_focal & pushed down one position)

The coefficient defaults reproduce the source notebook exactly (its world, where every slate's
true lift is negative); they are all parameters (`InterferenceParams.click_*`), so a reader can
run a world where some promotions help. The two means are taken over the rows passed in (the
exposure rows of the run, as in the source), or supplied through `ClickCenters`.

Chapter interference_03 imports these functions to reconstruct the oracle from the exposure table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.params import InterferenceParams

#: Columns a row frame needs for `click_probabilities` (the upstream slate schema).
CLICK_INPUT_COLUMNS: tuple[str, ...] = (
    "is_focal_item",
    "slate_position_seed",
    "focal_seed_position",
    "spillover_cluster",
    "focal_spillover_cluster",
    "observed_relevance",
    "liked_rate",
    "sample_liked_rate",
    "log_item_popularity_z",
)

#: Names of the additive logit terms, in the order of the source's `promoted_logit`.
BASE_TERMS: tuple[str, ...] = ("intercept", "relevance", "visibility", "user_liked", "item_liked", "popularity")
PROMOTION_TERMS: tuple[str, ...] = (
    "focal_boost",
    "nonfocal_penalty",
    "same_cluster_penalty",
    "displaced_penalty",
)


@dataclass(frozen=True)
class ClickModel:
    """Coefficients of the click logit (defaults = the source notebook's world)."""

    intercept: float = -2.75
    relevance: float = 0.78
    visibility: float = 1.15
    user_liked: float = 0.35
    item_liked: float = 0.25
    popularity: float = 0.10
    focal_boost: float = 0.20
    nonfocal_penalty: float = 0.08
    same_cluster_penalty: float = 0.24
    displaced_penalty: float = 0.10
    prob_min: float = 0.01
    prob_max: float = 0.95
    relevance_center: float = 3.5

    @classmethod
    def from_params(cls, p: InterferenceParams) -> ClickModel:
        """Build the model from an `InterferenceParams` section (its `click_*` knobs)."""
        return cls(
            intercept=p.click_intercept,
            relevance=p.click_relevance,
            visibility=p.click_visibility,
            user_liked=p.click_user_liked,
            item_liked=p.click_item_liked,
            popularity=p.click_popularity,
            focal_boost=p.click_focal_boost,
            nonfocal_penalty=p.click_nonfocal_penalty,
            same_cluster_penalty=p.click_same_cluster_penalty,
            displaced_penalty=p.click_displaced_penalty,
            prob_min=p.click_prob_min,
            prob_max=p.click_prob_max,
        )


@dataclass(frozen=True)
class ClickCenters:
    """The two means the logit centres on: user liked rate and item (sample) liked rate."""

    liked_rate_mean: float
    item_liked_rate_mean: float


def click_centers(rows: pd.DataFrame) -> ClickCenters:
    """Means over `rows` (NaN skipped), as the source computes them over the exposure rows."""
    return ClickCenters(
        liked_rate_mean=float(pd.to_numeric(rows["liked_rate"]).mean()),
        item_liked_rate_mean=float(pd.to_numeric(rows["sample_liked_rate"]).mean()),
    )


# ----------------------------------------------------------------------------------------------
# Positions and roles
# ----------------------------------------------------------------------------------------------
def visibility(position: Any) -> np.ndarray:
    """Position discount 1 / log2(position + 1): 1 at position 1, 0.5 at position 3."""
    pos = np.asarray(position, dtype=np.float64)
    if np.any(pos < 1):
        raise ValueError("positions start at 1")
    return 1.0 / np.log2(pos + 1.0)


def would_be_displaced(is_focal: Any, seed_position: Any, focal_seed_position: Any) -> np.ndarray:
    """True for non-focal items above the focal item: promotion pushes them down one place."""
    focal = np.asarray(is_focal).astype(bool)
    return ~focal & (np.asarray(seed_position) < np.asarray(focal_seed_position))


def promoted_positions(is_focal: Any, seed_position: Any, focal_seed_position: Any) -> np.ndarray:
    """Positions if the focal item is promoted: focal -> 1, items above it -> +1, others unchanged."""
    seed = np.asarray(seed_position, dtype=np.int64)
    focal = np.asarray(is_focal).astype(bool)
    shifted = seed + would_be_displaced(focal, seed, focal_seed_position).astype(np.int64)
    return np.where(focal, 1, shifted).astype(np.int64)


def same_cluster(rows: pd.DataFrame) -> np.ndarray:
    """True where an item's spillover cluster equals its slate's focal cluster (focal item included)."""
    return rows["spillover_cluster"].astype("string").eq(rows["focal_spillover_cluster"].astype("string")).fillna(
        False
    ).to_numpy(dtype=bool)


# ----------------------------------------------------------------------------------------------
# Logits and probabilities
# ----------------------------------------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _base_terms(rows: pd.DataFrame, model: ClickModel, position: np.ndarray, centers: ClickCenters) -> dict[str, np.ndarray]:
    rel = pd.to_numeric(rows["observed_relevance"]).to_numpy(dtype=np.float64)
    liked = pd.to_numeric(rows["liked_rate"]).to_numpy(dtype=np.float64)
    item_liked = (
        pd.to_numeric(rows["sample_liked_rate"]).fillna(centers.item_liked_rate_mean).to_numpy(dtype=np.float64)
    )
    pop = pd.to_numeric(rows["log_item_popularity_z"]).fillna(0.0).to_numpy(dtype=np.float64)
    return {
        "intercept": np.full(len(rows), model.intercept),
        "relevance": model.relevance * (rel - model.relevance_center),
        "visibility": model.visibility * visibility(position),
        "user_liked": model.user_liked * (liked - centers.liked_rate_mean),
        "item_liked": model.item_liked * (item_liked - centers.item_liked_rate_mean),
        "popularity": model.popularity * pop,
    }


def no_promotion_logit_terms(
    rows: pd.DataFrame, model: ClickModel, centers: ClickCenters | None = None
) -> pd.DataFrame:
    """The additive terms of the no-promotion logit (visibility at the seed position), one column each."""
    centers = centers or click_centers(rows)
    pos = rows["slate_position_seed"].to_numpy(dtype=np.int64)
    return pd.DataFrame(_base_terms(rows, model, pos, centers), index=rows.index)


def promoted_logit_terms(
    rows: pd.DataFrame, model: ClickModel, centers: ClickCenters | None = None
) -> pd.DataFrame:
    """The additive terms of the source's `promoted_logit`, one column each (penalties negative)."""
    centers = centers or click_centers(rows)
    focal = rows["is_focal_item"].to_numpy().astype(bool)
    seed = rows["slate_position_seed"].to_numpy(dtype=np.int64)
    focal_seed = rows["focal_seed_position"].to_numpy(dtype=np.int64)
    pos = promoted_positions(focal, seed, focal_seed)
    terms = _base_terms(rows, model, pos, centers)
    non_focal = (~focal).astype(np.float64)
    same = same_cluster(rows)
    displaced = would_be_displaced(focal, seed, focal_seed)
    terms["focal_boost"] = model.focal_boost * focal.astype(np.float64)
    terms["nonfocal_penalty"] = -model.nonfocal_penalty * non_focal
    terms["same_cluster_penalty"] = -model.same_cluster_penalty * (~focal & same).astype(np.float64)
    terms["displaced_penalty"] = -model.displaced_penalty * displaced.astype(np.float64)
    return pd.DataFrame(terms, index=rows.index)


def no_promotion_logit(rows: pd.DataFrame, model: ClickModel, centers: ClickCenters | None = None) -> np.ndarray:
    """Click logit of every row when the slate is left unchanged."""
    return no_promotion_logit_terms(rows, model, centers).to_numpy().sum(axis=1)


def promoted_logit(rows: pd.DataFrame, model: ClickModel, centers: ClickCenters | None = None) -> np.ndarray:
    """Click logit of every row when its slate's focal item is promoted (the source's formula)."""
    return promoted_logit_terms(rows, model, centers).to_numpy().sum(axis=1)


def click_probabilities(
    rows: pd.DataFrame, model: ClickModel, centers: ClickCenters | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(p_no_promotion, p_if_promoted) for every row, each clipped to [prob_min, prob_max].

    Both arms are computed for every row whatever its slate's assignment: they are the oracle.
    """
    missing = [c for c in CLICK_INPUT_COLUMNS if c not in rows.columns]
    if missing:
        raise KeyError(f"click model input lacks columns {missing}")
    centers = centers or click_centers(rows)
    p0 = _sigmoid(no_promotion_logit(rows, model, centers)).clip(model.prob_min, model.prob_max)
    p1 = _sigmoid(promoted_logit(rows, model, centers)).clip(model.prob_min, model.prob_max)
    return p0, p1
