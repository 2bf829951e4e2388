"""Numbers into words for chapter interference_03: interpretation sentences and the takeaways table.

Every sentence is computed from the chapter's tables, so it reads correctly in any world the
click-model parameters describe (promotions that always hurt, or some that help).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_causal.describe import describe_interval, format_number
from recsys_causal.interference.features import EncodedFeatures
from recsys_causal.params import InterferenceParams

PER = 1000


def _f(x: float, digits: int = 3) -> str:
    return format_number(float(x), digits)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _signed(x: float, digits: int = 3) -> str:
    s = format_number(float(x), digits)
    return s if s.startswith("-") or s == "0" else f"+{s}"


# ----------------------------------------------------------------------------------------------
# Sentences under tables and figures
# ----------------------------------------------------------------------------------------------
def describe_oracle_checks(checks: pd.DataFrame | None) -> str:
    """Sentence on the oracle: the reconstruction agreement and the share of positive true lifts."""
    if checks is None or "share_positive_true_lift" not in set(checks["check"]):
        return "A logged experiment has no oracle: every estimate below stands without a true value beside it."
    c = checks.set_index("check")["value"]
    share = c["share_positive_true_lift"]
    world = ("no slate gains clicks from promotion, so targeting can at best reduce harm"
             if share == 0 else
             f"{100 * share:.1f}% of slates would gain clicks from promotion, so targeting them could add value")
    return (
        f"The reconstructed lift differs from the recorded lift on promoted slates by at most "
        f"{c['max_abs_difference_for_observed_promoted_slates']:.2e} clicks, and from the independent "
        f"re-derivation of the click formula by at most {c['max_abs_difference_independent_reconstruction']:.2e}. "
        f"The mean true lift if every slate were promoted is {_signed(c['mean_true_lift_if_all_promoted'])} "
        f"clicks per slate; {world}."
    )


def describe_world(params: InterferenceParams) -> str:
    """Sentence naming the promotion terms of the click model this run simulates (or saying a log has none)."""
    if params.experiment_path:
        return ("This run analyses a logged promotion experiment, so the simulated click model and its "
                "`interference.click_*` parameters play no part in its numbers.")
    return (
        f"This run's click model gives the promoted focal item a logit boost of {params.click_focal_boost:g} "
        f"and charges every other item {params.click_nonfocal_penalty:g}, same-cluster competitors another "
        f"{params.click_same_cluster_penalty:g} and displaced items another {params.click_displaced_penalty:g} "
        f"(the `interference.click_*` parameters)."
    )


def describe_model_table(summary: pd.DataFrame) -> str:
    """Sentence under the modelling-table summary."""
    s = summary.set_index("metric")["value"]
    return (
        f"The modelling table has one row for each of {int(s['slates']):,} slates ({int(s['treated_slates']):,} "
        f"promoted, {int(s['control_slates']):,} left unchanged); {int(s['feature_rows_missing_focal_relevance'])} "
        f"lack the focal item's relevance."
    )


def describe_encoding(enc: EncodedFeatures) -> str:
    """Sentence under the encoded-feature summary, including the deny-list check."""
    from recsys_causal.interference.features import POST_TREATMENT_COLUMNS, is_post_treatment

    denied = [c for c in enc.X.columns if c != "promotion_applied" and is_post_treatment(c)]
    return (
        f"{enc.X.shape[1]} numeric features describe each slate; "
        + ("none of them" if not denied else f"{len(denied)} of them ({', '.join(denied)})")
        + f" is on the deny-list of {len(POST_TREATMENT_COLUMNS)} post-treatment columns (plus their "
        f"component prefixes). The outcome averages {_f(enc.y.mean())} clicks per slate "
        f"(SD {_f(enc.y.std())})."
    )


def describe_metrics(metrics: pd.DataFrame) -> str:
    """Sentence on the held-out fit of the outcome models."""
    test = metrics[metrics["split"].eq("test")].sort_values("rmse")
    best, other = test.iloc[0], test.iloc[-1]
    train_best = metrics[metrics["split"].eq("train") & metrics["model"].eq(best["model"])].iloc[0]
    fit = (f"explains {100 * best['r2']:.1f}% of the held-out variance" if best["r2"] > 0 else
           f"predicts held-out slates no better than their mean (R² {_f(best['r2'], 2)})")
    return (
        f"{best['model']} has the lower held-out RMSE ({_f(best['rmse'])} clicks per slate against "
        f"{_f(other['rmse'])} for {other['model']}) and {fit} (train R²: {_f(train_best['r2'], 2)}); "
        f"clicks are noisy, so a modest R² is expected."
    )


def describe_metrics_figure(metrics: pd.DataFrame) -> str:
    """Sentence under the metrics figure: the gap between the models and the train/test gap."""
    test = metrics[metrics["split"].eq("test")].set_index("model")
    train = metrics[metrics["split"].eq("train")].set_index("model")
    gap = float(test["rmse"].max() - test["rmse"].min())
    over = (test["rmse"] - train["rmse"]).idxmax()
    return (
        f"The held-out RMSEs differ by {_f(gap)} clicks per slate; {over} gains most from seeing the data "
        f"(train RMSE {_f(train.loc[over, 'rmse'])} against {_f(test.loc[over, 'rmse'])} held out), a reminder "
        f"that in-sample predictions flatter a model."
    )


def describe_importance(importance: pd.DataFrame, top: int = 5) -> str:
    """Sentence naming each model's top features and the treatment flag's rank."""
    parts = []
    for model, part in importance.groupby("model", sort=True):
        names = ", ".join(part.sort_values("rank")["feature"].head(top))
        rank = part.loc[part["feature"].eq("promotion_applied"), "rank"]
        t_rank = f"; the promotion flag ranks {int(rank.iloc[0])} of {len(part)}" if len(rank) else ""
        parts.append(f"{model}'s top features are {names}{t_rank}")
    return ". ".join(parts) + "."


def describe_predicted_lift(summary: pd.DataFrame) -> str:
    """Sentence on the CATE models' predictions when there is no oracle to check them against."""
    sel = summary[summary["selected_by_test_rmse"]].iloc[0]
    return (
        f"The model chosen by held-out fit, '{sel['model']}', predicts a mean lift of "
        f"{_signed(sel['mean_predicted_lift'])} clicks per slate, positive for "
        f"{100 * sel['share_predicted_positive']:.1f}% of slates; a logged experiment has no oracle, so how well "
        "these conditional lifts rank slates is judged by the policy values estimated below."
    )


