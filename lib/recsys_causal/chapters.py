"""The ordered chapter registry: one entry per notebook, in the order the book reads them.

The pipeline, the CLI's `list`, `_quarto.yml` and the tests all read this one list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from recsys_causal.params import SECTIONS, SHARED_KEYS


@dataclass(frozen=True)
class Chapter:
    """One chapter: where its notebook lives, which parameter section feeds it, what it writes."""

    id: str
    title: str
    track: str  # longterm | interference | validation
    notebook: str  # path relative to the project root
    inputs: tuple[str, ...] = field(default_factory=tuple)
    outputs: tuple[str, ...] = field(default_factory=tuple)

    @property
    def section(self) -> str:
        return self.track

    @property
    def executed_name(self) -> str:
        """Path of the executed notebook relative to a run's `executed/` folder and to report/."""
        return str(Path(self.track) / Path(self.notebook).name)

    def parameter_names(self) -> list[str]:
        """Names injected by papermill: shared keys, run location, then the section's knobs."""
        return [*SHARED_KEYS, "run_name", "params_file", *SECTIONS[self.section].model_fields]


PARTS: dict[str, str] = {
    "longterm": "Long-term effects on KuaiRec",
    "interference": "Interference in slates on MovieLens",
    "validation": "Appendix",
}

LT = "kuairec_long_term_"
IF = "movielens_interference_"

CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "longterm_01", "Data and the user-day panel", "longterm", "notebooks/longterm/01_panel.ipynb",
        inputs=(),
        outputs=(f"{LT}panel.parquet", f"{LT}oracle.parquet", f"{LT}panel_summary.csv"),
    ),
    Chapter(
        "longterm_02", "Propensity scores and weights", "longterm", "notebooks/longterm/02_propensity.ipynb",
        inputs=(f"{LT}panel.parquet",),
        outputs=(f"{LT}weighted_panel.parquet", f"{LT}propensity_metrics.csv", f"{LT}covariate_balance.csv"),
    ),
    Chapter(
        "longterm_03", "Marginal structural model", "longterm", "notebooks/longterm/03_msm.ipynb",
        inputs=(f"{LT}weighted_panel.parquet",),
        outputs=(f"{LT}msm_estimates.csv",),
    ),
    Chapter(
        "longterm_04", "G-computation", "longterm", "notebooks/longterm/04_gcomputation.ipynb",
        inputs=(f"{LT}weighted_panel.parquet", f"{LT}msm_estimates.csv"),
        outputs=(
            f"{LT}gcomp_counterfactuals.parquet", f"{LT}estimator_comparison.csv",
            f"{LT}gcomp_fold_metrics.csv", f"{LT}gcomp_estimates.csv",
        ),
    ),
    Chapter(
        "longterm_05", "Doubly robust and heterogeneous effects", "longterm",
        "notebooks/longterm/05_aipw_heterogeneity.ipynb",
        inputs=(f"{LT}weighted_panel.parquet", f"{LT}gcomp_counterfactuals.parquet", f"{LT}estimator_comparison.csv"),
        outputs=(
            f"{LT}aipw_results.csv", f"{LT}aipw_scores.parquet", f"{LT}aipw_bootstrap.csv",
            f"{LT}estimator_comparison_with_aipw.csv", f"{LT}aipw_segment_effects.csv",
            f"{LT}aipw_segment_bootstrap.csv", f"{LT}effect_model_predictions.parquet",
            f"{LT}effect_moderator_importance.csv", f"{LT}effect_model_metrics.csv",
            f"{LT}smoothed_effect_buckets.csv", f"{LT}effect_calibration_tests.csv",
            f"{LT}effect_calibration_gates.csv", f"{LT}effect_calibration_qini.csv",
        ),
    ),
    Chapter(
        "longterm_06", "Long-term track summary", "longterm", "notebooks/longterm/06_summary.ipynb",
        inputs=(f"{LT}estimator_comparison_with_aipw.csv", f"{LT}aipw_segment_effects.csv"),
        outputs=(),
    ),
    Chapter(
        "interference_01", "MovieLens data and slates", "interference", "notebooks/interference/01_slates.ipynb",
        inputs=(),
        outputs=(
            f"{IF}slates.parquet", f"{IF}user_features.parquet", f"{IF}item_features.parquet",
            f"{IF}data_summary.csv", f"{IF}rating_distribution.csv",
        ),
    ),
    Chapter(
        "interference_02", "Promotion experiment and spillovers", "interference",
        "notebooks/interference/02_randomized_effects.ipynb",
        inputs=(f"{IF}slates.parquet",),
        outputs=(
            f"{IF}exposure_mapping.parquet", f"{IF}component_slate.parquet",
            f"{IF}observed_effects.csv", f"{IF}product_summary.csv",
        ),
    ),
    Chapter(
        "interference_03", "Advanced spillover models", "interference",
        "notebooks/interference/03_advanced_models.ipynb",
        inputs=(f"{IF}exposure_mapping.parquet", f"{IF}component_slate.parquet"),
        outputs=(
            f"{IF}advanced_model_metrics.csv", f"{IF}advanced_feature_importance.csv",
            f"{IF}advanced_counterfactual_predictions.parquet", f"{IF}advanced_counterfactual_summary.csv",
            f"{IF}advanced_aipw_estimates.csv", f"{IF}advanced_policy_targeting.csv",
            f"{IF}advanced_heterogeneity.csv", f"{IF}advanced_takeaways.csv",
            f"{IF}advanced_cate_calibration_tests.csv", f"{IF}advanced_cate_calibration_gates.csv",
            f"{IF}advanced_cate_calibration_qini.csv",
        ),
    ),
    Chapter(
        "interference_04", "Interference track summary", "interference", "notebooks/interference/04_summary.ipynb",
        inputs=(
            f"{IF}exposure_mapping.parquet", f"{IF}component_slate.parquet", f"{IF}observed_effects.csv",
            f"{IF}product_summary.csv", f"{IF}advanced_aipw_estimates.csv",
            f"{IF}advanced_policy_targeting.csv", f"{IF}advanced_takeaways.csv",
        ),
        outputs=(),
    ),
    Chapter(
        "validation_01", "Do the estimators recover the truth?", "validation",
        "notebooks/validation/01_simulation_study.ipynb",
        inputs=(),
        outputs=("validation_replicate_estimates.parquet", "validation_summary.csv"),
    ),
)


def get_chapter(chapter_id: str) -> Chapter:
    """Look a chapter up by id, with an error that lists the valid ids."""
    for ch in CHAPTERS:
        if ch.id == chapter_id:
            return ch
    raise KeyError(f"unknown chapter '{chapter_id}'; chapters: {', '.join(c.id for c in CHAPTERS)}")


def select_chapters(only: str | None = None, root: Path | None = None) -> list[Chapter]:
    """Chapters to run for `--only` (a track name or a chapter id); all that exist on disk by default."""
    chosen = list(CHAPTERS)
    if only:
        if only in PARTS:
            chosen = [c for c in CHAPTERS if c.track == only]
        else:
            chosen = [get_chapter(only)]
    if root is not None:
        chosen = [c for c in chosen if (root / c.notebook).is_file()]
    return chosen
