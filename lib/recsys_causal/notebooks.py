"""Chapter notebooks as files: the papermill `parameters` cell, kept in sync with the parameters.

`parameters_source(chapter)` is the canonical text of a chapter's parameters cell (every knob of
its section with the report default); `sync_parameters_cells()` rewrites the cells when a
parameter is added; tests check that every committed notebook matches and carries no outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

from recsys_causal.chapters import CHAPTERS, Chapter
from recsys_causal.params import SECTIONS, Params, field_default
from recsys_causal.paths import project_root


def _literal(value: Any) -> str:
    return repr(value)


def _comment_text(text: str) -> str:
    """A description made safe for papermill's parameter parser, which trips on '=' in comments."""
    return (text.replace("\n", " ").replace(">=", "≥").replace("<=", "≤").replace("=", ":")
            .replace("'", "").replace('"', ""))


def parameters_source(chapter: Chapter) -> str:
    """Source of the chapter's parameters cell: shared keys, run location, then section knobs."""
    fields = SECTIONS[chapter.section].model_fields
    lines = [
        "# Parameters (papermill injects overrides here; defaults are the report's).",
        f"seed = {_literal(Params.model_fields['seed'].default)}  # the one seed behind every random choice",
        "run_name = 'default'  # artifacts go to data/runs/<run_name>/",
        "params_file = ''  # optional YAML profile, e.g. params/test.yaml",
    ]
    for name, field in fields.items():
        default = field_default(field)
        desc = _comment_text(field.description or "")
        lines.append(f"{name} = {_literal(default)}  # {desc}")
    return "\n".join(lines)


def find_parameters_cell(nb: Any) -> int:
    """Index of the cell tagged `parameters` (papermill's convention)."""
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    raise ValueError("no cell tagged 'parameters'")


def sync_parameters_cells(root: Path | None = None) -> list[str]:
    """Rewrite each chapter's parameters cell from the parameter classes; return changed paths."""
    root = root or project_root()
    changed = []
    for ch in CHAPTERS:
        path = root / ch.notebook
        if not path.is_file():
            continue
        nb = nbformat.read(path, as_version=4)
        idx = find_parameters_cell(nb)
        src = parameters_source(ch)
        if nb.cells[idx].source != src:
            nb.cells[idx].source = src
            nbformat.write(nb, path)
            changed.append(str(path))
    return changed


def new_chapter_notebook(chapter: Chapter, cells: list[tuple[str, str]]) -> Any:
    """Build a chapter notebook: title cell, parameters cell, then (kind, source) cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {chapter.title}"))
    pcell = nbformat.v4.new_code_cell(parameters_source(chapter))
    pcell.metadata["tags"] = ["parameters"]
    nb.cells.append(pcell)
    for kind, source in cells:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{chapter.id}-{i:02d}"
    return nb

