"""A logged slate experiment: the simulator's experiment written as a log (renamed columns) and read
back gives the in-memory path's estimates, without any oracle column or row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_causal.artifact_names import IF
from recsys_causal.artifacts import RunStore
from recsys_causal.data.errors import DataError
from recsys_causal.interference.experiment_log import (
    assignment_probability,
    check_experiment_log,
    experiment_log_frame,
    load_experiment_log,
    log_exposure,
    read_experiment_log,
    write_experiment_log,
)
from recsys_causal.interference.experiment_source import (
    describe_assignment_probability,
    describe_experiment_source,
)
from recsys_causal.interference.policy import ORACLE_TOP_25
from recsys_causal.params import ExperimentArms, ExperimentColumns, load_params

ROOT = Path(__file__).resolve().parents[1]
TEST = ROOT / "params" / "test.yaml"
COLUMNS = ExperimentColumns(slate="sid", user="uid", item="mid", position="pos", arm="group", focal="focal_flag",
                            outcome="clicked")
ARMS = ExperimentArms(promoted=1, control=0)
ORACLE_WORDS = ("oracle", "true_", "expected_clicks", "expected_total", "known_probability_lift", "known_lift", "p_no_promotion", "p_if_promoted",
                "click_probability")


def log_overrides(path: Path, probability: str = "0.5") -> list[str]:
    """The `--set` overrides that point the track at a log written with `COLUMNS` and `ARMS`."""
    sets = [f"interference.experiment_path={path}", f"interference.experiment_probability={probability}"]
    sets += [f"interference.experiment_columns.{k}={v}" for k, v in COLUMNS.model_dump().items()]
    sets += [f"interference.experiment_arms.{k}={v}" for k, v in ARMS.model_dump().items()]
    return sets


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The native run, the simulator's experiment written as Parquet and CSV logs, and the log run."""
    tmp = tmp_path_factory.mktemp("explog")
    native = RunStore(tmp / "native", load_params(TEST))
    exposure = native.get(IF.EXPOSURE)
    parquet = write_experiment_log(exposure, tmp / "experiment.parquet", COLUMNS, ARMS)
    csv = write_experiment_log(exposure, tmp / "experiment.csv", COLUMNS, ARMS)
    logged = RunStore(tmp / "logged", load_params(TEST, log_overrides(parquet)))
    return {"native": native, "logged": logged, "parquet": parquet, "csv": csv, "tmp": tmp}


def _observed(df: pd.DataFrame) -> pd.DataFrame:
    return df[[c for c in df.columns if not any(w in c for w in ORACLE_WORDS)]]


def test_the_log_has_the_mapped_names_and_one_row_per_item(runs) -> None:
    frame = experiment_log_frame(runs["native"].get(IF.EXPOSURE), COLUMNS, ARMS)
    assert list(frame.columns) == ["sid", "uid", "mid", "pos", "group", "focal_flag", "clicked"]
    assert set(frame["group"]) == {0, 1}
    assert frame.groupby("sid")["focal_flag"].sum().eq(1).all()


def test_a_log_gives_the_same_effects_as_the_simulated_experiment(runs) -> None:
    native, logged = runs["native"], runs["logged"]
    for name in (IF.OBSERVED_EFFECTS, IF.PRODUCT_SUMMARY):
        a, b = native.get(name), logged.get(name)
        assert list(b.columns) == list(_observed(a).columns), name  # no oracle column, not a NaN one
        pd.testing.assert_frame_equal(_observed(a), b, check_exact=False, rtol=1e-12, atol=1e-12)
    assert native.get(IF.OBSERVED_EFFECTS)["oracle_value"].notna().all()


