"""Sentences of the randomized-effects chapter (prose only: the numbers come from `recsys_causal.interference.randomized`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_causal.interference.randomized import PER_SLATES


def _fmt(x: float, digits: int = 1) -> str:
    return f"{x:+,.{digits}f}"


def _interval(lo: float, hi: float, digits: int = 1) -> str:
    return f"95% CI {lo:,.{digits}f} to {hi:,.{digits}f}"


def _covers(lo: float, hi: float, oracle: float, digits: int = 1) -> str:
    if not np.isfinite(oracle):
        return ""
    inside = lo <= oracle <= hi
    return f"; the true value {oracle:,.{digits}f} is {'inside' if inside else 'outside'} the interval"


def describe_effects(effects: pd.DataFrame) -> str:
    """One sentence per component: estimate per 1,000 promoted slates, interval, p-value, oracle."""
    parts = []
    for _, r in effects.iterrows():
        k = PER_SLATES
        parts.append(
            f"{r['label']}: {_fmt(k * r['estimate'])} clicks per 1,000 promoted slates "
            f"({_interval(k * r['ci_95_lower'], k * r['ci_95_upper'])}, randomization p = "
            f"{r['randomization_p_value']:.3f}{_covers(k * r['ci_95_lower'], k * r['ci_95_upper'], k * r.get('oracle_value', np.nan))})."
        )
    covered = effects["covers_oracle"].dropna() if "covers_oracle" in effects else pd.Series(dtype=bool)
    tail = (f" {int(covered.sum())} of {len(covered)} intervals cover the simulator's true effect."
            if len(covered) else "")
    return " ".join(parts) + tail


def describe_naive_vs_total(effects: pd.DataFrame) -> str:
    """The chapter's point in one sentence: what the naive view says versus the slate total."""
    e = effects.set_index("component")
    f, tot = e.loc["direct_focal"], e.loc["total_slate"]
    k = PER_SLATES
    sign_f = "gains" if f["estimate"] > 0 else "loses"
    if tot["ci_95_upper"] < 0:
        verdict = "the slate as a whole loses clicks"
    elif tot["ci_95_lower"] > 0:
        verdict = "the slate as a whole gains clicks"
    else:
        verdict = "the data cannot tell whether the slate as a whole gains or loses clicks"
    opposite = np.sign(f["estimate"]) != np.sign(tot["estimate"])
    decisive = tot["ci_95_upper"] < 0 or tot["ci_95_lower"] > 0
    if opposite and decisive:
        tail = ": the naive read-out has the wrong sign for the slate."
    elif opposite:
        tail = ": the naive read-out's sign is not supported at the slate level."
    else:
        tail = "."
    return (
        f"Looking only at the promoted item, promotion {sign_f} {abs(k * f['estimate']):,.1f} clicks per "
        f"1,000 promoted slates; counting every item of the slate, the change is {_fmt(k * tot['estimate'])} "
        f"({_interval(k * tot['ci_95_lower'], k * tot['ci_95_upper'])}), so {verdict}{tail}"
    )


def describe_product(product: pd.DataFrame) -> str:
    """Sentence on the competitor offset share."""
    r = product.set_index("key").loc["competitor_offset_share"]
    if not np.isfinite(r["value"]):
        return "The focal gain is zero, so the competitor offset share is undefined."
    share = -r["value"]
    msg = (f"Competitors lose {share:,.2f} clicks for every click the promoted item gains "
           f"({_interval(-r['ci_95_upper'], -r['ci_95_lower'], 2)})" if r["value"] < 0 else
           f"Competitors gain {r['value']:,.2f} clicks for every click the promoted item gains "
           f"({_interval(r['ci_95_lower'], r['ci_95_upper'], 2)})")
    if np.isfinite(r.get("oracle_value", np.nan)):
        truth = -r["oracle_value"] if r["value"] < 0 else r["oracle_value"]
        msg += f"; the simulator's true value is {truth:,.2f}"
    return msg + "."


def describe_balance(balance: pd.DataFrame) -> str:
    """Sentence on covariate balance, judged against the band chance alone produces."""
    worst = balance.loc[balance["standardized_difference"].abs().idxmax()]
    band = float(balance["chance_band"].iloc[0])
    n_out = int((balance["standardized_difference"].abs() > band).sum())
    verdict = (f"all lie within the ±{band:.2f} that chance alone produces about 95% of the time with these arm sizes"
                if n_out == 0 else
               f"{n_out} of {len(balance)} lie outside the ±{band:.2f} band that chance alone produces about 95% "
               "of the time, which with this many covariates is itself not unusual")
    return (
        f"The largest standardized difference between promoted and control slates is "
        f"{worst['standardized_difference']:+.3f} ({worst['covariate'].lower()}); {verdict}."
    )


def describe_randomization(effects: pd.DataFrame) -> str:
    """Sentence comparing the randomization p-values with the Neyman intervals."""
    e = effects.set_index("component")
    tot = e.loc["total_slate"]
    n = int(tot["n_randomization"])
    return (
        f"Against {n:,} re-randomizations, the slate-total effect has p = {tot['randomization_p_value']:.3f}"
        f" (the smallest attainable is {1 / (n + 1):.4f}); the focal-item effect has p = "
        f"{e.loc['direct_focal', 'randomization_p_value']:.3f}."
    )


def describe_item_lift(table: pd.DataFrame) -> str:
    """Sentence on where the promotion's clicks come from, per slate, by exposure group."""
    t = table.set_index("group")
    gain = t.loc["Focal item", "lift_per_slate"]
    losses = t["lift_per_slate"].drop("Focal item")
    worst = losses.idxmin()
    return (
        f"Per slate the promoted item gains {gain:+.3f} {'clicks (randomized estimate)' if 'basis' in table else 'expected clicks'}; "
        f"the largest loss falls on "
        f"'{worst.lower()}' items ({losses.min():+.3f}), and all competitors together change by "
        f"{losses.sum():+.3f}."
    )


def describe_waterfall(product: pd.DataFrame) -> str:
    """Sentence walking the waterfall: focal gain, competitor changes, net, and the oracle's net."""
    p = product.set_index("key")
    f, s, o, t = (float(p.loc[k, "value"]) for k in ("focal_gain", "same_cluster_change", "other_change", "total_change"))
    text = (
        f"Per 1,000 promoted slates the promoted item changes by {_fmt(f, 0)} clicks, same-cluster competitors "
        f"by {_fmt(s, 0)} and other competitors by {_fmt(o, 0)}, a net change of {_fmt(t, 0)}"
    )
    truth = p.loc["total_change", "oracle_value"] if "oracle_value" in p else np.nan
    if np.isfinite(truth):
        text += f" (true net change {_fmt(float(truth), 0)})"
    share = abs(s) / (abs(s) + abs(o)) if (s < 0 and o < 0) else np.nan
    if np.isfinite(share):
        text += f"; same-cluster competitors carry {100 * share:.0f}% of the competitors' loss"
    return text + "."
