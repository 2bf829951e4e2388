"""Builder of the long-term track's panel artifacts (chapter longterm_01).

Outputs
  kuairec_long_term_panel.parquet          one row per kept active user-day (`PANEL_COLUMNS`)
  kuairec_long_term_oracle.parquet         the simulator's truth for every panel row
                                           (absent on real data: there is no truth)
  kuairec_long_term_panel_summary.csv      metric, value: load report, panel shape, exclusions,
                                           treatment rate, oracle ATE (simulated data)

Simulated data: `simulate_from_params` writes `<run_dir>/raw/kuairec/<matrix>.csv` (outside
processed/), and the loader reads it back, so simulated and real data share one code path.
Real data: `longterm.data_path` (relative paths resolve against the project root): a KuaiRec
folder or an interaction log with `longterm.columns` (`recsys_causal.data.logs`). The panel is
built by `longterm.engine` (DuckDB by default; `recsys_causal.longterm.panel_source`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys_causal.artifact_names import LT
from recsys_causal.artifacts import RunStore, builder
from recsys_causal.data.errors import DataError
from recsys_causal.data.kuairec import PRIOR_WINDOW_DAYS
from recsys_causal.data.logs import LogSource, resolve_source
from recsys_causal.longterm.panel import PanelResult
from recsys_causal.longterm.panel_source import panel_from_source
from recsys_causal.params import LongtermParams
from recsys_causal.simulate.kuairec import ORACLE_COLUMNS, simulate_from_params

PANEL_KEYS = (
    "data_path", "columns", "engine", "matrix", "duplicate_policy", "high_watch_threshold", "treatment_cutoff",
    "outcome_horizon_days", "watch_ratio_cap",
    "sim_n_users", "sim_n_days", "sim_start_date", "sim_effect_mean", "sim_effect_activity",
    "sim_effect_quality", "sim_confounding", "sim_unmeasured_confounding",
)


def simulated_raw_dir(store: RunStore) -> Path:
    """Where the simulated KuaiRec CSV of a run lives (kept out of processed/)."""
    return store.run_dir / "raw" / "kuairec"


def check_panel(panel: pd.DataFrame, params: LongtermParams) -> None:
    """Refuse a panel the track cannot analyse, before it is recorded: no user-day at all, or a
    treatment that every user-day or none has (the propensity models need both)."""
    if panel.empty:
        raise DataError(f"the user-day panel is empty: no day has {PRIOR_WINDOW_DAYS} days of history and "
                        f"longterm.outcome_horizon_days={params.outcome_horizon_days} days of future in the data")
    rate = float(panel["treatment"].mean())
    if rate in (0.0, 1.0):
        raise DataError(f"{'every' if rate == 1.0 else 'no'} user-day of the panel is a high-watch day "
                        f"(longterm.high_watch_threshold={params.high_watch_threshold:g}, "
                        f"longterm.treatment_cutoff={params.treatment_cutoff}); change one of them")


def panel_tables(
    source: Path | LogSource, params: LongtermParams, oracle: pd.DataFrame | None
) -> dict[str, pd.DataFrame]:
    """Read the log (a KuaiRec folder or a `LogSource`), build the panel with `params.engine`, align
    the oracle, assemble the summary."""
    if not isinstance(source, LogSource):
        source = resolve_source(str(source), params.matrix)
    result: PanelResult
    result, report = panel_from_source(source, params)
    panel = result.panel
    check_panel(panel, params)
    rows = [report.to_frame(), result.summary_frame()]
    if oracle is not None:
        keys = panel[["user_id", "event_date"]]
        aligned = keys.merge(oracle, on=["user_id", "event_date"], how="left", validate="one_to_one")
        if aligned["y1"].isna().any():
            raise RuntimeError(f"the oracle lacks {int(aligned['y1'].isna().sum())} panel user-days")
        agree = float((aligned["treatment"].to_numpy() == panel["treatment"].to_numpy()).mean())
        oracle_out = aligned[list(ORACLE_COLUMNS)].reset_index(drop=True)
        rows.append(pd.DataFrame({
            "metric": ["oracle_ate", "oracle_att", "oracle_mean_y0", "oracle_treatment_agreement"],
            "value": [
                float(oracle_out["cate"].mean()),
                float(oracle_out.loc[panel["treatment"].to_numpy() == 1, "cate"].mean()),
                float(oracle_out["y0"].mean()),
                agree,
            ],
        }))
    naive = panel.groupby("treatment")["outcome"].mean()
    rows.append(pd.DataFrame({
        "metric": ["naive_difference_in_means", "simulated"],
        "value": [float(naive.get(1, np.nan) - naive.get(0, np.nan)), float(oracle is not None)],
    }))
    summary = pd.concat(rows, ignore_index=True).astype({"value": "float64"})
    out = {LT.PANEL: panel, LT.PANEL_SUMMARY: summary}
    if oracle is not None:
        out[LT.ORACLE] = oracle_out
    return out


@builder(outputs=(LT.PANEL, LT.ORACLE, LT.PANEL_SUMMARY), section="longterm", keys=PANEL_KEYS, optional=(LT.ORACLE,))
def build_panel(store: RunStore) -> dict[str, pd.DataFrame]:
    """Simulate (or locate) the KuaiRec files, load them, and build the user-day panel."""
    p = store.params.longterm
    if store.is_simulated("longterm"):
        raw = simulated_raw_dir(store)
        sim = simulate_from_params(p, seed=store.params.seed, out_dir=raw)
        return panel_tables(raw, p, sim.oracle)
    return panel_tables(resolve_source(p.data_path, p.matrix, p.columns), p, None)
