"""Shared fixtures: the project root, and one end-to-end run of the pipeline on the test profile.

`e2e_run` copies the project's sources into a temporary folder, runs
`recsys-causal run --params params/test.yaml` there (every chapter, then the book), and hands the
result to the end-to-end, browser and PDF tests, so the pipeline runs once per session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")  # tests draw off-screen

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "recsys_causal.cli"]


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


def copy_project(dest: Path) -> Path:
    """Copy what a run needs (sources, not data or outputs) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "_quarto.yml", "index.qmd", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    for folder in ("params", "notebooks", "report"):
        src = ROOT / folder
        if src.exists():
            shutil.copytree(
                src, dest / folder,
                ignore=shutil.ignore_patterns("longterm", "interference", "validation", "_generated",
                                              ".ipynb_checkpoints", "*.ipynb") if folder == "report"
                else shutil.ignore_patterns(".ipynb_checkpoints"),
            )
    return dest


def run_cli(args: list[str], cwd: Path, env_extra: dict[str, str] | None = None,
            timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, in `cwd`, without the test-profile environment variables."""
    # the test profile's variables stay out; the Quarto binary CI installed stays in
    keep = ("RECSYS_CAUSAL_QUARTO",)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_CAUSAL_") or k in keep}
    env.update(env_extra or {})
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@dataclass
class BookRun:
    project: Path
    run_dir: Path
    book_dir: Path
    result: subprocess.CompletedProcess[str]
    seconds: float


@pytest.fixture(scope="session")
def e2e_run(tmp_path_factory: pytest.TempPathFactory) -> BookRun:
    """One full pipeline run on params/test.yaml, rendered by Quarto when found, else the fallback."""
    project = copy_project(tmp_path_factory.mktemp("e2e") / "project")
    t0 = time.perf_counter()
    result = run_cli(["run", "--params", "params/test.yaml", "--run-name", "e2e", "--renderer", "auto"], project)
    seconds = time.perf_counter() - t0
    if result.returncode != 0:
        pytest.fail(f"pipeline failed (exit {result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return BookRun(project, project / "data" / "runs" / "e2e", project / "_book", result, seconds)


@pytest.fixture(scope="session")
def e2e_book(e2e_run: BookRun) -> Path:
    """The `_book` folder of the end-to-end run: the book the browser and PDF tests check."""
    return e2e_run.book_dir
