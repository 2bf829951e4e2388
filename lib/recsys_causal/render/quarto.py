"""Rendering the book with Quarto (when a `quarto` binary is available).

`find_quarto()` looks at $RECSYS_CAUSAL_QUARTO, then $QUARTO_PATH, then `quarto` on PATH.
`render_quarto(report_dir)` runs `quarto render` on the Quarto project that `prepare_report`
wrote in report/ (execution disabled: papermill already ran the chapters), producing the HTML
book and the Typst PDF in _book/ at the repository root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ENV_VARS = ("RECSYS_CAUSAL_QUARTO", "QUARTO_PATH")
MIN_VERSION = (1, 9)
NOT_FOUND = "quarto not found on PATH (see README: conda env or QUARTO_PATH)"


class QuartoError(RuntimeError):
    """`quarto render` failed or quarto is missing."""


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
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    try:
        return tuple(int(x) for x in out.split(".")[:3])
    except ValueError:
        return ()


def render_quarto(report_dir: Path, binary: str | None = None, timeout: int = 1800) -> Path:
    """Run `quarto render <report_dir>` (HTML + Typst PDF); return the output directory."""
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
    report_dir = Path(report_dir)
    proc = subprocess.run([binary, "render", str(report_dir)], cwd=report_dir, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-25:])
        raise QuartoError(
            f"quarto render failed (exit {proc.returncode}); the fallback renderer needs no quarto "
            f"(--renderer fallback):\n{tail}"
        )
    return (report_dir / "../_book").resolve()
