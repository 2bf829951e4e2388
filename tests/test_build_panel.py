"""The panel builder: artifacts, where the simulated raw file goes, real-data path, bad folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys_causal.artifact_names import LT
from recsys_causal.artifacts import ArtifactError, RunStore
from recsys_causal.data.errors import DataError
from recsys_causal.longterm.build_panel import simulated_raw_dir
from recsys_causal.longterm.panel import PANEL_COLUMNS
from recsys_causal.params import build_params
from recsys_causal.simulate.kuairec import ORACLE_COLUMNS, simulate_kuairec

TINY = {"seed": 3, "longterm": {"sim_n_users": 25, "sim_n_days": 16}}


def test_simulated_build(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run", build_params(TINY))
    panel = store.get(LT.PANEL)
    assert list(panel.columns) == PANEL_COLUMNS and len(panel) > 0
    oracle, summary = store.get(LT.ORACLE), store.get(LT.PANEL_SUMMARY)
    assert list(oracle.columns) == list(ORACLE_COLUMNS) and len(oracle) == len(panel)
    assert (oracle["treatment"].to_numpy() == panel["treatment"].to_numpy()).all()
    s = summary.set_index("metric")["value"]
    assert s["panel_rows"] == len(panel) and s["oracle_treatment_agreement"] == 1.0
    assert s["oracle_ate"] == pytest.approx(oracle["cate"].mean())
    assert s["rows_dropped_missing_date"] >= 3 and s["simulated"] == 1.0
    raw = simulated_raw_dir(store) / "small_matrix.csv"
    assert raw.is_file() and not list(store.processed_dir.glob("*.csv.tmp"))
    assert not (store.processed_dir / "small_matrix.csv").exists()
    before = store.path(LT.PANEL).stat().st_mtime_ns
    again = RunStore(tmp_path / "run", build_params(TINY))
    assert again.is_fresh(LT.PANEL) and again.get(LT.PANEL).shape == panel.shape
    assert store.path(LT.PANEL).stat().st_mtime_ns == before  # not rebuilt


def test_real_data_path_has_no_oracle_artifact(tmp_path: Path) -> None:
    simulate_kuairec(tmp_path / "kuairec", n_users=20, n_days=15, seed=9)
    params = build_params({"seed": 3, "longterm": {"data_path": str(tmp_path / "kuairec")}})
    store = RunStore(tmp_path / "run", params)
    panel = store.get(LT.PANEL)
    assert len(panel) > 0 and store.get_optional(LT.ORACLE) is None and store.is_absent(LT.ORACLE)
    assert not store.path(LT.ORACLE).exists() and LT.ORACLE not in store.manifest()["artifacts"]
    assert store.is_fresh(LT.ORACLE)  # absent, and known to be: nothing is rebuilt
    with pytest.raises(ArtifactError, match="absent"):
        store.get(LT.ORACLE)
    s = store.get(LT.PANEL_SUMMARY).set_index("metric")["value"]
    assert s["simulated"] == 0.0 and "oracle_ate" not in s.index
    assert not simulated_raw_dir(store).exists()


def test_wrong_folder_fails_fast_with_a_data_error(tmp_path: Path) -> None:
    folder = tmp_path / "kuairec"
    folder.mkdir()
    (folder / "small_matrix.csv").write_text("user_id,video_id,play_duration\n1,2,3\n")
    store = RunStore(tmp_path / "run", build_params({"longterm": {"data_path": str(folder)}}))
    with pytest.raises(DataError, match="small_matrix.csv: missing column 'video_duration'"):
        store.get(LT.PANEL)


def test_switching_a_run_to_real_data_removes_the_simulated_oracle(tmp_path: Path) -> None:
    sim = RunStore(tmp_path / "run", build_params(TINY))
    assert len(sim.get(LT.ORACLE)) > 0 and sim.path(LT.ORACLE).is_file()
    simulate_kuairec(tmp_path / "kuairec", n_users=20, n_days=15, seed=9)
    real = RunStore(tmp_path / "run", build_params({"seed": 3, "longterm": {"data_path": str(tmp_path / "kuairec")}}))
    assert real.get_optional(LT.ORACLE) is None and not real.path(LT.ORACLE).exists()
    back = RunStore(tmp_path / "run", build_params(TINY))
    assert not back.is_absent(LT.ORACLE) and len(back.get(LT.ORACLE)) == len(back.get(LT.PANEL))
    assert "absent" not in back.manifest() or LT.ORACLE not in back.manifest()["absent"]


def test_a_renamed_parquet_log_builds_the_native_panel_through_the_builder(tmp_path: Path) -> None:
    """`--set longterm.data_path=LOG.parquet --set longterm.columns.user=uid ...` gives the same
    artifacts as the KuaiRec folder the log was written from, on every engine."""
    import pandas as pd

    from recsys_causal.params import load_params

    simulate_kuairec(tmp_path / "kuairec", n_users=40, n_days=18, seed=4)
    df = pd.read_csv(tmp_path / "kuairec" / "small_matrix.csv")
    df.rename(columns={"user_id": "uid", "watch_ratio": "eng"}).to_parquet(tmp_path / "log.parquet", index=False)
    native = load_params(None, [f"longterm.data_path={tmp_path / 'kuairec'}"])
    tables = {}
    for name, overrides in {
        "native": [],
        "log": [f"longterm.data_path={tmp_path / 'log.parquet'}", "longterm.columns.user=uid",
                "longterm.columns.engagement=eng"],
        "native-pandas": ["longterm.engine=pandas"],
    }.items():
        params = load_params(None, [f"longterm.data_path={tmp_path / 'kuairec'}", *overrides])
        store = RunStore(tmp_path / name, params)
        tables[name] = (store.get(LT.PANEL), store.get(LT.PANEL_SUMMARY))
    assert native.longterm.engine == "duckdb"
    pd.testing.assert_frame_equal(tables["log"][0], tables["native"][0], check_exact=True)
    pd.testing.assert_frame_equal(tables["log"][1], tables["native"][1], check_exact=True)
    pd.testing.assert_frame_equal(tables["native-pandas"][0], tables["native"][0], rtol=1e-12)
    pd.testing.assert_frame_equal(tables["native-pandas"][1], tables["native"][1], rtol=1e-12)
