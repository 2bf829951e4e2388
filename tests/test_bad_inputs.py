"""Bad input, as a user types it: every case exits 2 with one line naming the offending thing,
before any chapter runs, and leaves an existing run directory byte for byte as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from recsys_causal import cli

ROOT = Path(__file__).resolve().parents[1]
TEST = str(ROOT / "params" / "test.yaml")


def _files(tmp: Path) -> dict[str, Path]:
    """Bad files and folders the cases point at."""
    out = {}
    out["bad_yaml"] = tmp / "bad.yaml"
    out["bad_yaml"].write_text("longterm: [unclosed\n")
    out["utf16"] = tmp / "utf16.yaml"
    out["utf16"].write_bytes("seed: 7\n".encode("utf-16"))
    out["null_section"] = tmp / "null.yaml"
    out["null_section"].write_text("seed: 7\nlongterm:\n")
    out["list_file"] = tmp / "list.yaml"
    out["list_file"].write_text("- 1\n- 2\n")
    out["folder"] = tmp / "a-folder"
    out["folder"].mkdir()
    out["a_file"] = tmp / "not-a-folder.csv"
    out["a_file"].write_text("x\n")
    kuai = tmp / "kuairec"
    kuai.mkdir()
    (kuai / "small_matrix.csv").write_text("user_id,video_id,play_duration,video_duration,time,date,timestamp\n1,2,3,4,t,20200101,1\n")
    out["kuairec_no_watch_ratio"] = kuai
    empty_ml = tmp / "ml-empty"
    empty_ml.mkdir()
    out["movielens_empty"] = empty_ml
    ml = tmp / "ml-bad"
    ml.mkdir()
    (ml / "ratings.csv").write_text("userId,movieId,score,timestamp\n1,2,3.0,4\n")
    (ml / "movies.csv").write_text("movieId,title,genres\n2,X (1999),Drama\n")
    out["movielens_bad_header"] = ml
    deep = tmp / "ml-deep"
    deep.mkdir()
    rows = "".join(f"{u},{m},4.0,{1000 + u}\n" for u in range(1, 40) for m in (1, 2, 3))
    (deep / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + rows + "7,2,four,99\n")
    (deep / "movies.csv").write_text("movieId,title,genres\n1,A (1999),Drama\n2,B (2000),Comedy\n3,C (2001),Drama\n")
    out["movielens_bad_value_deep"] = deep
    import pandas as pd

    log = pd.DataFrame({"uid": [1, 1, 2], "item": [5, 6, 5], "ts": [1.6e9, 1.6e9 + 60, 1.6e9 + 120],
                        "day": [20200913, 20200913, 20200913], "eng": [0.5, 1.2, 2.0], "dur_ms": [100, 200, 300]})
    out["log"] = tmp / "log.parquet"
    log.to_parquet(out["log"], index=False)
    out["log_text_engagement"] = tmp / "text-eng.parquet"
    log.assign(eng=["high", "low", "high"]).to_parquet(out["log_text_engagement"], index=False)
    out["log_bad_ts"] = tmp / "bad-ts.csv"
    log.assign(ts=["2020-09-13 10:00:00", "yesterday", "2020-09-13 11:00:00"]).to_csv(out["log_bad_ts"], index=False)
    out["log_bad_day"] = tmp / "bad-day.csv"
    log.assign(day=["2020-09-13", "2020-13-45", "2020-09-13"]).to_csv(out["log_bad_day"], index=False)
    out["log_glob"] = tmp / "nothing-here" / "*.parquet"
    out.update(_experiment_logs(tmp))
    return out


LOG_HEADER = "slate_id,user_id,item_id,position,arm,is_focal,click\n"


def _experiment_logs(tmp: Path) -> dict[str, Path]:
    """A small slate-experiment log (4 slates of 3 items) and copies broken one way each."""
    def rows(arm=None, focal=None, position=None, item=None) -> list[list[object]]:
        out = []
        for s in range(4):
            for k in range(3):
                out.append([f"s{s}", 10 + s, 100 + k, k + 1,
                            "promote_focal_item" if s % 2 else "leave_slate_unchanged", int(k == 2), int(k == s % 3)])
        for fix, col in ((arm, 4), (focal, 5), (position, 3), (item, 2)):
            if fix is not None:
                out[fix[0]][col] = fix[1]
        return out

    variants = {
        "log_good": rows(),
        "log_bad_arm": rows(arm=(4, "treatment")),
        "log_both_arms": rows(arm=(0, "promote_focal_item")),
        "log_two_focal": rows(focal=(0, 1)),
        "log_position_13": rows(position=(1, 13)),
        "log_item_twice": rows(item=(1, 100)),
    }
    out = {}
    for name, body in variants.items():
        out[name] = tmp / f"{name}.csv"
        out[name].write_text(LOG_HEADER + "".join(",".join(map(str, r)) + "\n" for r in body))
    out["log_xlsx"] = tmp / "experiment.xlsx"
    out["log_xlsx"].write_text("x\n")
    return out


@pytest.fixture(scope="module")
def kuairec_variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small simulated KuaiRec folder and copies broken one way each."""
    import pandas as pd

    from recsys_causal.simulate.kuairec import simulate_kuairec

    base = tmp_path_factory.mktemp("kuairec")
    good = base / "good"
    simulate_kuairec(good, n_users=30, n_days=20, seed=3)
    df = pd.read_csv(good / "small_matrix.csv")

    def variant(name: str, frame: pd.DataFrame) -> Path:
        d = base / name
        d.mkdir()
        frame.to_csv(d / "small_matrix.csv", index=False)
        return d

    stray = df.copy()
    stray.loc[0, "date"] = 20990101
    neg = df.copy()
    neg.loc[:4, "play_duration"] = -100
    one_day = df[df["date"] == df["date"].min()]
    iso = df.astype({"date": str})
    iso.loc[0, "date"] = "2020-07-05"
    return {"good": good, "stray_date": variant("stray", stray), "negative_duration": variant("neg", neg),
            "one_day": variant("one-day", one_day), "iso_date": variant("iso", iso)}


