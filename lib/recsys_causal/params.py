"""Typed, validated run parameters: defaults, YAML profiles and `section.key=value` overrides.

One `Params` object drives a run. Every chapter notebook receives the values of its track's
section (plus the shared keys) through papermill; a wrong name, type or range is rejected
before anything runs, with a one-line message naming the key and the expected form.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PARAMS_FILE = "RECSYS_CAUSAL_PARAMS"


class ParamsError(ValueError):
    """A parameter name, type or value is wrong; the message names it and the expected form."""


class _Section(BaseModel):
    # strict: `--set seed=true` is not the seed 1, `"3"` is not the number 3 (YAML already types
    # values, so a number written as a number passes; an int is still accepted for a float)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, strict=True)


class LogColumns(_Section):
    """Column names of an interaction log (`longterm.columns.*`); the defaults are KuaiRec's."""

    user: str = Field("user_id", min_length=1, description="integer user id")
    item: str = Field("video_id", min_length=1, description="item id (with timestamp, the key of duplicate rows)")
    timestamp: str = Field(
        "timestamp", description="event time: epoch seconds or a timestamp; empty = none (no duplicate removal)"
    )
    date: str = Field(
        "date", description="calendar day: a date, YYYYMMDD or YYYY-MM-DD; empty = the UTC day of the timestamp"
    )
    engagement: str = Field(
        "watch_ratio", min_length=1,
        description="numeric engagement of one event; high-engagement when >= longterm.high_watch_threshold",
    )
    duration: str = Field("play_duration", description="play duration in ms; empty = none (counted as 0)")

    @model_validator(mode="after")
    def _a_day_source(self) -> LogColumns:
        if not self.timestamp.strip() and not self.date.strip():
            raise ValueError("longterm.columns.timestamp and longterm.columns.date are both empty: "
                             "name at least one, so each event has a day")
        return self


