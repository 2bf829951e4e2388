"""The book's structure: `_quarto.yml` (generated from the chapter registry) and the report/ folder.

The Quarto project is the repository root, so `quarto render` and `quarto preview` work there:
the home page `index.qmd` sits at the root (Quarto requires it), the other pages, the
bibliography and the run's executed chapters in `report/`. The chapters exist only after a run,
so the committed `_quarto.yml` holds the project, the formats and the home page, and
`prepare_report` writes `_quarto.yml.local` for one run (Quarto merges it into `_quarto.yml`):
the parts, the chapters that run executed, the appendices and the run's date. Both renderers read
the merged configuration, so the Quarto book and the fallback book have the same pages in the
same order.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from recsys_causal.chapters import CHAPTERS, PARTS, Chapter
from recsys_causal.render.includes import read_json as _read_json

QUARTO_FILE = "_quarto.yml"
LOCAL_FILE = "_quarto.yml.local"  # Quarto merges it into _quarto.yml; written for each run, gitignored
REPORT_DIR = "report"
GENERATED_DIR = "_generated"
BOOK_DIR = "_book"
INDEX_FILE = "index.qmd"
PRE_RENDER = f"{REPORT_DIR}/setup.py"

TITLE = "Causal inference for recommender systems"
SUBTITLE = "Long-term effects of engagement on KuaiRec and interference in MovieLens slates"
AUTHOR = "recsys-causal contributors"
APPENDIX_TRACKS = ("validation",)
HIDDEN_TAGS = ("parameters", "injected-parameters")

HEADER = """\
# The Quarto book. `quarto render` (or `quarto preview`) here, `make report`, or `recsys-causal render`.
#
# GENERATED from recsys_causal.chapters.CHAPTERS by
#   python -m recsys_causal.render.book
# (tests/test_quarto_config.py checks it against the registry).
#
# The chapters are executed notebooks, so they exist only after a run: the pre-render script
# (report/setup.py) runs the pipeline on params/default.yaml, copies the run's executed notebooks
# into report/<track>/ and writes _quarto.yml.local, which Quarto merges into this file: the parts,
# the chapters this run executed, the appendices and the run's date. `recsys-causal render`
# writes the same file for any run and tells the pre-render script that the book is prepared.
# Notebooks are already executed by papermill, so execution is disabled.
"""


def chapter_path(ch: Chapter) -> str:
    """Path of a chapter's executed notebook in the book (e.g. report/longterm/01_panel.ipynb)."""
    return f"{REPORT_DIR}/{ch.executed_name}"


def book_contents(present: set[str] | None = None) -> dict[str, list[Any]]:
    """`book.chapters` and `book.appendices` from the registry, limited to `present` files.

    Parts left without a chapter are dropped, so a partial run renders a smaller book.
    """
    def keep(ch: Chapter) -> bool:
        return present is None or chapter_path(ch) in present

    chapters: list[Any] = [INDEX_FILE]
    for track in (t for t in PARTS if t not in APPENDIX_TRACKS):
        files = [chapter_path(c) for c in CHAPTERS if c.track == track and keep(c)]
        if files:
            chapters.append({"part": PARTS[track], "chapters": files})
    chapters.append(f"{REPORT_DIR}/references.qmd")
    appendices = [chapter_path(c) for c in CHAPTERS if c.track in APPENDIX_TRACKS and keep(c)]
    appendices.append(f"{REPORT_DIR}/reproducibility.qmd")
    return {"chapters": chapters, "appendices": appendices}


def project_config() -> dict[str, Any]:
    """The committed `_quarto.yml`: the project, formats and home page (chapters come per run)."""
    return {
        "project": {"type": "book", "output-dir": BOOK_DIR, "pre-render": PRE_RENDER},
        "book": {
            "title": TITLE,
            "subtitle": SUBTITLE,
            "author": AUTHOR,
            "date": "today",
            "chapters": [INDEX_FILE],
        },
        "bibliography": f"{REPORT_DIR}/references.bib",
        "shortcodes": [f"{REPORT_DIR}/generated.lua"],
        "lang": "en",
        "language": {"section-title-appendices": PARTS["validation"]},
        "execute": {"enabled": False, "echo": True, "warning": False},
        "format": {
            "html": {
                "theme": "default",
                "code-fold": True,
                "code-summary": "Code",
                "toc": True,
                "number-sections": True,
                "fig-cap-location": "bottom",
                "tbl-cap-location": "top",
                "html-math-method": "mathml",
                "link-citations": True,
            },
            "typst": {
                "papersize": "a4",
                "toc": True,
                "echo": False,
            },
        },
    }


