"""Builder of chapter validation_01: the simulation study's replicate estimates and summary.

The outputs do not depend on how the study was run (``n_jobs``, ``backend``,
``scheduler_address``): those knobs are left out of the freshness keys, so switching from loky to
a Dask cluster does not invalidate the artifacts, and the tables are byte-identical either way.
"""

from __future__ import annotations

import pandas as pd

from recsys_causal.artifact_names import VAL
from recsys_causal.artifacts import RunStore, builder
from recsys_causal.params import ValidationParams
from recsys_causal.validation.metrics import nominal_coverage_mcse, summarize_replicates
from recsys_causal.validation.runner import run_study_from_params
from recsys_causal.validation.scenarios import SCENARIOS

EXECUTION_KEYS: tuple[str, ...] = ("n_jobs", "backend", "scheduler_address")
STUDY_KEYS: tuple[str, ...] = tuple(k for k in ValidationParams.model_fields if k not in EXECUTION_KEYS)


def study_summary(replicates: pd.DataFrame) -> pd.DataFrame:
    """`summarize_replicates` plus the scenario title and the nominal coverage MCSE."""
    s = summarize_replicates(replicates)
    s.insert(2, "scenario_title", s["scenario"].map(lambda k: SCENARIOS[k].title if k in SCENARIOS else k))
    s["nominal_coverage_mcse"] = [nominal_coverage_mcse(max(int(r), 1)) for r in s["n_replicates"]]
    return s


@builder(outputs=(VAL.REPLICATES, VAL.SUMMARY), section="validation", keys=STUDY_KEYS)
def build_study(store: RunStore) -> dict[str, pd.DataFrame]:
    """Run every scenario's replicates (joblib / Dask) and summarize them against the truth."""
    res = run_study_from_params(store.params, cache_dir=store.run_dir / "cache" / "validation")
    reps = res.replicates
    return {VAL.REPLICATES: reps, VAL.SUMMARY: study_summary(reps)}
