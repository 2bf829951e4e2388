"""Rendering the book with Quarto (when a `quarto` binary is available).

`find_quarto()` looks at $RECSYS_CAUSAL_QUARTO, then $QUARTO_PATH, then `quarto` on PATH.
`render_quarto(root)` runs `quarto render` on the Quarto project at the repository root, which
`prepare_report` has filled for one run (execution disabled: papermill already ran the chapters),
producing the HTML book and the Typst PDF in `_book/`. Quarto's `WARN` lines are returned (and
kept in a log), so a successful render with warnings does not hide them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ENV_VARS = ("RECSYS_CAUSAL_QUARTO", "QUARTO_PATH")
MIN_VERSION = (1, 9)
NOT_FOUND = "quarto not found on PATH (see README: conda env or QUARTO_PATH)"
# set for the pre-render script (report/setup.py): the book is prepared, do not run the pipeline
PREPARED_ENV = "RECSYS_CAUSAL_BOOK_PREPARED"
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class QuartoError(RuntimeError):
    """`quarto render` failed or quarto is missing."""


@dataclass
class QuartoRender:
    """What one `quarto render` printed that a user should see."""

    output_dir: Path
    warnings: list[str] = field(default_factory=list)
    log: str = ""


def find_quarto() -> str | None:
    """Path of the quarto binary: $RECSYS_CAUSAL_QUARTO, $QUARTO_PATH, else `quarto` on PATH."""
    for var in ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            p = Path(value).expanduser()
            if p.is_dir():
                p = p / "bin" / "quarto" if (p / "bin" / "quarto").exists() else p / "quarto"
            if p.is_file() and os.access(p, os.X_OK):
                return str(p)
    return shutil.which("quarto")


def quarto_version(binary: str) -> tuple[int, ...]:
    """Quarto's version as a tuple of ints (empty when it cannot be read)."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    try:
        return tuple(int(x) for x in out.split(".")[:3])
    except ValueError:
        return ()


def warn_lines(output: str) -> list[str]:
    """Quarto's `WARN` lines (colour codes removed), in the order printed."""
    lines = (ANSI_RE.sub("", ln).strip() for ln in output.splitlines())
    return [ln for ln in lines if ln.startswith("WARN")]


def usable_quarto(binary: str | None = None) -> str:
    """The quarto binary the book can be rendered with (found, and >= 1.9), else QuartoError
    saying what to do."""
    binary = binary or find_quarto()
    if not binary:
        raise QuartoError(NOT_FOUND)
    version = quarto_version(binary)
    if version and version[:2] < MIN_VERSION:
        raise QuartoError(
            f"quarto {'.'.join(map(str, version))} found at {binary}; the book needs quarto >= 1.9 "
            "(Typst output for book projects); install it from conda-forge (environment.yml) "
            "or use --renderer fallback"
        )
    return binary


def render_quarto(root: Path, binary: str | None = None, timeout: int = 1800) -> QuartoRender:
    """Run `quarto render` in the project at `root` (HTML + Typst PDF into root/_book)."""
    binary = usable_quarto(binary)
    root = Path(root)
    env = {**os.environ, PREPARED_ENV: "1"}
    # the pre-render script and Quarto's Jupyter support use this interpreter (the project's)
    env.setdefault("QUARTO_PYTHON", sys.executable)
    proc = subprocess.run([binary, "render", str(root)], cwd=root, capture_output=True, text=True,
                          timeout=timeout, env=env)
    log = ANSI_RE.sub("", (proc.stdout or "") + (proc.stderr or ""))
    if proc.returncode != 0:
        tail = "\n".join(log.strip().splitlines()[-25:])
        raise QuartoError(
            f"quarto render failed (exit {proc.returncode}); the fallback renderer needs no quarto "
            f"(--renderer fallback):\n{tail}"
        )
    return QuartoRender(root / "_book", warn_lines(log), log)
