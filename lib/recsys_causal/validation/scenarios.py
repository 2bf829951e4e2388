"""The study's scenarios: which world each simulates, with which knobs, and what the analyst omits.

* A **world** is one of the two simulated tracks: ``longterm`` (the KuaiRec-format simulator,
  read back through the loader and turned into the user-day panel) and ``interference`` (the
  MovieLens-format simulator, slates, the randomized promotion experiment).
* A **setting** is one data-generating process of a world: the simulator's knobs. Settings of
  the long-term world: ``default``, ``weak_overlap`` (strong confounding) and ``unmeasured``
  (a latent confounder the logs do not carry).
* A **scenario** is a setting plus an analysis: scenarios (a), (b) and (c) analyse the *same*
  data sets of the default setting, with the full feature lists, without the strongest
  confounder in the propensity model (b), or without it in the outcome model (c). Scenario (d)
  is the weak-overlap setting, (e) the unmeasured-confounder setting, ``interference`` the
  slate experiment. Scenarios differ only in the world they simulate and in the covariates the
  chapters' own nuisance models may see (their ``drop=`` argument).
"""

from __future__ import annotations

from dataclasses import dataclass

from recsys_causal.params import InterferenceParams, LongtermParams, ValidationParams

#: The strongest confounder of the KuaiRec simulator: the recorded activity history. Its
#: treatment logit is c * [2.0 (h - 1.35) + 0.3 (log1p(m) - ...)] with h the 3-day high-watch share
#: and m = prior_3day_interactions, and activity (m) also drives next week's activity, the
#: outcome. By its pull on treatment alone h leads, but h barely moves the outcome, so leaving it
#: out biases nothing; m moves both (`confounder_strengths` ranks covariates by the product of the
#: two pulls, and a test checks that m comes first on a default data set).
STRONGEST_CONFOUNDER = "prior_3day_interactions"
#: Near-copies of the strongest confounder (correlation >= 0.8 with it in the simulated panel):
#: a model that lost m alone would recover it from them, so scenarios (b) and (c) drop them too.
CONFOUNDER_PROXIES: tuple[str, ...] = (
    "prior_3day_total_play_duration_sec", "lag_1_interactions", "lag_1_total_play_duration_sec",
)
OMITTED_COVARIATES: tuple[str, ...] = (STRONGEST_CONFOUNDER, *CONFOUNDER_PROXIES)
#: Calendar position, not user history (and collinear with each other within the panel):
#: left out of the confounder ranking.
CALENDAR_COVARIATES: tuple[str, ...] = ("calendar_day_index", "panel_day_index")


@dataclass(frozen=True)
class Scenario:
    """A data-generating setting plus the analysis applied to its data sets."""

    key: str  # "a" .. "e", "interference"
    world: str
    setting: str
    title: str
    description: str
    propensity_drop: tuple[str, ...] = ()
    outcome_drop: tuple[str, ...] = ()
    short: str = ""  # panel title in figures
    #: "chapter": the chapters' logistic propensity model (all covariates, linear in them);
    #: "true": the logistic model of the simulator's own treatment form (`treatment_design`).
    logistic_form: str = "chapter"


