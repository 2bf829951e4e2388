"""The KuaiRec loader on small files written in the real layouts, good and malformed."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from recsys_causal.data.errors import DataError
from recsys_causal.data.kuairec import (
    INTERACTION_COLUMNS,
    KUAIREC_COLUMNS,
    load_interactions,
    validate_folder,
)

HEADER = ",".join(KUAIREC_COLUMNS)
# Real small_matrix rows (date as a float because of the rows without a time).
GOOD_ROWS = [
    "0,148,4381,6067,2020-07-05 05:27:48.378,20200705.0,1593898068.378,0.722103",
    "0,183,11635,6100,2020-07-05 05:28:00.057,20200705.0,1593898080.057,1.907377",
    "0,3649,22422,10867,2020-07-05 05:29:09.479,20200705.0,1593898149.479,2.063311",
    "1,9,4400,8000,2020-07-06 10:00:00.000,20200706.0,1593999600.0,0.55",
    "1,10,80000,8000,2020-07-06 10:05:00.000,20200706.0,1593999900.0,10.0",
]


def write(folder: Path, name: str, rows: list[str], header: str = HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_loads_real_layout_with_types(tmp_path: Path) -> None:
    write(tmp_path, "small_matrix.csv", GOOD_ROWS)
    df, rep = load_interactions(tmp_path, "small_matrix")
    assert list(df.columns) == list(INTERACTION_COLUMNS)
    assert df["date"].dtype == np.int32 and df["date"].tolist() == [20200705] * 3 + [20200706] * 2
    assert df["play_duration"].dtype == np.int64 and df["play_duration"].iloc[0] == 4381
    assert df["watch_ratio"].iloc[1] == pytest.approx(1.907377)
    assert rep.rows_read == 5 and rep.rows_kept == 5 and rep.rows_missing_date == 0
    assert rep.rows_watch_ratio_above_threshold == 1 and rep.max_watch_ratio == pytest.approx(10.0)
    assert rep.users == 2 and rep.first_date == 20200705 and rep.last_date == 20200706
    frame = rep.to_frame().set_index("metric")["value"]
    assert frame["rows_read"] == 5


def test_integer_dates_also_parse(tmp_path: Path) -> None:
    rows = [r.replace("20200705.0", "20200705").replace("20200706.0", "20200706") for r in GOOD_ROWS]
    write(tmp_path, "big_matrix.csv", rows)
    df, _ = load_interactions(tmp_path, "big_matrix")
    assert df["date"].tolist() == [20200705] * 3 + [20200706] * 2


def test_rows_without_time_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = [*GOOD_ROWS, "2,17,5000,9000,,,,0.5555", "2,18,5000,9000,,,,1.5"]
    write(tmp_path, "small_matrix.csv", rows)
    df, rep = load_interactions(tmp_path, "small_matrix")
    assert rep.rows_read == 7 and rep.rows_missing_date == 2 and rep.rows_kept == 5
    assert 2 not in set(df["user_id"])


@pytest.mark.parametrize("policy,kept,removed", [("keep_first", 5, 2), ("keep_all", 7, 0)])
def test_duplicate_policy(tmp_path: Path, policy: str, kept: int, removed: int) -> None:
    dup = GOOD_ROWS[1].replace("11635", "99999")  # same (user, video, time), other content
    rows = [*GOOD_ROWS[:2], dup, *GOOD_ROWS[2:], GOOD_ROWS[4]]
    write(tmp_path, "big_matrix.csv", rows)
    df, rep = load_interactions(tmp_path, "big_matrix", duplicate_policy=policy)
    assert rep.duplicate_rows == 2
    assert rep.duplicates_removed == removed and len(df) == kept
    if policy == "keep_first":  # the first occurrence in file order survives
        assert 99999 not in set(df["play_duration"]) and 11635 in set(df["play_duration"])


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    header = ",".join(c for c in KUAIREC_COLUMNS if c != "watch_ratio")
    write(tmp_path, "small_matrix.csv", [",".join(r.split(",")[:-1]) for r in GOOD_ROWS], header=header)
    with pytest.raises(DataError, match=r"small_matrix.csv: missing column 'watch_ratio' \(expected user_id, video_id"):
        validate_folder(tmp_path, "small_matrix")
    with pytest.raises(DataError, match="missing column 'watch_ratio'"):
        load_interactions(tmp_path, "small_matrix")


def test_non_numeric_watch_ratio(tmp_path: Path) -> None:
    rows = [*GOOD_ROWS[:2], GOOD_ROWS[2].replace("2.063311", "abc")]
    write(tmp_path, "small_matrix.csv", rows)
    with pytest.raises(DataError, match=r"small_matrix.csv: column 'watch_ratio' has a non-numeric value .*abc.*expected number"):
        load_interactions(tmp_path, "small_matrix")


def test_bad_date_values(tmp_path: Path) -> None:
    write(tmp_path, "small_matrix.csv", [GOOD_ROWS[0].replace("20200705.0", "20201345.0")])
    with pytest.raises(DataError, match="small_matrix.csv: column 'date'"):
        load_interactions(tmp_path, "small_matrix")


def test_missing_folder_and_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        validate_folder(tmp_path / "nope", "small_matrix")
    write(tmp_path, "big_matrix.csv", GOOD_ROWS)
    with pytest.raises(DataError, match=r"small_matrix.csv: not found in .*present: big_matrix.csv"):
        validate_folder(tmp_path, "small_matrix")


def test_validate_reads_only_the_header(tmp_path: Path) -> None:
    # A body that would fail parsing: validate_folder must not look at it (and stays fast).
    path = write(tmp_path, "small_matrix.csv", ["x,y,z"] * 200_000)
    t0 = time.perf_counter()
    validate_folder(tmp_path, "small_matrix")
    assert time.perf_counter() - t0 < 0.5
    with pytest.raises(DataError, match="small_matrix.csv"):
        load_interactions(tmp_path, "small_matrix")
    assert path.is_file()


def test_empty_user_id_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, "small_matrix.csv", [GOOD_ROWS[0], "," + GOOD_ROWS[1].split(",", 1)[1]])
    with pytest.raises(DataError, match="column 'user_id'"):
        load_interactions(tmp_path, "small_matrix")


def test_float_formatted_durations_fall_back(tmp_path: Path) -> None:
    rows = [GOOD_ROWS[0].replace(",4381,", ",4381.0,"), GOOD_ROWS[1]]
    write(tmp_path, "small_matrix.csv", rows)
    df, _ = load_interactions(tmp_path, "small_matrix")
    assert df["play_duration"].tolist() == [4381, 11635] and df["play_duration"].dtype == np.int64
    write(tmp_path, "small_matrix.csv", [GOOD_ROWS[0].replace(",4381,", ",4381.5,")])
    with pytest.raises(DataError, match="column 'play_duration' has non-integer values"):
        load_interactions(tmp_path, "small_matrix")
