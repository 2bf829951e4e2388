"""A MovieLens-format simulator: ml-1m-like ratings written in the ml-latest CSV layout.

The world (all draws from one seed):

* **Movies.** Each movie gets a primary genre from ml-1m-like frequencies (Drama and Comedy
  most common) and, for about half of them, one to three further genres; genres are listed in
  alphabetical order as MovieLens does, and the primary genre is drawn among genres that sort
  first, so "first listed genre" (the loader's ``primary_genre``) is the drawn one. A latent
  quality ``q_j ~ N(0, 0.45)`` and a log-normal popularity weight (correlated with quality)
  give the Zipf-like long tail of rating counts. Titles look like ``"Silent River, The (1994)"``.
* **Users.** Heavy-tailed activity: every user rates at least ``min(20, n_ratings // n_users)``
  movies (ml-1m's floor), the rest of the ratings are spread by log-normal weights. Each user
  has a rating bias ``b_u ~ N(0, 0.45)`` and genre affinities ``a_ug ~ N(0, 0.5)``.
* **Which movies a user rates**: distinct movies drawn without replacement with probability
  proportional to popularity x exp(affinity): successive sampling (draws with replacement,
  first k distinct kept) for most users, Gumbel top-k for the few who rate more than 5% of the
  catalogue; both vectorised, cost about linear in the number of ratings.
* **Ratings**: latent ``b_u + q_j + a_u,g(j) + noise`` cut into the 1-5 star scale at the
  quantiles that reproduce ml-1m's rating shares (5.6, 10.8, 26.1, 34.9, 22.6 %), or half
  stars 0.5-5 with ``half_stars=True``.
* **Timestamps**: each user is active over a span inside a ~3 year window (a third rate
  everything within a day, as many ml-1m users did; the others over log-normal spans).

Files: ``ratings.csv`` (userId,movieId,rating,timestamp; sorted by userId, movieId) and
``movies.csv`` (movieId,title,genres), the layout of ml-latest, so `load_movielens` reads them
through the same code path as real files. Written atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys_causal.seeds import stream_sequence

if TYPE_CHECKING:
    from recsys_causal.params import InterferenceParams

GENRES: tuple[str, ...] = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)
# Share of movies whose first-listed genre is g (ml-1m-like; Drama and Comedy lead).
PRIMARY_SHARE: dict[str, float] = {
    "Drama": 0.255, "Comedy": 0.215, "Action": 0.115, "Horror": 0.075, "Adventure": 0.045,
    "Thriller": 0.04, "Crime": 0.04, "Documentary": 0.03, "Children": 0.03, "Animation": 0.025,
    "Romance": 0.025, "Sci-Fi": 0.02, "Western": 0.018, "Mystery": 0.012, "War": 0.015,
    "Musical": 0.012, "Film-Noir": 0.012, "Fantasy": 0.006,
}
# Relative frequency of a genre as a secondary label.
SECONDARY_WEIGHT: dict[str, float] = {
    "Action": 3, "Adventure": 3, "Animation": 1, "Children": 2, "Comedy": 4, "Crime": 2,
    "Documentary": 0.3, "Drama": 5, "Fantasy": 1.5, "Film-Noir": 0.5, "Horror": 1.5,
    "Musical": 1, "Mystery": 1.5, "Romance": 4.5, "Sci-Fi": 2.5, "Thriller": 4.5, "War": 1.5,
    "Western": 0.5,
}
ML1M_RATING_SHARES = (0.056, 0.108, 0.261, 0.349, 0.226)
WINDOW_START = 956_703_932  # 2000-04-25, the start of ml-1m
WINDOW_DAYS = 1_040

_ADJ = ("Silent", "Last", "Dark", "Golden", "Broken", "Hidden", "Wild", "Lost", "Secret", "Red",
        "Long", "Little", "Cold", "Bright", "Crimson", "Final", "Endless", "Savage", "Quiet", "Blue",
        "Iron", "Strange", "Lonely", "Burning", "Sweet", "Frozen", "Midnight", "Electric", "Sacred",
        "Restless")
_NOUN = ("River", "Night", "City", "Heart", "Road", "Game", "Dream", "Storm", "House", "Island",
         "Summer", "Kingdom", "Shadow", "Garden", "Mirror", "Journey", "Promise", "Letter", "Witness",
         "Stranger", "Harbor", "Frontier", "Empire", "Machine", "Circus", "Ghost", "Planet",
         "Affair", "Hunter", "Symphony")
_SUFFIX = ("", "", "", "", " II", " 2", ": The Return", " in Paris", " of Doom", ", My Love")


def _atomic_csv(df: pd.DataFrame, path: Path, **kwargs: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        df.to_csv(tmp, index=False, **kwargs)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_ratings_csv(ratings: pd.DataFrame, path: Path) -> None:
    """Fast, atomic ml-latest style ratings.csv (unquoted header, ratings like ``4.0``)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    halves = np.array([f"{0.5 * i:.1f}" for i in range(11)])
    tbl = pa.table({
        "userId": pa.array(ratings["userId"].to_numpy(np.int32)),
        "movieId": pa.array(ratings["movieId"].to_numpy(np.int32)),
        "rating": pa.array(halves[np.rint(ratings["rating"].to_numpy() * 2).astype(np.int64)]),
        "timestamp": pa.array(ratings["timestamp"].to_numpy(np.int64)),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            fh.write(b"userId,movieId,rating,timestamp\n")
            pacsv.write_csv(tbl, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _titles(rng: np.random.Generator, n: int) -> np.ndarray:
    adj = rng.integers(0, len(_ADJ), n)
    noun = rng.integers(0, len(_NOUN), n)
    suffix = rng.integers(0, len(_SUFFIX), n)
    article = rng.random(n) < 0.2
    # release years skewed to the 1990s, as in ml-1m
    year = np.clip(np.round(2000 - rng.gamma(1.3, 8.0, n)), 1919, 2000).astype(int)
    out = np.empty(n, dtype=object)
    for i in range(n):
        base = f"{_ADJ[adj[i]]} {_NOUN[noun[i]]}{_SUFFIX[suffix[i]]}"
        if article[i]:
            base = f"{base}, The"
        out[i] = f"{base} ({year[i]})"
    return out


def _genres(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Primary genre index and the '|' genres string, listed alphabetically (primary first)."""
    g = np.array(GENRES)
    p = np.array([PRIMARY_SHARE[x] for x in GENRES])
    primary = rng.choice(len(GENRES), size=n, p=p / p.sum())
    n_extra = rng.choice(4, size=n, p=(0.5, 0.32, 0.13, 0.05))
    w = np.array([SECONDARY_WEIGHT[x] for x in GENRES])
    strings = np.empty(n, dtype=object)
    for i in range(n):
        later = np.arange(primary[i] + 1, len(GENRES))
        k = min(int(n_extra[i]), len(later))
        chosen = [primary[i]]
        if k:
            ww = w[later] / w[later].sum()
            chosen += sorted(rng.choice(later, size=k, replace=False, p=ww).tolist())
        strings[i] = "|".join(g[chosen])
    return primary, strings


def _allocate(total: int, weights: np.ndarray, floor: int, cap: int) -> np.ndarray:
    """Integer counts >= floor, <= cap, summing to `total` (largest remainder), prop. to weights."""
    n = len(weights)
    counts = np.full(n, floor, dtype=np.int64)
    rest = total - floor * n
    while rest > 0:
        room = cap - counts
        w = np.where(room > 0, weights, 0.0)
        share = w / w.sum() * rest
        add = np.minimum(np.floor(share).astype(np.int64), room)
        left = rest - int(add.sum())
        frac = np.where(room - add > 0, share - np.floor(share), -1.0)
        top = np.argsort(-frac, kind="stable")[:left]
        top = top[frac[top] >= 0]
        add[top] += 1
        counts += add
        rest -= int(add.sum())
    return counts


HEAVY_SHARE = 0.05  # users rating more than this share of the movies use Gumbel top-k


def _pick_movies(
    rng: np.random.Generator, counts: np.ndarray, log_pop: np.ndarray, affinity: np.ndarray, primary: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct movies per user, drawn without replacement with P(j | u) ~ pop_j * exp(aff_u,g(j)).

    Light users (the vast majority): successive sampling, i.e. draws *with* replacement from the
    two-stage distribution genre | user, then movie | genre, keeping each user's first
    ``counts[u]`` distinct movies in draw order; that is exactly sampling without replacement
    proportional to the weights, at a cost linear in the number of ratings. Heavy users (more
    than `HEAVY_SHARE` of the catalogue, where repeated draws would collide often): Gumbel top-k
    over the whole catalogue, in chunks.
    """
    n_users, n_genres = affinity.shape
    n_movies = len(log_pop)
    heavy = counts > max(20, HEAVY_SHARE * n_movies)
    parts_u: list[np.ndarray] = []
    parts_m: list[np.ndarray] = []

    # heavy users: Gumbel top-k, chunked by users sorted by count
    hv = np.flatnonzero(heavy)
    hv = hv[np.argsort(counts[hv], kind="stable")]
    size = max(1, 2_000_000 // n_movies)
    aff32 = affinity.astype(np.float32)
    lp32 = log_pop.astype(np.float32)
    for start in range(0, len(hv), size):
        users = hv[start:start + size]
        k = counts[users]
        kmax = int(k.max())
        u01 = rng.random((len(users), n_movies), dtype=np.float32)
        keys = -(lp32[None, :] + aff32[users][:, primary] - np.log(-np.log(np.clip(u01, 1e-12, 1 - 1e-7))))
        if kmax < n_movies:
            part = np.argpartition(keys, kmax - 1, axis=1)[:, :kmax]
            order = np.take_along_axis(part, np.argsort(np.take_along_axis(keys, part, axis=1), axis=1,
                                                        kind="stable"), axis=1)
        else:
            order = np.argsort(keys, axis=1, kind="stable")
        rows, cols = np.nonzero(np.arange(order.shape[1])[None, :] < k[:, None])
        parts_u.append(users[rows])
        parts_m.append(order[rows, cols])

    # light users: successive sampling with replacement + first-k distinct
    lt = np.flatnonzero(~heavy)
    if len(lt):
        pop = np.exp(log_pop - log_pop.max())
        by_genre = np.argsort(primary, kind="stable")  # movies grouped by genre
        g_sorted = primary[by_genre]
        genre_mass = np.bincount(primary, weights=pop, minlength=n_genres)
        within = np.cumsum(pop[by_genre])
        seg_start = np.searchsorted(g_sorted, np.arange(n_genres))
        before = np.r_[0.0, within][seg_start]
        # position of each movie in [g, g + 1): genre index + cumulative share within the genre
        cum = g_sorted + (within - before[g_sorted]) / np.where(genre_mass > 0, genre_mass, 1.0)[g_sorted]
        gw = genre_mass[None, :] * np.exp(affinity[lt] - affinity[lt].max(axis=1, keepdims=True))
        gcum = np.cumsum(gw / gw.sum(axis=1, keepdims=True), axis=1)
        gflat = (np.arange(len(lt))[:, None] + gcum).ravel()  # user i's genre CDF lives in [i, i + 1]
        need = counts[lt].astype(np.int64)
        acc_u = np.empty(0, dtype=np.int64)  # pending users' accepted draws (local index), in order
        acc_m = np.empty(0, dtype=np.int64)
        todo = np.arange(len(lt))
        while len(todo):
            have = np.bincount(acc_u, minlength=len(lt))[todo]
            draws = np.ceil(1.5 * (need[todo] - have)).astype(np.int64) + 8
            du = np.repeat(todo, draws)
            g = np.searchsorted(gflat, du + rng.random(len(du)), side="left") - du * n_genres
            g = np.clip(g, 0, n_genres - 1)
            idx = np.minimum(np.searchsorted(cum, g + rng.random(len(du)), side="left"), n_movies - 1)
            all_u = np.r_[acc_u, du]
            all_m = np.r_[acc_m, by_genre[idx]]
            _, first = np.unique(all_u * n_movies + all_m, return_index=True)
            first.sort()  # keep draw order
            all_u, all_m = all_u[first], all_m[first]
            o = np.argsort(all_u, kind="stable")
            su = all_u[o]
            starts = np.r_[0, np.flatnonzero(su[1:] != su[:-1]) + 1]
            rank = np.arange(len(su)) - np.repeat(starts, np.diff(np.r_[starts, len(su)]))
            keep = np.sort(o[rank < need[su]])
            all_u, all_m = all_u[keep], all_m[keep]
            full = np.bincount(all_u, minlength=len(lt)) >= need
            done = full[all_u]
            parts_u.append(lt[all_u[done]])
            parts_m.append(all_m[done])
            acc_u, acc_m = all_u[~done], all_m[~done]
            todo = np.flatnonzero(~full & np.isin(np.arange(len(lt)), todo))
    return np.concatenate(parts_u), np.concatenate(parts_m)


def simulate_ratings(
    n_users: int = 6040,
    n_movies: int = 3706,
    n_ratings: int = 1_000_000,
    seed: int = 42,
    half_stars: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate (ratings, movies) DataFrames in the ml-latest CSV schema (no files written)."""
    if n_users < 1 or n_movies < 2:
        raise ValueError("expected n_users >= 1 and n_movies >= 2")
    cap = max(1, int(0.8 * n_movies))
    if n_ratings > n_users * cap:
        raise ValueError(
            f"n_ratings={n_ratings} is more than {n_users} users can give to {n_movies} movies "
            f"(at most 80% of the movies each: {n_users * cap})"
        )
    ss = stream_sequence(seed, "movielens_world")
    r_mov, r_usr, r_pick, r_rate, r_time = (np.random.default_rng(s) for s in ss.spawn(5))

    # --- movies -----------------------------------------------------------------------------
    movie_ids = np.sort(r_mov.choice(np.arange(1, int(n_movies * 1.07) + 2), size=n_movies, replace=False))
    primary, genre_str = _genres(r_mov, n_movies)
    quality = r_mov.normal(0.0, 0.45, n_movies)
    log_pop = 1.1 * r_mov.standard_normal(n_movies) + 0.6 * quality / 0.45
    titles = _titles(r_mov, n_movies)

    # --- users --------------------------------------------------------------------------------
    floor = int(min(20, n_ratings // n_users, cap))
    activity = r_usr.lognormal(0.0, 1.1, n_users)
    counts = _allocate(n_ratings, activity, floor, cap)
    bias = r_usr.normal(0.0, 0.45, n_users)
    affinity = r_usr.normal(0.0, 0.5, (n_users, len(GENRES)))

    # --- which movies each user rates ------------------------------------------------------
    u, m = _pick_movies(r_pick, counts, log_pop, 0.8 * affinity, primary)

    # --- ratings ------------------------------------------------------------------------------
    latent = bias[u] + quality[m] + affinity[u, primary[m]] + r_rate.normal(0.0, 0.8, len(u))
    if half_stars:
        shares = np.array([0.01, 0.03, 0.02, 0.07, 0.05, 0.2, 0.13, 0.27, 0.09, 0.13])
        scale = np.arange(1, 11) / 2
    else:
        shares = np.array(ML1M_RATING_SHARES)
        scale = np.arange(1, 6, dtype=float)
    cuts = np.quantile(latent, np.cumsum(shares)[:-1])
    rating = scale[np.searchsorted(cuts, latent, side="right")]

    # --- timestamps ---------------------------------------------------------------------------
    one_day = r_time.random(n_users) < 0.33
    span_days = np.where(one_day, r_time.random(n_users), np.minimum(r_time.lognormal(4.5, 1.3, n_users), WINDOW_DAYS))
    start_day = r_time.random(n_users) * (WINDOW_DAYS - span_days)
    t = WINDOW_START + 86_400 * (start_day[u] + span_days[u] * r_time.random(len(u)))
    timestamp = t.astype(np.int64)

    ratings = pd.DataFrame(
        {"userId": (u + 1).astype(np.int32), "movieId": movie_ids[m].astype(np.int32),
         "rating": rating.astype(np.float32), "timestamp": timestamp}
    ).sort_values(["userId", "movieId"], kind="stable", ignore_index=True)
    movies = pd.DataFrame({"movieId": movie_ids.astype(np.int32), "title": titles, "genres": genre_str})
    return ratings, movies


def simulate_movielens(
    n_users: int = 6040,
    n_movies: int = 3706,
    n_ratings: int = 1_000_000,
    seed: int = 42,
    out_dir: str | Path = "data/raw/movielens_sim",
    half_stars: bool = False,
) -> Path:
    """Write ``ratings.csv`` and ``movies.csv`` (ml-latest layout) to `out_dir`; return the folder.

    Deterministic in (n_users, n_movies, n_ratings, seed, half_stars); a ``simulator.json`` next
    to the files records those values so callers can reuse the files.
    """
    out = Path(out_dir)
    ratings, movies = simulate_ratings(n_users, n_movies, n_ratings, seed, half_stars)
    _atomic_csv(movies, out / "movies.csv")
    _write_ratings_csv(ratings, out / "ratings.csv")
    meta = {"n_users": n_users, "n_movies": n_movies, "n_ratings": n_ratings, "seed": int(seed),
            "half_stars": half_stars}
    _atomic_csv_text(json.dumps(meta, sort_keys=True), out / "simulator.json")
    return out


def _atomic_csv_text(text: str, path: Path) -> None:
    from recsys_causal.artifacts import atomic_write_text

    atomic_write_text(path, text)


def simulator_meta(params: InterferenceParams, seed: int) -> dict[str, object]:
    """What `simulate_from_params` records in ``simulator.json`` for these parameters."""
    return {"n_users": params.sim_n_users, "n_movies": params.sim_n_movies,
            "n_ratings": params.sim_n_ratings, "seed": int(seed), "half_stars": False}


def simulate_from_params(params: InterferenceParams, seed: int, out_dir: str | Path, reuse: bool = True) -> Path:
    """Simulate with the ``sim_*`` knobs of the interference section; reuse matching files."""
    out = Path(out_dir)
    meta_path = out / "simulator.json"
    if reuse and meta_path.is_file() and (out / "ratings.csv").is_file() and (out / "movies.csv").is_file():
        try:
            if json.loads(meta_path.read_text()) == simulator_meta(params, seed):
                return out
        except json.JSONDecodeError:
            pass
    return simulate_movielens(params.sim_n_users, params.sim_n_movies, params.sim_n_ratings, seed, out)