_SIZE_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def memory_bytes(size: str) -> int:
    """Bytes of a DuckDB memory size such as '512MB', '4GB' or '2GiB' (the one parser: the
    parameter's check and the panel query's pass sizing both use it)."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B)\s*", size, flags=re.IGNORECASE)
    if not m:
        raise ValueError("expected a size such as 512MB or 4GB")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()])


class LongtermParams(_Section):
    """Knobs of the KuaiRec long-term track (chapters longterm_01 .. longterm_06)."""

    # --- data source -------------------------------------------------------------------------
    data_path: str = Field(
        "", description="KuaiRec dataset folder, or an interaction log: a Parquet file, a folder of Parquet "
        "files (Hive-partitioned or not), a glob or a CSV file; empty = KuaiRec-format simulator",
    )
    columns: LogColumns = Field(
        default_factory=LogColumns, description="column names of the log (defaults: KuaiRec's), e.g. columns.user=uid"
    )
    engine: Literal["duckdb", "pandas", "spark"] = Field(
        "duckdb", description="engine of the panel query: duckdb (default), pandas (reference) or spark"
    )
    memory_limit: str = Field(
        "1GB",
        description="DuckDB memory limit of the panel query (spills to disk beyond it), e.g. 4GB",
    )
    spark_master: str = Field("local[2]", min_length=1, description="Spark master URL when engine is spark")
    matrix: Literal["small_matrix", "big_matrix"] = Field(
        "small_matrix", description="which KuaiRec interaction file to analyse"
    )
    duplicate_policy: Literal["keep_first", "keep_all"] = Field(
        "keep_first",
        description="big_matrix repeats some (user_id, video_id, time) rows: keep the first or all",
    )
    # --- simulator (used when data_path is empty) ----------------------------------------------
    sim_n_users: int = Field(1411, ge=10, le=200_000, description="simulated users")
    sim_n_days: int = Field(60, ge=15, le=400, description="simulated calendar days")
    sim_start_date: str = Field("2020-07-05", description="first simulated day, YYYY-MM-DD")
    sim_effect_mean: float = Field(
        -0.03,
        description="average log-rate shift of next days' activity after a high-watch day "
        "(the ATE in interactions is small and positive: active users, who gain, weigh more)",
    )
    sim_effect_activity: float = Field(
        0.06, description="extra shift per SD of user activity (positive: helps the most active)"
    )
    sim_effect_quality: float = Field(
        -0.06, description="extra shift per SD of user watch quality (negative: hurts high quality)"
    )
    sim_confounding: float = Field(
        1.0, ge=0.0, le=10.0, description="strength of history -> treatment confounding"
    )
    sim_unmeasured_confounding: float = Field(
        0.0, ge=0.0, le=10.0, description="strength of a confounder the analyst cannot see"
    )
    # --- panel ---------------------------------------------------------------------------------
    high_watch_threshold: float = Field(
        1.0, gt=0.0, le=1e12,
        description="a play is high-watch when watch_ratio >= this",
    )
    treatment_cutoff: float | Literal["median"] = Field(
        0.5, description="a day is treated when its high-watch share >= this (a share in [0,1] or 'median')"
    )
    outcome_horizon_days: int = Field(7, ge=1, le=60, description="days after the treatment day summed into the outcome")
    watch_ratio_cap: float = Field(
        5.0, gt=0.0, le=1e12,
        description="watch ratios above this are capped before daily averages (the high-watch share uses raw values)",
    )
    # --- nuisance models ---------------------------------------------------------------------
    n_folds: int = Field(5, ge=2, le=20, description="GroupKFold folds (grouped by user) for cross-fitting")
    primary_propensity: Literal["logistic", "lightgbm"] = Field("logistic", description="propensity model behind the weights and the primary AIPW")
    primary_outcome_model: Literal["linear_ridge", "lightgbm"] = Field("lightgbm", description="outcome model of the primary AIPW")
    outcome_arms: Literal["pooled", "separate"] = Field(
        "separate",
        description="LightGBM outcome model: one model with treatment as a feature (pooled) or one model per "
        "arm (separate: the trees cannot shrink the treatment contrast); the ridge model is always pooled",
    )
    ridge_alpha: float = Field(1.0, gt=0.0, description="ridge penalty of the linear outcome model")
    lgbm_n_estimators: int = Field(
        100, ge=10, le=5000,
        description="trees in every LightGBM nuisance model (100 x 0.1 fits the default panel as well as 200 x 0.05, "
        "held-out RMSE 123.1 vs 123.0, in half the time)",
    )
    lgbm_learning_rate: float = Field(0.1, gt=0.0, le=1.0, description="LightGBM learning rate")
    lgbm_num_leaves: int = Field(15, ge=2, le=1024, description="LightGBM leaves per tree")
    lgbm_min_child_samples: int = Field(40, ge=1, description="LightGBM minimum rows per leaf")
    msm_weights: Literal["stabilized", "truncated"] = Field(
        "stabilized",
        description="weights of the headline IPW / MSM: the stabilized weights, or those truncated at the "
        "weight_truncation_* percentiles (the other kind is the sensitivity row; truncating at the 1st/99th "
        "percentiles biased the simulated MSM by several times its SE)",
    )
    weight_truncation_lower: float = Field(0.01, ge=0.0, lt=0.5, description="lower percentile (as a share) at which weights are truncated")
    weight_truncation_upper: float = Field(0.99, gt=0.5, le=1.0, description="upper percentile (as a share) at which weights are truncated")
    # --- inference -----------------------------------------------------------------------------
    n_bootstrap: int = Field(400, ge=20, le=100_000, description="user-cluster bootstrap replicates")
    n_refit_bootstrap: int = Field(30, ge=2, le=5_000, description="replicates of the bootstrap that refits the nuisance models")
    n_jobs: int = Field(2, ge=1, le=256, description="joblib workers of the refit bootstraps (the results do not depend on it)")
    clip_eps: float = Field(0.01, ge=0.0, lt=0.5, description="propensities are clipped to [clip_eps, 1 - clip_eps] in AIPW")
    trim_alpha: float = Field(0.05, ge=0.0, lt=0.5, description="overlap trimming drops rows with e outside [a, 1 - a]")
    # --- heterogeneity -------------------------------------------------------------------------
    segment_min_rows: int = Field(100, ge=1, description="segments with fewer rows are not reported")
    segment_min_users: int = Field(20, ge=1, description="segments with fewer users are not reported")
    multiplicity_method: Literal["holm", "bh"] = Field("holm", description="multiplicity correction across segments")
    n_effect_buckets: int = Field(5, ge=2, le=20, description="quantile buckets of the smoothed effect")

    @field_validator("treatment_cutoff")
    @classmethod
    def _cutoff_range(cls, v: float | str) -> float | str:
        if isinstance(v, float | int) and not 0.0 <= float(v) <= 1.0:
            raise ValueError("expected a share in [0, 1] or 'median'")
        return v

    @field_validator("memory_limit")
    @classmethod
    def _memory_size(cls, v: str) -> str:
        memory_bytes(v)
        return v.strip()

    @field_validator("sim_start_date", mode="before")
    @classmethod
    def _iso_date(cls, v: Any) -> str:
        if isinstance(v, _dt.date):  # an unquoted date in YAML
            return v.isoformat()
        if not isinstance(v, str):
            raise ValueError(f"expected a date YYYY-MM-DD, got {type(v).__name__} {v!r}")
        try:
            _dt.date.fromisoformat(v)
        except ValueError as exc:
            raise ValueError("expected a date YYYY-MM-DD") from exc
        return v


    @model_validator(mode="after")
    def _simulated_calendar_fits_the_windows(self) -> LongtermParams:
        if not self.data_path and self.sim_n_days <= 3 + self.outcome_horizon_days:
            raise ValueError(f"longterm.sim_n_days ({self.sim_n_days}) leaves no user-day with 3 days of history "
                             f"and longterm.outcome_horizon_days ({self.outcome_horizon_days}) of future")
        return self

    @model_validator(mode="after")
    def _folds_need_users(self) -> LongtermParams:
        if not self.data_path and self.n_folds > self.sim_n_users:
            raise ValueError(f"longterm.n_folds ({self.n_folds}) is more than longterm.sim_n_users "
                             f"({self.sim_n_users}): every fold needs users")
        return self


class ExperimentColumns(_Section):
    """Column names of a slate-experiment log (`interference.experiment_path`), one row per item shown."""

    slate: str = Field("slate_id", description="slate id: the unit of randomization")
    user: str = Field("user_id", description="user the slate was shown to (a MovieLens userId)")
    item: str = Field("item_id", description="item shown (a MovieLens movieId)")
    position: str = Field("position", description="the item's position before any promotion, 1 = top")
    arm: str = Field("arm", description="the slate's arm (see interference.experiment_arms)")
    focal: str = Field("is_focal", description="1 on the slate's focal item (the one the promoted arm moves to the top), else 0")
    outcome: str = Field("click", description="the item's outcome: a click (0/1) or a rating")


class ExperimentArms(_Section):
    """Values of the log's arm column: the promoted arm and the control arm."""

    promoted: str | int = Field("promote_focal_item", description="arm value of slates whose focal item was promoted")
    control: str | int = Field("leave_slate_unchanged", description="arm value of slates left unchanged")


