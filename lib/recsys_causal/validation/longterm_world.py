"""The long-term world of the study: KuaiRec-format simulator -> loader -> user-day panel.

Every estimator here calls the chapters' own code: the panel of chapter longterm_01, the
cross-fitted propensities and outcome predictions of chapters 02 and 04
(`fit_propensity_oof` / `fit_outcome_oof`, with the scenario's `drop=`), the weights and MSM
table of chapter 03, the AIPW score and its inference of chapter 05. The primary AIPW pair and
every model setting come from the study's `LongtermParams`, as in the chapters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys_causal.bootstrap import cluster_bootstrap_diff_in_means, cluster_bootstrap_mean
from recsys_causal.data.kuairec import interactions_from_table, typed_table
from recsys_causal.inference import influence_function_se, normal_interval, user_bootstrap_counts
from recsys_causal.longterm.gcomp import fit_outcome_oof
from recsys_causal.longterm.msm import (
    MSM_METHOD,
    WEIGHTED_DIM_METHOD,
    msm_estimates,
    msm_weight_columns,
    oracle_ate,
)
from recsys_causal.longterm.panel import build_user_day_panel
from recsys_causal.longterm.propensity import (
    cross_fit_propensity,
    fit_propensity_oof,
    logistic_design,
)
from recsys_causal.longterm.weights import analysis_weights
from recsys_causal.params import LongtermParams
from recsys_causal.scores import aipw_score
from recsys_causal.simulate.kuairec import simulate_from_params, treatment_design
from recsys_causal.validation.registry import EstimateRow, EstimatorSpec, World
from recsys_causal.validation.scenarios import Scenario, study_longterm_params

if TYPE_CHECKING:
    from recsys_causal.validation.runner import StudyConfig

BOOTSTRAP_INFERENCE = "user-cluster bootstrap (nuisances fixed)"
IF_INFERENCE = "influence function, clustered by user"
SANDWICH_INFERENCE = "sandwich, propensity estimated, clustered by user"
PROPENSITY_LABELS = {"logistic": "logistic", "lightgbm": "LightGBM"}
OUTCOME_LABELS = {"linear_ridge": "ridge", "lightgbm": "LightGBM"}
NAIVE = "Naive difference in means"


def aipw_label(propensity: str, outcome: str) -> str:
    """Table label of the AIPW estimator with one nuisance pair."""
    return f"AIPW ({PROPENSITY_LABELS[propensity]} + {OUTCOME_LABELS[outcome]})"


PRIMARY_AIPW_LABEL = aipw_label(LongtermParams().primary_propensity, LongtermParams().primary_outcome_model)


@dataclass
class LongtermData:
    """One simulated long-term data set: the sorted panel and its oracle ATE."""

    panel: pd.DataFrame
    truth: float
    params: LongtermParams
    setting: str


def simulate_longterm(config: StudyConfig, setting: str, sim_seed: int) -> LongtermData:
    """Simulate KuaiRec-format logs, pass them through the loader, build the panel.

    The rows stay in memory, in the CSV's columns and text, typed as the loader types the file
    (`typed_table`); the chapters' write-and-read of the same rows gives the same panel (a test
    checks it), so the study skips the file and its parse."""
    lt = study_longterm_params(config.validation, setting)
    sim = simulate_from_params(lt, sim_seed, None)
    interactions, _ = interactions_from_table(typed_table(sim.table), Path(f"{lt.matrix}.csv"), lt.duplicate_policy)
    panel = build_user_day_panel(interactions, lt.high_watch_threshold, lt.treatment_cutoff,
                                 lt.outcome_horizon_days, lt.watch_ratio_cap).panel
    panel = panel.sort_values(["user_id", "event_date"], kind="mergesort").reset_index(drop=True)
    panel["event_date"] = pd.to_datetime(panel["event_date"])
    truth = oracle_ate(panel, sim.oracle)
    return LongtermData(panel, float(truth), lt, setting)


@dataclass
class LongtermAnalysis:
    """One scenario's view of one data set; fitted nuisances are shared through `cache`."""

    data: LongtermData
    scenario: Scenario
    seed: int
    cache: dict[Any, Any]

    @property
    def panel(self) -> pd.DataFrame:
        return self.data.panel

    @property
    def lt(self) -> LongtermParams:
        return self.data.params

    @property
    def truth(self) -> float:
        return self.data.truth

    def _memo(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def counts(self) -> np.ndarray:
        """The user-cluster bootstrap count matrix shared by every estimator of this data set."""
        return self._memo("counts", lambda: user_bootstrap_counts(
            self.panel["user_id"].to_numpy(), self.lt.n_bootstrap, self.seed))

    def propensity(self, model: str) -> np.ndarray:
        """Chapter 02's out-of-fold e(X), without the scenario's dropped covariates; the logistic
        model of the true form where the scenario says so (`Scenario.logistic_form`)."""
        if model == "logistic" and self.scenario.logistic_form == "true":
            return self._memo(("propensity", model, "true"),
                              lambda: true_form_propensity_oof(self.panel, self.lt, self.seed))
        drop = self.scenario.propensity_drop
        return self._memo(("propensity", model, drop),
                          lambda: fit_propensity_oof(self.panel, model, self.lt, self.seed, drop))

    def outcome(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """Chapter 04's out-of-fold (m1, m0), without the scenario's dropped covariates."""
        drop = self.scenario.outcome_drop
        return self._memo(("outcome", model, drop),
                          lambda: fit_outcome_oof(self.panel, model, self.lt, self.seed, drop)[:2])

    def propensity_design(self) -> np.ndarray:
        """The design of this scenario's logistic propensity model, with its intercept."""
        if self.scenario.logistic_form == "true":
            return np.column_stack([np.ones(len(self.panel)), treatment_design(self.panel).to_numpy()])
        return logistic_design(self.panel, self.scenario.propensity_drop)

    def msm_table(self) -> pd.DataFrame:
        """Chapter 03's naive / weighted / MSM table with the scenario's primary propensity."""

        def make() -> pd.DataFrame:
            e = self.propensity(self.lt.primary_propensity)
            a = self.panel["treatment"].to_numpy(int)
            raw, w = analysis_weights(a, e, self.lt.weight_truncation_lower, self.lt.weight_truncation_upper)
            wp = self.panel.assign(ipw_stabilized=raw, analysis_weight=w)
            logistic = self.lt.primary_propensity == "logistic"
            return msm_estimates(wp, self.lt.n_bootstrap, self.seed, counts=self.counts(),
                                 **msm_weight_columns(self.lt.msm_weights),
                                 propensity=e if logistic else None,
                                 propensity_design=self.propensity_design() if logistic else None)

        return self._memo(("msm", self.scenario.propensity_drop, self.scenario.logistic_form), make)


def true_form_propensity_oof(panel: pd.DataFrame, lt: LongtermParams, seed: int) -> np.ndarray:
    """Out-of-fold e(X) from a logistic regression on the simulator's treatment inputs
    (`treatment_design`), cross-fitted by user like chapter 02's models: a correctly specified
    propensity model, so that double robustness has one right nuisance model to lean on."""
    from sklearn.linear_model import LogisticRegression

    return cross_fit_propensity(LogisticRegression(C=1e6, solver="newton-cholesky", max_iter=200), treatment_design(panel), panel, lt.n_folds)


def analyse_longterm(config: StudyConfig, data: LongtermData, scenarios: Sequence[Scenario],
                     est_seed: int) -> dict[str, LongtermAnalysis]:
    """One analysis per scenario, sharing one nuisance cache (so (a), (b), (c) fit each model once)."""
    cache: dict[Any, Any] = {}
    return {s.key: LongtermAnalysis(data, s, est_seed, cache) for s in scenarios}


def _boot_row(name: str, res: Any, truth: float) -> EstimateRow:
    return EstimateRow(name, BOOTSTRAP_INFERENCE, float(res.estimate[0]), float(res.se[0]),
                       float(res.ci_lower[0]), float(res.ci_upper[0]), truth)


def naive_difference(an: LongtermAnalysis) -> list[EstimateRow]:
    """Chapter 03's naive contrast (the same bootstrap function), without touching propensities."""
    p = an.panel
    res = cluster_bootstrap_diff_in_means(p["outcome"].to_numpy(float), p["treatment"].to_numpy(float),
                                          p["user_id"].to_numpy(), counts=an.counts())
    return [_boot_row(NAIVE, res, an.truth)]


def _msm_row(an: LongtermAnalysis, method: str, name: str) -> list[EstimateRow]:
    """Chapter 03's row: the sandwich with the estimated propensity (when the primary model is
    logistic) and the bootstrap with the weights held fixed."""
    t = an.msm_table()
    r = t[t["method"].eq(method)].iloc[0]
    rows = []
    if np.isfinite(r["se_estimated_propensity"]):
        rows.append(EstimateRow(name, SANDWICH_INFERENCE, float(r["estimate"]), float(r["se_estimated_propensity"]),
                                float(r["ci_95_lower"]), float(r["ci_95_upper"]), an.truth))
    rows.append(EstimateRow(name, BOOTSTRAP_INFERENCE, float(r["estimate"]), float(r["se_bootstrap"]),
                            float(r["ci_bootstrap_lower"]), float(r["ci_bootstrap_upper"]), an.truth))
    return rows


def ipw_hajek(an: LongtermAnalysis) -> list[EstimateRow]:
    """Chapter 03's weighted (Hájek) difference in means."""
    return _msm_row(an, WEIGHTED_DIM_METHOD, "IPW (Hájek)")


def msm(an: LongtermAnalysis) -> list[EstimateRow]:
    """Chapter 03's headline marginal structural model."""
    return _msm_row(an, MSM_METHOD, "MSM")


def gcomputation(model: str) -> Callable[[LongtermAnalysis], list[EstimateRow]]:
    """Chapter 04's g-computation mean(m1 - m0) with outcome model `model`."""

    def estimate(an: LongtermAnalysis) -> list[EstimateRow]:
        m1, m0 = an.outcome(model)
        res = cluster_bootstrap_mean(m1 - m0, an.panel["user_id"].to_numpy(), counts=an.counts())
        return [_boot_row(f"G-computation ({OUTCOME_LABELS[model]})", res, an.truth)]

    return estimate


def aipw(propensity: str, outcome: str) -> Callable[[LongtermAnalysis], list[EstimateRow]]:
    """Chapter 05's AIPW score for one nuisance pair: clustered IF SE and fixed-nuisance bootstrap."""

    def estimate(an: LongtermAnalysis) -> list[EstimateRow]:
        p = an.panel
        psi = aipw_score(p["outcome"], p["treatment"], an.propensity(propensity), *an.outcome(outcome),
                         an.lt.clip_eps)
        users = p["user_id"].to_numpy()
        est, se, _ = influence_function_se(psi, users)
        lo, hi = normal_interval(est, se)
        name = aipw_label(propensity, outcome)
        return [EstimateRow(name, IF_INFERENCE, est, se, float(lo), float(hi), an.truth),
                _boot_row(name, cluster_bootstrap_mean(psi, users, counts=an.counts()), an.truth)]

    return estimate


ESTIMATORS: tuple[EstimatorSpec, ...] = (
    EstimatorSpec(NAIVE, "longterm", naive_difference),
    EstimatorSpec("IPW (Hájek)", "longterm", ipw_hajek),
    EstimatorSpec("MSM", "longterm", msm),
    EstimatorSpec("G-computation (ridge)", "longterm", gcomputation("linear_ridge")),
    EstimatorSpec("G-computation (LightGBM)", "longterm", gcomputation("lightgbm")),
    *(EstimatorSpec(aipw_label(p, o), "longterm", aipw(p, o))
      for p in ("logistic", "lightgbm") for o in ("linear_ridge", "lightgbm")),
)
WORLD = World("longterm", simulate_longterm, analyse_longterm, ESTIMATORS)
