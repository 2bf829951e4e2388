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


#: seaborn's `set_theme(style="whitegrid", context="notebook")`, as the rcParams it changes
#: (seaborn 0.13), set without importing seaborn: its import pulls scipy.stats and statsmodels,
#: about a second of every kernel's start. A test checks these against seaborn's own. Its
#: "rocket" colormap is left out: no figure of the book draws with the default colormap.
THEME_RC: dict[str, Any] = {
    "axes.axisbelow": True,
    "axes.edgecolor": ".8",
    "axes.grid": True,
    "axes.labelcolor": ".15",
    "axes.labelsize": 12.0,
    "axes.linewidth": 1.25,
    "axes.titlesize": 12.0,
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "font.size": 12.0,
    "grid.color": ".8",
    "grid.linewidth": 1.0,
    "legend.fontsize": 11.0,
    "legend.title_fontsize": 12.0,
    "lines.solid_capstyle": "round",
    "patch.edgecolor": "w",
    "patch.force_edgecolor": True,
    "text.color": ".15",
    "xtick.bottom": False,
    "xtick.color": ".15",
    "xtick.labelsize": 11.0,
    "xtick.major.size": 6.0,
    "xtick.major.width": 1.25,
    "xtick.minor.size": 4.0,
    "xtick.minor.width": 1.0,
    "ytick.color": ".15",
    "ytick.labelsize": 11.0,
    "ytick.left": False,
    "ytick.major.size": 6.0,
    "ytick.major.width": 1.25,
    "ytick.minor.size": 4.0,
    "ytick.minor.width": 1.0,
}


#: the report's own settings on top of the theme: page-sized figures, readable sizes, the palette
FIGURE_RC: dict[str, Any] = {
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


def apply_style() -> None:
    """Set the matplotlib defaults of every figure of the report: seaborn's whitegrid theme
    (`THEME_RC`), then the report's sizes and palette (`FIGURE_RC`)."""
    plt.rcParams.update(THEME_RC)
    plt.rcParams.update(FIGURE_RC)


def new_figure(nrows: int = 1, ncols: int = 1, height: float = 3.8, width: float = PAGE_WIDTH_IN, **kwargs: Any) -> tuple[Any, Any]:
    """A figure sized for the page width with the report style applied."""
    apply_style()
    return plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)
