"""A chapter that reads finished artifacts starts light: its imports pull no model library."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: libraries only the builders need: a kernel imports them when it computes, not to show results
MODEL_LIBRARIES = ("sklearn", "scipy.stats", "statsmodels", "lightgbm", "xgboost", "seaborn", "duckdb")
IMPORT = re.compile(r"^(from [\w.]+ import \([^)]*\)|(?:from|import) [^\n]+)", re.M)


def notebook_imports() -> list[str]:
    """Every import statement of every chapter notebook's code cells."""
    lines: list[str] = []
    for nb in sorted((ROOT / "notebooks").glob("*/*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        src = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        lines += [m.group(1) for m in IMPORT.finditer(src)]
    return lines


def test_chapter_imports_and_the_figure_style_pull_no_model_library():
    lines = notebook_imports()
    assert any("recsys_causal.longterm" in ln for ln in lines) and any("validation" in ln for ln in lines)
    probe = "\n".join([*lines, "from recsys_causal.style import apply_style", "apply_style()",
                       "import sys", f"print([m for m in {MODEL_LIBRARIES!r} if m in sys.modules])"])
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout
