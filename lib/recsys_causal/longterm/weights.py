"""Inverse-probability weights: stabilized, truncated at percentiles, and their diagnostics.

The stabilized weight of a treated row is P(A = 1) / e(X), of a control row P(A = 0) / (1 - e(X)).
Stabilization keeps the weighted pseudo-population the size of the sample; truncation at the
lower / upper percentiles caps the few rows with extreme propensities (a bias-variance trade).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def stabilized_weights(treatment: np.ndarray, propensity: np.ndarray) -> np.ndarray:
    """P(A=a) / P(A=a | X) for each row's observed arm a."""
    a = np.asarray(treatment, dtype=float)
    e = np.asarray(propensity, dtype=float)
    if np.any((e <= 0) | (e >= 1)):
        raise ValueError("propensities must lie strictly inside (0, 1)")
    p1 = a.mean()
    return np.where(a == 1, p1 / e, (1.0 - p1) / (1.0 - e))


def truncate_weights(weights: np.ndarray, lower: float = 0.01, upper: float = 0.99) -> np.ndarray:
    """Clip weights to their own `lower` and `upper` quantiles (shares, e.g. 0.01 / 0.99)."""
    w = np.asarray(weights, dtype=float)
    lo, hi = np.quantile(w, [lower, upper])
    return np.clip(w, lo, hi)


def analysis_weights(treatment: np.ndarray, propensity: np.ndarray, lower: float = 0.01,
                     upper: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """(raw stabilized weights, truncated stabilized weights = the analysis weight)."""
    raw = stabilized_weights(treatment, propensity)
    return raw, truncate_weights(raw, lower, upper)


def weighted_difference_in_means(outcome: np.ndarray, treatment: np.ndarray, weights: np.ndarray) -> float:
    """Hajek (self-normalized) contrast: weighted treated mean minus weighted control mean."""
    y = np.asarray(outcome, dtype=float)
    a = np.asarray(treatment, dtype=float)
    w = np.asarray(weights, dtype=float)
    return float(np.sum(w * a * y) / np.sum(w * a) - np.sum(w * (1 - a) * y) / np.sum(w * (1 - a)))


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish effective sample size (sum w)^2 / sum w^2."""
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / np.sum(w**2)) if len(w) else float("nan")


def ess_by_arm(treatment: np.ndarray, weights: np.ndarray, raw_weights: np.ndarray | None = None) -> pd.DataFrame:
    """Rows, effective sample size and its share of rows per arm (and overall)."""
    a = np.asarray(treatment, dtype=int)
    w = np.asarray(weights, dtype=float)
    rows = []
    for label, mask in (("treated", a == 1), ("control", a == 0), ("all", np.ones_like(a, bool))):
        row = {"arm": label, "n_rows": int(mask.sum()), "ess": effective_sample_size(w[mask])}
        row["ess_share"] = row["ess"] / row["n_rows"] if row["n_rows"] else float("nan")
        if raw_weights is not None:
            row["ess_untruncated"] = effective_sample_size(np.asarray(raw_weights, float)[mask])
        rows.append(row)
    return pd.DataFrame(rows)


def weight_distribution(treatment: np.ndarray, weights: dict[str, np.ndarray]) -> pd.DataFrame:
    """Quantiles, mean and maximum of each weight column per arm."""
    a = np.asarray(treatment, dtype=int)
    qs = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0]
    rows = []
    for name, w in weights.items():
        w = np.asarray(w, dtype=float)
        for label, mask in (("treated", a == 1), ("control", a == 0)):
            v = w[mask]
            if not len(v):
                continue
            q = np.quantile(v, qs)
            row = {"weight": name, "arm": label, "n_rows": int(mask.sum()), "mean": float(v.mean()),
                   "sum": float(v.sum())}
            row.update({("min" if p == 0 else "max" if p == 1 else f"p{int(round(100 * p)):02d}"): float(x)
                        for p, x in zip(qs, q, strict=True)})
            rows.append(row)
    return pd.DataFrame(rows)


def describe_weights(ess: pd.DataFrame, dist: pd.DataFrame, weight: str = "analysis_weight") -> str:
    """One sentence on how much the weighting costs in effective sample size."""
    e = ess.set_index("arm")
    d = dist[dist["weight"].eq(weight)].set_index("arm")
    max_w = float(d["max"].max())
    return (
        f"After truncation the largest weight is {max_w:.2f}; the weighted treated arm is worth "
        f"{e.loc['treated', 'ess']:,.0f} of its {e.loc['treated', 'n_rows']:,} rows "
        f"({100 * e.loc['treated', 'ess_share']:.0f}%) and the control arm "
        f"{e.loc['control', 'ess']:,.0f} of {e.loc['control', 'n_rows']:,} "
        f"({100 * e.loc['control', 'ess_share']:.0f}%)"
        + ("; a small loss, so no handful of rows dominates the weighted estimates."
           if min(e.loc["treated", "ess_share"], e.loc["control", "ess_share"]) > 0.7
           else "; a moderate loss: the weighted estimates are noticeably less precise than the row "
           "count suggests, though no handful of rows dominates them."
           if min(e.loc["treated", "ess_share"], e.loc["control", "ess_share"]) > 0.4
           else "; a marked loss: a minority of rows carries much of the weighted estimates.")
    )