def describe_cate(summary: pd.DataFrame) -> str:
    """Sentence comparing the CATE models with the oracle (or, without one, on their predictions)."""
    if "cate_rmse_vs_oracle" not in summary:
        return describe_predicted_lift(summary)
    s = summary.sort_values("cate_rmse_vs_oracle")
    best = s.iloc[0]
    sel = summary[summary["selected_by_test_rmse"]].iloc[0]
    return (
        f"Against the oracle, the most accurate CATE is '{best['model']}' (RMSE {_f(best['cate_rmse_vs_oracle'])}, "
        f"correlation {_f(best['cate_correlation_vs_oracle'], 2)}); the model chosen without the oracle, "
        f"'{sel['model']}', has RMSE {_f(sel['cate_rmse_vs_oracle'])} and correlation "
        f"{_f(sel['cate_correlation_vs_oracle'], 2)}. The true lift averages {_signed(best['true_mean_lift'])} "
        f"with {100 * best['true_share_positive']:.1f}% of slates positive; '{best['model']}' predicts "
        f"{100 * best['share_predicted_positive']:.1f}% positive."
    )


def describe_scatter(summary: pd.DataFrame, label: str) -> str:
    """Sentence under the predicted-vs-oracle scatter."""
    r = summary.set_index("model").loc[label]
    if "cate_correlation_vs_oracle" not in r:
        return "A logged experiment has no oracle lift to plot the predictions against."
    corr = r["cate_correlation_vs_oracle"]
    strength = "barely" if abs(corr) < 0.2 else ("partly" if abs(corr) < 0.6 else "largely")
    return (
        f"The policy score's predictions {strength} track the oracle (correlation {_f(corr, 2)}): "
        f"{'a ranking by predicted lift can pick out slates where promotion is less harmful or helpful' if corr >= 0.2 else 'a ranking by predicted lift is close to a random choice of slates'}."
    )


