"""The doubly robust (AIPW) score, once for both tracks.

    ψ_i = m1(x_i) - m0(x_i) + A_i (Y_i - m1(x_i)) / e_i - (1 - A_i) (Y_i - m0(x_i)) / (1 - e_i)

The mean of ψ estimates the average treatment effect; its per-cluster sums give the influence-
function standard error and the cluster bootstrap (`recsys_causal.inference`,
`recsys_causal.bootstrap`). The long-term track passes estimated propensities, clipped to
[clip_eps, 1 - clip_eps]; the slate experiment passes its known randomization probability, which
is not clipped. With m1 = m0 = 0 the mean is the Horvitz-Thompson estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ArrayLike = np.ndarray | pd.Series


def clip_propensity(e: ArrayLike, clip_eps: float) -> np.ndarray:
    """Propensities clipped to [clip_eps, 1 - clip_eps]."""
    if not 0.0 <= clip_eps < 0.5:
        raise ValueError(f"clip_eps must be in [0, 0.5), got {clip_eps}")
    return np.clip(np.asarray(e, dtype=float), clip_eps, 1.0 - clip_eps)


def aipw_score(y: ArrayLike, a: ArrayLike, e: ArrayLike | float, m1: ArrayLike, m0: ArrayLike,
               clip_eps: float | None = 0.01) -> np.ndarray:
    """Row-level AIPW scores ψ_i (see the module docstring).

    `e` is an array of estimated propensities (clipped at `clip_eps`) or one known probability
    (`clip_eps=None`: used as it is).
    """
    y, a, m1, m0 = (np.asarray(v, dtype=float) for v in (y, a, m1, m0))
    if not np.isin(a, (0.0, 1.0)).all():
        raise ValueError("treatment must be coded 0/1")
    if clip_eps is None:
        ec = np.asarray(e, dtype=float)
        if not ((ec > 0) & (ec < 1)).all():
            raise ValueError("a known propensity must lie strictly between 0 and 1")
    else:
        ec = clip_propensity(e, clip_eps)
    return (m1 - m0) + a * (y - m1) / ec - (1.0 - a) * (y - m0) / (1.0 - ec)
