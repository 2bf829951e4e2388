"""MovieLens-format simulator: shape, skew, rating scale, determinism, and that the loader reads it."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from recsys_causal.data.movielens import load_movielens
from recsys_causal.params import InterferenceParams
from recsys_causal.simulate.movielens import (
    GENRES,
    simulate_from_params,
    simulate_movielens,
    simulate_ratings,
)

N_USERS, N_MOVIES, N_RATINGS = 400, 300, 30_000


@pytest.fixture(scope="module")
def sim_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate_movielens(N_USERS, N_MOVIES, N_RATINGS, seed=3, out_dir=tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="module")
def sim(sim_folder: Path):
    return load_movielens(sim_folder)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_files_in_ml_latest_layout(sim_folder: Path) -> None:
    assert (sim_folder / "ratings.csv").read_text().splitlines()[0] == "userId,movieId,rating,timestamp"
    assert (sim_folder / "movies.csv").read_text().splitlines()[0] == "movieId,title,genres"
    assert re.fullmatch(r"\d+,\d+,\d\.\d,\d+", (sim_folder / "ratings.csv").read_text().splitlines()[1])


def test_shape_and_scale(sim) -> None:
    r, m = sim.ratings, sim.movies
    assert sim.layout == "csv"
    assert len(r) == N_RATINGS
    assert r["userId"].nunique() == N_USERS
    assert len(m) == N_MOVIES
    assert not r.duplicated(["userId", "movieId"]).any()
    assert r.groupby("userId").size().min() >= 20
    assert set(np.unique(r["rating"])) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    shares = r["rating"].value_counts(normalize=True)
    assert shares.idxmax() == 4.0 and abs(shares[4.0] - 0.349) < 0.01
    assert r["timestamp"].min() >= 956_703_932 and r["timestamp"].max() < 956_703_932 + 1041 * 86_400


def test_genres_and_titles(sim) -> None:
    m = sim.movies
    tokens = set("|".join(m["genres"]).split("|"))
    assert tokens <= set(GENRES)
    top2 = m["primary_genre"].value_counts().index[:2].tolist()
    assert set(top2) == {"Drama", "Comedy"}
    assert (m["n_genres"] > 1).mean() > 0.3
    # genres listed alphabetically, primary first
    assert all(g.split("|") == sorted(g.split("|"), key=GENRES.index) for g in m["genres"])
    assert m["title"].str.fullmatch(r".+ \(\d{4}\)").all()
    assert m["title"].str.contains(",").any()  # quoted commas survive the round trip


def test_popularity_and_activity_skew(sim) -> None:
    r = sim.ratings
    items = np.sort(r.groupby("movieId").size().to_numpy())[::-1]
    assert items[: len(items) // 10].sum() / items.sum() > 0.25
    users = r.groupby("userId").size()
    assert users.max() > 4 * users.median()
    assert users.mean() > 1.1 * users.median()


def test_ratings_depend_on_item_quality(sim) -> None:
    # item means differ far more than sampling noise alone would allow
    g = sim.ratings.groupby("movieId")["rating"].agg(["mean", "count"])
    g = g[g["count"] >= 50]
    assert g["mean"].std() > 2 * (sim.ratings["rating"].std() / np.sqrt(g["count"])).mean()


def test_deterministic(tmp_path: Path, sim_folder: Path) -> None:
    again = simulate_movielens(N_USERS, N_MOVIES, N_RATINGS, seed=3, out_dir=tmp_path / "again")
    for f in ("ratings.csv", "movies.csv"):
        assert _sha(again / f) == _sha(sim_folder / f)
    r2, _ = simulate_ratings(N_USERS, N_MOVIES, N_RATINGS, seed=4)
    assert not r2["rating"].equals(load_movielens(sim_folder).ratings["rating"])


def test_half_stars() -> None:
    r, _ = simulate_ratings(100, 80, 3000, seed=1, half_stars=True)
    assert set(np.unique(r["rating"])) == set(np.arange(1, 11) / 2)


def test_too_many_ratings_rejected() -> None:
    with pytest.raises(ValueError, match="n_ratings"):
        simulate_ratings(10, 10, 1000, seed=1)


def test_simulate_from_params_reuses_files(tmp_path: Path) -> None:
    p = InterferenceParams(sim_n_users=60, sim_n_movies=50, sim_n_ratings=1500)
    out = simulate_from_params(p, seed=1, out_dir=tmp_path)
    meta = json.loads((out / "simulator.json").read_text())
    assert meta["n_users"] == 60 and meta["seed"] == 1
    mtime = (out / "ratings.csv").stat().st_mtime_ns
    simulate_from_params(p, seed=1, out_dir=tmp_path)
    assert (out / "ratings.csv").stat().st_mtime_ns == mtime
    simulate_from_params(p, seed=2, out_dir=tmp_path)
    assert json.loads((out / "simulator.json").read_text())["seed"] == 2


def test_pick_movies_draws_in_proportion_to_weights() -> None:
    from recsys_causal.simulate.movielens import _pick_movies

    rng = np.random.default_rng(0)
    log_pop = np.log(np.array([8.0, 4.0, 2.0, 1.0, 1.0]))
    primary = np.zeros(5, dtype=np.int64)
    aff = np.zeros((20_000, 1))
    # light users (1 movie each): the pick is a single weighted draw
    u, m = _pick_movies(rng, np.ones(20_000, dtype=np.int64), log_pop, aff, primary)
    share = np.bincount(m, minlength=5) / len(m)
    assert np.allclose(share, np.exp(log_pop) / np.exp(log_pop).sum(), atol=0.015)
    # every user gets exactly their count of distinct movies, in both regimes
    counts = np.r_[np.full(50, 2), np.full(50, 4)]
    u, m = _pick_movies(rng, counts, log_pop, np.zeros((100, 1)), primary)
    assert np.array_equal(np.bincount(u, minlength=100), counts)
    assert len(np.unique(u * 5 + m)) == len(u)
