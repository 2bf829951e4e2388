"""The interference_01 builder: artifacts, raw files, freshness, determinism and real folders."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from recsys_causal.artifact_names import IF
from recsys_causal.artifacts import RunStore, file_sha256
from recsys_causal.chapters import get_chapter
from recsys_causal.params import load_params

SMALL = [
    "seed=3", "interference.sim_n_users=80", "interference.sim_n_movies=60",
    "interference.sim_n_ratings=3000", "interference.n_slate_users=40",
]
OUTPUTS = (IF.SLATES, IF.USER_FEATURES, IF.ITEM_FEATURES, IF.DATA_SUMMARY, IF.RATING_DISTRIBUTION)


def store(run_dir: Path, extra: list[str] | None = None) -> RunStore:
    return RunStore(run_dir, load_params(None, [*SMALL, *(extra or [])]))


def test_builds_all_outputs_from_simulated_files(tmp_path: Path) -> None:
    st = store(tmp_path / "run")
    slates = st.get(IF.SLATES)
    assert (tmp_path / "run" / "raw" / "movielens" / "ratings.csv").is_file()
    assert (tmp_path / "run" / "raw" / "movielens" / "movies.csv").is_file()
    manifest = json.loads(st.manifest_path.read_text())["artifacts"]
    for name in OUTPUTS:
        assert st.path(name).is_file() and name in manifest
        assert manifest[name]["simulated"] is True
    assert len(slates) == 40 * 12
    assert slates["popularity_bucket"].cat.ordered  # survives the parquet round trip
    summary = st.get(IF.DATA_SUMMARY).set_index("metric")["value"]
    assert summary["source"] == "simulator" and summary["layout"] == "csv"
    assert int(summary["ratings"]) == 3000 and int(summary["users"]) == 80 and int(summary["slates"]) == 40
    dist = st.get(IF.RATING_DISTRIBUTION)
    assert dist["n_ratings"].sum() == 3000 and dist["share"].sum() == pytest.approx(1.0)
    assert set(OUTPUTS) <= set(get_chapter("interference_01").outputs)


def test_byte_identical_across_runs(tmp_path: Path) -> None:
    a, c = store(tmp_path / "a"), store(tmp_path / "c")
    for st in (a, c):
        st.get(IF.SLATES)
    for name in OUTPUTS:
        assert file_sha256(a.path(name)) == file_sha256(c.path(name)), name


def test_stale_when_a_slate_knob_changes(tmp_path: Path) -> None:
    st = store(tmp_path / "run")
    st.get(IF.SLATES)
    assert st.is_fresh(IF.SLATES)
    st2 = store(tmp_path / "run", ["interference.n_slate_users=20"])
    assert not st2.is_fresh(IF.SLATES)
    assert st2.get(IF.SLATES)["slate_id"].nunique() == 20
    # a knob this builder does not depend on leaves it fresh
    st3 = store(tmp_path / "run", ["interference.n_slate_users=20", "interference.click_intercept=-1.0"])
    assert st3.is_fresh(IF.USER_FEATURES)


def test_real_folder_in_dat_layout(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    movies = "\n".join(f"{j}::Film {j} (199{j % 10})::{'Drama' if j % 2 else 'Comedy|Drama'}" for j in range(1, 21))
    (folder / "movies.dat").write_bytes((movies + "\n").encode("latin-1"))
    rows = [f"{u}::{j}::{1 + (u * j) % 5}::{978300000 + u * 1000 + j}" for u in range(1, 16) for j in range(1, 15)]
    (folder / "ratings.dat").write_text("\n".join(rows) + "\n")
    st = RunStore(tmp_path / "run", load_params(None, [f"interference.data_path={folder}", "interference.n_slate_users=10"]))
    s = st.get(IF.SLATES)
    assert s["slate_id"].nunique() == 10
    summary = st.get(IF.DATA_SUMMARY).set_index("metric")["value"]
    assert summary["source"] == "real files" and summary["layout"] == "dat"
    assert not (tmp_path / "run" / "raw").exists()
    assert isinstance(s, pd.DataFrame)


def test_overview_tables_and_sentences(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from recsys_causal.interference import overview as ov

    st = store(tmp_path / "run")
    slates, items = st.get(IF.SLATES), st.get(IF.ITEM_FEATURES)
    users, summary = st.get(IF.USER_FEATURES), st.get(IF.DATA_SUMMARY)
    assert ov.top_share([10, 1, 1, 1, 1, 1, 1, 1, 1, 2]) == pytest.approx(10 / 20)
    mix = ov.genre_mix(items)
    assert mix["share_of_movies"].sum() == pytest.approx(1.0)
    assert mix["ratings"].sum() == 3000 and mix["movies"].is_monotonic_decreasing
    comp = ov.slate_composition(slates)
    assert len(comp) == 40
    assert comp["same_cluster_competitors"].sum() == slates["same_cluster_as_focal"].sum()
    pos = ov.relevance_by_position(slates)
    assert pos["slate_position_seed"].tolist() == list(range(1, 13))
    fs = ov.feature_summary(users, ov.USER_SUMMARY_COLUMNS)
    assert fs.set_index("feature").loc["n_ratings", "median"] == users["n_ratings"].median()
    text = ov.describe_dataset(summary)
    assert "3,000 ratings by 80 users" in text
    assert f"{len(comp):,} slates" in ov.describe_slate_design(slates, 5, 12)
    assert ov.dataset_overview(summary).set_index("Metric").loc["ratings", "Value"] == "3,000"
    for fig in (ov.plot_user_activity(users), ov.plot_item_popularity(items), ov.plot_genre_mix(mix),
                ov.plot_slate_design(slates, 5, 12),
                ov.plot_rating_distribution(st.get(IF.RATING_DISTRIBUTION))):
        assert fig.axes
        plt.close(fig)
    for fn in (ov.describe_user_activity, ov.describe_user_features):
        assert fn(users).endswith(".")
    for fn in (ov.describe_item_popularity, ov.describe_item_features):
        assert fn(items).endswith(".")
    assert slates["slate_id"].iloc[0] in ov.describe_example(slates)


def test_user_activity_sentence_holds_for_a_median_span_of_zero_days() -> None:
    import pandas as pd

    from recsys_causal.interference import overview as ov

    users = pd.DataFrame({"liked_rate": [0.5, 0.6, 0.7], "activity_span_days": [0, 0, 5], "active_years": [1, 1, 2]})
    text = ov.describe_user_features(users)
    assert "at least half (66.7%) rate everything on a single day" in text and "at most 0 days" not in text
    users["activity_span_days"] = [1, 1, 9]
    assert "at most 1 day," in ov.describe_user_features(users)
    # an even count whose middle values are 0 and 1: a whole day, not "0.5 days"
    users = pd.DataFrame({"liked_rate": [0.5] * 4, "activity_span_days": [0, 0, 1, 3], "active_years": [1] * 4})
    text = ov.describe_user_features(users)
    assert "at least half (50.0%) rate everything on a single day" in text and "0.5" not in text
    users["activity_span_days"] = [0, 2, 3, 3]
    assert "at most 2 days (25.0% rate everything on a single day)," in ov.describe_user_features(users)


def test_fewer_slates_than_asked_are_said_with_the_parameter() -> None:
    import pandas as pd

    from recsys_causal.interference import overview as ov

    slates = pd.DataFrame({"slate_id": [1, 1, 2, 2, 3]})
    assert "has 3 slates, one per sampled user" in ov.describe_slate_count(slates, 3, 12)
    text = ov.describe_slate_count(slates, 200, 12)
    assert "not the 200 asked for" in text and "interference.n_slate_users" in text and "3 slates" in text
