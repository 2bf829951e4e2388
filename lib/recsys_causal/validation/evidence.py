"""The validation chapter's evidence tables: what each scenario changes, the confounder, overlap.

Computed on the study's first data set(s), seeded like replicate 0, with the chapters' own code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_causal.longterm.propensity import NUMERIC_COVARIATES, propensity_metrics
from recsys_causal.params import Params
from recsys_causal.seeds import replicate_seed
from recsys_causal.validation.longterm_world import analyse_longterm, simulate_longterm
from recsys_causal.validation.runner import config_from_params
from recsys_causal.validation.scenarios import (
    CALENDAR_COVARIATES,
    SCENARIOS,
    STRONGEST_CONFOUNDER,
    setting_overrides,
    study_interference_params,
    study_longterm_params,
)


def scenario_overview(params: Params) -> pd.DataFrame:
    """One row per scenario run: world, the simulator knobs that differ, what the analyst omits."""
    v = params.validation
    rows = []
    for key in v.scenarios:
        s = SCENARIOS[key]
        if s.world == "longterm":
            knobs = setting_overrides(s.setting, v)
            lt = study_longterm_params(v, s.setting)
            data = (f"{lt.sim_n_users} users x {lt.sim_n_days} days; sim_confounding={lt.sim_confounding:g}, "
                    f"sim_unmeasured_confounding={lt.sim_unmeasured_confounding:g}")
        else:
            knobs = {}
            ip = study_interference_params(v)
            data = (f"{ip.sim_n_users} users, {ip.sim_n_movies} movies, {ip.sim_n_ratings:,} ratings; "
                    f"{ip.n_slate_users} slates, promotion probability {ip.promotion_probability:g}")
        omitted = []
        if s.propensity_drop:
            omitted.append("propensity models: " + ", ".join(s.propensity_drop))
        if s.outcome_drop:
            omitted.append("outcome models: " + ", ".join(s.outcome_drop))
        rows.append({"scenario": s.title, "data set": data, "changed knobs": ", ".join(f"{k}={x:g}" for k, x in knobs.items()) or "none",
                     "omitted covariates": "; ".join(omitted) or "none", "description": s.description})
    return pd.DataFrame(rows)


def confounder_strengths(panel: pd.DataFrame) -> pd.DataFrame:
    """How strongly each numeric pre-treatment covariate confounds treatment and outcome.

    Per covariate: its standardized coefficient in a logistic model of treatment, in a linear
    model of the outcome (given treatment and the other covariates), and the product of the
    two absolute values (`confounding_score`, the rough size of the bias that omitting it
    would leave); sorted by that score.
    """
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.preprocessing import StandardScaler

    history = [c for c in NUMERIC_COVARIATES if c not in CALENDAR_COVARIATES]
    X = panel[history].to_numpy(float)
    keep = X.std(axis=0) > 0
    cols = [c for c, k in zip(history, keep, strict=True) if k]
    Xs = StandardScaler().fit_transform(X[:, keep])
    a = panel["treatment"].to_numpy(int)
    y = panel["outcome"].to_numpy(float)
    t_coef = LogisticRegression(solver="newton-cholesky", max_iter=200).fit(Xs, a).coef_[0]
    y_coef = LinearRegression().fit(np.column_stack([Xs, a]), (y - y.mean()) / y.std()).coef_[:-1]
    out = pd.DataFrame({"covariate": cols, "treatment_coef": t_coef, "outcome_coef": y_coef,
                        "confounding_score": np.abs(t_coef) * np.abs(y_coef)})
    return out.sort_values("confounding_score", ascending=False, kind="mergesort").reset_index(drop=True)


def confounder_evidence(params: Params, replicate: int = 0) -> pd.DataFrame:
    """`confounder_strengths` on the first default data set of the study (seeded like replicate 0)."""
    cfg = config_from_params(params)
    data = simulate_longterm(cfg, "default", replicate_seed(cfg.seed, replicate, "replicate_simulation"))
    out = confounder_strengths(data.panel)
    corr = data.panel[list(out["covariate"])].corrwith(data.panel[STRONGEST_CONFOUNDER])
    return out.assign(correlation_with_strongest=out["covariate"].map(corr))


def overlap_evidence(params: Params, replicate: int = 0) -> pd.DataFrame:
    """Propensity diagnostics (chapter 02's `propensity_metrics`) on the first data set of the
    default and the weak-overlap settings: how many rows fall outside [0.05, 0.95]."""
    cfg = config_from_params(params)
    frames = []
    for setting, key in (("default", "a"), ("weak_overlap", "d")):
        data = simulate_longterm(cfg, setting, replicate_seed(cfg.seed, replicate, "replicate_simulation"))
        an = analyse_longterm(cfg, data, [SCENARIOS[key]], replicate_seed(cfg.seed, replicate, "replicate_estimation"))[key]
        scores = {m: an.propensity(m) for m in ("logistic", "lightgbm")}
        m = propensity_metrics(data.panel["treatment"].to_numpy(int), scores)
        m.insert(0, "setting", f"{setting} (sim_confounding={data.params.sim_confounding:g})")
        frames.append(m[["setting", "model", "n_rows", "treated_share", "auc", "min_e", "max_e", "share_extreme"]])
    return pd.concat(frames, ignore_index=True)
