"""Locations of the project root, parameter files and run directories."""

from __future__ import annotations

import os
from pathlib import Path

ENV_RUNS_DIR = "RECSYS_CAUSAL_RUNS_DIR"


def project_root(start: Path | None = None) -> Path:
    """Return the nearest ancestor of `start` (default: cwd) holding pyproject.toml and params/.

    Notebooks run from any working directory, so relative paths in parameters are resolved
    against this root rather than against the notebook's folder.
    """
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").is_file() and (candidate / "params").is_dir():
            return candidate
    source_root = Path(__file__).resolve().parents[2]
    if (source_root / "params").is_dir():
        return source_root
    return here


def resolve(path: str | os.PathLike[str], root: Path | None = None) -> Path:
    """Resolve a user path: absolute paths unchanged, relative ones against the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (root or project_root()) / p


def runs_dir(root: Path | None = None) -> Path:
    """Folder that holds every run directory (data/runs, or $RECSYS_CAUSAL_RUNS_DIR)."""
    override = os.environ.get(ENV_RUNS_DIR, "").strip()
    return resolve(override, root) if override else (root or project_root()) / "data" / "runs"