class InterferenceParams(_Section):
    """Knobs of the MovieLens interference track (chapters interference_01 .. interference_04)."""

    # --- data source -------------------------------------------------------------------------
    data_path: str = Field("", description="MovieLens dataset folder; empty = MovieLens-format simulator")
    layout: Literal["auto", "csv", "dat", "100k"] = Field(
        "auto", description="file layout: ml-latest/25m/32m CSV, ml-1m '::' dat, ml-100k u.data; auto detects"
    )
    # --- a logged slate experiment (replaces the simulated promotion when given) ---------------
    experiment_path: str = Field(
        "", description="slate-experiment log (Parquet or CSV), one row per (slate, position, item); "
        "empty = simulate the promotion experiment"
    )
    experiment_columns: ExperimentColumns = Field(
        default_factory=ExperimentColumns, description="column names of the experiment log"
    )
    experiment_arms: ExperimentArms = Field(default_factory=ExperimentArms, description="values of the log's arm column")
    experiment_probability: float | Literal["estimate"] = Field(
        "estimate", description="the log's randomization probability of the promoted arm, or 'estimate' "
        "(the share of promoted slates in the log)"
    )
    # --- simulator -----------------------------------------------------------------------------
    sim_n_users: int = Field(6040, ge=50, le=500_000, description="simulated users")
    sim_n_movies: int = Field(3706, ge=50, le=200_000, description="simulated movies")
    sim_n_ratings: int = Field(1_000_000, ge=1_000, le=50_000_000, description="simulated ratings")
    # --- slates --------------------------------------------------------------------------------
    n_slate_users: int = Field(3000, ge=10, description="users sampled to receive one slate each")
    slate_size: int = Field(12, ge=4, le=50, description="items per slate")
    focal_min_position: int = Field(5, ge=2, description="lowest seed position a focal item may take")
    focal_max_position: int = Field(12, ge=2, description="highest seed position a focal item may take")
    liked_threshold: float = Field(4.0, gt=0.0, le=5.0, description="a rating at or above this counts as liked")
    # --- experiment and click model (defaults reproduce the source notebook's world) ----------
    promotion_probability: float = Field(0.5, gt=0.0, lt=1.0, description="share of slates whose focal item is promoted (complete randomization)")
    click_intercept: float = Field(-2.75, description="click logit intercept")
    click_relevance: float = Field(0.78, description="per rating point above 3.5")
    click_visibility: float = Field(1.15, description="per unit of visibility 1/log2(position+1)")
    click_user_liked: float = Field(0.35, description="per unit of user liked rate above its mean")
    click_item_liked: float = Field(0.25, description="per unit of item liked rate above its mean")
    click_popularity: float = Field(0.10, description="per SD of log item popularity")
    click_focal_boost: float = Field(0.20, description="logit boost of the focal item when promoted")
    click_nonfocal_penalty: float = Field(0.08, description="logit penalty of every non-focal item when promoted")
    click_same_cluster_penalty: float = Field(0.24, description="extra penalty of same-cluster competitors when promoted")
    click_displaced_penalty: float = Field(0.10, description="extra penalty of items pushed down one position")
    click_prob_min: float = Field(0.01, ge=0.0, lt=0.5, description="click probabilities are clipped below at this")
    click_prob_max: float = Field(0.95, gt=0.5, le=1.0, description="click probabilities are clipped above at this")
    # --- estimation ----------------------------------------------------------------------------
    n_randomization: int = Field(1000, ge=50, le=100_000, description="re-randomizations for the randomization p-value")
    n_bootstrap: int = Field(400, ge=20, le=100_000, description="bootstrap replicates where a bootstrap is used")
    n_folds: int = Field(5, ge=2, le=20, description="cross-fitting folds")
    test_size: float = Field(0.25, gt=0.05, lt=0.9, description="held-out share for outcome-model metrics")
    model_n_estimators: int = Field(300, ge=10, le=5000, description="trees in the LightGBM / XGBoost outcome models")
    model_learning_rate: float = Field(0.05, gt=0.0, le=1.0, description="learning rate of the outcome models")
    model_max_depth: int = Field(4, ge=1, le=16, description="maximum tree depth of the outcome models")
    segment_min_slates: int = Field(30, ge=1, description="segments with fewer slates are not reported")

    @model_validator(mode="after")
    def _focal_min_inside_the_slate(self) -> InterferenceParams:
        if self.focal_min_position > self.slate_size:
            raise ValueError(f"interference.focal_min_position ({self.focal_min_position}) must be at most "
                             f"interference.slate_size ({self.slate_size})")
        return self

    @field_validator("experiment_probability")
    @classmethod
    def _probability_range(cls, v: float | str) -> float | str:
        if isinstance(v, float | int) and not 0.0 < float(v) < 1.0:
            raise ValueError("expected a probability in (0, 1) or 'estimate'")
        return v

    @field_validator("focal_max_position")
    @classmethod
    def _focal_range(cls, v: int, info: Any) -> int:
        lo = info.data.get("focal_min_position", 2)
        size = info.data.get("slate_size", 12)
        if v < lo or v > size:
            raise ValueError(f"expected focal_min_position ({lo}) <= value <= slate_size ({size})")
        return v


