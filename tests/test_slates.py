"""User/item features on a hand-computed example, and the slate construction's guarantees."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_causal.data.movielens import load_movielens
from recsys_causal.interference.slates import (
    POPULARITY_LABELS,
    SLATE_COLUMNS,
    SLATE_DTYPES,
    build_slates,
    item_features,
    make_slate_tables,
    popularity_bucket,
    user_features,
)
from recsys_causal.simulate.movielens import simulate_movielens

Y2000, Y2001 = 946_684_800, 978_307_200  # 2000-01-01, 2001-01-01 UTC


@pytest.fixture
def tiny() -> tuple[pd.DataFrame, pd.DataFrame]:
    movies = pd.DataFrame({
        "movieId": np.array([1, 2, 3, 4], dtype=np.int32),
        "title": ["A (1990)", "B (1991)", "C (1992)", "D (1993)"],
        "genres": ["Drama|Romance", "Comedy", "Drama", "Action|Drama"],
    })
    ratings = pd.DataFrame({
        "userId": np.array([10, 10, 10, 20, 20], dtype=np.int32),
        "movieId": np.array([1, 2, 4, 1, 3], dtype=np.int32),
        "rating": np.array([5.0, 3.0, 4.0, 2.0, 4.5], dtype=np.float32),
        "timestamp": np.array([Y2000, Y2000 + 10 * 86_400, Y2001, Y2001, Y2001 + 3600], dtype=np.int64),
    })
    return ratings, movies


def test_user_features_by_hand(tiny) -> None:
    uf = user_features(*tiny, liked_threshold=4.0).set_index("userId")
    assert uf.loc[10, "n_ratings"] == 3 and uf.loc[20, "n_ratings"] == 2
    assert uf.loc[10, "mean_rating"] == pytest.approx(4.0)
    assert uf.loc[20, "mean_rating"] == pytest.approx(3.25)
    assert uf.loc[10, "liked_rate"] == pytest.approx(2 / 3)
    assert uf.loc[20, "liked_rate"] == pytest.approx(0.5)
    assert uf.loc[10, "active_years"] == 2 and uf.loc[20, "active_years"] == 1
    assert uf.loc[10, "unique_primary_genres"] == 3  # Drama, Comedy, Action
    assert uf.loc[20, "unique_primary_genres"] == 1
    assert uf.loc[10, "activity_span_days"] == 366 and uf.loc[20, "activity_span_days"] == 0


def test_item_features_by_hand(tiny) -> None:
    itf = item_features(*tiny, liked_threshold=4.0).set_index("movieId")
    assert itf["sample_rating_count"].tolist() == [2, 1, 1, 1]
    assert itf["sample_mean_rating"].tolist() == pytest.approx([3.5, 3.0, 4.5, 4.0])
    assert itf["sample_liked_rate"].tolist() == pytest.approx([0.5, 0.0, 1.0, 1.0])
    s3 = math.sqrt(3)
    assert itf["log_item_popularity_z"].tolist() == pytest.approx([s3, -1 / s3, -1 / s3, -1 / s3])
    assert itf["spillover_cluster"].tolist() == ["Drama", "Comedy", "Drama", "Action"]
    assert itf["popularity_bucket"].astype(str).tolist() == ["very_high", "low", "low", "low"]


def test_popularity_bucket_ordered_and_ties_share_a_bucket() -> None:
    b = popularity_bucket(np.array([1, 1, 1, 1, 2, 3, 5, 8, 13, 100]))
    assert b.ordered and list(b.categories) == list(POPULARITY_LABELS)
    assert len(set(b[:4])) == 1
    assert b[0] < b[-1]
    assert list(pd.Series(b).sort_values().astype(str)) == sorted(pd.Series(b).astype(str), key=POPULARITY_LABELS.index)


@pytest.fixture(scope="module")
def sim_data(tmp_path_factory: pytest.TempPathFactory):
    folder = simulate_movielens(700, 300, 40_000, seed=11, out_dir=tmp_path_factory.mktemp("sim"))
    return load_movielens(folder)


@pytest.fixture(scope="module")
def tables(sim_data):
    return make_slate_tables(sim_data.ratings, sim_data.movies, n_slate_users=600, seed=5)


def test_schema(tables) -> None:
    s = tables.slates
    assert tuple(s.columns) == SLATE_COLUMNS
    for col, dtype in SLATE_DTYPES.items():
        assert str(s[col].dtype) == dtype, col
    assert s["popularity_bucket"].cat.ordered
    assert len(s) == 600 * 12 and s["slate_id"].nunique() == 600


def test_slates_are_distinct_rated_items(tables, sim_data) -> None:
    s = tables.slates
    g = s.groupby("slate_id")
    assert (g["movieId"].nunique() == 12).all()
    assert (g["userId"].nunique() == 1).all()
    assert (s["slate_id"] == "user_" + s["userId"].astype(str) + "_seed").all()
    assert sorted(s["slate_position_seed"].unique()) == list(range(1, 13))
    merged = s.merge(sim_data.ratings, on=["userId", "movieId"], how="left")
    assert merged["rating"].notna().all()
    assert np.array_equal(merged["rating"].to_numpy(np.float64), s["observed_relevance"].to_numpy())
    assert np.array_equal(s["high_relevance"].to_numpy(), (s["observed_relevance"] >= 4.0).to_numpy().astype(np.int8))
    assert np.allclose(s["baseline_visibility"], 1 / np.log2(s["slate_position_seed"] + 1))
    # seed order follows the pre-treatment score
    assert (s.groupby("slate_id")["slate_score"].apply(lambda x: x.is_monotonic_decreasing)).all()


def test_focal_item(tables) -> None:
    s = tables.slates
    focal = s[s["is_focal_item"].eq(1)]
    assert len(focal) == 600 and focal["slate_id"].is_unique
    assert (focal["slate_position_seed"] == focal["focal_seed_position"]).all()
    assert focal["focal_seed_position"].between(5, 12).all()
    assert (focal["movieId"] == focal["focal_movieId"]).all()
    assert (focal["spillover_cluster"] == focal["focal_spillover_cluster"]).all()
    assert (s.groupby("slate_id")["focal_movieId"].nunique() == 1).all()
    same = (s["spillover_cluster"] == s["focal_spillover_cluster"]) & s["is_focal_item"].eq(0)
    assert np.array_equal(s["same_cluster_as_focal"].to_numpy(), same.to_numpy().astype(np.int8))
    share = focal["focal_seed_position"].value_counts(normalize=True).reindex(range(5, 13), fill_value=0)
    assert share.between(0.125 - 0.06, 0.125 + 0.06).all()  # uniform-ish over 600 slates


def test_eligibility_and_sampling(sim_data) -> None:
    r = sim_data.ratings
    few = r.groupby("userId").size()
    few_users = few[few < 12].index
    extra = pd.DataFrame({"userId": np.array([99_999] * 5, dtype=np.int32),
                          "movieId": r["movieId"].iloc[:5].to_numpy(), "rating": np.float32(4.0),
                          "timestamp": np.int64(1_000_000_000)})
    r2 = pd.concat([r, extra], ignore_index=True)
    t = make_slate_tables(r2, sim_data.movies, n_slate_users=10_000, seed=1)
    assert 99_999 not in set(t.slates["userId"])
    assert set(few_users).isdisjoint(t.slates["userId"])
    assert t.slates["slate_id"].nunique() == (r2.groupby("userId").size() >= 12).sum()


def test_deterministic_and_row_order_free(tables, sim_data) -> None:
    again = make_slate_tables(sim_data.ratings, sim_data.movies, n_slate_users=600, seed=5)
    pd.testing.assert_frame_equal(tables.slates, again.slates)
    shuffled = sim_data.ratings.sample(frac=1.0, random_state=0).reset_index(drop=True)
    s2 = make_slate_tables(shuffled, sim_data.movies, n_slate_users=600, seed=5).slates
    pd.testing.assert_frame_equal(tables.slates, s2)
    other = make_slate_tables(sim_data.ratings, sim_data.movies, n_slate_users=600, seed=6).slates
    assert not other["movieId"].equals(tables.slates["movieId"])


def test_position_does_not_use_the_users_rating(tables, sim_data) -> None:
    # Reversing every rating value keeps items' counts (hence the score) unchanged, so slates,
    # positions and focal items must be identical; only relevance changes.
    flipped = sim_data.ratings.assign(rating=(6.0 - sim_data.ratings["rating"]).astype(np.float32))
    s2 = make_slate_tables(flipped, sim_data.movies, n_slate_users=600, seed=5).slates
    cols = ["slate_id", "movieId", "slate_position_seed", "is_focal_item"]
    pd.testing.assert_frame_equal(tables.slates[cols], s2[cols])
    assert np.allclose(s2["observed_relevance"], 6.0 - tables.slates["observed_relevance"])


def test_bad_focal_range(tables) -> None:
    with pytest.raises(ValueError, match="focal_min_position"):
        build_slates(pd.DataFrame(), tables.user_features, tables.item_features, focal_min_position=8,
                     focal_max_position=6)


def test_fast_at_simulation_study_scale(sim_data) -> None:
    import time

    t0 = time.perf_counter()
    for seed in range(5):
        make_slate_tables(sim_data.ratings, sim_data.movies, n_slate_users=600, seed=seed)
    assert (time.perf_counter() - t0) / 5 < 0.5


def test_simulated_folder_is_a_path(tmp_path: Path) -> None:
    # the build path: files -> loader -> tables, at the test profile's smallest scale
    folder = simulate_movielens(60, 50, 1500, seed=2, out_dir=tmp_path)
    d = load_movielens(folder)
    t = make_slate_tables(d.ratings, d.movies, n_slate_users=20, seed=2)
    assert t.slates["slate_id"].nunique() == 20