def describe_aipw(aipw: pd.DataFrame) -> str:
    """Sentences on the difference in means and AIPW against the oracle mean."""
    a = aipw.set_index("estimator")
    oracle = a.loc[a.index.str.startswith("Oracle"), "estimate"]
    truth = float(oracle.iloc[0]) if len(oracle) else None
    out = []
    for name in a.index:
        if name.startswith("Oracle") or name.startswith("Horvitz"):
            continue
        r = a.loc[name]
        out.append(describe_interval(r["estimate"], r["ci_95_lower"], r["ci_95_upper"], truth=truth,
                                     unit="clicks per slate", label=f"The {name[0].lower() + name[1:]}"))
    dim = a.iloc[0]
    aipw_row = a.loc[a.index.str.contains("AIPW")].iloc[0]
    ratio = aipw_row["se"] / dim["se"]
    out.append(f"AIPW's standard error is {100 * ratio:.0f}% of the difference in means' "
               f"({'the outcome models remove some noise' if ratio < 0.98 else 'the outcome models remove little noise'}).")
    return " ".join(out)


def best_deployable(policy: pd.DataFrame, column: str) -> pd.Series:
    """The deployable policy that promotes at least one slate with the highest value in `column`."""
    dep = policy[policy["deployable"] & policy["selected_slates"].gt(0)]
    return dep.loc[dep[column].idxmax()]


GAIN_VS_ALL = "dr_gain_vs_promote_all_per_1000_eligible"


def policy_verdict(policy: pd.DataFrame, column: str, estimated: bool = False) -> str:
    """What targeting achieves by `column` (oracle or estimated value per 1,000 eligible slates).

    With `estimated=True` the column is an estimate with `<column>_ci_lower/upper`: a rule is said
    to add value only when its interval (and, against promoting all, the interval of its gain)
    excludes zero; otherwise the sentence says what the point estimates favour and that the
    experiment cannot tell.
    """
    all_row = policy.iloc[0]
    all_v = float(all_row[column])
    best = best_deployable(policy, column)
    v = float(best[column])
    empty = policy[policy["deployable"] & policy["selected_slates"].eq(0)]["policy"].tolist()
    note = (f" ({', '.join(repr(e) for e in empty)} selects no slate, i.e. promotes nothing)" if empty else "")
    if best["policy"] == all_row["policy"]:
        return (f"promoting every eligible slate is the best rule ({_signed(v)} clicks per 1,000 eligible "
                f"slates); targeting adds nothing{note}")
    if v > 0:
        if estimated and not float(best[f"{column}_ci_lower"]) > 0:
            return (f"the point estimates favour '{best['policy']}' ({_signed(v)} clicks per 1,000 eligible "
                    f"slates against {_signed(all_v)} for promoting all), but its 95% interval "
                    f"({_f(best[f'{column}_ci_lower'])} to {_f(best[f'{column}_ci_upper'])}) includes zero, so "
                    f"the experiment does not show that targeting adds value{note}")
        beyond = all_v > 0
        if estimated and beyond and f"{GAIN_VS_ALL}_ci_lower" in policy and not float(best[f"{GAIN_VS_ALL}_ci_lower"]) > 0:
            return (f"'{best['policy']}' yields {_signed(v)} clicks per 1,000 eligible slates against "
                    f"{_signed(all_v)} for promoting all, but the interval of its gain includes zero, so the "
                    f"experiment cannot tell targeting from promoting all{note}")
        gain = "adds value beyond promoting all" if beyond else "adds value"
        return (f"targeting {gain}: '{best['policy']}' yields {_signed(v)} clicks per 1,000 eligible "
                f"slates against {_signed(all_v)} for promoting all{note}")
    return (f"every deployable rule that promotes anything loses clicks, so targeting only reduces harm: the "
            f"least harmful, '{best['policy']}', yields {_signed(v)} per 1,000 eligible slates against "
            f"{_signed(all_v)} for promoting all, and leaving every slate unchanged (0) beats them all{note}")


