"""The executive summary's answers: per track, the primary estimate, its interval, its relative size,
how far it can be trusted, and (on simulated data) the truth beside it.

`longterm_answer` / `interference_answer` read the run's artifacts into an `Answer` (numbers
only); `answer_md` phrases it. Every number comes from an artifact, and a sentence claims only
what the interval supports (an interval that includes zero is never called an effect).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recsys_causal.artifact_names import IF, LT, VAL
from recsys_causal.describe import format_number

IF_TOTAL_KEY = "total_change"  # `key` of the product summary's headline row
IF_FOCAL_KEY = "focal_gain"
IF_OFFSET_KEY = "competitor_offset_share"
IF_VALIDATION = ("Difference in means", "total_slate")  # the headline's estimator and estimand in the study


@dataclass
class Answer:
    """One track's headline: numbers read from the run's artifacts (NaN where not computed)."""

    track: str
    estimate: float
    lo: float
    hi: float
    unit: str
    base: float = math.nan  # the outcome without treatment, for the relative size
    truth: float = math.nan  # simulated data only
    coverage: float = math.nan  # the primary interval's coverage in the validation study
    coverage_mcse: float = math.nan
    n_replicates: int = 0
    evalue: float = math.nan
    evalue_ci: float = math.nan
    share_extreme: float = math.nan  # share of rows with an extreme propensity (overlap)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def relative(self) -> float:
        """The estimate as a share of the untreated base (NaN without a base)."""
        return self.estimate / self.base if self.base and math.isfinite(self.base) else math.nan

    @property
    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0

    @property
    def covers_truth(self) -> bool | None:
        return None if math.isnan(self.truth) else bool(self.lo <= self.truth <= self.hi)


def _read(run_dir: Path, name: str) -> pd.DataFrame | None:
    from recsys_causal.render.includes import read_artifact

    return read_artifact(run_dir, name)


def _study_coverage(run_dir: Path, world: str, estimator: str, inference: str | None,
                    scenario: str, estimand: str | None = None) -> tuple[float, float, int]:
    v = _read(run_dir, VAL.SUMMARY)
    if v is None or v.empty:
        return math.nan, math.nan, 0
    sel = (v["world"] == world) & (v["scenario"] == scenario) & (v["estimator"] == estimator)
    if inference is not None:
        sel &= v["inference"] == inference
    if estimand is not None:
        sel &= v["estimand"] == estimand
    rows = v[sel]
    if rows.empty:
        return math.nan, math.nan, 0
    r = rows.iloc[0]
    return float(r["coverage"]), float(r["coverage_mcse"]), int(r["n_replicates"])


def longterm_answer(run_dir: Path) -> Answer | None:
    """The primary AIPW estimate of the long-term track (None when chapter 05 did not run)."""
    res = _read(run_dir, LT.AIPW_RESULTS)
    if res is None or res.empty or "is_primary_aipw" not in res:
        return None
    prim = res[res["is_primary_aipw"].astype(bool)]
    if prim.empty:
        return None
    r = prim.iloc[0]
    ans = Answer("longterm", float(r["aipw_ate"]), float(r["ci_95_lower"]), float(r["ci_95_upper"]),
                 "interactions over the next 7 days", base=float(r["mean_y0_hat"]),
                 evalue=float(r.get("evalue_estimate", math.nan)), evalue_ci=float(r.get("evalue_ci", math.nan)))
    comp = _read(run_dir, LT.COMPARISON_WITH_AIPW)
    if comp is not None and "role" in comp:
        oracle = comp[comp["role"] == "oracle"]
        if len(oracle):
            ans.truth = float(oracle["estimate"].iloc[0])
    prop = _read(run_dir, LT.PROPENSITY_METRICS)
    if prop is not None and "primary" in prop and prop["primary"].astype(bool).any():
        ans.share_extreme = float(prop[prop["primary"].astype(bool)]["share_extreme"].iloc[0])
    from recsys_causal.validation.longterm_world import BOOTSTRAP_INFERENCE, aipw_label

    label = aipw_label(str(r["propensity_model"]), str(r["outcome_model"]))
    ans.coverage, ans.coverage_mcse, ans.n_replicates = _study_coverage(
        run_dir, "longterm", label, BOOTSTRAP_INFERENCE, "a")
    return ans


def interference_answer(run_dir: Path) -> Answer | None:
    """The total change in clicks per 1,000 promoted slates (None when chapter 02 did not run)."""
    df = _read(run_dir, IF.PRODUCT_SUMMARY)
    if df is None or df.empty or "key" not in df:
        return None
    rows = df.set_index("key")
    if IF_TOTAL_KEY not in rows.index:
        return None
    t = rows.loc[IF_TOTAL_KEY]
    ans = Answer("interference", float(t["value"]), float(t["ci_95_lower"]), float(t["ci_95_upper"]),
                 "clicks per 1,000 promoted slates",
                 truth=float(t["oracle_value"]) if "oracle_value" in rows else math.nan)
    if IF_FOCAL_KEY in rows.index:
        f = rows.loc[IF_FOCAL_KEY]
        ans.extra.update(focal=float(f["value"]), focal_lo=float(f["ci_95_lower"]), focal_hi=float(f["ci_95_upper"]))
    if IF_OFFSET_KEY in rows.index:
        o = rows.loc[IF_OFFSET_KEY]
        ans.extra.update(offset=float(o["value"]), offset_lo=float(o["ci_95_lower"]), offset_hi=float(o["ci_95_upper"]))
    ans.coverage, ans.coverage_mcse, ans.n_replicates = _study_coverage(
        run_dir, "interference", IF_VALIDATION[0], None, "interference", IF_VALIDATION[1])
    return ans


def _n(x: float) -> str:
    return format_number(x, 3)


def _ci(a: Answer) -> str:
    return f"95% CI {_n(a.lo)} to {_n(a.hi)}"


def _trust(a: Answer, simulated: bool, truth_label: str = "the simulator's true value") -> list[str]:
    """How far the headline can be trusted, from the study, the E-value and the overlap."""
    out = []
    if a.n_replicates:
        out.append(f"in the simulation study its 95% interval covered the truth in "
                   f"{100 * a.coverage:.0f}% of {a.n_replicates} simulated data sets "
                   f"(Monte Carlo SE {100 * a.coverage_mcse:.0f} points)")
    if math.isfinite(a.evalue):
        out.append(f"an unmeasured confounder would need a risk ratio of {_n(a.evalue)} with both treatment "
                   f"and outcome to explain the estimate away (E-value; {_n(a.evalue_ci)} for the interval bound)")
    if math.isfinite(a.share_extreme):
        out.append(f"{100 * a.share_extreme:.1f}% of user-days have an extreme propensity (overlap)")
    if simulated and a.covers_truth is not None:
        out.append(f"{truth_label} is {_n(a.truth)}, which the interval "
                   + ("covers" if a.covers_truth else "**does not cover**"))
    return out


def answer_md(a: Answer | None, simulated: bool, question: str, not_computed: str,
              truth_label: str = "the simulator's true value") -> str:
    """The answer paragraph of one track: question, estimate, relative size, conclusion, trust
    (`simulated`: the truth is known and said, as `truth_label`)."""
    if a is None:
        return f"**{question}** *{not_computed}*\n"
    if a.track == "longterm":
        rel = f", {100 * a.relative:+.1f}% of the {_n(a.base)} interactions a user-day has without one" \
            if math.isfinite(a.relative) else ""
        head = f"**{question}** The primary estimate (doubly robust AIPW) is **{_n(a.estimate)} {a.unit}** ({_ci(a)}){rel}."
        if a.excludes_zero:
            verb = "raises" if a.estimate > 0 else "lowers"
            concl = f"A high-watch day {verb} the next week's interactions."
        else:
            concl = "The data do not rule out no effect: the interval includes zero."
    else:
        focal = a.extra.get("focal")
        part = (f" The promoted item itself gains {_n(focal)} clicks (95% CI {_n(a.extra['focal_lo'])} to "
                f"{_n(a.extra['focal_hi'])})." if focal is not None else "")
        if "offset" in a.extra:
            part += (f" Its competitors' change is {_n(a.extra['offset'])} times that gain (95% CI "
                     f"{_n(a.extra['offset_lo'])} to {_n(a.extra['offset_hi'])}; below -1, they lose more "
                     "than the focal item gains).")
        head = (f"**{question}** Promoting the focal item changes the slate's total clicks by "
                f"**{_n(a.estimate)} {a.unit}** ({_ci(a)}).{part}")
        if a.excludes_zero:
            concl = ("The competitors lose more than the focal item gains: promotion costs clicks overall."
                     if a.estimate < 0 else "The slate gains clicks overall: the focal item's gain is not all taken from competitors.")
        else:
            concl = "The data do not tell whether the slate gains or loses clicks overall: the interval includes zero."
    trust = _trust(a, simulated, truth_label)
    tail = (" How far to trust it: " + "; ".join(trust) + ".") if trust else ""
    return f"{head} {concl}{tail}\n"
