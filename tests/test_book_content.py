"""What a reader sees in the rendered book (HTML and PDF): whole cells, no NaN, no plumbing,
table headers that are separate words."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import nbformat

from conftest_book import BookUnderTest, norm, pdf_pages_text, rendered_book, synthetic_book  # noqa: F401

FILE_NAME = re.compile(r"\b[\w-]+\.(?:parquet|csv|ipynb)\b")
CELL = re.compile(r"<t[dh][^>]*>(.*?)</t[dh]>", re.S)
CAPTION = re.compile(r"<(?:figcaption|caption|p)[^>]*>(.*?)</(?:figcaption|caption|p)>", re.S)
TAG = re.compile(r"<[^>]+>")
APPENDIX_ID = 'id="ch-reproducibility"'  # the fallback's one page: the appendix may list files


def _pages(book: BookUnderTest) -> dict[str, str]:
    """The book's reader-facing HTML: every page but the Reproducibility appendix (which lists files)."""
    out = {}
    for p in sorted(book.dir.rglob("*.html")):
        if p.name == "reproducibility.html":
            continue
        text = p.read_text(encoding="utf-8")
        if APPENDIX_ID in text:
            text = text[: text.index(APPENDIX_ID)]
        out[str(p.relative_to(book.dir))] = text
    return out


def _plain(fragment: str) -> str:
    return " ".join(html_lib.unescape(TAG.sub(" ", fragment)).split())


def test_no_cut_off_cell_no_nan_and_no_file_name_in_the_text(rendered_book: BookUnderTest) -> None:  # noqa: F811
    problems = []
    for name, page in _pages(rendered_book).items():
        body = re.sub(r"<(script|style)[\s\S]*?</\1>", "", page)
        body = re.sub(r"<pre[\s\S]*?</pre>", "", body)  # folded code may name files
        for cell in (_plain(c) for c in CELL.findall(body)):
            if cell.endswith(("...", "\u2026")):
                problems.append(f"{name}: cut-off cell '{cell[-60:]}'")
            if re.search(r"\bnan\b", cell, re.I):
                problems.append(f"{name}: NaN in a cell '{cell[:60]}'")
        for text in (_plain(c) for c in CAPTION.findall(body)):
            m = FILE_NAME.search(text)
            if m:
                problems.append(f"{name}: file name {m.group(0)} in '{text[:80]}'")
    assert not problems, "\n".join(problems[:30])


def _table_headers(root: Path) -> list[list[str]]:
    """Header labels of every Markdown table the executed chapters show."""
    heads = []
    for path in sorted((root / "report").rglob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
                md = out.get("data", {}).get("text/markdown", "")
                lines = md.splitlines() if isinstance(md, str) else "".join(md).splitlines()
                for i, line in enumerate(lines[:-1]):
                    if line.startswith("|") and re.match(r"^\|[:\- |]+\|$", lines[i + 1]):
                        labels = [c.strip().replace("\\", "").replace("\u200b", "")
                                  for c in line.strip("|").split(" | ")]
                        heads.append([lab for lab in labels if lab])
    return heads


def test_pdf_table_headers_are_separate_words(rendered_book: BookUnderTest) -> None:  # noqa: F811
    text = norm(" ".join(pdf_pages_text(rendered_book.pdf)))
    squashed = text.replace("-", "")
    heads = _table_headers(rendered_book.dir.parent)
    assert heads, "no Markdown table in the executed chapters"
    run_together = []
    for labels in heads:
        for a, b in zip(labels, labels[1:], strict=False):
            joined = (norm(a) + norm(b)).replace("-", "")
            if len(joined) > 8 and joined in squashed:
                run_together.append(f"'{a}' + '{b}'")
    assert not run_together, "PDF headers run together: " + ", ".join(run_together[:20])
