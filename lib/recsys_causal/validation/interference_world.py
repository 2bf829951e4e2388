"""The interference world of the study: MovieLens-format simulator -> slates -> promotion experiment.

The estimators call the chapters' own code: chapter 02's difference in means of every
component, chapter 03's nuisances (`crossfit_nuisances`: the held-out model selection, the
LightGBM T-learner behind AIPW and the selected model's policy score, on one set of folds), its
AIPW table and its policy rules.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys_causal.data.movielens import load_movielens
from recsys_causal.inference import mean_with_se, normal_interval
from recsys_causal.interference.aipw import Nuisances, aipw_table, crossfit_nuisances
from recsys_causal.interference.click_model import ClickModel
from recsys_causal.interference.exposure import component_table, run_promotion_experiment
from recsys_causal.interference.features import (
    ORACLE,
    EncodedFeatures,
    build_model_table,
    encode_features,
    oracle_slate_lift,
)
from recsys_causal.interference.policy import oracle_policy_value, policy_masks
from recsys_causal.interference.randomized import EFFECT_ROWS, difference_in_means, effect_outcomes
from recsys_causal.interference.slates import slate_tables_from_params
from recsys_causal.params import InterferenceParams
from recsys_causal.scores import aipw_score
from recsys_causal.simulate.movielens import simulate_movielens
from recsys_causal.validation.registry import EstimateRow, EstimatorSpec, World
from recsys_causal.validation.scenarios import Scenario, study_interference_params

if TYPE_CHECKING:
    from recsys_causal.validation.runner import StudyConfig

NEYMAN_INFERENCE = "Neyman SE (normal interval)"
SCORE_INFERENCE = "SD of the scores / sqrt(n)"


@dataclass
class InterferenceData:
    """One simulated slate experiment: item-row exposure, slate components, parameters."""

    exposure: pd.DataFrame
    component: pd.DataFrame
    params: InterferenceParams


def simulate_interference(config: StudyConfig, setting: str, sim_seed: int) -> InterferenceData:
    """Simulate ratings, read them back, build slates, randomize promotion and simulate clicks."""
    ip = study_interference_params(config.validation)
    with tempfile.TemporaryDirectory(prefix="recsys_causal_val_") as tmp:
        simulate_movielens(ip.sim_n_users, ip.sim_n_movies, ip.sim_n_ratings, sim_seed, tmp)
        data = load_movielens(tmp, "auto")
    tables = slate_tables_from_params(data.ratings, data.movies, ip, sim_seed)
    exposure = run_promotion_experiment(tables.slates, ClickModel.from_params(ip), ip.promotion_probability, sim_seed)
    return InterferenceData(exposure, component_table(exposure), ip)


@dataclass
class InterferenceAnalysis:
    """The study's view of one experiment; chapter 03's nuisances are fitted once and shared."""

    data: InterferenceData
    scenario: Scenario
    seed: int
    cache: dict[Any, Any]

    def _memo(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def model_inputs(self) -> tuple[EncodedFeatures, np.ndarray]:
        """Chapter 03's encoded slate table and each slate's oracle lift."""

        def make() -> tuple[EncodedFeatures, np.ndarray]:
            ip = self.data.params
            oracle, _ = oracle_slate_lift(self.data.exposure, ip)
            table = build_model_table(self.data.exposure, self.data.component, oracle, ip)
            return encode_features(table), table[ORACLE].to_numpy(float)

        return self._memo("inputs", make)

    def nuisances(self) -> Nuisances:
        """Chapter 03's cross-fitted nuisances (`crossfit_nuisances`) under the study's seed."""
        return self._memo("nuisances", lambda: crossfit_nuisances(self.model_inputs()[0], self.data.params, self.seed))


def analyse_interference(config: StudyConfig, data: InterferenceData, scenarios: Sequence[Scenario],
                         est_seed: int) -> dict[str, InterferenceAnalysis]:
    """One analysis per scenario of the experiment, sharing one nuisance cache."""
    cache: dict[Any, Any] = {}
    return {s.key: InterferenceAnalysis(data, s, est_seed, cache) for s in scenarios}


def interference_difference_in_means(an: InterferenceAnalysis) -> list[EstimateRow]:
    """Chapter 02's randomized difference in means of every component (Neyman SE), against the oracle lift."""
    comp = an.data.component
    y, oracle = effect_outcomes(comp)
    dim = difference_in_means(y, comp["promotion_applied"].to_numpy().astype(bool))
    truth = oracle.mean(axis=0)
    return [EstimateRow("Difference in means", NEYMAN_INFERENCE, float(dim.estimate[j]), float(dim.se[j]),
                        float(dim.ci_lower[j]), float(dim.ci_upper[j]), float(truth[j]), estimand=key)
            for j, key in enumerate(EFFECT_ROWS)]


def interference_aipw(an: InterferenceAnalysis) -> list[EstimateRow]:
    """Chapter 03's Horvitz-Thompson and cross-fitted AIPW rows of the slate total (known propensity)."""
    enc, true_lift = an.model_inputs()
    n = an.nuisances()
    table = aipw_table(enc.y.to_numpy(float), enc.treatment.to_numpy(int), n.m1, n.m0,
                       an.data.params.promotion_probability, true_lift)
    rows = table[table["se_method"].str.startswith("sd of the scores")]
    truth = float(np.mean(true_lift))
    return [EstimateRow(str(r.estimator), SCORE_INFERENCE, float(r.estimate), float(r.se), float(r.ci_95_lower),
                        float(r.ci_95_upper), truth, estimand="total_slate") for r in rows.itertuples(index=False)]


def interference_policy_values(an: InterferenceAnalysis) -> list[EstimateRow]:
    """Doubly robust value of each of chapter 03's targeting policies (per eligible slate) against its true value."""
    enc, true_lift = an.model_inputs()
    n = an.nuisances()
    psi = aipw_score(enc.y.to_numpy(float), enc.treatment.to_numpy(int), an.data.params.promotion_probability,
                     n.m1, n.m0, clip_eps=None)
    rows = []
    for policy, d in policy_masks(n.policy_score, n.folds, true_lift).items():
        est, se = mean_with_se(d.astype(float) * psi)
        lo, hi = normal_interval(est, se)
        rows.append(EstimateRow("Policy value (doubly robust)", SCORE_INFERENCE, est, se, float(lo), float(hi),
                                oracle_policy_value(d, true_lift), estimand=policy))
    return rows


ESTIMATORS: tuple[EstimatorSpec, ...] = (
    EstimatorSpec("Difference in means", "interference", interference_difference_in_means),
    EstimatorSpec("Cross-fitted AIPW", "interference", interference_aipw),
    EstimatorSpec("Policy values (doubly robust)", "interference", interference_policy_values),
)
WORLD = World("interference", simulate_interference, analyse_interference, ESTIMATORS)
