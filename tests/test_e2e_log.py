"""The first long-term chapter through the command line on a renamed Parquet log and on the
KuaiRec folder it was written from: the same panel and summary artifacts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recsys_causal.artifact_names import LT
from recsys_causal.simulate.kuairec import simulate_kuairec

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


def test_longterm_01_on_a_renamed_parquet_log_equals_the_native_run(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RECSYS_CAUSAL_PARAMS"}
    env["RECSYS_CAUSAL_RUNS_DIR"] = str(tmp_path / "runs")

    def run(*args: str) -> int:
        cmd = [sys.executable, "-m", "recsys_causal.cli", *args]
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.returncode

    simulate_kuairec(tmp_path / "kuairec", n_users=60, n_days=20, seed=7)
    df = pd.read_csv(tmp_path / "kuairec" / "small_matrix.csv").drop(columns=["time"])
    df.rename(columns={"user_id": "uid", "video_id": "vid", "watch_ratio": "eng"}).to_parquet(
        tmp_path / "log.parquet", index=False)
    common = ["run", "--params", str(ROOT / "params" / "test.yaml"), "--only", "longterm_01", "--no-render"]
    run(*common, "--run-name", "native", "--set", f"longterm.data_path={tmp_path / 'kuairec'}")
    run(*common, "--run-name", "log", "--set", f"longterm.data_path={tmp_path / 'log.parquet'}",
        "--set", "longterm.columns.user=uid", "--set", "longterm.columns.item=vid",
        "--set", "longterm.columns.engagement=eng")
    for name in (LT.PANEL, LT.PANEL_SUMMARY):
        read = pd.read_parquet if name.endswith(".parquet") else pd.read_csv
        a, b = (read(tmp_path / "runs" / r / "processed" / name) for r in ("native", "log"))
        pd.testing.assert_frame_equal(a, b, check_exact=True)