def describe_policy(policy: pd.DataFrame) -> str:
    """Sentences on the oracle and the estimated value of the policies."""
    out = []
    if "oracle_lift_per_1000_eligible_slates" in policy:
        out.append("By the oracle, " + policy_verdict(policy, "oracle_lift_per_1000_eligible_slates") + ".")
        covered = int(policy["dr_ci_covers_oracle"].sum())
        out.append("Without the oracle, the doubly robust estimates say " + policy_verdict(policy, "dr_per_1000_eligible", estimated=True)
                   + f"; {covered} of {len(policy)} DR intervals (and {int(policy['ipw_ci_covers_oracle'].sum())} "
                   f"IPW intervals) cover the oracle value.")
    else:
        out.append("The doubly robust estimates say " + policy_verdict(policy, "dr_per_1000_eligible", estimated=True) + ".")
    best = best_deployable(policy, "dr_per_1000_eligible")
    out.append(
        f"The estimate for '{best['policy']}' has a 95% interval from {_f(best['dr_per_1000_eligible_ci_lower'])} "
        f"to {_f(best['dr_per_1000_eligible_ci_upper'])}"
        + (", which excludes zero" if best["dr_per_1000_eligible_ci_lower"] > 0 or best["dr_per_1000_eligible_ci_upper"] < 0
           else ", which includes zero: the experiment cannot tell this rule from doing nothing")
    )
    if best["policy"] != policy.iloc[0]["policy"] and "dr_gain_vs_promote_all_per_1000_eligible" in policy:
        g = "dr_gain_vs_promote_all_per_1000_eligible"
        lo, hi = best[f"{g}_ci_lower"], best[f"{g}_ci_upper"]
        verdict = ("so the experiment shows it beats promoting all" if lo > 0 else
                   "so the experiment shows it does worse than promoting all" if hi < 0 else
                   "so the experiment cannot tell it from promoting all")
        out[-1] += (f"; its gain over promoting all is {_signed(best[g])} per 1,000 eligible slates "
                    f"(95% CI {_f(lo)} to {_f(hi)}), {verdict}")
    out[-1] += "."
    return " ".join(out)


def describe_policy_figure(policy: pd.DataFrame) -> str:
    """Sentence under the policy figure: agreement in sign and the largest estimate-oracle gap."""
    dep = policy[policy["selected_slates"].gt(0)]
    if "oracle_lift_per_1000_eligible_slates" not in dep:
        return f"{len(dep)} rules promote at least one slate."
    o, d = dep["oracle_lift_per_1000_eligible_slates"], dep["dr_per_1000_eligible"]
    same = int((np.sign(o) == np.sign(d)).sum())
    worst = dep.loc[(d - o).abs().idxmax()]
    return (
        f"For {same} of {len(dep)} rules that promote something, the DR estimate has the oracle's sign; the "
        f"largest gap is for '{worst['policy']}' (estimate {_signed(worst['dr_per_1000_eligible'])}, oracle "
        f"{_signed(worst['oracle_lift_per_1000_eligible_slates'])} per 1,000 eligible slates)."
    )


def describe_segment_types(het: pd.DataFrame) -> str:
    """Sentence under the segment figure: how the lift moves across each ordered segment type."""
    col = "mean_true_lift" if "mean_true_lift" in het else "dim_estimate"
    parts = []
    for seg, part in het[het["segment_type"].ne("focal_cluster")].groupby("segment_type", sort=False):
        part = part.sort_values("segment_order")
        first, last = part.iloc[0], part.iloc[-1]
        parts.append(f"{seg.replace('_', ' ')} from {_signed(first[col])} ('{first['segment']}') to "
                     f"{_signed(last[col])} ('{last['segment']}')")
    what = "oracle mean lift" if col == "mean_true_lift" else "estimated lift"
    return f"Across ordered buckets the {what} moves: " + "; ".join(parts) + "."


def describe_heterogeneity(het: pd.DataFrame) -> str:
    """Sentence on the segments with the least and most negative lift, and on multiplicity."""
    col = "mean_true_lift" if "mean_true_lift" in het else "dim_estimate"
    what = "oracle mean lift" if col == "mean_true_lift" else "estimated lift"
    top, low = het.loc[het[col].idxmax()], het.loc[het[col].idxmin()]
    excl = int(((het["ci_95_lower"] > 0) | (het["ci_95_upper"] < 0)).sum())
    excl_b = int(((het["ci_bonferroni_lower"] > 0) | (het["ci_bonferroni_upper"] < 0)).sum())
    text = (
        f"The {what} is highest for {top['segment_type'].replace('_', ' ')} '{top['segment']}' "
        f"({_signed(top[col])}) and lowest for {low['segment_type'].replace('_', ' ')} '{low['segment']}' "
        f"({_signed(low[col])}). Of {len(het)} segment intervals, {excl} exclude zero at the 95% level "
        f"and {excl_b} after a Bonferroni correction for {len(het)} comparisons"
    )
    if "ci_95_covers_oracle" in het:
        text += f"; {int(het['ci_95_covers_oracle'].sum())} of {len(het)} cover the segment's oracle mean"
    return text + "."


