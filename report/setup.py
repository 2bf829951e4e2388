"""Quarto's pre-render step (`project.pre-render` in _quarto.yml): run the pipeline, prepare the book.

`quarto render` / `quarto preview` at the project root run this first, as a Quarto book runs its
setup script: it executes every chapter on params/default.yaml (or $RECSYS_CAUSAL_PARAMS) into
data/runs/default/ (or $RECSYS_CAUSAL_RUN_NAME), then copies the executed chapters into report/
and writes _quarto.yml.local, so Quarto renders that run's book. `recsys-causal render` prepares
the book itself and sets RECSYS_CAUSAL_BOOK_PREPARED, and then this script does nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREPARED_ENV = "RECSYS_CAUSAL_BOOK_PREPARED"


def _reexec_in_project_venv() -> None:
    """Quarto may pick a Python without the project installed: use the project's .venv instead."""
    marker = "RECSYS_CAUSAL_SETUP_REEXEC"
    for py in (ROOT / ".venv" / "bin" / "python", ROOT / ".venv" / "Scripts" / "python.exe"):
        if py.is_file() and not os.environ.get(marker):
            os.environ[marker] = "1"
            os.execv(str(py), [str(py), __file__, *sys.argv[1:]])
    print("report/setup.py: error: the recsys_causal package is not installed for "
          f"{sys.executable}; run `make install` (creates .venv) or set QUARTO_PYTHON to a Python "
          "that has it", file=sys.stderr)
    sys.exit(2)


def main() -> int:
    if os.environ.get(PREPARED_ENV):
        return 0
    try:
        from recsys_causal.cli import main as cli
        from recsys_causal.paths import runs_dir
        from recsys_causal.render.book import prepare_report
    except ImportError:
        _reexec_in_project_venv()
        return 2
    params = os.environ.get("RECSYS_CAUSAL_PARAMS", "").strip() or "params/default.yaml"
    run_name = os.environ.get("RECSYS_CAUSAL_RUN_NAME", "").strip() or "default"
    code = cli(["run", "--params", params, "--run-name", run_name, "--no-render"])
    if code != 0:
        return code
    prepared = prepare_report(runs_dir(ROOT) / run_name, ROOT)
    print(f"report/setup.py: the book holds {len(prepared.present)} chapter(s) of run '{run_name}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