DATA_CASES = [
    ("stray_date", [], "row(s) dated outside the data's period"),
    ("negative_duration", [], "column 'play_duration' has 5 negative value(s)"),
    ("one_day", [], "longterm.outcome_horizon_days=7"),
    ("iso_date", [], "column 'date' has a non-numeric value '2020-07-05' (expected a date written YYYYMMDD"),
    ("good", ["--set", "longterm.outcome_horizon_days=30"], "longterm.outcome_horizon_days=30"),
    ("good", ["--set", "longterm.high_watch_threshold=99"], "no user-day is a high-watch day"),
    ("good", ["--set", "longterm.high_watch_threshold=0.001", "--set", "longterm.treatment_cutoff=0"],
     "every user-day is a high-watch day"),
]


@pytest.mark.parametrize(("variant", "extra", "needle"), DATA_CASES, ids=[f"{v} {' '.join(e)}" for v, e, _ in DATA_CASES])
def test_data_the_track_cannot_analyse_is_refused_before_any_chapter(variant, extra, needle, kuairec_variants,
                                                                       good_run, capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    before = _digest(good_run.parent)
    code = cli.main(["run", "--params", TEST, "--set", f"longterm.data_path={kuairec_variants[variant]}", *extra,
                     "--only", "longterm_01", "--run-name", "default", "--no-render"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0], err
    assert _digest(good_run.parent) == before


LOG_COLUMNS = [f"--set=longterm.columns.{role}={col}" for role, col in
               (("user", "uid"), ("item", "item"), ("timestamp", "ts"), ("date", "day"), ("engagement", "eng"),
                ("duration", "dur_ms"))]

CASES = [
    # parameters given on the command line
    (["--set", "longterm.nope=1"], "longterm.nope"),
    (["--set", "nope.key=1"], "nope.key"),
    (["--set", "longterm.a.b=1"], "longterm"),
    (["--set", "longterm.n_bootstrap=many"], "longterm.n_bootstrap"),
    (["--set", "longterm.n_bootstrap=5"], "longterm.n_bootstrap"),
    (["--set", "longterm.n_bootstrap=true"], "longterm.n_bootstrap"),
    (["--set", "longterm.n_bootstrap=12.5"], "longterm.n_bootstrap"),
    (["--set", "seed=true"], "seed"),
    (["--set", "seed=-1"], "seed"),
    (["--set", "seed=abc"], "seed"),
    (["--set", "longterm.treatment_cutoff=2"], "longterm.treatment_cutoff"),
    (["--set", "longterm.treatment_cutoff=abc"], "parameter 'longterm.treatment_cutoff' ="),
    (["--set", "longterm.clip_eps=0.7"], "longterm.clip_eps"),
    (["--set", "longterm.high_watch_threshold=high"], "longterm.high_watch_threshold"),
    (["--set", "longterm.multiplicity_method=maybe"], "longterm.multiplicity_method"),
    (["--set", "longterm.primary_propensity=forest"], "longterm.primary_propensity"),
    (["--set", "longterm.sim_start_date=20200705"], "longterm.sim_start_date"),
    (["--set", "longterm.sim_start_date=2020-13-45"], "longterm.sim_start_date"),
    (["--set", "longterm.n_folds=20", "--set", "longterm.sim_n_users=10"], "longterm.n_folds"),
    (["--set", "interference.focal_min_position=30"], "interference.focal_min_position"),
    (["--set", "longterm.sim_n_days=15", "--set", "longterm.outcome_horizon_days=14"], "longterm.sim_n_days (15)"),
    (["--set", "longterm.weight_truncation_lower=0.6"], "longterm.weight_truncation_lower"),
    (["--set", "interference.layout=xlsx"], "interference.layout"),
    (["--set", "validation.backend=dask"], "validation.scheduler_address"),
    (["--set", "validation.scenarios=[a,z]"], "validation.scenarios"),
    (["--set", "validation.n_replicates=1"], "validation.n_replicates"),
    (["--set", "novalue"], "novalue"),
    # parameter files
    (["--params", "{bad_yaml}"], "bad.yaml"),
    (["--params", "{utf16}"], "utf16.yaml"),
    (["--params", "{null_section}"], "longterm"),
    (["--params", "{list_file}"], "list.yaml"),
    (["--params", "{folder}"], "a-folder"),
    (["--params", "params/nope.yaml"], "nope.yaml"),
    # run names and chapters
    (["--run-name", "../../x"], "run name '../../x'"),
    (["--run-name", "/abs/path"], "run name '/abs/path'"),
    (["--run-name", ""], "run name ''"),
    (["--run-name", ".hidden"], "not starting with '.'"),
    (["--run-name", "x" * 65], "64 characters"),
    (["--run-name", "a b"], "run name 'a b'"),
    (["--only", "chapter_99"], "chapter_99"),
    # data sources
    (["--set", "longterm.data_path=/nonexistent/KuaiRec"], "/nonexistent/KuaiRec"),
    (["--set", "longterm.data_path={a_file}"], "not-a-folder.csv"),
    (["--set", "longterm.data_path={kuairec_no_watch_ratio}"], "watch_ratio"),
    # interaction logs with a column mapping
    (["--set", "longterm.data_path={log}", *LOG_COLUMNS, "--set", "longterm.columns.user=nope"],
     "log.parquet: column 'nope' (longterm.columns.user) not found (found: uid, item, ts, day, eng, dur_ms)"),
    (["--set", "longterm.data_path={log}", *LOG_COLUMNS, "--set", "longterm.columns.date=date"],
     "log.parquet: column 'date' (longterm.columns.date) not found"),
    (["--set", "longterm.data_path={log_text_engagement}", *LOG_COLUMNS],
     "text-eng.parquet: column 'eng' (longterm.columns.engagement) has a value 'high' that does not parse "
     "(expected numeric engagement values)"),
    (["--set", "longterm.data_path={log_bad_ts}", *LOG_COLUMNS],
     "bad-ts.csv: column 'ts' (longterm.columns.timestamp) has a value 'yesterday' that does not parse"),
    (["--set", "longterm.data_path={log_bad_day}", *LOG_COLUMNS],
     "bad-day.csv: column 'day' (longterm.columns.date) has a value '2020-13-45' that does not parse"),
    (["--set", "longterm.data_path={log_glob}"], "nothing-here/*.parquet' matches no file"),
    (["--set", "longterm.columns.date=", "--set", "longterm.columns.timestamp="], "longterm.columns.timestamp and"),
    (["--set", "longterm.columns.nope=x"], "longterm.columns.nope"),
    (["--set", "longterm.engine=polars"], "longterm.engine"),
    (["--set", "interference.data_path=/nonexistent/ml-1m"], "/nonexistent/ml-1m"),
    (["--set", "interference.data_path={movielens_empty}"], "ml-empty"),
    (["--set", "interference.data_path={movielens_bad_header}"], "rating"),
    (["--set", "interference.data_path={movielens_bad_value_deep}"], "ratings.csv: column 'rating'"),
    # slate-experiment logs
    (["--set", "interference.experiment_path=/nonexistent/experiment.parquet"], "/nonexistent/experiment.parquet"),
    (["--set", "interference.experiment_path={log_xlsx}"], "expected a .parquet or .csv file"),
    (["--set", "interference.experiment_path={log_good}", "--set", "interference.experiment_columns.slate=sid"],
     "{log_good}: no column 'sid' (interference.experiment_columns.slate)"),
    (["--set", "interference.experiment_path={log_good}", "--set", "interference.experiment_arms.promoted=1"],
     "{log_good}: column 'arm' (interference.experiment_columns.arm) has 'promote_focal_item'; expected only '1'"),
    (["--set", "interference.experiment_path={log_bad_arm}"], "{log_bad_arm}: column 'arm' (interference.experiment_columns.arm) has 'treatment'"),
    (["--set", "interference.experiment_path={log_both_arms}"], "{log_both_arms}: slate 's0' has rows in both arms (column 'arm')"),
    (["--set", "interference.experiment_path={log_two_focal}"], "{log_two_focal}: slate 's0' has 2 focal items (column 'is_focal')"),
    (["--set", "interference.experiment_path={log_position_13}"],
     "{log_position_13}: column 'position' (interference.experiment_columns.position) has position 13 in slate 's0'; expected 1 to 12"),
    (["--set", "interference.experiment_path={log_item_twice}"], "{log_item_twice}: slate 's0' lists an item twice (column 'item_id')"),
    (["--set", "interference.experiment_columns.nope=x"], "interference.experiment_columns.nope"),
    (["--set", "interference.experiment_columns=x"], "interference.experiment_columns.<key>"),
    (["--set", "interference.experiment_probability=1.5"], "interference.experiment_probability"),
]


@pytest.fixture()
def good_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An existing run directory (a stand-in with a few files) that bad input must not touch."""
    runs = tmp_path / "runs"
    run = runs / "default"
    (run / "executed").mkdir(parents=True)
    (run / "params.yaml").write_text("seed: 7\n")
    (run / "run_info.json").write_text("{}\n")
    (run / "executed" / "x.ipynb").write_text("{}\n")
    monkeypatch.setenv("RECSYS_CAUSAL_RUNS_DIR", str(runs))
    monkeypatch.delenv("RECSYS_CAUSAL_PARAMS", raising=False)
    return run


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("args", "needle"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_exits_2_with_one_line_and_changes_nothing(args, needle, tmp_path, good_run, capsys,
                                                             monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    files = _files(tmp_path)
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    if "--params" not in argv:
        argv = ["--params", TEST, *argv]
    if "--run-name" not in argv:
        argv += ["--run-name", "default"]
    before = _digest(good_run.parent)
    code = cli.main(["run", *argv, "--no-render"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("recsys-causal: error: "), err
    assert needle.format(**{k: str(v) for k, v in files.items()}) in err[0], err[0]
    assert "Traceback" not in err[0] and "pydantic" not in err[0].lower()
    assert _digest(good_run.parent) == before  # nothing written, nothing replaced


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) + len(DATA_CASES) >= 40


def test_a_corrupt_manifest_or_a_read_only_run_directory_is_one_line(good_run, capsys, monkeypatch) -> None:
    import os

    monkeypatch.chdir(ROOT)
    (good_run / "manifest.json").write_text('{"artifacts": {"x": ')  # a half-written file
    before = _digest(good_run.parent)
    code = cli.main(["run", "--params", TEST, "--only", "longterm_01", "--run-name", "default", "--no-render"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "manifest.json is not valid JSON" in err[0], err
    assert _digest(good_run.parent) == before
    (good_run / "manifest.json").unlink()
    # a folder this user cannot write (simulated: the tests may run as root, who writes anyway)
    import recsys_causal.runs as runs

    real = os.access
    monkeypatch.setattr(runs.os, "access", lambda p, mode: False if Path(p) == good_run else real(p, mode))
    code = cli.main(["run", "--params", TEST, "--only", "longterm_01", "--run-name", "default", "--no-render"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "read-only" in err[0] and str(good_run) in err[0], err


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys) -> None:
    def interrupted(args, argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_dispatch", interrupted)
    assert cli.main(["list"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interrupted" in err[0]


def test_a_panel_without_contrast_or_rows_is_refused_before_it_is_recorded() -> None:
    import pandas as pd

    from recsys_causal.data.errors import DataError
    from recsys_causal.longterm.build_panel import check_panel
    from recsys_causal.params import LongtermParams

    p = LongtermParams(high_watch_threshold=99.0)
    with pytest.raises(DataError, match="no user-day of the panel is a high-watch day.*high_watch_threshold=99"):
        check_panel(pd.DataFrame({"treatment": [0, 0, 0]}), p)
    with pytest.raises(DataError, match="every user-day"):
        check_panel(pd.DataFrame({"treatment": [1, 1]}), p)
    with pytest.raises(DataError, match="outcome_horizon_days=7"):
        check_panel(pd.DataFrame({"treatment": pd.Series([], dtype=int)}), p)
    check_panel(pd.DataFrame({"treatment": [0, 1]}), p)  # a contrast: fine
