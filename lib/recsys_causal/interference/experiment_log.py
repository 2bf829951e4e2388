"""A logged slate-promotion experiment: read, check and turn it into the track's exposure table.

A platform's log of a randomized promotion experiment replaces the simulated one when
``interference.experiment_path`` names it (Parquet or CSV, read with DuckDB). One row per
(slate, position, item), with the columns named in ``interference.experiment_columns``:

- ``slate``: the slate id, the unit of randomization; ``user``: who saw it (a MovieLens userId);
- ``item``: the item shown (a MovieLens movieId); ``position``: its place in the ranker's slate
  *before* any promotion (1 = top, at most ``slate_size``), a pre-treatment covariate;
- ``arm``: the slate's arm, one of the two values in ``interference.experiment_arms``;
- ``focal``: 1 on the slate's one focal item (the item the promoted arm moved to the top), else 0;
- ``outcome``: the item's outcome, a click (0/1) or a rating.

Users and items are described by the run's MovieLens data (the chapter interference_01 tables):
user features by userId, item features by movieId, the user's rating of an item as its observed
relevance (missing when the user did not rate it). The exposure table built from a log has the
columns of the simulated one minus everything only a simulator knows (click probabilities, known
lifts, the oracle): those columns are absent, so every later table drops its oracle rows.

`write_experiment_log` writes the simulator's experiment in this format, so the same estimates
can be recomputed from a file and compared with the in-memory path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.data.errors import DataError
from recsys_causal.interference.exposure import map_exposure, slate_codes
from recsys_causal.interference.slates import SLATE_COLUMNS
from recsys_causal.params import ExperimentArms, ExperimentColumns, InterferenceParams

#: The log's fields, in the order of `ExperimentColumns`.
LOG_FIELDS: tuple[str, ...] = tuple(ExperimentColumns.model_fields)
#: exposure-table column each log field becomes
EXPOSURE_NAMES: dict[str, str] = {
    "slate": "slate_id",
    "user": "userId",
    "item": "movieId",
    "position": "slate_position_seed",
    "arm": "assignment_arm",
    "focal": "is_focal_item",
    "outcome": "simulated_click",
}
ITEM_COLUMNS: tuple[str, ...] = (
    "title", "genres", "spillover_cluster", "sample_rating_count", "sample_mean_rating", "sample_liked_rate",
    "popularity_bucket", "log_item_popularity_z",
)
USER_COLUMNS: tuple[str, ...] = (
    "n_ratings", "mean_rating", "liked_rate", "active_years", "unique_primary_genres", "activity_span_days",
)
SUFFIXES: dict[str, str] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".txt": "csv"}


# ----------------------------------------------------------------------------------------------
# Reading and checking
# ----------------------------------------------------------------------------------------------
def log_format(path: Path) -> str:
    """'parquet' or 'csv' from the file's suffix (a DataError for anything else)."""
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"interference.experiment_path '{path}': expected a .parquet or .csv file")
    return fmt


def _relation(path: Path) -> str:
    quoted = "'" + str(path).replace("'", "''") + "'"
    return f"read_parquet({quoted})" if log_format(path) == "parquet" else f"read_csv_auto({quoted}, header = true)"


