"""One figure style for the whole book: a colour-blind-safe palette and readable sizes.

Every chapter calls `apply_style()` (through `open_chapter`) and builds figures with
`new_figure()`, so figures look alike in HTML and fit the PDF's page width. Importing this
module changes nothing: the backend is matplotlib's own choice (inline in a kernel, a
non-interactive one without a display).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

# Okabe-Ito palette: distinguishable under the common colour-vision deficiencies.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # green
    "#D55E00",  # vermillion
    "#CC79A7",  # purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
# the colour words captions use: a caption names a colour only through this table
PALETTE_NAMES: dict[str, str] = {
    "#0072B2": "blue", "#E69F00": "orange", "#009E73": "green", "#D55E00": "vermillion",
    "#CC79A7": "purple", "#56B4E9": "sky blue", "#F0E442": "yellow", "#000000": "black",
}
ARM_COLORS = {"treated": PALETTE[3], "control": PALETTE[0]}
ORACLE_COLOR = "#000000"
PAGE_WIDTH_IN = 6.5  # text width of the PDF page


def apply_style() -> None:
    """Set matplotlib/seaborn defaults used by every figure of the report."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", palette=list(PALETTE))
    plt.rcParams.update(
        {
            "figure.figsize": (PAGE_WIDTH_IN, 3.8),
            "figure.dpi": 110,
            "savefig.dpi": 160,
            "savefig.bbox": "tight",
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "xtick.labelsize": 9,
            "ytick.labelsize": 9,
            "legend.fontsize": 9,
            "axes.prop_cycle": plt.cycler(color=list(PALETTE)),
            "svg.hashsalt": "recsys-causal",
        }
    )


def new_figure(nrows: int = 1, ncols: int = 1, height: float = 3.8, width: float = PAGE_WIDTH_IN, **kwargs: Any) -> tuple[Any, Any]:
    """A figure sized for the page width with the report style applied."""
    apply_style()
    return plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)
