"""The book's structure: `_quarto.yml` (generated from the chapter registry) and the report/ folder.

Quarto requires a book's home page (`index.qmd`) at the root of the Quarto project, and the
book's sources live in `report/`. So the committed `_quarto.yml` at the repository root holds the
book with paths relative to `report/`; at render time `prepare_report` copies the run's executed
notebooks into `report/<track>/`, writes the generated include files (`report/_generated/`), and
writes `report/_quarto.yml`: the committed file with the run's date and without the chapters that
this (partial) run did not execute. Both renderers read that one file, so the Quarto book and the
fallback book have the same chapters, parts and order.
"""

from __future__ import annotations

import copy
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
REPORT_DIR = "report"
GENERATED_DIR = "_generated"
BOOK_DIR = "_book"

TITLE = "Causal inference for recommender systems"
SUBTITLE = "Long-term effects of engagement on KuaiRec and interference in MovieLens slates"
AUTHOR = "recsys-causal contributors"
APPENDIX_TRACKS = ("validation",)
HIDDEN_TAGS = ("parameters", "injected-parameters")

HEADER = """\
# The Quarto book: `recsys-causal render` (or `make report`) renders it.
#
# GENERATED from recsys_causal.chapters.CHAPTERS by
#   python -m recsys_causal.render.book
# (tests/test_quarto_config.py checks that it lists exactly the registry's chapters in order).
#
# Quarto needs a book's home page (index.qmd) at the project root and the book's sources live in
# report/, so paths below are relative to report/. The render step copies the run's executed
# notebooks into report/<track>/ and writes report/_quarto.yml: this file with the run's date and
# without the chapters a partial run did not execute; then it runs `quarto render report`.
# Output goes to _book/ at the repository root. Notebooks are already executed by papermill, so
# execution is disabled.
"""


def chapter_path(ch: Chapter) -> str:
    """Path of a chapter's executed notebook relative to report/ (e.g. longterm/01_panel.ipynb)."""
    return ch.executed_name


def quarto_config() -> dict[str, Any]:
    """The book's Quarto configuration, built from the chapter registry."""
    main_parts = [t for t in PARTS if t not in APPENDIX_TRACKS]
    chapters: list[Any] = ["index.qmd"]
    for track in main_parts:
        chapters.append(
            {"part": PARTS[track], "chapters": [chapter_path(c) for c in CHAPTERS if c.track == track]}
        )
    chapters.append("references.qmd")
    appendices = [chapter_path(c) for c in CHAPTERS if c.track in APPENDIX_TRACKS]
    appendices.append("reproducibility.qmd")
    return {
        "project": {"type": "book", "output-dir": f"../{BOOK_DIR}"},
        "book": {
            "title": TITLE,
            "subtitle": SUBTITLE,
            "author": AUTHOR,
            "date": "today",
            "chapters": chapters,
            "appendices": appendices,
        },
        "bibliography": "references.bib",
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


def quarto_yml_text() -> str:
    return HEADER + "\n" + yaml.safe_dump(quarto_config(), sort_keys=False, allow_unicode=True, width=100)


def write_quarto_yml(root: Path) -> Path:
    """(Re)write the committed `_quarto.yml` from the registry."""
    path = Path(root) / QUARTO_FILE
    path.write_text(quarto_yml_text())
    return path


def load_quarto_yml(root: Path) -> dict[str, Any]:
    """The committed `_quarto.yml` (or the registry's config when the file is absent)."""
    path = Path(root) / QUARTO_FILE
    if path.is_file():
        return yaml.safe_load(path.read_text()) or {}
    return quarto_config()


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


def filter_config(config: dict[str, Any], present: set[str]) -> dict[str, Any]:
    """A copy of `config` without notebook chapters absent from `present` (and then-empty parts)."""
    cfg = copy.deepcopy(config)

    def keep(entries: list[Any]) -> list[Any]:
        out: list[Any] = []
        for e in entries or []:
            if isinstance(e, dict) and "part" in e:
                sub = keep(e.get("chapters", []))
                if sub:
                    out.append({**e, "chapters": sub})
            else:
                f = e if isinstance(e, str) else str(e.get("href", ""))
                if f.endswith(".ipynb") and f not in present:
                    continue
                out.append(e)
        return out

    book = cfg.setdefault("book", {})
    book["chapters"] = keep(book.get("chapters", []))
    if "appendices" in book:
        book["appendices"] = keep(book["appendices"])
        if not book["appendices"]:
            del book["appendices"]
    return cfg


# ----------------------------------------------------------------------------------------------
# Preparing report/ from a run
# ----------------------------------------------------------------------------------------------
@dataclass
class PreparedReport:
    report_dir: Path
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
    """Copy the run's executed chapters into report/, write the includes and report/_quarto.yml."""
    from recsys_causal.render.includes import write_generated

    run_dir, root = Path(run_dir), Path(root)
    report = root / REPORT_DIR
    report.mkdir(parents=True, exist_ok=True)
    executed = run_dir / "executed"
    present: list[Chapter] = []
    missing: list[Chapter] = []
    for ch in CHAPTERS:
        src = executed / ch.executed_name
        dst = report / chapter_path(ch)
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
    date = run_date(run_dir)
    write_generated(run_dir, report / GENERATED_DIR, root=root, present=present, missing=missing)
    _ensure_static_pages(root, report)
    config = filter_config(load_quarto_yml(root), {chapter_path(c) for c in present})
    config.setdefault("book", {})["date"] = date
    text = "# GENERATED by recsys_causal.render from ../_quarto.yml for one run; do not edit.\n"
    (report / QUARTO_FILE).write_text(text + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100))
    return PreparedReport(report, config, present, missing, date)


STATIC_PAGES = {
    "references.qmd": "# References {.unnumbered}\n\n::: {#refs}\n:::\n",
    "reproducibility.qmd": "# Reproducibility\n\n{{< include _generated/reproducibility.md >}}\n",
}


def _ensure_static_pages(root: Path, report: Path) -> None:
    """Committed hand-written pages; recreated with their default text when absent."""
    for name, text in STATIC_PAGES.items():
        p = report / name
        if not p.is_file():
            p.write_text(text)
    if not (report / "index.qmd").is_file():
        (report / "index.qmd").write_text(
            "# Executive summary {.unnumbered}\n\n{{< include _generated/data_status.md >}}\n\n"
            "{{< include _generated/summary.md >}}\n"
        )
    if not (report / "references.bib").is_file():
        (report / "references.bib").write_text("")


def main() -> None:
    from recsys_causal.paths import project_root

    path = write_quarto_yml(project_root())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