def read_experiment_log(path: str | Path, columns: ExperimentColumns) -> pd.DataFrame:
    """The log's mapped columns, renamed to `LOG_FIELDS`, in file order (DuckDB reads Parquet or CSV).

    A missing file, an unreadable one or a mapping naming a column the file lacks is a DataError
    naming the file and the column.
    """
    import duckdb

    path = Path(path)
    if not path.is_file():
        raise DataError(f"interference.experiment_path '{path}' does not exist (expected a Parquet or CSV file)")
    rel = _relation(path)
    con = duckdb.connect()
    try:
        try:
            present = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]
        except duckdb.Error as exc:
            raise DataError(f"{path}: cannot be read as {log_format(path)}: {str(exc).splitlines()[0]}") from None
        mapping = columns.model_dump()
        for field in LOG_FIELDS:
            if mapping[field] not in present:
                raise DataError(
                    f"{path}: no column '{mapping[field]}' (interference.experiment_columns.{field}); "
                    f"the file has {', '.join(present)}"
                )
        select = ", ".join(f'"{mapping[f].replace(chr(34), chr(34) * 2)}" AS "{f}"' for f in LOG_FIELDS)
        try:
            return con.execute(f"SELECT {select} FROM {rel}").df()
        except duckdb.Error as exc:
            raise DataError(f"{path}: cannot be read: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


def _integers(log: pd.DataFrame, field: str, path: Path, columns: ExperimentColumns) -> pd.Series:
    col = getattr(columns, field)
    values = pd.to_numeric(log[field], errors="coerce")
    bad = values.isna() | (values.notna() & (values != np.round(values.fillna(0))))
    if bad.any():
        example = log.loc[bad, field].iloc[0]
        raise DataError(f"{path}: column '{col}' (interference.experiment_columns.{field}) has a value {example!r} "
                        f"that is not a whole number (expected integer ids / positions)")
    return values.astype(np.int64)


def arm_text(values: pd.Series | Any) -> pd.Series:
    """Arm values as text, booleans as 1 / 0 (so a 0/1 or true/false column matches arms 1 / 0)."""
    s = pd.Series(values)
    if s.dtype == bool or str(s.dtype) == "boolean":
        s = s.astype("Int64")
    return s.astype("string")


def check_experiment_log(log: pd.DataFrame, path: str | Path, params: InterferenceParams) -> pd.DataFrame:
    """Check that the log is a slate-randomized experiment the track can analyse; return it typed.

    Refused, with one line naming the file, the column and what was expected: arm values other
    than the two of `experiment_arms`, an arm missing, a slate with rows in both arms or shown to
    two users, an item twice in one slate, a slate without exactly one focal item, positions that
    are not 1..slate_size or repeat within a slate, a missing or non-numeric outcome.
    """
    path = Path(path)
    cols, arms = params.experiment_columns, params.experiment_arms
    if len(log) == 0:
        raise DataError(f"{path}: the experiment log has no rows")
    out = log.copy()
    slate = out["slate"]
    if slate.isna().any():
        raise DataError(f"{path}: column '{cols.slate}' (interference.experiment_columns.slate) has missing slate ids")
    out["slate"] = slate.astype("string")
    out["user"] = _integers(out, "user", path, cols)
    out["item"] = _integers(out, "item", path, cols)
    out["position"] = _integers(out, "position", path, cols)

    arm = arm_text(out["arm"])
    expected = [str(arms.promoted), str(arms.control)]
    unexpected = sorted({str(v) for v in arm.dropna().unique()} - set(expected))
    if unexpected or arm.isna().any():
        shown = ", ".join(repr(v) for v in unexpected[:5]) if unexpected else "missing values"
        raise DataError(f"{path}: column '{cols.arm}' (interference.experiment_columns.arm) has {shown}; expected only "
                        f"'{expected[0]}' (promoted) and '{expected[1]}' (control), set by interference.experiment_arms")
    out["arm"] = arm

    focal = pd.to_numeric(out["focal"].astype("Int64") if out["focal"].dtype == bool else out["focal"], errors="coerce")
    if focal.isna().any() or not focal.isin([0, 1]).all():
        example = out.loc[focal.isna() | ~focal.isin([0, 1]), "focal"].iloc[0]
        raise DataError(f"{path}: column '{cols.focal}' (interference.experiment_columns.focal) has {example!r}; "
                        "expected 1 on the slate's focal item and 0 elsewhere")
    out["focal"] = focal.astype(np.int8)

    outcome = pd.to_numeric(out["outcome"], errors="coerce")
    if outcome.isna().any():
        example = out.loc[outcome.isna(), "outcome"].iloc[0]
        raise DataError(f"{path}: column '{cols.outcome}' (interference.experiment_columns.outcome) has {example!r}; "
                        "expected a number on every row (a click 0/1 or a rating)")
    out["outcome"] = outcome.astype(np.float64)

    g = out.groupby("slate", sort=False)
    per_slate = g.agg(arms=("arm", "nunique"), users=("user", "nunique"), focal=("focal", "sum"),
                      rows=("item", "size"), items=("item", "nunique"), positions=("position", "nunique"))

    def first(mask: pd.Series) -> str:
        return str(mask[mask].index[0])

    if (per_slate["arms"] > 1).any():
        raise DataError(f"{path}: slate '{first(per_slate['arms'] > 1)}' has rows in both arms (column '{cols.arm}'); "
                        "expected one arm per slate (promotion randomized by slate)")
    if (per_slate["users"] > 1).any():
        raise DataError(f"{path}: slate '{first(per_slate['users'] > 1)}' is shown to more than one user "
                        f"(column '{cols.user}'); expected one user per slate")
    if (per_slate["items"] < per_slate["rows"]).any():
        raise DataError(f"{path}: slate '{first(per_slate['items'] < per_slate['rows'])}' lists an item twice "
                        f"(column '{cols.item}'); expected each item once per slate")
    if (per_slate["focal"] != 1).any():
        bad = first(per_slate["focal"] != 1)
        raise DataError(f"{path}: slate '{bad}' has {int(per_slate.loc[bad, 'focal'])} focal items "
                        f"(column '{cols.focal}'); expected exactly one per slate")
    size = params.slate_size
    out_of_range = (out["position"] < 1) | (out["position"] > size)
    if out_of_range.any():
        row = out.loc[out_of_range].iloc[0]
        raise DataError(f"{path}: column '{cols.position}' (interference.experiment_columns.position) has position "
                        f"{int(row['position'])} in slate '{row['slate']}'; expected 1 to {size} "
                        "(interference.slate_size)")
    if (per_slate["positions"] < per_slate["rows"]).any():
        raise DataError(f"{path}: slate '{first(per_slate['positions'] < per_slate['rows'])}' repeats a position "
                        f"(column '{cols.position}'); expected one item per position")
    slate_arm = g["arm"].first()
    for value, name in ((expected[0], "promoted"), (expected[1], "control")):
        if int(slate_arm.eq(value).sum()) < 2:
            raise DataError(f"{path}: column '{cols.arm}' has {int(slate_arm.eq(value).sum())} slate(s) in the "
                            f"{name} arm '{value}'; expected at least 2 slates in each arm")
    return out


def load_experiment_log(params: InterferenceParams, path: str | Path | None = None) -> pd.DataFrame:
    """Read and check the run's experiment log (`interference.experiment_path`, or `path`)."""
    from recsys_causal.paths import resolve

    p = Path(path) if path is not None else resolve(params.experiment_path)
    return check_experiment_log(read_experiment_log(p, params.experiment_columns), p, params)


# ----------------------------------------------------------------------------------------------
# The exposure table of a logged experiment
# ----------------------------------------------------------------------------------------------
def log_slates(
    log: pd.DataFrame,
    user_features: pd.DataFrame,
    item_features: pd.DataFrame,
    ratings: pd.DataFrame | None,
    liked_threshold: float,
) -> pd.DataFrame:
    """The log's rows in the slate table's schema (`SLATE_COLUMNS`), features from the MovieLens tables.

    Slates keep their order of first appearance in the file, items their seed-position order.
    `slate_score` (the ranker's score) is not in a log and stays missing.
    """
    codes, _ = pd.factorize(log["slate"], sort=False)
    order = np.lexsort((log["position"].to_numpy(), codes))
    rows = log.iloc[order].reset_index(drop=True)
    items = item_features.set_index("movieId")
    users = user_features.set_index("userId")
    it = items.reindex(rows["item"].to_numpy())
    us = users.reindex(rows["user"].to_numpy())
    if ratings is not None and len(ratings):
        rated = pd.Series(ratings["rating"].to_numpy(dtype=np.float64),
                          index=pd.MultiIndex.from_arrays([ratings["userId"].to_numpy(dtype=np.int64),
                                                           ratings["movieId"].to_numpy(dtype=np.int64)]))
        rated = rated[~rated.index.duplicated(keep="last")]
        relevance = rated.reindex(pd.MultiIndex.from_arrays([rows["user"].to_numpy(), rows["item"].to_numpy()])).to_numpy()
    else:
        relevance = np.full(len(rows), np.nan)
    focal = rows["focal"].to_numpy() == 1
    slate = rows["slate"].astype("string")
    focal_at = pd.Series(np.flatnonzero(focal), index=slate[focal].to_numpy())
    fi = focal_at.reindex(slate.to_numpy()).to_numpy()
    cluster = it["spillover_cluster"].astype("string").to_numpy()
    title = it["title"].astype("string").to_numpy()
    out = pd.DataFrame({
        "slate_id": slate.to_numpy(),
        "userId": rows["user"].to_numpy(),
        "movieId": rows["item"].to_numpy(),
        "title": title,
        "genres": it["genres"].astype("string").to_numpy(),
        "slate_position_seed": rows["position"].to_numpy(dtype=np.int64),
        "is_focal_item": focal.astype(np.int8),
        "focal_seed_position": rows["position"].to_numpy(dtype=np.int64)[fi],
        "focal_movieId": rows["item"].to_numpy()[fi],
        "focal_title": title[fi],
        "spillover_cluster": cluster,
        "focal_spillover_cluster": cluster[fi],
        "same_cluster_as_focal": 0,
        "observed_relevance": relevance,
        "high_relevance": (np.nan_to_num(relevance, nan=-np.inf) >= liked_threshold).astype(np.int8),
        "baseline_visibility": 1.0 / np.log2(rows["position"].to_numpy(dtype=np.float64) + 1.0),
        "slate_score": np.nan,
        **{c: it[c].to_numpy() for c in ITEM_COLUMNS if c not in ("title", "genres", "spillover_cluster")},
        **{c: us[c].to_numpy() for c in USER_COLUMNS},
    })
    for col in ("slate_id", "title", "genres", "focal_title", "spillover_cluster", "focal_spillover_cluster"):
        out[col] = out[col].astype("str")
    same = out["spillover_cluster"].astype("string").eq(out["focal_spillover_cluster"].astype("string"))
    out["same_cluster_as_focal"] = (same.fillna(False).to_numpy(dtype=bool) & ~focal).astype(np.int8)
    out["popularity_bucket"] = pd.Categorical(it["popularity_bucket"].to_numpy(),
                                              dtype=item_features["popularity_bucket"].dtype)
    for col in ("userId", "movieId", "focal_movieId"):
        if out[col].abs().max() < 2**31:
            out[col] = out[col].astype(np.int32)
    return out[list(SLATE_COLUMNS)].assign(_arm=rows["arm"].to_numpy(), _outcome=rows["outcome"].to_numpy())


def log_exposure(
    log: pd.DataFrame,
    user_features: pd.DataFrame,
    item_features: pd.DataFrame,
    ratings: pd.DataFrame | None,
    params: InterferenceParams,
) -> pd.DataFrame:
    """The item-row exposure table of a logged experiment: the simulated table's observable columns.

    Assignment comes from the log's arm column, the outcome from its outcome column (kept in
    `simulated_click`, the column every later step reads); click probabilities, known lifts and
    the oracle are absent.
    """
    slates = log_slates(log, user_features, item_features, ratings, params.liked_threshold)
    codes, _ = slate_codes(slates)
    first = np.unique(codes, return_index=True)[1]
    treat = slates["_arm"].to_numpy()[first] == str(params.experiment_arms.promoted)
    rows = map_exposure(slates.drop(columns=["_arm", "_outcome"]), treat.astype(np.int8))
    outcome = slates["_outcome"].to_numpy(dtype=np.float64)
    integral = bool(np.all(outcome == np.round(outcome)))
    return rows.assign(simulated_click=outcome.astype(np.int64) if integral else outcome)


# ----------------------------------------------------------------------------------------------
# Writing the simulator's experiment as a log (test data, demonstrations)
# ----------------------------------------------------------------------------------------------
def experiment_log_frame(
    exposure: pd.DataFrame,
    columns: ExperimentColumns | None = None,
    arms: ExperimentArms | None = None,
) -> pd.DataFrame:
    """The simulated experiment's item rows as a log: the seven fields under the mapping's names."""
    columns = columns or ExperimentColumns()
    arms = arms or ExperimentArms()
    promoted = exposure["promotion_applied"].to_numpy() == 1
    arm_values = np.where(promoted, arms.promoted, arms.control)
    if isinstance(arms.promoted, int) and isinstance(arms.control, int):
        arm_values = arm_values.astype(np.int64)
    data = {
        "slate": exposure["slate_id"].astype("string").to_numpy(),
        "user": exposure["userId"].to_numpy(dtype=np.int64),
        "item": exposure["movieId"].to_numpy(dtype=np.int64),
        "position": exposure["slate_position_seed"].to_numpy(dtype=np.int64),
        "arm": arm_values,
        "focal": exposure["is_focal_item"].to_numpy(dtype=np.int64),
        "outcome": exposure["simulated_click"].to_numpy(),
    }
    mapping = columns.model_dump()
    return pd.DataFrame({mapping[f]: data[f] for f in LOG_FIELDS})


def write_experiment_log(
    exposure: pd.DataFrame,
    path: str | Path,
    columns: ExperimentColumns | None = None,
    arms: ExperimentArms | None = None,
) -> Path:
    """Write the simulated experiment as a log file (Parquet or CSV by suffix); return its path."""
    path = Path(path)
    frame = experiment_log_frame(exposure, columns, arms)
    path.parent.mkdir(parents=True, exist_ok=True)
    if log_format(path) == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


# ----------------------------------------------------------------------------------------------
# The randomization probability
# ----------------------------------------------------------------------------------------------
def without_unknown_oracle(table: pd.DataFrame) -> pd.DataFrame:
    """`table` without its oracle columns when none holds a value (a log has no oracle: absent, not NaN)."""
    empty = [c for c in ("oracle_value", "covers_oracle") if c in table and table[c].isna().all()]
    return table.drop(columns=empty)


def uses_log(params: InterferenceParams) -> bool:
    """True when the track analyses a logged experiment rather than the simulated promotion."""
    return bool(params.experiment_path)


def assignment_probability(params: InterferenceParams, component: pd.DataFrame) -> float:
    """The promoted arm's randomization probability the estimators use.

    Simulated promotion: `promotion_probability`, the design's. A log: `experiment_probability`
    when it is a number, else (`estimate`) the share of promoted slates in the log.
    """
    if not uses_log(params):
        return float(params.promotion_probability)
    if params.experiment_probability == "estimate":
        return float(np.mean(component["promotion_applied"].to_numpy(dtype=np.float64)))
    return float(params.experiment_probability)


def with_assignment_probability(params: InterferenceParams, component: pd.DataFrame) -> InterferenceParams:
    """`params` whose `promotion_probability` is the one the estimators use (`assignment_probability`)."""
    if not uses_log(params):
        return params
    return params.model_copy(update={"promotion_probability": assignment_probability(params, component)})