class ValidationParams(_Section):
    """Knobs of the simulation study (chapter validation_01)."""

    n_replicates: int = Field(80, ge=2, le=100_000, description="simulated data sets per scenario")
    scenarios: list[Literal["a", "b", "c", "f", "d", "e", "interference"]] = Field(
        ["a", "b", "c", "f", "d", "e", "interference"], min_length=1,
        description="scenarios to run: long-term a-f and the slate experiment 'interference'",
    )
    n_jobs: int = Field(2, ge=1, le=256, description="parallel workers (joblib)")
    backend: Literal["loky", "dask"] = Field("loky", description="joblib backend; dask needs scheduler_address")
    scheduler_address: str = Field("", description="Dask scheduler address, e.g. tcp://127.0.0.1:8786")
    lt_n_users: int = Field(250, ge=20, description="users per simulated long-term data set")
    lt_n_days: int = Field(30, ge=15, description="days per simulated long-term data set")
    lt_n_bootstrap: int = Field(200, ge=20, description="bootstrap replicates per long-term replicate")
    if_n_users: int = Field(800, ge=50, description="users per simulated MovieLens data set")
    if_n_movies: int = Field(600, ge=50, description="movies per simulated MovieLens data set")
    if_n_ratings: int = Field(60_000, ge=1_000, description="ratings per simulated MovieLens data set")
    if_n_slate_users: int = Field(600, ge=20, description="slates per simulated interference replicate")
    n_folds: int = Field(3, ge=2, le=20, description="cross-fitting folds of every nuisance model in the study")
    lt_lgbm_n_estimators: int = Field(40, ge=10, le=5000, description="trees per LightGBM nuisance model (long-term)")
    if_model_n_estimators: int = Field(100, ge=10, le=5000, description="trees per LightGBM outcome model (interference)")
    lt_weak_overlap_confounding: float = Field(
        4.0, ge=0.0, le=10.0, description="sim_confounding of scenario (d), weak overlap"
    )
    lt_unmeasured_confounding: float = Field(
        1.0, gt=0.0, le=10.0, description="sim_unmeasured_confounding of scenario (e)"
    )

    @model_validator(mode="after")
    def _dask_needs_a_scheduler(self) -> ValidationParams:
        if self.backend == "dask" and not self.scheduler_address.strip():
            raise ValueError("validation.backend 'dask' needs validation.scheduler_address "
                             "(e.g. tcp://127.0.0.1:8786)")
        if self.n_folds > self.lt_n_users:
            raise ValueError(f"validation.n_folds ({self.n_folds}) is more than validation.lt_n_users "
                             f"({self.lt_n_users}): every fold needs users")
        return self


