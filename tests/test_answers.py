"""The executive summary's answers: the numbers are the artifacts', the words follow the intervals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from recsys_causal.artifact_names import IF, LT, VAL
from recsys_causal.render.answers import (
    answer_md,
    interference_answer,
    longterm_answer,
)
from recsys_causal.validation.longterm_world import BOOTSTRAP_INFERENCE, aipw_label


def _run(tmp_path: Path, lt_lo: float = 1.2, if_hi: float = -84.0) -> Path:
    run = tmp_path / "run"
    (run / "processed").mkdir(parents=True)
    w = lambda df, name: df.to_csv(run / "processed" / name, index=False)  # noqa: E731
    w(pd.DataFrame({"propensity_model": ["lightgbm", "logistic"], "outcome_model": ["lightgbm", "lightgbm"],
                    "is_primary_aipw": [False, True], "aipw_ate": [9.0, 5.46], "ci_95_lower": [0.1, lt_lo],
                    "ci_95_upper": [20.0, 9.72], "mean_y0_hat": [350.0, 351.0],
                    "evalue_estimate": [1.3, 1.16], "evalue_ci": [1.0, 1.06]}), LT.AIPW_RESULTS)
    w(pd.DataFrame({"method": ["MSM", "Doubly robust AIPW", "Oracle (simulation truth)"],
                    "model": ["msm", "pair", "simulator"], "estimate": [14.0, 5.46, 3.77],
                    "ci_95_lower": [7.0, lt_lo, math.nan], "ci_95_upper": [20.6, 9.72, math.nan],
                    "role": ["estimate", "estimate", "oracle"], "primary": [False, True, False]}), LT.COMPARISON_WITH_AIPW)
    w(pd.DataFrame({"model": ["logistic", "lightgbm"], "primary": [True, False], "share_extreme": [0.014, 0.0]}),
      LT.PROPENSITY_METRICS)
    w(pd.DataFrame({"metric": ["Focal gain per 1,000 promoted slates", "Total slate change per 1,000 promoted slates",
                               "Competitor offset as share of direct gain magnitude"],
                    "value": [126.0, -182.0, -2.44], "ci_95_lower": [97.0, -280.0, -3.39],
                    "ci_95_upper": [155.0, if_hi, -1.50], "oracle_value": [150.0, -203.0, -2.35],
                    "key": ["focal_gain", "total_change", "competitor_offset_share"]}), IF.PRODUCT_SUMMARY)
    w(pd.DataFrame({"world": ["longterm", "longterm", "interference"], "scenario": ["a", "a", "interference"],
                    "estimator": [aipw_label("logistic", "lightgbm"), aipw_label("logistic", "lightgbm"),
                                  "Difference in means"],
                    "inference": ["other", BOOTSTRAP_INFERENCE, "Neyman SE (normal interval)"],
                    "estimand": ["ATE", "ATE", "total_slate"], "coverage": [0.5, 0.95, 0.9],
                    "coverage_mcse": [0.1, 0.049, 0.067], "n_replicates": [20, 20, 20]}), VAL.SUMMARY)
    (run / "manifest.json").write_text(json.dumps({"artifacts": {}}))
    return run


def test_longterm_answer_reads_the_primary_aipw_and_its_context(tmp_path: Path) -> None:
    a = longterm_answer(_run(tmp_path))
    assert a is not None
    assert (a.estimate, a.lo, a.hi, a.base) == (5.46, 1.2, 9.72, 351.0)
    assert a.relative == pytest.approx(5.46 / 351.0)
    assert a.truth == 3.77 and a.covers_truth is True and a.excludes_zero
    assert (a.coverage, a.n_replicates, a.evalue, a.share_extreme) == (0.95, 20, 1.16, 0.014)
    md = answer_md(a, simulated=True, question="Q?", not_computed="n/a")
    assert "**5.46 interactions over the next 7 days** (95% CI 1.20 to 9.72), +1.6% of the 351" in md
    assert "raises" in md and "95% of 20 simulated data sets" in md and "3.77, which the interval covers" in md


def test_an_interval_through_zero_is_never_called_an_effect(tmp_path: Path) -> None:
    run = _run(tmp_path, lt_lo=-1.0, if_hi=12.0)
    lt, inter = longterm_answer(run), interference_answer(run)
    assert lt is not None and inter is not None
    for a in (lt, inter):
        md = answer_md(a, simulated=False, question="Q?", not_computed="n/a")
        assert "includes zero" in md and "raises" not in md and "costs clicks" not in md
        assert "simulator" not in md  # real data: no truth sentence


def test_interference_answer_is_the_total_change_with_focal_gain_and_offset(tmp_path: Path) -> None:
    a = interference_answer(_run(tmp_path))
    assert a is not None and (a.estimate, a.lo, a.hi, a.truth) == (-182.0, -280.0, -84.0, -203.0)
    assert a.extra["focal"] == 126.0 and a.extra["offset"] == -2.44 and a.coverage == 0.9
    md = answer_md(a, simulated=True, question="Q?", not_computed="n/a")
    assert "**-182 clicks per 1,000 promoted slates** (95% CI -280 to -84.0)" in md
    assert "promotion costs clicks overall" in md and "-2.44 times that gain" in md


def test_missing_artifacts_give_no_answer(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert longterm_answer(tmp_path / "empty") is None and interference_answer(tmp_path / "empty") is None
    assert "not computed" in answer_md(None, True, "Q?", "not computed")


def test_front_page_labels_each_track_simulated_real_or_semi_synthetic() -> None:
    from recsys_causal.render.includes import TrackStatus, data_status_md

    def status(lt_sim: bool, if_sim: bool) -> dict[str, TrackStatus]:
        return {"longterm": TrackStatus("longterm", True, lt_sim, "fp-lt", "" if lt_sim else "data/raw/KuaiRec"),
                "interference": TrackStatus("interference", True, if_sim, "fp-if", "" if if_sim else "data/raw/ml-100k")}

    sim = data_status_md(status(True, True))
    assert "This run uses simulated data" in sim and sim.count("simulated data.**") == 2
    assert "semi-synthetic" not in sim and "simulator's own effects" in sim
    real = data_status_md(status(False, False))
    assert "This run mixes real and semi-synthetic data" in real
    assert "real KuaiRec data** from `data/raw/KuaiRec`" in real and "shows no truth rows" in real
    assert "Interference track (MovieLens): semi-synthetic data.**" in real
    assert "Real MovieLens ratings from `data/raw/ml-100k`" in real and "click model's expected clicks" in real
    only_if = status(True, False)
    only_if["longterm"] = TrackStatus("longterm", False, True, "", "")
    md = data_status_md(only_if)
    assert "This run uses semi-synthetic data: real ratings, simulated clicks" in md and "not computed" in md
    mixed = data_status_md(status(False, True))
    assert "This run mixes real and simulated data" in mixed


def test_the_semi_synthetic_answer_names_the_click_models_truth(tmp_path: Path) -> None:
    a = interference_answer(_run(tmp_path))
    md = answer_md(a, simulated=True, question="Q?", not_computed="n/a", truth_label="the click model's true value")
    assert "the click model's true value is -203" in md and "simulator" not in md


def test_front_page_names_a_logged_experiment_and_a_mapped_log(tmp_path) -> None:
    import pandas as pd

    from recsys_causal.render.includes import REAL, TrackStatus, data_source

    log = tmp_path / "events.parquet"
    pd.DataFrame({"uid": [1, 2], "video_id": [3, 4], "timestamp": [1.6e9, 1.6e9 + 9], "date": [20200901, 20200901],
                  "watch_ratio": [0.5, 1.5], "play_duration": [10, 20]}).to_parquet(log, index=False)
    lt_text, lt_logged = data_source("longterm", {"data_path": str(log), "columns": {"user": "uid"}})
    assert "events.parquet" in lt_text and "uid" in lt_text and not lt_logged
    exp = {"experiment_path": str(tmp_path / "experiment.parquet"), "experiment_columns": {"slate": "sid"}}
    if_text, if_logged = data_source("interference", exp)
    assert if_logged and "experiment.parquet" in if_text and "`sid`" in if_text
    st = TrackStatus("interference", True, False, "fp", "", source=if_text, logged_outcome=True)
    assert st.kind == REAL and not st.truth_known
    assert "a logged experiment" in st.sentence() and if_text in st.sentence()
    assert data_source("longterm", {}) == ("", False)  # the simulator: the kind sentence says it all
