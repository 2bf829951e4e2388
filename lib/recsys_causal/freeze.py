"""Executed chapters and books that need not be made again (in the spirit of Quarto's `freeze`).

A chapter's key hashes what its executed notebook depends on, and nothing else: the notebook's
source, the package code the notebook itself imports (its text and plotting modules, not every
module), the freshness keys of the artifacts it may read (which hash their builders' code,
parameters and data), the data behind its track, and the values of the parameters the notebook
read while it ran (recorded by the chapter's context, `recsys_causal.parameter_reads`, plus the
parameter names its code uses directly). `run` writes the key and those reads beside the executed
notebook once papermill succeeds, and skips a chapter whose key is unchanged ("fresh"); `--force`
executes it anyway. A fresh chapter whose injected parameters differ from the run's only in
values it never read is re-stamped with the run's values, not executed again. A book's key hashes
the chapters' keys, the renderer and the book's own sources, so a second `make report` with
nothing changed renders nothing either.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recsys_causal import __version__
from recsys_causal.chapters import Chapter
from recsys_causal.params import SECTIONS, SHARED_KEYS, Params
from recsys_causal.runs import executed_path

KEY_SUFFIX = ".key"
READS_SUFFIX = ".reads.json"
BOOK_KEY = ".recsys-causal-book.key"
BOOK_SOURCES = ("_quarto.yml", "index.qmd", "report/references.bib", "report/references.qmd",
                "report/reproducibility.qmd", "report/generated.lua")
ALL_PARAMETERS = "*"  # a read of every parameter (the conservative default when nothing was recorded)


def render_fingerprint(pkg_dir: Path | None = None) -> str:
    """Hash of the code that turns executed chapters into the book: the `recsys_causal.render`
    modules with what they import inside the package, and its templates (.typ, .css, .html).
    Prose and plots reach the pages through the executed notebooks, which the book key hashes."""
    from recsys_causal.artifacts import PACKAGE_DIR, files_fingerprint, module_closure

    pkg_dir = Path(pkg_dir) if pkg_dir is not None else PACKAGE_DIR
    render = pkg_dir / "render"
    modules = [f"recsys_causal.render.{p.stem}" if p.stem != "__init__" else "recsys_causal.render"
               for p in sorted(render.glob("*.py"))]
    assets = [p for p in sorted(render.rglob("*")) if p.is_file() and p.suffix in (".typ", ".css", ".html")]
    return files_fingerprint([*module_closure(modules, pkg_dir), *assets], pkg_dir)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def code_cells(notebook: Path) -> list[str]:
    """Sources of a notebook's code cells, without its `parameters` cell (shell and magic lines dropped)."""
    nb = json.loads(Path(notebook).read_text())
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or "parameters" in (cell.get("metadata", {}).get("tags") or []):
            continue
        src = "".join(cell.get("source", []))
        out.append("\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))))
    return out


@functools.cache
def _notebook_code(notebook: Path, mtime_ns: int) -> tuple[str, frozenset[str]]:
    """(fingerprint of the package modules the notebook imports, parameter names its code uses)."""
    import ast

    from recsys_causal.artifacts import PACKAGE_DIR, files_fingerprint

    names: set[str] = set()
    for src in code_cells(notebook):
        names |= {n.id for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Name)}
    return files_fingerprint(notebook_modules(notebook), PACKAGE_DIR), frozenset(names)


def notebook_modules(notebook: Path) -> list[Path]:
    """The package source files a notebook's own code runs with: the modules it imports (and the
    chapter context), transitively. Builders' code is hashed by the artifacts' keys instead."""
    from recsys_causal.artifacts import imports_in, module_closure

    modules = {"recsys_causal.context"}
    for src in code_cells(notebook):
        modules |= imports_in(src, str(notebook))
    return module_closure(sorted(modules))


def notebook_code(notebook: Path) -> tuple[str, frozenset[str]]:
    """`_notebook_code` of the notebook as it is on disk now."""
    return _notebook_code(Path(notebook), Path(notebook).stat().st_mtime_ns)


def global_reads(chapter: Chapter, notebook: Path) -> set[str]:
    """Parameters the notebook's code reads as globals (papermill injects them as variables)."""
    _, names = notebook_code(notebook)
    fields = set(SECTIONS[chapter.section].model_fields)
    return {k for k in SHARED_KEYS if k in names} | {f"{chapter.section}.{k}" for k in fields & names}