SCENARIOS: dict[str, Scenario] = {
    s.key: s
    for s in (
        Scenario("a", "longterm", "default", "(a) Default world",
                 "The simulator's default confounding; every nuisance model sees all pre-treatment covariates.",
                 short="(a) default"),
        Scenario("b", "longterm", "default", "(b) Propensity model omits the strongest confounder",
                 f"Same data as (a); `{STRONGEST_CONFOUNDER}` and its near-copies are dropped from both propensity models.",
                 propensity_drop=OMITTED_COVARIATES, short="(b) confounder\nnot in e(X)"),
        Scenario("c", "longterm", "default", "(c) Outcome model omits the strongest confounder",
                 f"Same data as (a); `{STRONGEST_CONFOUNDER}` and its near-copies are dropped from both outcome models, "
                 "and the logistic propensity model has the simulator's true form (linear in the 3-day high-watch "
                 f"share and log1p of `{STRONGEST_CONFOUNDER}`), so one nuisance model is right.",
                 outcome_drop=OMITTED_COVARIATES, short="(c) confounder\nnot in m(a, X)", logistic_form="true"),
        Scenario("f", "longterm", "default", "(f) Both nuisance models omit the strongest confounder",
                 f"Same data as (a); `{STRONGEST_CONFOUNDER}` and its near-copies are dropped from the propensity and "
                 "the outcome models: what double robustness does not buy.",
                 propensity_drop=OMITTED_COVARIATES, outcome_drop=OMITTED_COVARIATES, short="(f) confounder\nin neither"),
        Scenario("d", "longterm", "weak_overlap", "(d) Weak overlap",
                 "Confounding strong enough that many propensities fall outside [0.05, 0.95].",
                 short="(d) weak\noverlap"),
        Scenario("e", "longterm", "unmeasured", "(e) Unmeasured confounder",
                 "A user-day shock raises both the chance of a high-watch day and later activity; no log row carries it.",
                 short="(e) unmeasured\nconfounder"),
        Scenario("interference", "interference", "default", "Slate promotion experiment",
                 "Promotion randomized by slate with a known probability (the interference track's world).",
                 short="slate experiment"),
    )
}
SCENARIO_KEYS: tuple[str, ...] = tuple(SCENARIOS)


def setting_overrides(setting: str, vp: ValidationParams) -> dict[str, float]:
    """Simulator knobs of a long-term setting (from the validation parameters)."""
    if setting == "default":
        return {}
    if setting == "weak_overlap":
        return {"sim_confounding": float(vp.lt_weak_overlap_confounding)}
    if setting == "unmeasured":
        return {"sim_unmeasured_confounding": float(vp.lt_unmeasured_confounding)}
    raise ValueError(f"unknown long-term setting '{setting}'")


def study_longterm_params(vp: ValidationParams, setting: str = "default") -> LongtermParams:
    """The `LongtermParams` of the study's long-term data sets: report defaults, study scale.

    What differs from the main chapters: `lt_n_users` x `lt_n_days` simulated users and days,
    `n_folds` cross-fitting folds and `lt_lgbm_n_estimators` trees per LightGBM model with the
    learning rate raised so that trees x rate equals the chapters' (100 x 0.1 by default), plus the
    setting's simulator knobs.
    """
    base = LongtermParams()
    update = {
        "sim_n_users": int(vp.lt_n_users),
        "sim_n_days": int(vp.lt_n_days),
        "n_folds": int(vp.n_folds),
        "lgbm_n_estimators": int(vp.lt_lgbm_n_estimators),
        # fewer trees, same total shrinkage (trees x learning rate) as the chapters' models
        "lgbm_learning_rate": min(1.0, base.lgbm_learning_rate * base.lgbm_n_estimators / int(vp.lt_lgbm_n_estimators)),
        "n_bootstrap": int(vp.lt_n_bootstrap),
        **setting_overrides(setting, vp),
    }
    return base.model_copy(update=update)


def study_interference_params(vp: ValidationParams) -> InterferenceParams:
    """The `InterferenceParams` of the study's data sets: report defaults at study scale."""
    base = InterferenceParams()
    update = {
        "sim_n_users": int(vp.if_n_users),
        "sim_n_movies": int(vp.if_n_movies),
        "sim_n_ratings": int(vp.if_n_ratings),
        "n_slate_users": int(vp.if_n_slate_users),
        "n_folds": int(vp.n_folds),
        "model_n_estimators": int(vp.if_model_n_estimators),
        "model_learning_rate": min(1.0, base.model_learning_rate * base.model_n_estimators / int(vp.if_model_n_estimators)),
    }
    return base.model_copy(update=update)
