"""User features, item features, spillover clusters and the 12-item slates of the interference track.

Design choices (each documented where it is made):

* **Spillover cluster** = the movie's primary genre, i.e. its *first listed* genre
  (`load_movielens` adds it as ``primary_genre``). Two items in the same slate and the same
  cluster are treated as substitutes by later chapters.
* **Item features** are computed on every loaded rating (the "sample"), for movies rated at
  least once: ``sample_rating_count``, ``sample_mean_rating``, ``sample_liked_rate`` (share of
  ratings >= ``liked_threshold``), ``log_item_popularity_z`` (z-score of log rating count across
  rated movies) and ``popularity_bucket``, an *ordered* categorical low < medium < high <
  very_high cut at the quartiles of the rating count (a movie at a quartile goes to the lower
  bucket, so tied counts always share a bucket).
* **User features**: ``n_ratings``, ``mean_rating``, ``liked_rate``, ``active_years`` (distinct
  UTC calendar years with a rating), ``unique_primary_genres`` (distinct primary genres rated)
  and ``activity_span_days`` (whole days between first and last rating).
* **Slates.** Among users with at least ``slate_size`` ratings, ``n_slate_users`` are sampled
  without replacement (all of them when fewer are eligible). Each sampled user's slate is built
  by a noisy popularity recommender restricted to movies the user rated: the pre-treatment
  score ``log_item_popularity_z + N(0, score_noise^2)`` picks the top ``slate_size`` movies
  and orders them (seed position 1 = highest score). Restricting to rated movies makes the
  relevance of every slate item observed (the user's rating); ordering by a score that does not
  use the user's own rating keeps relevance from leaking into position. A focal item is then
  chosen uniformly among seed positions ``focal_min_position .. focal_max_position``.

Everything is vectorised (factorised codes, bincount, one lexsort), so a simulation study can
build hundreds of small slate tables quickly; every random draw comes from ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys_causal.seeds import stream_sequence

POPULARITY_LABELS: tuple[str, ...] = ("low", "medium", "high", "very_high")
POPULARITY_DTYPE = pd.CategoricalDtype(list(POPULARITY_LABELS), ordered=True)

USER_FEATURE_COLUMNS: tuple[str, ...] = (
    "userId", "n_ratings", "mean_rating", "liked_rate", "active_years", "unique_primary_genres",
    "activity_span_days",
)
ITEM_FEATURE_COLUMNS: tuple[str, ...] = (
    "movieId", "title", "genres", "primary_genre", "spillover_cluster", "n_genres",
    "sample_rating_count", "sample_mean_rating", "sample_liked_rate", "popularity_bucket",
    "log_item_popularity_z",
)
# The slate table's columns, in order (one row per slate item). Dtypes: see `SLATE_DTYPES`.
SLATE_DTYPES: dict[str, str] = {
    "slate_id": "str",                 # "user_<userId>_seed"
    "userId": "int32",
    "movieId": "int32",
    "title": "str",
    "genres": "str",
    "slate_position_seed": "int64",    # 1 .. slate_size, order before any promotion
    "is_focal_item": "int8",           # 1 for the slate's focal item
    "focal_seed_position": "int64",    # seed position of the slate's focal item
    "focal_movieId": "int32",
    "focal_title": "str",
    "spillover_cluster": "str",        # primary genre of this item
    "focal_spillover_cluster": "str",  # primary genre of the focal item
    "same_cluster_as_focal": "int8",   # 1 for non-focal items sharing the focal item's cluster
    "observed_relevance": "float64",   # the user's rating of this item
    "high_relevance": "int8",          # observed_relevance >= liked_threshold
    "baseline_visibility": "float64",  # 1 / log2(slate_position_seed + 1)
    "slate_score": "float64",          # pre-treatment score that ordered the slate
    "sample_rating_count": "int64",
    "sample_mean_rating": "float64",
    "sample_liked_rate": "float64",
    "popularity_bucket": "category",   # ordered: low < medium < high < very_high
    "log_item_popularity_z": "float64",
    "n_ratings": "int64",
    "mean_rating": "float64",
    "liked_rate": "float64",
    "active_years": "int64",
    "unique_primary_genres": "int64",
    "activity_span_days": "int64",
}
SLATE_COLUMNS: tuple[str, ...] = tuple(SLATE_DTYPES)


# ----------------------------------------------------------------------------------------------
# Features
# ----------------------------------------------------------------------------------------------
def _primary_genre(movies: pd.DataFrame) -> pd.Series:
    if "primary_genre" in movies.columns:
        return movies["primary_genre"].astype("str")
    return movies["genres"].astype("str").str.split("|", n=1, regex=False).str[0]


def user_features(ratings: pd.DataFrame, movies: pd.DataFrame, liked_threshold: float = 4.0) -> pd.DataFrame:
    """One row per user (sorted by userId) with the history features listed in the module doc."""
    uid = ratings["userId"].to_numpy()
    users, ucode = np.unique(uid, return_inverse=True)
    n_u = len(users)
    r = ratings["rating"].to_numpy(dtype=np.float64)
    ts = ratings["timestamp"].to_numpy(dtype=np.int64)

    n = np.bincount(ucode, minlength=n_u)
    mean = np.bincount(ucode, weights=r, minlength=n_u) / n
    liked = np.bincount(ucode, weights=(r >= liked_threshold).astype(np.float64), minlength=n_u) / n

    tmin = np.full(n_u, np.iinfo(np.int64).max)
    tmax = np.full(n_u, np.iinfo(np.int64).min)
    _group_min_max(ucode, ts, tmin, tmax)
    span_days = (tmax - tmin) // 86_400

    year = ts.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64)
    year_key = np.unique(ucode.astype(np.int64) * 4096 + (year - year.min()))
    active_years = np.bincount(year_key // 4096, minlength=n_u)

    genre = _primary_genre(movies)
    gcodes, _ = pd.factorize(genre)
    lookup = pd.Series(gcodes, index=movies["movieId"].to_numpy())
    g = lookup.reindex(ratings["movieId"].to_numpy()).to_numpy()
    ok = ~np.isnan(g.astype(np.float64))
    gk = np.unique(ucode[ok].astype(np.int64) * 4096 + g[ok].astype(np.int64))
    unique_genres = np.bincount(gk // 4096, minlength=n_u)

    return pd.DataFrame({
        "userId": users.astype(np.int32),
        "n_ratings": n.astype(np.int64),
        "mean_rating": mean,
        "liked_rate": liked,
        "active_years": active_years.astype(np.int64),
        "unique_primary_genres": unique_genres.astype(np.int64),
        "activity_span_days": span_days.astype(np.int64),
    })


def _group_min_max(codes: np.ndarray, values: np.ndarray, out_min: np.ndarray, out_max: np.ndarray) -> None:
    """Per-group min and max via one stable sort (faster than ufunc.at on large inputs)."""
    order = np.lexsort((values, codes))
    c = codes[order]
    v = values[order]
    first = np.r_[True, c[1:] != c[:-1]]
    last = np.r_[c[1:] != c[:-1], True]
    out_min[c[first]] = v[first]
    out_max[c[last]] = v[last]


def popularity_bucket(counts: pd.Series | np.ndarray) -> pd.Categorical:
    """Ordered low/medium/high/very_high buckets cut at the quartiles of `counts` (ties go down)."""
    x = np.asarray(counts, dtype=np.float64)
    q = np.quantile(x, [0.25, 0.5, 0.75]) if len(x) else np.zeros(3)
    idx = np.searchsorted(q, x, side="left")
    return pd.Categorical.from_codes(idx, dtype=POPULARITY_DTYPE)


def item_features(ratings: pd.DataFrame, movies: pd.DataFrame, liked_threshold: float = 4.0) -> pd.DataFrame:
    """One row per movie rated at least once (sorted by movieId) with the sample item features."""
    mid = ratings["movieId"].to_numpy()
    items, mcode = np.unique(mid, return_inverse=True)
    r = ratings["rating"].to_numpy(dtype=np.float64)
    n = np.bincount(mcode, minlength=len(items))
    mean = np.bincount(mcode, weights=r, minlength=len(items)) / n
    liked = np.bincount(mcode, weights=(r >= liked_threshold).astype(np.float64), minlength=len(items)) / n
    logn = np.log(n.astype(np.float64))
    sd = logn.std(ddof=0)
    z = (logn - logn.mean()) / sd if sd > 0 else np.zeros_like(logn)

    meta = movies.set_index("movieId").reindex(items)
    genres = meta["genres"].astype("str").fillna("(no genres listed)")
    primary = _primary_genre(meta.reset_index()).fillna("(no genres listed)").to_numpy()
    n_genres = (meta["n_genres"] if "n_genres" in meta.columns else genres.str.count(r"\|") + 1)
    out = pd.DataFrame({
        "movieId": items.astype(np.int32),
        "title": meta["title"].astype("str").to_numpy(),
        "genres": genres.to_numpy(),
        "primary_genre": primary,
        "spillover_cluster": primary,
        "n_genres": n_genres.fillna(0).astype(np.int64).to_numpy(),
        "sample_rating_count": n.astype(np.int64),
        "sample_mean_rating": mean,
        "sample_liked_rate": liked,
        "popularity_bucket": popularity_bucket(n),
        "log_item_popularity_z": z,
    })
    for col in ("title", "genres", "primary_genre", "spillover_cluster"):
        out[col] = out[col].astype("str")
    return out


# ----------------------------------------------------------------------------------------------
# Slates
# ----------------------------------------------------------------------------------------------
@dataclass
class SlateTables:
    """The three tables of chapter interference_01."""

    slates: pd.DataFrame
    user_features: pd.DataFrame
    item_features: pd.DataFrame


def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    ss = stream_sequence(seed, "slate_sampling")
    a, b, c = (np.random.default_rng(s) for s in ss.spawn(3))
    return a, b, c


def build_slates(
    ratings: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    *,
    n_slate_users: int = 3000,
    slate_size: int = 12,
    focal_min_position: int = 5,
    focal_max_position: int = 12,
    liked_threshold: float = 4.0,
    seed: int = 42,
    score_noise: float = 1.0,
) -> pd.DataFrame:
    """One `slate_size`-item slate per sampled user; one row per slate item (`SLATE_COLUMNS`).

    `users` and `items` are the outputs of `user_features` / `item_features` on the same
    ratings. Rows are sorted by userId then seed position. Deterministic in `seed` and
    independent of the row order of `ratings`.
    """
    if not 1 <= focal_min_position <= focal_max_position <= slate_size:
        raise ValueError(
            f"expected 1 <= focal_min_position ({focal_min_position}) <= focal_max_position "
            f"({focal_max_position}) <= slate_size ({slate_size})"
        )
    r_users, r_score, r_focal = _rngs(seed)
    eligible = np.sort(users.loc[users["n_ratings"].to_numpy() >= slate_size, "userId"].to_numpy())
    if len(eligible) == 0:
        raise ValueError(f"no user has at least slate_size={slate_size} ratings")
    k = min(int(n_slate_users), len(eligible))
    chosen = np.sort(r_users.choice(eligible, size=k, replace=False))

    # candidate rows: every rating of a chosen user, in a canonical order
    uid = ratings["userId"].to_numpy()
    keep = np.isin(uid, chosen)
    cand_u = uid[keep].astype(np.int64)
    cand_m = ratings["movieId"].to_numpy()[keep].astype(np.int64)
    cand_r = ratings["rating"].to_numpy()[keep].astype(np.float64)
    o = np.lexsort((cand_m, cand_u))
    cand_u, cand_m, cand_r = cand_u[o], cand_m[o], cand_r[o]

    item_pos = np.searchsorted(items["movieId"].to_numpy(), cand_m)
    pop_z = items["log_item_popularity_z"].to_numpy(dtype=np.float64)[item_pos]
    score = pop_z + r_score.normal(0.0, score_noise, len(cand_u))

    o = np.lexsort((-score, cand_u))
    cand_u, cand_m, cand_r, score, item_pos = cand_u[o], cand_m[o], cand_r[o], score[o], item_pos[o]
    starts = np.r_[0, np.flatnonzero(cand_u[1:] != cand_u[:-1]) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(cand_u)]))
    pos = np.arange(len(cand_u)) - group_start + 1
    sel = pos <= slate_size
    su, sm, sr, ss, sp, ip = cand_u[sel], cand_m[sel], cand_r[sel], score[sel], pos[sel], item_pos[sel]

    focal_pos_per_slate = r_focal.integers(focal_min_position, focal_max_position + 1, size=k)
    focal_pos = np.repeat(focal_pos_per_slate, slate_size)
    is_focal = sp == focal_pos
    focal_row = np.flatnonzero(is_focal)  # one per slate, in slate order
    focal_item_pos = np.repeat(ip[focal_row], slate_size)

    cluster = items["spillover_cluster"].to_numpy()
    titles = items["title"].to_numpy()
    genres = items["genres"].to_numpy()
    uf = users.set_index("userId").loc[su]

    slate_id = pd.Series(su).astype("str").radd("user_").add("_seed")
    out = pd.DataFrame({
        "slate_id": slate_id.to_numpy(),
        "userId": su.astype(np.int32),
        "movieId": sm.astype(np.int32),
        "title": titles[ip],
        "genres": genres[ip],
        "slate_position_seed": sp.astype(np.int64),
        "is_focal_item": is_focal.astype(np.int8),
        "focal_seed_position": focal_pos.astype(np.int64),
        "focal_movieId": items["movieId"].to_numpy()[focal_item_pos].astype(np.int32),
        "focal_title": titles[focal_item_pos],
        "spillover_cluster": cluster[ip],
        "focal_spillover_cluster": cluster[focal_item_pos],
        "same_cluster_as_focal": ((cluster[ip] == cluster[focal_item_pos]) & ~is_focal).astype(np.int8),
        "observed_relevance": sr,
        "high_relevance": (sr >= liked_threshold).astype(np.int8),
        "baseline_visibility": 1.0 / np.log2(sp + 1.0),
        "slate_score": ss,
        "sample_rating_count": items["sample_rating_count"].to_numpy()[ip].astype(np.int64),
        "sample_mean_rating": items["sample_mean_rating"].to_numpy(dtype=np.float64)[ip],
        "sample_liked_rate": items["sample_liked_rate"].to_numpy(dtype=np.float64)[ip],
        "popularity_bucket": pd.Categorical.from_codes(
            items["popularity_bucket"].cat.codes.to_numpy()[ip], dtype=POPULARITY_DTYPE),
        "log_item_popularity_z": items["log_item_popularity_z"].to_numpy(dtype=np.float64)[ip],
        "n_ratings": uf["n_ratings"].to_numpy(dtype=np.int64),
        "mean_rating": uf["mean_rating"].to_numpy(dtype=np.float64),
        "liked_rate": uf["liked_rate"].to_numpy(dtype=np.float64),
        "active_years": uf["active_years"].to_numpy(dtype=np.int64),
        "unique_primary_genres": uf["unique_primary_genres"].to_numpy(dtype=np.int64),
        "activity_span_days": uf["activity_span_days"].to_numpy(dtype=np.int64),
    })
    for col in ("slate_id", "title", "genres", "focal_title", "spillover_cluster", "focal_spillover_cluster"):
        out[col] = out[col].astype("str")
    return out[list(SLATE_COLUMNS)]


def make_slate_tables(
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    *,
    n_slate_users: int = 3000,
    slate_size: int = 12,
    focal_min_position: int = 5,
    focal_max_position: int = 12,
    liked_threshold: float = 4.0,
    seed: int = 42,
    score_noise: float = 1.0,
) -> SlateTables:
    """User features, item features and slates from canonical (ratings, movies) in one call."""
    uf = user_features(ratings, movies, liked_threshold)
    itf = item_features(ratings, movies, liked_threshold)
    slates = build_slates(
        ratings, uf, itf, n_slate_users=n_slate_users, slate_size=slate_size,
        focal_min_position=focal_min_position, focal_max_position=focal_max_position,
        liked_threshold=liked_threshold, seed=seed, score_noise=score_noise,
    )
    return SlateTables(slates=slates, user_features=uf, item_features=itf)


def slate_tables_from_params(ratings: pd.DataFrame, movies: pd.DataFrame, params: object, seed: int) -> SlateTables:
    """`make_slate_tables` with the knobs of an `InterferenceParams` section."""
    return make_slate_tables(
        ratings, movies,
        n_slate_users=params.n_slate_users, slate_size=params.slate_size,  # type: ignore[attr-defined]
        focal_min_position=params.focal_min_position,  # type: ignore[attr-defined]
        focal_max_position=params.focal_max_position,  # type: ignore[attr-defined]
        liked_threshold=params.liked_threshold, seed=seed,  # type: ignore[attr-defined]
    )