def test_the_chapters_tables_and_sentences_read_a_log_without_an_oracle(runs) -> None:
    from recsys_causal.interference import randomized as rz
    from recsys_causal.interference import randomized_text as rzt
    from recsys_causal.interference import summary as S
    from recsys_causal.interference.exposure import assignment_balance, item_lift_by_exposure

    logged = runs["logged"]
    effects, product = logged.get(IF.OBSERVED_EFFECTS), logged.get(IF.PRODUCT_SUMMARY)
    for text in (rzt.describe_effects(effects), rzt.describe_product(product), rzt.describe_waterfall(product),
                 S.describe_decomposition(S.decomposition_table(effects))):
        assert "true" not in text and "simulator" not in text, text
    assert "oracle_value" not in rz.naive_vs_slate(effects) and "oracle_value" not in S.decomposition_table(effects)
    balance = assignment_balance(logged.get(IF.EXPOSURE), logged.get(IF.COMPONENT))
    assert not balance["covariate"].str.contains("oracle").any() and len(balance) == 6
    lift = item_lift_by_exposure(logged.get(IF.EXPOSURE))
    assert set(lift["basis"]) == {"randomized estimate"}
    focal = lift.set_index("group").loc["Focal item", "lift_per_slate"]
    assert focal == pytest.approx(effects.set_index("component").loc["direct_focal", "estimate"])


def test_a_log_gives_the_same_component_table_without_its_oracle_columns(runs) -> None:
    a, b = runs["native"].get(IF.COMPONENT), runs["logged"].get(IF.COMPONENT)
    assert list(b.columns) == list(_observed(a).columns)
    pd.testing.assert_frame_equal(_observed(a), b, check_dtype=False)
    ex = runs["logged"].get(IF.EXPOSURE)
    assert not [c for c in ex.columns if any(w in c for w in ORACLE_WORDS)]


def test_a_log_gives_the_same_aipw_policy_and_heterogeneity_tables(runs) -> None:
    native, logged = runs["native"], runs["logged"]
    aipw_a, aipw_b = native.get(IF.AIPW_ESTIMATES), logged.get(IF.AIPW_ESTIMATES)
    assert not aipw_b["estimator"].str.startswith("Oracle").any() and "covers_oracle" not in aipw_b
    keep = ~aipw_a["estimator"].str.startswith("Oracle")
    pd.testing.assert_frame_equal(_observed(aipw_a[keep]).reset_index(drop=True), aipw_b,
                                  check_exact=False, rtol=1e-10, atol=1e-12)
    for name in (IF.POLICY_TARGETING, IF.HETEROGENEITY, IF.COUNTERFACTUAL_SUMMARY, IF.MODEL_METRICS):
        a, b = native.get(name), logged.get(name)
        if name == IF.POLICY_TARGETING:  # the oracle's own rule (top 25% by true lift) is absent too
            assert list(a["policy"].iloc[:-1]) == list(b["policy"]) and ORACLE_TOP_25 == a["policy"].iloc[-1]
            a = a.iloc[:-1]
        assert not [c for c in b.columns if any(w in c for w in ORACLE_WORDS)], name
        assert list(b.columns) == list(_observed(a).columns), name
        pd.testing.assert_frame_equal(_observed(a), b, check_exact=False, rtol=1e-10, atol=1e-12, check_dtype=False)


def test_csv_and_parquet_logs_give_the_same_exposure_table(runs) -> None:
    logged = runs["logged"]
    p = logged.params.interference
    from recsys_causal.interference.build_slates import load_interference_data

    ratings = load_interference_data(logged).ratings
    uf, itf = logged.get(IF.USER_FEATURES), logged.get(IF.ITEM_FEATURES)
    a = log_exposure(load_experiment_log(p, runs["parquet"]), uf, itf, ratings, p)
    b = log_exposure(load_experiment_log(p, runs["csv"]), uf, itf, ratings, p)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    pd.testing.assert_frame_equal(a, logged.get(IF.EXPOSURE), check_dtype=False)


def test_the_randomization_probability_is_known_or_estimated(runs) -> None:
    component = runs["logged"].get(IF.COMPONENT)
    share = float(component["promotion_applied"].mean())
    est = load_params(TEST, log_overrides(runs["parquet"], "estimate")).interference
    known = load_params(TEST, log_overrides(runs["parquet"], "0.4")).interference
    assert assignment_probability(est, component) == pytest.approx(share)
    assert assignment_probability(known, component) == 0.4
    assert assignment_probability(load_params(TEST).interference, component) == 0.5
    assert "estimated" in describe_assignment_probability(est, component)
    assert "0.4" in describe_assignment_probability(known, component)
    assert "simulat" in describe_assignment_probability(load_params(TEST).interference, component)


def test_the_source_sentence_names_the_log_and_its_mapping(runs) -> None:
    p = runs["logged"].params.interference
    text = describe_experiment_source(p)
    assert "experiment.parquet" in text and "slate = `sid`" in text and "outcome = `clicked`" in text
    assert "simulat" in describe_experiment_source(load_params(TEST).interference)