def merge_config(base: Any, extra: Any) -> Any:
    """Merge two Quarto configs as Quarto does: maps recursively, lists concatenated without
    repeats (first occurrence wins), scalars replaced."""
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for k, v in extra.items():
            out[k] = merge_config(base[k], v) if k in base else v
        return out
    if isinstance(base, list) or isinstance(extra, list):
        if base is None or extra is None:
            return extra if base is None else base
        combined = (base if isinstance(base, list) else [base]) + (extra if isinstance(extra, list) else [extra])
        seen: set[str] = set()
        out_list = []
        for v in combined:
            key = yaml.safe_dump(v, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out_list.append(v)
        return out_list
    return extra


def quarto_config(present: set[str] | None = None) -> dict[str, Any]:
    """The whole book as Quarto sees it: `_quarto.yml` merged with a run's `_quarto.yml.local`."""
    return merge_config(project_config(), {"book": book_contents(present)})


def quarto_yml_text() -> str:
    return HEADER + "\n" + yaml.safe_dump(project_config(), sort_keys=False, allow_unicode=True, width=100)


def write_quarto_yml(root: Path) -> Path:
    """(Re)write the committed `_quarto.yml` from the registry."""
    path = Path(root) / QUARTO_FILE
    path.write_text(quarto_yml_text())
    return path


def load_quarto_yml(root: Path) -> dict[str, Any]:
    """The project's `_quarto.yml` merged with `_quarto.yml.local` (what Quarto renders)."""
    root = Path(root)
    path = root / QUARTO_FILE
    base = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else project_config()
    local = root / LOCAL_FILE
    if local.is_file():
        base = merge_config(base, yaml.safe_load(local.read_text()) or {})
    return base


# ----------------------------------------------------------------------------------------------
# The book's items, in reading order
# ----------------------------------------------------------------------------------------------
@dataclass
class BookItem:
    """One page of the book: the home page, a part header, a chapter or an appendix."""

    kind: str  # index | part | chapter | appendix-part
    file: str = ""  # relative to report/
    text: str = ""  # part title
    appendix: bool = False
    chapter: Chapter | None = None


def _registry_by_file() -> dict[str, Chapter]:
    return {chapter_path(c): c for c in CHAPTERS}


def book_items(config: dict[str, Any]) -> list[BookItem]:
    """Flatten `book.chapters` / `book.appendices` into the reading order."""
    by_file = _registry_by_file()
    book = config.get("book", {}) or {}
    items: list[BookItem] = []

    def walk(entries: list[Any], appendix: bool) -> None:
        for e in entries or []:
            if isinstance(e, dict) and "part" in e:
                items.append(BookItem("part", file=str(e.get("href", "")), text=str(e["part"]), appendix=appendix))
                walk(e.get("chapters", []), appendix)
            elif isinstance(e, dict) and "href" in e:
                f = str(e["href"])
                items.append(BookItem("chapter", file=f, appendix=appendix, chapter=by_file.get(f)))
            elif isinstance(e, str):
                kind = "index" if e.startswith("index.") else "chapter"
                items.append(BookItem(kind, file=e, appendix=appendix, chapter=by_file.get(e)))

    walk(book.get("chapters", []), appendix=False)
    app = book.get("appendices", [])
    if app:
        title = (config.get("language", {}) or {}).get("section-title-appendices", "Appendices")
        items.append(BookItem("appendix-part", text=str(title), appendix=True))
        walk(app, appendix=True)
    return items


# ----------------------------------------------------------------------------------------------
# Preparing report/ from a run
# ----------------------------------------------------------------------------------------------
@dataclass
class PreparedReport:
    root: Path  # the Quarto project (the repository root)
    config: dict[str, Any]
    present: list[Chapter] = field(default_factory=list)
    missing: list[Chapter] = field(default_factory=list)
    run_date: str = ""


def run_date(run_dir: Path) -> str:
    """The run's date (YYYY-MM-DD) from run_info.json, else the manifest, else today."""
    info = _read_json(Path(run_dir) / "run_info.json")
    for key in ("started_at", "run_date", "date", "finished_at"):
        if info.get(key):
            return str(info[key])[:10]
    manifest = _read_json(Path(run_dir) / "manifest.json")
    stamps = [str(e.get("written_at", "")) for e in manifest.get("artifacts", {}).values() if e.get("written_at")]
    if stamps:
        return max(stamps)[:10]
    return _dt.date.today().isoformat()




def clean_for_book(nb: Any) -> Any:
    """Prepare an executed notebook for the book (both renderers).

    - papermill's parameters / injected-parameters cells are tagged `remove-cell` (Quarto drops
      them; the fallback too); the run's parameters are on the Reproducibility page;
    - pandas' 0, 1, 2... row labels are removed from HTML tables.
    """
    for cell in nb.cells:
        tags = list(cell.get("metadata", {}).get("tags", []))
        if any(t in tags for t in HIDDEN_TAGS) and "remove-cell" not in tags:
            cell.setdefault("metadata", {})["tags"] = [*tags, "remove-cell"]
        if cell.get("cell_type") == "code" and cell.get("outputs"):
            for o in cell["outputs"]:
                data = o.get("data", {})
                if "text/html" in data:
                    h = data["text/html"]
                    data["text/html"] = drop_range_index("".join(h) if isinstance(h, list) else str(h))
    return nb


ROW_INDEX_RE = re.compile(r"(<tr[^>]*>\s*)<th>(\d+)</th>\s*")
EMPTY_CORNER_RE = re.compile(r"(<tr[^>]*>\s*)<th></th>\s*")


def drop_range_index(html: str) -> str:
    """Remove the 0, 1, 2, ... row labels of a pandas `to_html` table (a RangeIndex is noise)."""
    if 'class="dataframe"' not in html or "<tbody>" not in html:
        return html
    head, _, body = html.partition("<tbody>")
    labels = [int(m.group(2)) for m in ROW_INDEX_RE.finditer(body)]
    n_rows = body.count("<tr")
    if not labels or labels != list(range(len(labels))) or len(labels) != n_rows:
        return html
    if "<thead>" in head:
        pre, _, thead = head.partition("<thead>")
        n_head = thead.count("<tr")
        if len(EMPTY_CORNER_RE.findall(thead)) != n_head:
            return html
        head = pre + "<thead>" + EMPTY_CORNER_RE.sub(r"\1", thead)
    return head + "<tbody>" + ROW_INDEX_RE.sub(r"\1", body)



def prepare_report(run_dir: Path, root: Path) -> PreparedReport:
    """Copy the run's executed chapters into report/, write the includes and `_quarto.yml.local`.

    After this, `quarto render` at the root (or the fallback) renders exactly this run's book.
    """
    from recsys_causal.artifacts import atomic_write_text
    from recsys_causal.render.includes import write_generated

    run_dir, root = Path(run_dir), Path(root)
    report = root / REPORT_DIR
    report.mkdir(parents=True, exist_ok=True)
    executed = run_dir / "executed"
    present: list[Chapter] = []
    missing: list[Chapter] = []
    for ch in CHAPTERS:
        src = executed / ch.executed_name
        dst = root / chapter_path(ch)
        if src.is_file():
            nb = nbformat.read(src, as_version=4)
            clean_for_book(nb)
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_suffix(".ipynb.tmp")
            nbformat.write(nb, tmp)
            tmp.replace(dst)
            present.append(ch)
        else:
            # a chapter left over from an earlier run must not leak into this run's book
            dst.unlink(missing_ok=True)
            missing.append(ch)
    # an earlier layout made report/ a Quarto project of its own; a stale one would shadow the book
    (report / QUARTO_FILE).unlink(missing_ok=True)
    date = run_date(run_dir)
    write_generated(run_dir, report / GENERATED_DIR, root=root, present=present, missing=missing)
    local = {"book": {"date": date, **book_contents({chapter_path(c) for c in present})}}
    text = ("# GENERATED by recsys_causal.render.book for the run in "
            f"{run_dir.name}; Quarto merges it into _quarto.yml. Do not edit.\n")
    atomic_write_text(root / LOCAL_FILE,
                      text + yaml.safe_dump(local, sort_keys=False, allow_unicode=True, width=100))
    return PreparedReport(root, load_quarto_yml(root), present, missing, date)


def main() -> None:
    from recsys_causal.paths import project_root

    path = write_quarto_yml(project_root())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