class Params(BaseModel):
    """All parameters of one run: the shared seed and one section per track."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    seed: int = Field(42, strict=True, ge=0, le=2**32 - 1, description="the one seed behind every random choice")
    longterm: LongtermParams = Field(default_factory=LongtermParams)
    interference: InterferenceParams = Field(default_factory=InterferenceParams)
    validation: ValidationParams = Field(default_factory=ValidationParams)

    # ------------------------------------------------------------------------------------------
    def section(self, name: str) -> _Section:
        """Return the section called `name` (longterm, interference or validation)."""
        if name not in SECTIONS:
            raise ParamsError(f"unknown parameter section '{name}'; expected one of {sorted(SECTIONS)}")
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON/YAML-safe dictionary of every value."""
        return self.model_dump(mode="json")

    def digest(self, section: str | None = None, keys: list[str] | None = None) -> str:
        """Stable hash of the seed plus a section (or some of its keys); used for artifact freshness."""
        payload: dict[str, Any] = {"seed": self.seed}
        if section is not None:
            values = self.section(section).model_dump(mode="json")
            payload[section] = {k: values[k] for k in keys} if keys is not None else values
        else:
            payload = self.to_dict()
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


SECTIONS: dict[str, type[_Section]] = {
    "longterm": LongtermParams,
    "interference": InterferenceParams,
    "validation": ValidationParams,
}
SHARED_KEYS = ("seed",)