def reads_digest(params: Params, reads: Iterable[str]) -> str:
    """Hash of the values of the parameters in `reads` ('seed', 'section.key', 'section.*' or '*')."""
    values = params.to_dict()
    payload: dict[str, Any] = {}
    for r in sorted(set(reads)):
        if r == ALL_PARAMETERS:
            payload[r] = values
        elif "." in r:
            section, key = r.split(".", 1)
            payload[r] = values[section] if key == "*" else values[section][key]
        else:
            payload[r] = values[r]
    return _sha(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())


def chapter_key(chapter: Chapter, params: Params, root: Path, run_dir: Path,
                reads: Iterable[str] = (ALL_PARAMETERS,)) -> str:
    """The key of `chapter`'s executed notebook for `params` and the parameters it read (see the
    module docstring)."""
    from recsys_causal.artifacts import RunStore
    from recsys_causal.data.fingerprint import source_fingerprint

    notebook = Path(root) / chapter.notebook
    code, _ = notebook_code(notebook)
    store = RunStore(run_dir, params)
    parts = [chapter.id, __version__, code, _sha(notebook.read_bytes()), reads_digest(params, reads)]
    parts += [f"{name}:{store.expected_key(name)}" for name in sorted(chapter.readable())]
    if chapter.section != "validation":
        parts.append(source_fingerprint(params, chapter.section))
    return _sha("|".join(parts).encode())


def key_path(executed: Path) -> Path:
    """Where the key of an executed notebook is kept (beside it)."""
    return executed.with_name(executed.name + KEY_SUFFIX)


def write_key(executed: Path, key: str, reads: Iterable[str]) -> None:
    """Record an executed notebook's key and the parameters it read, beside it."""
    from recsys_causal.artifacts import atomic_write_text

    atomic_write_text(key_path(executed), json.dumps({"key": key, "reads": sorted(set(reads))}, indent=1) + "\n")


def recorded_key(executed: Path) -> tuple[str, list[str]] | None:
    """(key, reads) recorded beside an executed notebook, None when missing or unreadable."""
    kp = key_path(executed)
    if not kp.is_file():
        return None
    try:
        data = json.loads(kp.read_text())
        return str(data["key"]), [str(r) for r in data["reads"]]
    except (ValueError, KeyError, TypeError):
        return None


def is_fresh(chapter: Chapter, params: Params, run_dir: Path, root: Path) -> bool:
    """True when the run holds this chapter's executed notebook made from the same inputs."""
    executed = executed_path(run_dir, chapter)
    recorded = recorded_key(executed)
    if not executed.is_file() or recorded is None:
        return False
    key, reads = recorded
    return key == chapter_key(chapter, params, root, run_dir, reads)


def restamp(executed: Path, parameters: dict[str, Any]) -> None:
    """Write the run's parameters into a fresh executed notebook's injected cell and metadata
    (papermill's own parameterization), keeping its outputs: it never read the values that changed."""
    import nbformat
    from papermill.parameterize import parameterize_notebook

    from recsys_causal.artifacts import atomic_write_text

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:  # papermill's lookup expects every cell to carry tags, as its own output does
        cell.metadata.setdefault("tags", [])
    old = next((c for c in nb.cells if "injected-parameters" in c.metadata.tags), None)
    nb = parameterize_notebook(nb, parameters, kernel_name="python3", language="python")
    new = next(c for c in nb.cells if "injected-parameters" in (c.metadata.get("tags") or []))
    if old is not None:
        new.execution_count = old.get("execution_count")
        new.metadata.update({k: v for k, v in old.metadata.items() if k != "tags"})
    atomic_write_text(executed, nbformat.writes(nb))


def book_key(run_dir: Path, root: Path, renderer: str, chapters: Iterable[Chapter]) -> str:
    """The key of the rendered book: the executed chapters' keys, the renderer and the book sources."""
    parts = [renderer, render_fingerprint(), _sha((Path(run_dir) / "params.yaml").read_bytes())
             if (Path(run_dir) / "params.yaml").is_file() else ""]
    for ch in chapters:
        executed = executed_path(run_dir, ch)
        recorded = recorded_key(executed)
        stamp = _sha(executed.read_bytes()) if executed.is_file() else "-"  # a re-stamp changes the page
        parts.append(f"{ch.id}:{recorded[0] if recorded else '-'}:{stamp}")
    for name in BOOK_SOURCES:
        p = Path(root) / name
        parts.append(f"{name}:{_sha(p.read_bytes()) if p.is_file() else '-'}")
    manifest = Path(run_dir) / "manifest.json"
    parts.append(_sha(manifest.read_bytes()) if manifest.is_file() else "-")
    parts.append(json.dumps(str(Path(run_dir).resolve())))
    return _sha("|".join(parts).encode())