def test_a_rating_outcome_is_kept_as_it_is(runs, tmp_path) -> None:
    frame = experiment_log_frame(runs["native"].get(IF.EXPOSURE), COLUMNS, ARMS)
    frame["clicked"] = frame["clicked"] * 0.5 + 0.25
    frame.to_parquet(tmp_path / "ratings.parquet", index=False)
    p = load_params(TEST, log_overrides(tmp_path / "ratings.parquet")).interference
    log = load_experiment_log(p)
    assert np.allclose(np.sort(log["outcome"].unique()), [0.25, 0.75])


BAD = [
    (lambda f: f.rename(columns={"sid": "slate"}), "no column 'sid' (interference.experiment_columns.slate)"),
    (lambda f: f.assign(group=np.where(f.index == 3, 2, f["group"])), "column 'group' (interference.experiment_columns.arm) has '2'"),
    (lambda f: f.assign(group=np.where(f.index == 0, 1 - f["group"], f["group"])), "has rows in both arms"),
    (lambda f: f.assign(focal_flag=np.where(f.index < 12, 0, f["focal_flag"])), "has 0 focal items"),
    (lambda f: f.assign(pos=np.where(f.index == 5, 13, f["pos"])), "position 13 in slate"),
    (lambda f: f.assign(pos=np.where(f.index == 5, 0, f["pos"])), "expected 1 to 12"),
    (lambda f: f.assign(mid=np.where(f.index == 1, f["mid"].iloc[0], f["mid"])), "lists an item twice"),
    (lambda f: f.assign(clicked=np.where(f.index == 2, np.nan, f["clicked"])), "column 'clicked'"),
]


@pytest.mark.parametrize(("edit", "needle"), BAD, ids=[n[:30] for _, n in BAD])
def test_a_bad_log_is_one_data_error_naming_file_and_column(edit, needle, runs, tmp_path) -> None:
    frame = edit(experiment_log_frame(runs["native"].get(IF.EXPOSURE), COLUMNS, ARMS))
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path, index=False)
    p = load_params(TEST, log_overrides(path)).interference
    with pytest.raises(DataError) as err:
        check_experiment_log(read_experiment_log(path, p.experiment_columns), path, p)
    msg = str(err.value)
    assert needle in msg and str(path) in msg and "\n" not in msg, msg


def test_an_edited_log_makes_the_experiment_stale(runs, tmp_path) -> None:
    import os

    frame = experiment_log_frame(runs["native"].get(IF.EXPOSURE), COLUMNS, ARMS)
    path = tmp_path / "edited.parquet"
    frame.to_parquet(path, index=False)
    params = load_params(TEST, log_overrides(path))
    before = RunStore(tmp_path / "run", params).expected_key(IF.EXPOSURE)
    frame.assign(clicked=1 - frame["clicked"]).to_parquet(path, index=False)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    assert RunStore(tmp_path / "run", params).expected_key(IF.EXPOSURE) != before
    assert RunStore(tmp_path / "run", load_params(TEST)).expected_key(IF.EXPOSURE) != before


def test_an_unbalanced_log_with_an_estimated_probability_weights_by_the_observed_share(runs, tmp_path) -> None:
    """With π = the share of promoted slates, Horvitz–Thompson equals the difference in means."""
    frame = experiment_log_frame(runs["native"].get(IF.EXPOSURE), COLUMNS, ARMS)
    dropped = frame.loc[frame["group"].eq(1), "sid"].drop_duplicates().iloc[:30]
    path = tmp_path / "unbalanced.csv"
    frame[~frame["sid"].isin(dropped)].to_csv(path, index=False)
    store = RunStore(tmp_path / "run", load_params(TEST, log_overrides(path, "estimate")))
    component = store.get(IF.COMPONENT)
    assert assignment_probability(store.params.interference, component) == pytest.approx(
        component["promotion_applied"].mean()) and component["promotion_applied"].mean() < 0.45
    aipw = store.get(IF.AIPW_ESTIMATES).set_index("estimator")["estimate"]
    assert aipw.iloc[1] == pytest.approx(aipw.iloc[0], abs=1e-12)