# ----------------------------------------------------------------------------------------------
# Loading, overriding and error formatting
# ----------------------------------------------------------------------------------------------
UNION_MEMBERS = {"float", "int", "str", "bool"}  # pydantic adds the union member to a location


def _format_validation_error(exc: ValidationError, origin: str) -> str:
    first = exc.errors()[0]
    parts = [str(p) for p in first["loc"]]
    if len(parts) > 2 and (parts[-1] in UNION_MEMBERS or parts[-1].startswith("literal[")):
        parts = parts[:-1]
    loc = ".".join(parts)
    value = first.get("input")
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        owner = _model_at(first["loc"][:-1])
        known = sorted(owner.model_fields) if owner is not None and len(first["loc"]) > 1 else sorted(
            [*SHARED_KEYS, *SECTIONS]
        )
        return f"{origin}: unknown parameter '{loc}'; known keys here: {', '.join(known)}"
    if isinstance(msg, str) and msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if first["type"] == "value_error" and isinstance(value, dict):
        # a rule across parameters of one section: the message names them
        return f"{origin}: {msg}"
    if first["type"] == "model_type" and value is None and len(first["loc"]) == 1:
        return f"{origin}: section '{loc}' is empty (null); give it keys or leave it out"
    expected = _expected_form(first["loc"])
    extra = f" (expected {expected})" if expected and expected not in msg and not msg.startswith("expected") else ""
    return f"{origin}: parameter '{loc}' = {value!r} is invalid: {msg}{extra}"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The parameter class that owns the keys at `loc` (a section, or a group nested in one)."""
    model: type[BaseModel] | None = Params
    for key in loc:
        if model is None or str(key) not in model.model_fields:
            return None
        model = nested_section(model, str(key))
    return model


def _expected_form(loc: tuple[Any, ...]) -> str:
    owner = _model_at(loc[:-1]) if len(loc) >= 2 and loc[0] in SECTIONS else Params
    try:
        if owner is None:
            return ""
        field = owner.model_fields[str(loc[-1] if len(loc) >= 2 and loc[0] in SECTIONS else loc[0])]
    except KeyError:
        return ""
    bits = [type_text(field.annotation)]
    for meta in field.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                bits.append(f"{sym} {getattr(meta, attr)}")
    return " ".join(bits)


def type_text(ann: Any) -> str:
    """Readable form of a field's type: 'float', "one of 'a', 'b'", "float or 'median'"."""
    import typing

    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(ann))
    if origin is not None:
        parts = []
        for a in typing.get_args(ann):
            if typing.get_origin(a) is typing.Literal:
                parts.extend(repr(x) for x in typing.get_args(a))
            else:
                parts.append(type_text(a))
        return " or ".join(parts)
    return getattr(ann, "__name__", str(ann))


