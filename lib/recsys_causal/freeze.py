"""Executed chapters and books that need not be made again (in the spirit of Quarto's `freeze`).

A chapter's key hashes what its executed notebook depends on: the notebook's source, the
parameters it is run with (its section and the seed; the validation study reads every section),
the data behind its track and the package's source code. `run` writes the key beside the
executed notebook once papermill succeeds, and skips a chapter whose key is unchanged ("fresh");
`--force` executes it anyway. A book's key hashes the chapters' keys, the renderer and the book's
own sources, so a second `make report` with nothing changed renders nothing either.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from recsys_causal import __version__
from recsys_causal.chapters import Chapter
from recsys_causal.params import Params
from recsys_causal.runs import executed_path

KEY_SUFFIX = ".key"
BOOK_KEY = ".recsys-causal-book.key"
BOOK_SOURCES = ("_quarto.yml", "index.qmd", "report/references.bib", "report/references.qmd",
                "report/reproducibility.qmd", "report/generated.lua")


@functools.cache
def package_fingerprint() -> str:
    """Hash of every source file of the package (prose and plots included: they shape the pages)."""
    from recsys_causal.artifacts import PACKAGE_DIR, files_fingerprint

    return files_fingerprint((f for f in PACKAGE_DIR.rglob("*") if f.is_file()
                              and f.suffix in (".py", ".typ", ".css", ".html")), PACKAGE_DIR)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def chapter_key(chapter: Chapter, params: Params, root: Path) -> str:
    """The key of `chapter`'s executed notebook for `params` (see the module docstring)."""
    from recsys_causal.data.fingerprint import source_fingerprint

    section = None if chapter.section == "validation" else chapter.section
    parts = [chapter.id, __version__, package_fingerprint(), _sha((Path(root) / chapter.notebook).read_bytes()),
             params.digest(section)]
    if section is not None:
        parts.append(source_fingerprint(params, section))
    return _sha("|".join(parts).encode())


def key_path(executed: Path) -> Path:
    """Where the key of an executed notebook is kept (beside it)."""
    return executed.with_name(executed.name + KEY_SUFFIX)


def is_fresh(chapter: Chapter, params: Params, run_dir: Path, root: Path) -> bool:
    """True when the run holds this chapter's executed notebook made from the same inputs."""
    executed = executed_path(run_dir, chapter)
    kp = key_path(executed)
    return executed.is_file() and kp.is_file() and kp.read_text().strip() == chapter_key(chapter, params, root)


def book_key(run_dir: Path, root: Path, renderer: str, chapters: Iterable[Chapter]) -> str:
    """The key of the rendered book: the executed chapters' keys, the renderer and the book sources."""
    parts = [renderer, package_fingerprint(), _sha((Path(run_dir) / "params.yaml").read_bytes())
             if (Path(run_dir) / "params.yaml").is_file() else ""]
    for ch in chapters:
        kp = key_path(executed_path(run_dir, ch))
        parts.append(f"{ch.id}:{kp.read_text().strip() if kp.is_file() else '-'}")
    for name in BOOK_SOURCES:
        p = Path(root) / name
        parts.append(f"{name}:{_sha(p.read_bytes()) if p.is_file() else '-'}")
    manifest = Path(run_dir) / "manifest.json"
    parts.append(_sha(manifest.read_bytes()) if manifest.is_file() else "-")
    parts.append(json.dumps(str(Path(run_dir).resolve())))
    return _sha("|".join(parts).encode())