# ----------------------------------------------------------------------------------------------
# The takeaways table
# ----------------------------------------------------------------------------------------------
def advanced_takeaways(
    metrics: pd.DataFrame,
    cate: pd.DataFrame,
    aipw: pd.DataFrame,
    policy: pd.DataFrame,
    heterogeneity: pd.DataFrame,
) -> pd.DataFrame:
    """area / finding / why_it_matters rows, every number taken from the tables passed in."""
    test = metrics[metrics["split"].eq("test")].sort_values("rmse").iloc[0]
    sel = cate[cate["selected_by_test_rmse"]].iloc[0]
    policy_row = cate[cate["model"].str.contains("policy score")].iloc[0]
    a = aipw.set_index("estimator")
    dim = a.iloc[0]
    aipw_row = a.loc[a.index.str.contains("AIPW")].iloc[0]
    oracle = a.loc[a.index.str.startswith("Oracle"), "estimate"]
    oracle_txt = f"; the oracle mean lift is {_signed(oracle.iloc[0])}" if len(oracle) else ""
    rows = [
        {
            "area": "Outcome modeling",
            "finding": f"{test['model']} had the best held-out RMSE at {_f(test['rmse'])} clicks per slate "
                       f"(R² {_f(test['r2'], 2)}).",
            "why_it_matters": "Flexible models summarize how slate composition and the promotion relate to "
                              "total clicks; the model is chosen by held-out fit, without the oracle.",
        },
        {
            "area": "Conditional effects",
            "finding": f"{sel['model']} predicts slate-level lifts with RMSE {_f(sel['cate_rmse_vs_oracle'])} "
                       f"and correlation {_f(sel['cate_correlation_vs_oracle'], 2)} against the oracle; its "
                       f"cross-fitted version (the policy score) has correlation "
                       f"{_f(policy_row['cate_correlation_vs_oracle'], 2)}."
            if "cate_rmse_vs_oracle" in cate else describe_predicted_lift(cate),
            "why_it_matters": "A CATE model is only useful for targeting if it ranks slates like the truth does.",
        },
        {
            "area": "Model-assisted estimation",
            "finding": f"Cross-fitted AIPW estimated {_signed(aipw_row['estimate'])} total clicks per slate "
                       f"(95% CI {_f(aipw_row['ci_95_lower'])} to {_f(aipw_row['ci_95_upper'])}), against "
                       f"{_signed(dim['estimate'])} from the randomized difference in means{oracle_txt}.",
            "why_it_matters": "Model-assisted estimates should agree with the randomized baseline; a smaller "
                              "standard error is their benefit.",
        },
    ]
    if "oracle_lift_per_1000_eligible_slates" in policy:
        rows.append({
            "area": "Policy targeting (oracle)",
            "finding": _sentence(policy_verdict(policy, "oracle_lift_per_1000_eligible_slates")) + ".",
            "why_it_matters": "The oracle shows what each rule really achieves in this simulated world.",
        })
    best = best_deployable(policy, "dr_per_1000_eligible")
    rows.append({
        "area": "Policy targeting (estimated from the experiment)",
        "finding": _sentence(policy_verdict(policy, "dr_per_1000_eligible", estimated=True))
        + f"; the DR estimate for '{best['policy']}' has 95% CI {_f(best['dr_per_1000_eligible_ci_lower'])} to "
          f"{_f(best['dr_per_1000_eligible_ci_upper'])}.",
        "why_it_matters": "This is what an analyst without an oracle can claim: the randomized experiment "
                          "values any rule, cross-fitted so no rule is scored on the slates that trained it.",
    })
    if len(heterogeneity):
        rows.append({
            "area": "Heterogeneity",
            "finding": describe_heterogeneity(heterogeneity),
            "why_it_matters": "Slate competition (substitutes, displaced items) explains where promotion "
                              "hurts most; many segments are read at once, so the Bonferroni intervals count.",
        })
    return pd.DataFrame(rows)


def takeaway_markdown(takeaways: pd.DataFrame) -> str:
    """The takeaways as a markdown bullet list."""
    return "\n".join(f"- **{r.area}.** {r.finding}" for r in takeaways.itertuples(index=False))


