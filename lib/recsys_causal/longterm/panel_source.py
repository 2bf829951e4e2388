"""The user-day panel of a log source with the engine the parameters choose (duckdb, pandas, spark).

`pandas` is the reference implementation (`recsys_causal.longterm.panel`), reading a KuaiRec
folder with the KuaiRec loader and any other log through `recsys_causal.data.logs.load_log_frame`;
`duckdb` (the default) and `spark` run the SQL of `recsys_causal.longterm.panel_sql`.
"""

from __future__ import annotations

from recsys_causal.data.kuairec import LoadReport, load_interactions, validate_folder
from recsys_causal.data.logs import LogSource, load_log_frame
from recsys_causal.longterm.panel import PanelResult, build_user_day_panel
from recsys_causal.longterm.panel_sql import build_panel_sql
from recsys_causal.params import LongtermParams


def panel_from_source(source: LogSource, params: LongtermParams, engine: str | None = None) -> tuple[PanelResult, LoadReport]:
    """Build the panel of `source` with `params` (a `LongtermParams`) on `engine` (default: params.engine)."""
    engine = engine or params.engine
    knobs = dict(high_watch_threshold=params.high_watch_threshold, treatment_cutoff=params.treatment_cutoff,
                 outcome_horizon_days=params.outcome_horizon_days, watch_ratio_cap=params.watch_ratio_cap)
    if engine == "pandas":
        if source.kind == "kuairec":
            folder = source.files[0].parent
            validate_folder(folder, source.files[0].stem)
            interactions, report = load_interactions(folder, source.files[0].stem, params.duplicate_policy)
        else:
            interactions, report = load_log_frame(source, params.duplicate_policy, params.memory_limit)
        return build_user_day_panel(interactions, **knobs), report
    sp = build_panel_sql(source, **knobs, duplicate_policy=params.duplicate_policy, engine=engine,
                         memory_limit=params.memory_limit, spark_master=params.spark_master)
    return sp.result, sp.report
