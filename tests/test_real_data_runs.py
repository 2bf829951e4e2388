"""Both tracks on files read as real data (the simulators' files, in the real layouts): no all-NaN
column in any report table, no empty oracle artifact, and the front page's label per track."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_causal.artifacts import RunStore
from recsys_causal.chapters import CHAPTERS
from recsys_causal.params import load_params
from recsys_causal.render.includes import data_status_md, track_status

ROOT = Path(__file__).resolve().parents[1]
TEST = ROOT / "params" / "test.yaml"


def _outputs(track: str, upto: str) -> list[str]:
    names: list[str] = []
    for ch in CHAPTERS:
        if ch.track == track:
            names += list(ch.outputs)
        if ch.id == upto:
            break
    return names


def _build(store: RunStore, names: list[str]) -> None:
    for name in names:
        store.get_optional(name)


def _problems(run_dir: Path) -> list[str]:
    """All-NaN columns of any CSV table, and empty oracle artifacts, in the run directory."""
    bad = []
    for path in sorted(run_dir.rglob("*.csv")):
        if "raw" in path.relative_to(run_dir).parts:
            continue
        df = pd.read_csv(path)
        bad += [f"{path.name}: column '{c}' is all NaN" for c in df.columns if len(df) and df[c].isna().all()]
    for path in sorted((run_dir / "processed").glob("*oracle*")):
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        if df.empty:
            bad.append(f"{path.name}: empty oracle artifact")
    return bad


def _write_100k(src: Path, dest: Path) -> Path:
    """The simulator's ml-latest files rewritten in the ml-100k layout (u.data, u.item)."""
    from recsys_causal.data.movielens import GENRES_100K

    dest.mkdir(parents=True)
    ratings = pd.read_csv(src / "ratings.csv")
    assert np.allclose(ratings["rating"], ratings["rating"].round())  # ml-100k has whole stars
    ratings.astype({"rating": int}).to_csv(dest / "u.data", sep="\t", header=False, index=False)
    movies = pd.read_csv(src / "movies.csv")
    alias = {"Children": "Children's"}
    lines = []
    for mid, title, genres in movies[["movieId", "title", "genres"]].itertuples(index=False):
        names = {alias.get(g, g) for g in str(genres).split("|")}
        flags = "|".join("1" if g in names else "0" for g in GENRES_100K)
        lines.append(f"{mid}|{title}|01-Jan-1995||http://x|{flags}")
    (dest / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return dest


@pytest.mark.slow
def test_longterm_track_on_kuairec_files_read_as_real(tmp_path: Path) -> None:
    from recsys_causal.artifact_names import LT
    from recsys_causal.simulate.kuairec import simulate_kuairec

    folder = tmp_path / "KuaiRec"
    simulate_kuairec(folder, n_users=60, n_days=20, seed=7)
    store = RunStore(tmp_path / "run", load_params(TEST, [f"longterm.data_path={folder}"]))
    _build(store, _outputs("longterm", "longterm_05"))
    assert store.get_optional(LT.ORACLE) is None and not store.path(LT.ORACLE).exists()
    assert not _problems(store.run_dir), _problems(store.run_dir)
    tests = store.get("kuairec_long_term_effect_calibration_tests.csv")
    assert not [c for c in tests.columns if "oracle" in c] and tests["estimate"].notna().all()
    metrics = store.get("kuairec_long_term_effect_model_metrics.csv")
    assert not [c for c in metrics.columns if "oracle" in c]
    front = data_status_md(track_status(store.run_dir))
    assert "Long-term track (KuaiRec): real KuaiRec data** from" in front and "no truth rows" in front
    assert "Interference track (MovieLens)**: not computed" in front


@pytest.mark.slow
def test_interference_track_on_ml100k_files_is_semi_synthetic(tmp_path: Path) -> None:
    from recsys_causal.interference import overview as ov
    from recsys_causal.simulate.movielens import simulate_movielens

    p = load_params(TEST)
    sim = simulate_movielens(p.interference.sim_n_users, p.interference.sim_n_movies, p.interference.sim_n_ratings,
                             seed=7, out_dir=tmp_path / "sim")
    folder = _write_100k(Path(sim), tmp_path / "ml-100k")
    store = RunStore(tmp_path / "run", load_params(TEST, [f"interference.data_path={folder}"]))
    _build(store, _outputs("interference", "interference_03"))
    summary = store.get("movielens_interference_data_summary.csv").set_index("metric")["value"]
    assert summary["layout"] == "100k"
    assert not _problems(store.run_dir), _problems(store.run_dir)
    # clicks come from the click model, so the truth stays beside every estimate
    tests = store.get("movielens_interference_advanced_cate_calibration_tests.csv")
    assert tests["oracle"].notna().all()
    front = data_status_md(track_status(store.run_dir))
    assert "Interference track (MovieLens): semi-synthetic data.**" in front
    assert "click model's expected clicks" in front and "This run uses semi-synthetic data" in front
    text = ov.describe_user_features(store.get("movielens_interference_user_features.parquet"))
    assert "at most 0 day" not in text and "0.5 day" not in text


def test_run_info_records_only_the_tracks_that_ran(tmp_path: Path) -> None:
    import json

    from recsys_causal.pipeline import ATTEMPT_DIR, write_run_info

    params = load_params(TEST, ["interference.data_path=data/raw/ml-100k"])
    write_run_info(tmp_path, params, ROOT, ["run", "--only", "interference"], ["interference"])
    info = json.loads((tmp_path / ATTEMPT_DIR / "run_info.json").read_text())
    assert info["data_sources"] == {"interference": "data/raw/ml-100k"}
    write_run_info(tmp_path, params, ROOT, ["run", "--only", "validation_01"], ["validation"])
    assert json.loads((tmp_path / ATTEMPT_DIR / "run_info.json").read_text())["data_sources"] == {}
