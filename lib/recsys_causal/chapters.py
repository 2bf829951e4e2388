"""The ordered chapter registry: one entry per notebook, in the order the book reads them.

The pipeline, the CLI's `list`, `_quarto.yml` and the tests all read this one list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from recsys_causal.artifact_names import IF, LT, VAL
from recsys_causal.params import SECTIONS, SHARED_KEYS


@dataclass(frozen=True)
class Chapter:
    """One chapter: where its notebook lives, which parameter section feeds it, what it writes."""

    id: str
    title: str
    track: str  # longterm | interference | validation
    notebook: str  # path relative to the project root
    outputs: tuple[str, ...] = field(default_factory=tuple)
    #: other chapters' artifacts the notebook reads itself (`ctx.get` refuses any other name)
    reads: tuple[str, ...] = field(default_factory=tuple)

    @property
    def section(self) -> str:
        return self.track

    @property
    def executed_name(self) -> str:
        """Path of the executed notebook relative to a run's `executed/` folder and to report/."""
        return str(Path(self.track) / Path(self.notebook).name)

    @property
    def inputs(self) -> tuple[str, ...]:
        """What the chapter depends on: its builders' declared upstream plus its own reads, less
        its outputs (derived, never hand-kept; `recsys-causal list` prints it)."""
        from recsys_causal.artifacts import get_builder

        upstream = {u for name in self.outputs for u in get_builder(name).upstream}
        return tuple(sorted((upstream | set(self.reads)) - set(self.outputs)))

    def readable(self) -> frozenset[str]:
        """Artifacts the chapter's notebook may read: its outputs and its declared reads."""
        return frozenset((*self.outputs, *self.reads))

    def parameter_names(self) -> list[str]:
        """Names injected by papermill: shared keys, run location, then the section's knobs."""
        return [*SHARED_KEYS, "run_name", "params_file", *SECTIONS[self.section].model_fields]


PARTS: dict[str, str] = {
    "longterm": "Long-term effects on KuaiRec",
    "interference": "Interference in slates on MovieLens",
    "validation": "Appendix",
}


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "longterm_01", "Data and the user-day panel", "longterm", "notebooks/longterm/01_panel.ipynb",
        outputs=(LT.PANEL, LT.ORACLE, LT.PANEL_SUMMARY),
    ),
    Chapter(
        "longterm_02", "Propensity scores and weights", "longterm", "notebooks/longterm/02_propensity.ipynb",
        outputs=(LT.WEIGHTED_PANEL, LT.PROPENSITY_METRICS, LT.COVARIATE_BALANCE),
    ),
    Chapter(
        "longterm_03", "Marginal structural model", "longterm", "notebooks/longterm/03_msm.ipynb",
        outputs=(LT.MSM_ESTIMATES,),
        reads=(LT.WEIGHTED_PANEL, LT.PROPENSITY_METRICS, LT.COVARIATE_BALANCE),
    ),
    Chapter(
        "longterm_04", "G-computation", "longterm", "notebooks/longterm/04_gcomputation.ipynb",
        outputs=(
            LT.GCOMP_COUNTERFACTUALS, LT.ESTIMATOR_COMPARISON,
            LT.GCOMP_FOLD_METRICS, LT.GCOMP_REFIT_BOOTSTRAP, LT.GCOMP_ESTIMATES,
        ),
        reads=(LT.WEIGHTED_PANEL, LT.PROPENSITY_METRICS, LT.COVARIATE_BALANCE),
    ),
    Chapter(
        "longterm_05", "Doubly robust and heterogeneous effects", "longterm",
        "notebooks/longterm/05_aipw_heterogeneity.ipynb",
        outputs=(
            LT.AIPW_RESULTS, LT.AIPW_SCORES, LT.AIPW_BOOTSTRAP, LT.AIPW_REFIT_BOOTSTRAP,
            LT.COMPARISON_WITH_AIPW, LT.SEGMENT_EFFECTS,
            LT.SEGMENT_BOOTSTRAP, LT.EFFECT_PREDICTIONS,
            LT.EFFECT_IMPORTANCE, LT.EFFECT_METRICS,
            LT.EFFECT_BUCKETS,
            LT.EFFECT_CALIBRATION_TESTS, LT.EFFECT_GATES, LT.EFFECT_QINI,
        ),
    ),
    Chapter(
        "longterm_06", "Long-term track summary", "longterm", "notebooks/longterm/06_summary.ipynb",
        outputs=(),
        reads=(LT.PANEL, LT.PANEL_SUMMARY, LT.COMPARISON_WITH_AIPW,
               LT.AIPW_RESULTS, LT.SEGMENT_EFFECTS),
    ),
    Chapter(
        "interference_01", "MovieLens data and slates", "interference", "notebooks/interference/01_slates.ipynb",
        outputs=(
            IF.SLATES, IF.USER_FEATURES, IF.ITEM_FEATURES,
            IF.DATA_SUMMARY, IF.RATING_DISTRIBUTION,
        ),
    ),
    Chapter(
        "interference_02", "Promotion experiment and spillovers", "interference",
        "notebooks/interference/02_randomized_effects.ipynb",
        outputs=(
            IF.EXPOSURE, IF.COMPONENT,
            IF.OBSERVED_EFFECTS, IF.PRODUCT_SUMMARY,
        ),
    ),
    Chapter(
        "interference_03", "Advanced spillover models", "interference",
        "notebooks/interference/03_advanced_models.ipynb",
        outputs=(
            IF.MODEL_METRICS, IF.FEATURE_IMPORTANCE,
            IF.COUNTERFACTUALS, IF.COUNTERFACTUAL_SUMMARY,
            IF.AIPW_ESTIMATES, IF.POLICY_TARGETING,
            IF.HETEROGENEITY, IF.TAKEAWAYS,
            IF.CATE_CALIBRATION_TESTS, IF.CATE_GATES, IF.CATE_QINI,
        ),
        reads=(IF.EXPOSURE, IF.COMPONENT, IF.PRODUCT_SUMMARY),
    ),
    Chapter(
        "interference_04", "Interference track summary", "interference", "notebooks/interference/04_summary.ipynb",
        outputs=(),
        reads=(
            IF.EXPOSURE, IF.COMPONENT, IF.OBSERVED_EFFECTS,
            IF.PRODUCT_SUMMARY, IF.AIPW_ESTIMATES, IF.POLICY_TARGETING,
        ),
    ),
    Chapter(
        "validation_01", "Do the estimators recover the truth?", "validation",
        "notebooks/validation/01_simulation_study.ipynb",
        outputs=(VAL.REPLICATES, VAL.SUMMARY),
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