def build_params(data: dict[str, Any] | None = None, origin: str = "parameters") -> Params:
    """Validate a nested dict into `Params`, raising `ParamsError` with a one-line message."""
    try:
        return Params.model_validate(data or {})
    except ValidationError as exc:
        raise ParamsError(_format_validation_error(exc, origin)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a parameter YAML file into a dict, with a clear error for a missing or bad file."""
    p = Path(path)
    if p.is_dir():
        raise ParamsError(f"parameter file '{p}' is a folder; expected a YAML file")
    if not p.is_file():
        raise ParamsError(f"parameter file '{p}' does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ParamsError(f"parameter file '{p}' is not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"parameter file '{p}' is not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise ParamsError(f"parameter file '{p}' must hold a mapping of sections, got {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `section.key=value` into a key path and a YAML-typed value ('1.5' -> 1.5, 'median')."""
    if "=" not in text:
        raise ParamsError(f"override '{text}' must look like section.key=value (e.g. longterm.n_bootstrap=200)")
    key, raw = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ParamsError(f"override '{text}' has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except (yaml.YAMLError, ValueError):
        value = raw
    if isinstance(value, _dt.date):  # YAML reads 2020-07-05 as a date; parameters keep ISO text
        value = raw.strip()
    if value is None:
        value = ""
    return path, value


def nested_section(model: type[BaseModel], key: str) -> type[BaseModel] | None:
    """The model class of field `key` when it is itself a group of keys (a nested section), else None."""
    ann = model.model_fields[key].annotation
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def field_default(field: Any) -> Any:
    """A field's default as plain data (a nested group becomes a dict)."""
    value = field.get_default(call_default_factory=True)
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `data` with each `section.key=value` override applied (names checked)."""
    out = json.loads(json.dumps(data))
    for text in overrides:
        path, value = parse_override(text)
        if path[0] in SECTIONS:
            model: type[BaseModel] | None = SECTIONS[path[0]]
            node = out
            for depth, key in enumerate(path[1:], start=1):
                here = ".".join(path[:depth])
                if model is None:
                    raise ParamsError(f"override '{text}': '{here}' is a value, not a section; expected {here}=value")
                if key not in model.model_fields:
                    known = ", ".join(sorted(model.model_fields))
                    raise ParamsError(f"override '{text}': unknown parameter '{here}.{key}'; known keys: {known}")
                if not isinstance(node.get(path[depth - 1]), dict):
                    node[path[depth - 1]] = {}  # a section left empty (null) in the file
                node = node[path[depth - 1]]
                model = nested_section(model, key)
            if len(path) < 2 or model is not None:
                raise ParamsError(f"override '{text}': expected {'.'.join(path)}.<key>=value")
            node[path[-1]] = value
        elif path[0] in SHARED_KEYS and len(path) == 1:
            out[path[0]] = value
        else:
            known = ", ".join([*SHARED_KEYS, *(f"{s}.<key>" for s in SECTIONS)])
            raise ParamsError(f"override '{text}': unknown parameter '{'.'.join(path)}'; expected one of {known}")
    return out


def load_params(path: str | Path | None = None, overrides: list[str] | None = None) -> Params:
    """Load defaults, then a YAML profile (if given), then `--set` overrides; validate once."""
    data = read_yaml(path) if path else {}
    origin = Path(path).name if path else "parameters"
    if overrides:
        data = apply_overrides(data, overrides)
        origin = "--set" if not path else f"{Path(path).name} + --set"
    return build_params(data, origin=origin)


def env_params_file() -> str:
    """Profile named by $RECSYS_CAUSAL_PARAMS (used by nbval to run notebooks on params/test.yaml)."""
    return os.environ.get(ENV_PARAMS_FILE, "").strip()


def dump_yaml(params: Params, path: Path) -> None:
    """Write the resolved parameters as YAML (atomically)."""
    from recsys_causal.artifacts import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(params.to_dict(), sort_keys=False))
