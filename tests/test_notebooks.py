"""Committed chapter notebooks: registry agreement, stripped outputs, parameters cells, labels."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from recsys_causal.chapters import CHAPTERS
from recsys_causal.notebooks import find_parameters_cell, parameters_source

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
LABEL = re.compile(r"^#\|\s*label:\s*(\S+)\s*$", re.M)
OPTION = re.compile(r"^#\|\s*([\w-]+):", re.M)


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def test_every_registered_chapter_has_a_notebook():
    missing = [c.notebook for c in CHAPTERS if not (ROOT / c.notebook).is_file()]
    assert not missing, f"registered chapters without a notebook: {missing}"


def test_no_unregistered_notebooks():
    registered = {ROOT / c.notebook for c in CHAPTERS}
    extra = [str(p.relative_to(ROOT)) for p in NOTEBOOKS if p not in registered]
    assert not extra, f"notebooks not in the chapter registry: {extra}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_notebook_has_no_outputs(path):
    nb = _read(path)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
    assert "papermill" not in nb.metadata, f"{path.name} is an executed (papermill) copy"


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if (ROOT / c.notebook).is_file()], ids=lambda c: c.id)
def test_parameters_cell_lists_every_knob_with_report_defaults(chapter):
    nb = _read(ROOT / chapter.notebook)
    idx = find_parameters_cell(nb)
    assert nb.cells[idx].source == parameters_source(chapter), (
        f"{chapter.notebook}: parameters cell out of date; run `recsys-causal sync-notebooks`"
    )
    # the title comes first and matches the registry (the book's chapter title)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.splitlines()[0].strip() == f"# {chapter.title}"
    # the chapter opens its context with its own id
    setup = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert f'open_chapter("{chapter.id}"' in setup


def test_figure_and_table_labels_are_unique_and_captioned():
    labels: Counter[str] = Counter()
    problems = []
    for path in NOTEBOOKS:
        for cell in _read(path).cells:
            if cell.cell_type != "code":
                continue
            for label in LABEL.findall(cell.source):
                labels[label] += 1
                opts = set(OPTION.findall(cell.source))
                if label.startswith("fig-") and "fig-cap" not in opts:
                    problems.append(f"{path.name}: {label} has no fig-cap")
                if label.startswith("tbl-") and "tbl-cap" not in opts:
                    problems.append(f"{path.name}: {label} has no tbl-cap")
                if not label.startswith(("fig-", "tbl-")):
                    problems.append(f"{path.name}: label {label} must start with fig- or tbl-")
            # the other direction: a caption without its label is dropped by Quarto, unnumbered
            opts = set(OPTION.findall(cell.source))
            for kind in ("fig", "tbl"):
                if f"{kind}-cap" in opts and not any(lb.startswith(f"{kind}-") for lb in LABEL.findall(cell.source)):
                    problems.append(f"{path.name}: a {kind}-cap without a {kind}- label")
    dupes = [k for k, v in labels.items() if v > 1]
    assert not dupes, f"duplicate labels across the book: {dupes}"
    assert not problems, problems


def test_cross_references_point_at_existing_labels():
    labels = set()
    refs = []
    for path in NOTEBOOKS:
        for cell in _read(path).cells:
            if cell.cell_type == "code":
                labels.update(LABEL.findall(cell.source))
            refs.extend((path.name, r) for r in re.findall(r"@((?:fig|tbl)-[\w-]+)", cell.source))
    dangling = [(n, r) for n, r in refs if r not in labels]
    assert not dangling, f"cross-references to unknown labels: {dangling}"


SHOWS = re.compile(r"\bdisplay\(|\.save_figure\(")


def test_a_labelled_cell_shows_exactly_one_figure_or_table():
    """Two outputs in a `fig-`/`tbl-` cell become Quarto sub-figures with an empty caption."""
    bad = []
    for path in NOTEBOOKS:
        for i, cell in enumerate(_read(path).cells):
            if cell.cell_type == "code" and LABEL.search(cell.source):
                n = len(SHOWS.findall(cell.source))
                if n != 1:
                    bad.append(f"{path.relative_to(ROOT)} cell {i}: {n} display/save_figure calls")
    assert not bad, "\n".join(bad)


def test_colour_words_in_captions_and_text_are_palette_names():
    """A caption says 'vermillion' for the palette's vermillion: colour words come from the style."""
    from recsys_causal.style import PALETTE_NAMES

    allowed = set(PALETTE_NAMES.values()) | {"grey", "gray"}
    colour = re.compile(r"\b(red|blue|orange|green|grey|gray|purple|yellow|black|vermillion|pink|brown|sky blue)\b")
    bad = []
    for path in NOTEBOOKS:
        for i, cell in enumerate(_read(path).cells):
            text = cell.source if cell.cell_type == "markdown" else "\n".join(
                ln for ln in cell.source.splitlines() if ln.startswith("#| fig-cap") or ln.startswith("#| tbl-cap"))
            bad += [f"{path.name} cell {i}: '{w}'" for w in colour.findall(text) if w not in allowed]
    assert not bad, bad


def _notebook_reads(path: Path) -> set[str]:
    """Artifact names a notebook passes to `ctx.get`, resolved with the notebook's own imports."""
    import ast
    import re

    nb = json.loads(path.read_text())
    src = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    ns: dict = {}
    tree = ast.parse(src)
    for node in tree.body:  # the imports and module-level constants (e.g. a name prefix)
        if isinstance(node, ast.Import | ast.ImportFrom) or (
                isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)):
            exec(compile(ast.Module([node], []), str(path), "exec"), ns)  # noqa: S102
    return {eval(expr, ns) for expr in re.findall(r"ctx\.get(?:_optional)?\(([^()]*)\)", src)}  # noqa: S307


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_each_notebook_reads_only_what_its_chapter_declares(project_root: Path, chapter) -> None:
    reads = _notebook_reads(project_root / chapter.notebook)
    assert reads, f"{chapter.id} reads no artifact"
    assert reads <= chapter.readable(), sorted(reads - chapter.readable())
    # declared reads are used: a stale declaration would make `list` print a false dependency
    assert set(chapter.reads) <= reads, sorted(set(chapter.reads) - reads)


def test_context_refuses_an_undeclared_artifact(tmp_path: Path) -> None:
    from recsys_causal.artifacts import RunStore
    from recsys_causal.chapters import get_chapter
    from recsys_causal.context import ChapterContext
    from recsys_causal.params import load_params

    params = load_params(None)
    ctx = ChapterContext(get_chapter("longterm_03"), params, RunStore(tmp_path / "run", params), "run")
    with pytest.raises(KeyError, match="longterm_03 reads 'kuairec_long_term_aipw_results.csv'"):
        ctx.get("kuairec_long_term_aipw_results.csv")
