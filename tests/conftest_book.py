"""A small synthetic run (executed notebooks + artifacts) and the `rendered_book` fixture.

Imported by the book tests (`from conftest_book import ...`). `rendered_book` is the book the
browser and PDF tests check: the end-to-end book when one exists (a session fixture named
`e2e_book` returning a BookResult or a `_book` directory, or $RECSYS_CAUSAL_BOOK_DIR), else a book
rendered by the fallback from the synthetic run below.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from recsys_causal.booktable import book_table
from recsys_causal.chapters import get_chapter
from recsys_causal.notebooks import new_chapter_notebook

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ("index.qmd", "_quarto.yml", "report/references.bib", "report/references.qmd",
             "report/reproducibility.qmd", "report/setup.py", "report/generated.lua")

# chapter id -> (figure label, figure caption, table label, table caption)
SYNTHETIC = {
    "longterm_01": ("fig-lt01-activity", "Daily activity of treated and control user-days.",
                    "tbl-lt01-panel", "Size of the user-day panel."),
    "longterm_02": ("fig-lt02-calibration", "Calibration of the out-of-fold propensity models.",
                    "tbl-lt02-balance", "Standardized mean differences before and after weighting."),
    "interference_02": ("fig-if02-effects", "Direct, indirect and total effects per 1,000 slates.",
                        "tbl-if02-effects", "Estimated effects with 95% intervals."),
    "validation_01": ("fig-val01-coverage", "Coverage of the 95% intervals across replicates.",
                      "tbl-val01-bias", "Bias of each estimator against the truth."),
}


def _png(seed: int) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from recsys_causal.style import PALETTE, new_figure

    fig, ax = new_figure(height=3.0)
    xs = list(range(20))
    ax.plot(xs, [((i * (seed + 3)) % 7) + i / 3 for i in xs], color=PALETTE[0], label="treated")
    ax.plot(xs, [((i * (seed + 5)) % 5) + i / 4 for i in xs], color=PALETTE[1], label="control")
    ax.set_xlabel("day")
    ax.set_ylabel("plays")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _table(seed: int, wide: bool = False) -> pd.DataFrame:
    cols = {"estimator": ["IPW (MSM)", "G-computation", "AIPW"],
            "estimate": [0.0123456 + seed, -0.045678, 0.03141592],
            "ci_95_lower": [-0.01, -0.09, 0.001], "ci_95_upper": [0.035, -0.001, 0.0612345]}
    if wide:
        for k in range(9):
            cols[f"extra_metric_{k}"] = [1234.5678 * (k + 1), 0.000123 * k, 42.0]
    return pd.DataFrame(cols)


def synthetic_notebook(chapter_id: str, seed: int) -> nbformat.NotebookNode:
    """An 'executed' chapter: parameters cell, figure, table, markdown output, refs, citation."""
    ch = get_chapter(chapter_id)
    fig_label, fig_cap, tbl_label, tbl_cap = SYNTHETIC[chapter_id]
    nb = new_chapter_notebook(ch, [
        ("md", f"The question of this chapter, as in @{fig_label} and @{tbl_label} [@robins2000msm]."),
        ("code", "from IPython.display import Markdown, display\nctx = None"),
        ("md", "## Method\n\nA short method note citing [@bang2005doubly; @chernozhukov2018dml]."),
        ("code", f'#| label: {fig_label}\n#| fig-cap: "{fig_cap}"\nfig = plot_something()'),
        ("code", f'#| label: {tbl_label}\n#| tbl-cap: "{tbl_cap}"\ndisplay(format_table(t))'),
        ("code", "display(Markdown(describe_interval(est)))"),
        ("code", "print('rows:', 1234)"),
        ("md", "### Interpretation\n\nSee -@" + fig_label + " for the picture."),
    ])
    cells = nb.cells
    # parameters cell as papermill leaves it, plus an injected-parameters cell
    inj = nbformat.v4.new_code_cell("# Parameters\nseed = 7\nrun_name = 'synthetic'\n")
    inj.metadata["tags"] = ["injected-parameters"]
    cells.insert(2, inj)
    df = _table(seed, wide=chapter_id == "longterm_02")
    for cell in cells:
        if cell.cell_type != "code":
            continue
        if "plot_something" in cell.source:
            cell.outputs = [
                nbformat.v4.new_output("display_data", data={
                    "image/png": _png(seed), "text/plain": "<Figure size 715x330 with 1 Axes>"}),
            ]
        elif "format_table" in cell.source:
            cell.outputs = [nbformat.v4.new_output("display_data", data={
                "text/markdown": book_table(df).to_markdown(), "text/plain": df.to_string()})]
        elif "describe_interval" in cell.source:
            cell.outputs = [nbformat.v4.new_output("display_data", data={
                "text/markdown": f"The estimate is **{0.0123 + seed:.3f}** and its interval covers the "
                                 f"truth (see @{tbl_label}; *simulated data*).",
                "text/plain": "<IPython.core.display.Markdown object>"})]
        elif cell.source.startswith("print"):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="rows: 1234\n")]
    return nb


def make_synthetic_run(run_dir: Path) -> Path:
    """A run directory with four executed chapters, manifest, params and report tables."""
    executed = run_dir / "executed"
    for i, cid in enumerate(SYNTHETIC):
        ch = get_chapter(cid)
        path = executed / ch.executed_name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(synthetic_notebook(cid, i), path)
    processed = run_dir / "processed"
    processed.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "method": ["IPW-MSM", "G-computation", "AIPW", "Oracle"],
        "model": ["logistic", "lightgbm", "lightgbm", "simulator"],
        "estimate": [0.0412, 0.0388, 0.0401, 0.04],
        "ci_95_lower": [0.01, 0.012, 0.015, float("nan")],
        "ci_95_upper": [0.07, 0.065, 0.066, float("nan")],
        "source": ["msm", "gcomp", "aipw", "oracle"],
        "role": ["estimate", "estimate", "estimate", "oracle"], "primary": [False, False, True, False],
    }).to_csv(processed / "kuairec_long_term_estimator_comparison_with_aipw.csv", index=False)
    pd.DataFrame({
        "propensity_model": ["logistic"], "outcome_model": ["lightgbm"], "is_primary_aipw": [True],
        "aipw_ate": [0.0401], "ci_95_lower": [0.015], "ci_95_upper": [0.066], "mean_y0_hat": [2.5],
        "evalue_estimate": [1.2], "evalue_ci": [1.05],
    }).to_csv(processed / "kuairec_long_term_aipw_results.csv", index=False)
    manifest = {"artifacts": {
        "kuairec_long_term_estimator_comparison_with_aipw.csv": {
            "path": "processed/kuairec_long_term_estimator_comparison_with_aipw.csv", "section": "longterm",
            "simulated": True, "data_fingerprint": "simulator:0123456789abcdef", "seed": 7,
            "written_at": "2026-11-20T10:00:00+00:00", "parameters": {"data_path": ""}},
    }, "figures": {}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (run_dir / "params.yaml").write_text("seed: 7\nlongterm:\n  data_path: ''\n  n_bootstrap: 50\n"
                                         "interference:\n  data_path: ''\nvalidation:\n  n_replicates: 3\n")
    (run_dir / "run_info.json").write_text(json.dumps({
        "run_name": "synthetic", "started_at": "2026-11-20T09:59:00+00:00", "git_commit": "abc1234",
        "command": "recsys-causal run --params params/test.yaml --run-name synthetic",
        "package_versions": {"python": "3.11.0", "pandas": "3.1.1"}, "platform": "Linux",
    }))
    return run_dir


def make_synthetic_root(root: Path) -> Path:
    """A project root with the committed book sources (index.qmd, report/, _quarto.yml)."""
    (root / "report").mkdir(parents=True, exist_ok=True)
    for name in COMMITTED:
        shutil.copyfile(ROOT / name, root / name)
    return root


def norm(text: str) -> str:
    """Whitespace collapsed, typographic quotes and dashes made plain (pandoc's smart typography)."""
    for a, b in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u2013", "--"),
                 ("\u2014", "---"), ("\u00a0", " "), ("\u202f", " "), ("\u2026", "..."), ("&nbsp;", " ")):
        text = text.replace(a, b)
    # soft hyphens and zero-width spaces are line-breaking hints (Typst hyphenates with them)
    for invisible in ("\u00ad", "\u200b", "\u2060"):
        text = text.replace(invisible, "")
    return " ".join(text.split())


