"""Render a run's executed chapters into the book: HTML + PDF in `_book/`.

    from recsys_causal.render import render_book
    book = render_book(run_dir, root)          # quarto when found, else the fallback
    book.html, book.pdf, book.renderer, book.chapters

With quarto (>= 1.9, found on PATH or through $RECSYS_CAUSAL_QUARTO / $QUARTO_PATH) the book is
rendered by `quarto render`; without it by the fallback built from nbformat, pandoc and typst.
Both read the same `report/_quarto.yml`, written from the committed `_quarto.yml` for the run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BookResult", "RenderError", "render_book", "find_quarto", "quarto_config", "write_quarto_yml",
    "NOT_FOUND",
]


def __getattr__(name: str) -> Any:
    # submodules are imported on first use (keeps `python -m recsys_causal.render.book` clean)
    if name in ("find_quarto", "NOT_FOUND"):
        from recsys_causal.render import quarto

        return getattr(quarto, name)
    if name in ("quarto_config", "write_quarto_yml"):
        from recsys_causal.render import book

        return getattr(book, name)
    raise AttributeError(f"module 'recsys_causal.render' has no attribute '{name}'")


class RenderError(RuntimeError):
    """The book could not be rendered (the message says why and what to do)."""


@dataclass
class BookResult:
    """Where the rendered book is and what it holds."""

    html: Path  # root/_book/index.html
    pdf: Path  # the one PDF in root/_book/
    renderer: str  # 'quarto' or 'fallback'
    chapters: list[str]  # ids of the registry chapters in the book (executed in this run), in order
    missing: list[str] = field(default_factory=list)  # registry chapters not executed in this run
    run_date: str = ""
    warnings: list[str] = field(default_factory=list)  # the renderer's warnings (Quarto's WARN lines)
    log: Path | None = None  # the renderer's whole output, when it printed any
    fresh: bool = False  # the book in _book/ was already rendered from exactly these inputs

    def warning_lines(self, first: int = 5) -> list[str]:
        """Console lines for the renderer's warnings: their count, the first few, where the rest are."""
        if not self.warnings:
            return []
        where = f" (all of them in {self.log})" if self.log else ""
        lines = [f"{self.renderer} printed {len(self.warnings)} warning(s){where}:"]
        lines += [f"  {w}" for w in self.warnings[:first]]
        if len(self.warnings) > first:
            lines.append(f"  ... and {len(self.warnings) - first} more")
        return lines


def check_renderer(renderer: str) -> None:
    """Refuse, before any chapter runs, a renderer that cannot render: an unknown name, or
    'quarto' when no usable quarto (>= 1.9) is found (RenderError, one line)."""
    from recsys_causal.render.quarto import QuartoError, usable_quarto

    if renderer not in ("auto", "quarto", "fallback"):
        raise RenderError(f"renderer '{renderer}' is not one of auto, quarto, fallback")
    if renderer == "quarto":
        try:
            usable_quarto()
        except QuartoError as exc:
            hint = "" if "--renderer fallback" in str(exc) else "; or use --renderer fallback"
            raise RenderError(f"--renderer quarto: {exc}{hint}") from None


def render_book(run_dir: Path, root: Path, renderer: str = "auto", force: bool = False) -> BookResult:
    """Copy the run's executed chapters into report/, write the includes, and render _book/.

    renderer: 'auto' (quarto when found, else the fallback), 'quarto' (error when absent) or
    'fallback'. Chapters the run did not execute are left out of the book (a partial run renders).
    A book already rendered from exactly these inputs is reused (`fresh`), unless `force`.
    """
    from recsys_causal.chapters import CHAPTERS
    from recsys_causal.freeze import BOOK_KEY, book_key
    from recsys_causal.render.book import BOOK_DIR, prepare_report
    from recsys_causal.render.book import run_date as run_date_of
    from recsys_causal.render.quarto import find_quarto
    from recsys_causal.runs import executed_path

    check_renderer(renderer)
    run_dir, root = Path(run_dir), Path(root)
    if not run_dir.is_dir():
        raise RenderError(f"run directory '{run_dir}' does not exist; run the pipeline first")
    binary = find_quarto() if renderer in ("auto", "quarto") else None
    out_dir = root / BOOK_DIR
    name = "quarto" if binary else "fallback"
    key = book_key(run_dir, root, name, CHAPTERS)
    done = out_dir / BOOK_KEY
    pdfs = sorted(out_dir.glob("*.pdf"))
    if not force and done.is_file() and done.read_text().strip() == key and (out_dir / "index.html").is_file() and pdfs:
        present = [c.id for c in CHAPTERS if executed_path(run_dir, c).is_file()]
        return BookResult(out_dir / "index.html", pdfs[0], name, present,
                          [c.id for c in CHAPTERS if c.id not in present], run_date_of(run_dir), fresh=True)
    prepared = prepare_report(run_dir, root)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    ids = [c.id for c in prepared.present]
    missing = [c.id for c in prepared.missing]
    result = _render(prepared, binary, run_dir, out_dir, ids, missing)
    done.write_text(key + "\n")
    return result


def _render(prepared: Any, binary: str | None, run_dir: Path, out_dir: Path, ids: list[str],
            missing: list[str]) -> BookResult:
    """Render the prepared project with Quarto (when `binary`) or the fallback."""
    from recsys_causal.render.fallback import FallbackError, render_fallback
    from recsys_causal.render.quarto import QuartoError, render_quarto

    if binary:
        try:
            done = render_quarto(prepared.root, binary)
        except QuartoError as exc:
            raise RenderError(str(exc)) from exc
        log = run_dir / "logs" / "quarto-render.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(done.log)
        pdfs = sorted(out_dir.glob("*.pdf"))
        if not pdfs:
            raise RenderError(f"quarto rendered no PDF into {out_dir}")
        return BookResult(out_dir / "index.html", pdfs[0], "quarto", ids, missing, prepared.run_date,
                          done.warnings, log)
    try:
        res = render_fallback(prepared.root, out_dir, prepared.config)
    except FallbackError as exc:
        raise RenderError(str(exc)) from exc
    return BookResult(res.html, res.pdf, "fallback", ids, missing, prepared.run_date)
