"""The rendered PDF book, as text: every chapter title and every figure caption is in it."""

from __future__ import annotations

import re

import pytest

from conftest_book import BookUnderTest, norm, pdf_pages_text, rendered_book, synthetic_book  # noqa: F401


def _text(book: BookUnderTest) -> str:
    pages = pdf_pages_text(book.pdf)
    assert len(pages) >= 3
    raw = " ".join(pages)
    # Typst hyphenates at line ends ("multi-\nplicity"): join the word again
    return norm(re.sub(r"(\w)-\n(\w)", r"\1\2", raw))


def _in(needle: str, text: str) -> bool:
    """`needle` in the PDF text; a hyphen of the needle may have been joined with its line break."""
    return needle in text or needle.replace("-", "") in text.replace("-", "")


def _body(text: str) -> str:
    """The book after its title page and table of contents: from the home page's heading on.

    The contents list the same headings, so the home page's heading is looked for after the last
    contents entry (the Reproducibility appendix is the last page of every book)."""
    toc_end = text.find("Reproducibility")
    start = text.find("Executive summary", toc_end + 1 if toc_end >= 0 else 0)
    return text[start:] if start >= 0 else text


def test_pdf_has_every_chapter_title_and_figure_caption(rendered_book: BookUnderTest) -> None:  # noqa: F811
    if not rendered_book.pdf.is_file():
        pytest.fail(f"no PDF in {rendered_book.dir}")
    assert len(list(rendered_book.dir.glob("*.pdf"))) == 1, "the book directory should hold one PDF"
    text = _text(rendered_book)
    assert rendered_book.chapter_titles and rendered_book.figure_captions
    missing_titles = [t for t in rendered_book.chapter_titles if not _in(norm(t), text)]
    assert not missing_titles, f"chapter titles missing from the PDF: {missing_titles}"
    missing_caps = [c for c in rendered_book.figure_captions if not _in(norm(c), text)]
    assert not missing_caps, f"figure captions missing from the PDF: {missing_caps}"


def test_pdf_says_whether_data_are_simulated(rendered_book: BookUnderTest) -> None:  # noqa: F811
    text = _body(_text(rendered_book))
    head = text[: text.find("The two questions")] if "The two questions" in text else text[:4000]
    assert any(w in head for w in ("simulated data", "real data", "semi-synthetic data", "No track was computed"))
