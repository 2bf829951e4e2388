"""The report's figure style: seaborn's whitegrid theme without importing seaborn."""

from __future__ import annotations

import subprocess
import sys

PROBE = r"""
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from recsys_causal import style
def snapshot():
    return {k: repr(v) for k, v in plt.rcParams.items()}
if sys.argv[1] == "ours":
    style.apply_style()
    assert "seaborn" not in sys.modules and "scipy.stats" not in sys.modules, "apply_style imported seaborn"
else:
    import seaborn as sns
    sns.set_theme(style="whitegrid", context="notebook", palette=list(style.PALETTE))
    plt.rcParams["image.cmap"] = matplotlib.rcParamsDefault["image.cmap"]
    plt.rcParams.update(style.FIGURE_RC)
print(json.dumps(snapshot()))
"""


def _rc(which: str) -> dict[str, str]:
    import json

    out = subprocess.run([sys.executable, "-c", PROBE, which], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_apply_style_sets_what_seaborns_theme_sets_without_importing_it():
    ours, seaborns = _rc("ours"), _rc("seaborn")
    differ = {k: (ours.get(k), seaborns.get(k)) for k in seaborns.keys() | ours.keys() if ours.get(k) != seaborns.get(k)}
    assert not differ, differ


def test_no_figure_draws_with_the_default_colormap():
    """THEME_RC leaves out seaborn's default colormap: that is only safe while no figure uses it."""
    import re
    from pathlib import Path

    import recsys_causal

    pkg = Path(recsys_causal.__file__).parent
    uses = [f"{p.relative_to(pkg)}:{m.group(0)}" for p in pkg.rglob("*.py")
            for m in re.finditer(r"\.(imshow|pcolormesh|pcolor|hexbin|contourf?|matshow|heatmap)\(", p.read_text())]
    assert not uses, uses