@functools.lru_cache(maxsize=8)
def _pdf_pages_text(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    """The text pypdf extracts from each page of the PDF at `path` (keyed by its state on disk)."""
    from pypdf import PdfReader

    return tuple((p.extract_text() or "") for p in PdfReader(path).pages)


def pdf_pages_text(pdf: Path) -> tuple[str, ...]:
    """The text of each page of `pdf`, extracted once per session and file version (pypdf is slow)."""
    st = Path(pdf).stat()
    return _pdf_pages_text(str(pdf), st.st_mtime_ns, st.st_size)


@dataclass
class BookUnderTest:
    """A rendered book and what it must contain."""

    dir: Path
    html: Path
    pdf: Path
    chapter_titles: list[str] = field(default_factory=list)
    figure_captions: list[str] = field(default_factory=list)  # "Figure 1.1: ..." as rendered


def expected_from_report(root: Path) -> tuple[list[str], list[str]]:
    """Chapter titles and numbered figure captions of a prepared book project."""
    from recsys_causal.render.book import load_quarto_yml
    from recsys_causal.render.fallback import load_pages, number_pages

    config = load_quarto_yml(root)
    pages = load_pages(root, config)
    number_pages(pages)
    titles = [p.title for p in pages if p.kind not in ("part", "appendix-part")]
    caps = [f"Figure {b.number}: {b.caption}".strip() for p in pages for b in p.blocks
            if b.kind == "figure" and b.number]
    return titles, caps


def book_from_dir(book_dir: Path, root: Path) -> BookUnderTest:
    pdfs = sorted(Path(book_dir).glob("*.pdf"))
    titles, caps = expected_from_report(root)
    return BookUnderTest(Path(book_dir), Path(book_dir) / "index.html", pdfs[0] if pdfs else Path(),
                         titles, caps)


@pytest.fixture(scope="session")
def synthetic_book(tmp_path_factory: pytest.TempPathFactory) -> BookUnderTest:
    """The synthetic run rendered by the fallback renderer."""
    from recsys_causal.render import render_book

    base = tmp_path_factory.mktemp("book")
    root = make_synthetic_root(base / "root")
    run_dir = make_synthetic_run(base / "run")
    result = render_book(run_dir, root, renderer="fallback")
    return book_from_dir(result.html.parent, root)


@pytest.fixture(scope="session")
def rendered_book(request: pytest.FixtureRequest) -> BookUnderTest:
    """The end-to-end book when available, else the synthetic one."""
    import os

    env = os.environ.get("RECSYS_CAUSAL_BOOK_DIR", "").strip()
    if env:
        d = Path(env)
        return book_from_dir(d, d.parent)
    try:
        e2e = request.getfixturevalue("e2e_book")
    except pytest.FixtureLookupError:
        e2e = None
    if e2e is not None:
        d = Path(getattr(e2e, "html", e2e)).parent if hasattr(e2e, "html") else Path(e2e)
        return book_from_dir(d, d.parent)
    return request.getfixturevalue("synthetic_book")
