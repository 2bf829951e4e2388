"""Builder of chapter interference_01's artifacts: slates, user/item features and a data summary.

Data source: ``interference.data_path`` (a real MovieLens folder, any layout, resolved against
the project root) or, when it is empty, the MovieLens-format simulator, whose CSV files are
written to ``<run_dir>/raw/movielens/`` and then read back through the same loader.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_causal.artifact_names import IF
from recsys_causal.artifacts import RunStore, builder
from recsys_causal.data.movielens import MovieLensData, load_movielens
from recsys_causal.interference.slates import SlateTables, slate_tables_from_params
from recsys_causal.paths import resolve
from recsys_causal.simulate.movielens import simulate_from_params

DATA_KEYS = ("data_path", "layout", "sim_n_users", "sim_n_movies", "sim_n_ratings")
SLATE_KEYS = (*DATA_KEYS, "n_slate_users", "slate_size", "focal_min_position", "focal_max_position",
              "liked_threshold")


def raw_folder(store: RunStore) -> Path:
    """Where the run's MovieLens files are: the real folder, or <run_dir>/raw/movielens/."""
    p = store.params.interference
    return resolve(p.data_path) if p.data_path else store.run_dir / "raw" / "movielens"


def load_interference_data(store: RunStore) -> MovieLensData:
    """Load the run's MovieLens data (simulating it first when ``data_path`` is empty)."""
    p = store.params.interference
    if p.data_path:
        return load_movielens(resolve(p.data_path), p.layout)
    folder = simulate_from_params(p, store.params.seed, raw_folder(store))
    return load_movielens(folder, "auto")


def rating_distribution(ratings: pd.DataFrame) -> pd.DataFrame:
    """Count and share of each rating value."""
    counts = ratings["rating"].astype(np.float64).value_counts().sort_index()
    return pd.DataFrame({
        "rating": counts.index.to_numpy(dtype=np.float64),
        "n_ratings": counts.to_numpy(dtype=np.int64),
        "share": counts.to_numpy(dtype=np.float64) / counts.sum(),
    })


def _date(ts: int) -> str:
    return _dt.datetime.fromtimestamp(int(ts), tz=_dt.UTC).date().isoformat()


def _fmt(v: object) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int | np.integer):
        return str(int(v))
    return f"{float(v):.6g}"


def data_summary(data: MovieLensData, tables: SlateTables, simulated: bool, liked_threshold: float) -> pd.DataFrame:
    """metric / value / description rows describing the data and the slates (deterministic)."""
    r = data.ratings
    uf, itf, s = tables.user_features, tables.item_features, tables.slates
    n_users, n_items, n_r = len(uf), len(itf), len(r)
    slate_size = int(s.groupby("slate_id", sort=False).size().max()) if len(s) else 0
    same = s.loc[s["is_focal_item"].eq(0)].groupby("slate_id", sort=False)["same_cluster_as_focal"].sum()
    top10 = np.sort(itf["sample_rating_count"].to_numpy())[::-1][: max(1, n_items // 10)].sum() / n_r
    rows = [
        ("source", "simulator" if simulated else "real files", "where the data come from"),
        ("layout", data.layout, "file layout read by the loader"),
        ("users", n_users, "users with at least one rating"),
        ("movies_listed", data.report["movies_listed"], "movies in the movies file"),
        ("movies_rated", n_items, "movies with at least one rating"),
        ("ratings", n_r, "ratings after the loader's checks"),
        ("ratings_dropped_unknown_movie", data.report["ratings_unknown_movie"],
         "ratings whose movieId is not in the movies file (dropped)"),
        ("ratings_dropped_duplicate", data.report["ratings_duplicate_pairs"],
         "repeated (userId, movieId) pairs (last kept)"),
        ("density", n_r / (n_users * n_items), "ratings / (users x rated movies)"),
        ("mean_rating", float(r["rating"].astype(np.float64).mean()), "mean of all ratings"),
        ("liked_share", float((r["rating"] >= liked_threshold).mean()),
         f"share of ratings >= {liked_threshold:g}"),
        ("median_ratings_per_user", float(uf["n_ratings"].median()), "median ratings per user"),
        ("median_ratings_per_movie", float(itf["sample_rating_count"].median()), "median ratings per rated movie"),
        ("top10pct_movies_rating_share", float(top10), "share of ratings on the 10% most-rated movies"),
        ("primary_genres", int(itf["primary_genre"].nunique()), "distinct primary genres (spillover clusters)"),
        ("first_rating_date", _date(r["timestamp"].min()), "UTC date of the first rating"),
        ("last_rating_date", _date(r["timestamp"].max()), "UTC date of the last rating"),
        ("eligible_users", int((uf["n_ratings"] >= slate_size).sum()) if slate_size else 0,
         "users with at least slate_size ratings"),
        ("slates", int(s["slate_id"].nunique()), "slates built (one per sampled user)"),
        ("slate_rows", len(s), "slate item rows"),
        ("slate_size", slate_size, "items per slate"),
        ("mean_same_cluster_competitors", float(same.mean()) if len(same) else float("nan"),
         "non-focal items sharing the focal item's cluster, per slate"),
        ("slate_mean_relevance", float(s["observed_relevance"].mean()), "mean rating of slate items"),
        ("slate_high_relevance_share", float(s["high_relevance"].mean()), "share of slate items liked"),
    ]
    return pd.DataFrame({
        "metric": [m for m, _, _ in rows],
        "value": [_fmt(v) for _, v, _ in rows],
        "description": [d for _, _, d in rows],
    })


@builder(
    outputs=(IF.SLATES, IF.USER_FEATURES, IF.ITEM_FEATURES, IF.DATA_SUMMARY, IF.RATING_DISTRIBUTION),
    section="interference",
    keys=SLATE_KEYS,
)
def build_slate_tables(store: RunStore) -> dict[str, pd.DataFrame]:
    """Load (or simulate) MovieLens, compute features and slates, summarise the data."""
    p = store.params.interference
    data = load_interference_data(store)
    tables = slate_tables_from_params(data.ratings, data.movies, p, store.params.seed)
    return {
        IF.SLATES: tables.slates,
        IF.USER_FEATURES: tables.user_features,
        IF.ITEM_FEATURES: tables.item_features,
        IF.DATA_SUMMARY: data_summary(data, tables, store.is_simulated("interference"), p.liked_threshold),
        IF.RATING_DISTRIBUTION: rating_distribution(data.ratings),
    }
