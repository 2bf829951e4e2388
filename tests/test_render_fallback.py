"""The fallback renderer (nbformat + pandoc + typst) on a small synthetic run."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from conftest_book import (  # noqa: F401
    SYNTHETIC,
    BookUnderTest,
    make_synthetic_root,
    make_synthetic_run,
    synthetic_book,
)
from recsys_causal.chapters import CHAPTERS, get_chapter
from recsys_causal.render import BookResult, RenderError, render_book
from recsys_causal.render.fallback import resolve_refs, split_cell_options
from recsys_causal.render.tables import compact_table, parse_html_table, round_cell


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return " ".join(" ".join((p.extract_text() or "") for p in PdfReader(str(path)).pages).split())


def _html_text(html: str) -> str:
    import html as html_lib

    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


TITLES = [get_chapter(c).title for c in SYNTHETIC]
FIG_CAPTIONS = ["Figure 1.1: " + SYNTHETIC["longterm_01"][1], "Figure 2.1: " + SYNTHETIC["longterm_02"][1],
                "Figure 3.1: " + SYNTHETIC["interference_02"][1], "Figure A.1: " + SYNTHETIC["validation_01"][1]]
TBL_CAPTIONS = ["Table 1.1: " + SYNTHETIC["longterm_01"][3], "Table A.1: " + SYNTHETIC["validation_01"][3]]


# ----------------------------------------------------------------------------------------------
# Small pieces
# ----------------------------------------------------------------------------------------------
def test_cell_options_are_parsed_and_removed() -> None:
    opts, body = split_cell_options('#| label: fig-x\n#| fig-cap: "A: caption"\n#| echo: false\nplot()')
    assert opts == {"label": "fig-x", "fig-cap": "A: caption", "echo": False}
    assert body == "plot()"


def test_cross_references_become_numbered_links_outside_code() -> None:
    labels = {"fig-a": ("Figure", "2.3"), "tbl-b": ("Table", "1.1")}
    out = resolve_refs("See @fig-a, [-@fig-a] and @tbl-b. `@fig-a` stays; @fig-zz is unknown; a@b.c", labels)
    assert "[Figure 2.3](#fig-a)" in out and "[2.3](#fig-a)" in out and "[Table 1.1](#tbl-b)" in out
    assert "`@fig-a`" in out
    assert "?\\@fig-zz" in out
    assert "a@b.c" in out


def test_wide_html_table_gets_a_compact_form() -> None:
    import pandas as pd

    df = pd.DataFrame({f"col_{k}": [1.23456789 * k, 12345.678] for k in range(12)})
    t = parse_html_table(df.to_html())
    assert t is not None and len(t.rows) == 2
    header, rows, note = compact_table(t, max_cols=7)
    assert len(header) == 7 and all(len(r) == 7 for r in rows)
    assert "columns omitted" in note
    assert round_cell("0.0123456") == "0.0123" and round_cell("12345.678") == "12,346"


# ----------------------------------------------------------------------------------------------
# The whole book
# ----------------------------------------------------------------------------------------------
def test_html_book_has_chapters_in_order_numbered_figures_and_embedded_images(synthetic_book: BookUnderTest) -> None:  # noqa: F811
    html = synthetic_book.html.read_text()
    text = _html_text(html)
    pos = -1
    # chapter headings in the body (after the sidebar): search from the title block on
    body = text[text.find("Executive summary", text.find("2026-11-20")):]
    for title in ["Executive summary", *TITLES[:3], "References", TITLES[3], "Reproducibility"]:
        i = body.find(title, pos + 1)
        assert i > pos, f"'{title}' missing or out of order"
        pos = i
    for cap in FIG_CAPTIONS + TBL_CAPTIONS:
        assert cap in text, cap
    # parts in the table of contents
    for part in ("Long-term effects on KuaiRec", "Interference in slates on MovieLens", "Appendix"):
        assert f">{part}</a>" in html
    # images are data URIs, nothing points outside the file
    assert html.count('src="data:image/png;base64,') >= 4
    assert not re.search(r'(src|href)="(https?:)?//(?!doi\.org)', html), "external resource in the HTML"
    assert "<link" not in html and not re.search(r"<script[^>]*\ssrc=", html)
    # cross-references and citations
    assert 'href="#fig-lt01-activity"' in html and "Figure 1.1</a>" in html
    assert "Robins et al. 2000" in text and "Bang and Robins 2005" in text
    assert 'id="ref-robins2000msm"' in html
    # code is folded; parameters cells are hidden; markdown outputs are rendered as markdown
    assert html.count('<details class="code-fold">') >= 4 and "<details class=\"code-fold\" open" not in html
    assert "injected-parameters" not in html and "run_name = " not in html and "papermill injects" not in html
    assert "<th>0</th>" not in html  # pandas' RangeIndex row labels are dropped
    assert 'text-align: right' in html  # numeric columns of the Markdown tables are right-aligned
    assert "<strong>0.012</strong>" in html and "*simulated data*" not in html
    # the data status comes first, before any result
    assert -1 < body.find("This run uses simulated data") < body.find("The answers")


def test_pdf_has_every_chapter_title_and_figure_caption(synthetic_book: BookUnderTest) -> None:  # noqa: F811
    assert synthetic_book.pdf.is_file() and synthetic_book.pdf.suffix == ".pdf"
    assert len(list(synthetic_book.dir.glob("*.pdf"))) == 1
    text = _pdf_text(synthetic_book.pdf)
    for title in TITLES + ["Executive summary", "References", "Reproducibility"]:
        assert title in text, title
    for cap in FIG_CAPTIONS + TBL_CAPTIONS:
        assert cap in text, cap
    assert "Robins et al. 2000" in text
    assert "This run uses simulated data" in text
    # the wide table is printed in its compact form
    assert "Not shown:" in text  # the wide table keeps 7 columns and says which are left out


def test_generated_pages_read_the_run(synthetic_book: BookUnderTest) -> None:  # noqa: F811
    html = synthetic_book.html.read_text()
    text = _html_text(html)
    assert "The primary estimate (doubly robust AIPW) is 0.0401 interactions" in text
    assert "+1.6% of the 2.50 interactions" in text and "the simulator’s true value is 0.0400" in text
    assert "Interference track (MovieLens): not computed in this run" in text
    assert 'src="data:image/png;base64,' in html.split("The answers", 1)[1][:20000]  # the forest plot
    assert "abc1234" in text and "recsys-causal run --params params/test.yaml" in text
    assert "simulator:0123456789abcdef" in text


def test_partial_and_empty_runs_render(tmp_path: Path) -> None:
    root = make_synthetic_root(tmp_path / "root")
    run = make_synthetic_run(tmp_path / "run")
    # only one chapter executed, and no artifacts at all
    for p in (run / "executed").rglob("*.ipynb"):
        if p.name != "01_panel.ipynb":
            p.unlink()
    (run / "manifest.json").unlink()
    (run / "run_info.json").unlink()
    for p in (run / "processed").iterdir():
        p.unlink()
    res = render_book(run, root, renderer="fallback")
    assert isinstance(res, BookResult) and res.renderer == "fallback"
    assert res.chapters == ["longterm_01"] and len(res.missing) == len(CHAPTERS) - 1
    html = res.html.read_text()
    text = _html_text(html)
    assert "Long-term track (KuaiRec): not computed in this run" in text
    assert "Propensity scores and weights" not in text
    assert ">Interference in slates on MovieLens</a>" not in html  # an empty part is dropped
    assert _pdf_text(res.pdf).count("Data and the user-day panel") >= 1
    # a chapter left in report/ by an earlier run does not leak into this book
    assert not (root / "report" / "longterm" / "02_propensity.ipynb").exists()


def test_real_data_is_announced_as_real(tmp_path: Path) -> None:
    import json

    root = make_synthetic_root(tmp_path / "root")
    run = make_synthetic_run(tmp_path / "run")
    m = json.loads((run / "manifest.json").read_text())
    for e in m["artifacts"].values():
        e["simulated"] = False
        e["data_fingerprint"] = "files:feedfacecafebeef"
    (run / "manifest.json").write_text(json.dumps(m))
    (run / "params.yaml").write_text("seed: 7\nlongterm:\n  data_path: data/raw/KuaiRec\n")
    res = render_book(run, root, renderer="fallback")
    text = _html_text(res.html.read_text())
    assert "real KuaiRec data" in text and "files:feedfacecafebeef" in text
    assert "This run uses simulated data" not in text


def test_bad_inputs_are_clear(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="does not exist"):
        render_book(tmp_path / "nope", tmp_path, renderer="fallback")
    with pytest.raises(RenderError, match="renderer"):
        render_book(tmp_path, tmp_path, renderer="latex")


def test_parameters_cells_are_tagged_for_quarto(synthetic_book: BookUnderTest) -> None:  # noqa: F811
    report = synthetic_book.dir.parent / "report"
    nb = nbformat.read(report / "longterm" / "01_panel.ipynb", as_version=4)
    tagged = [c for c in nb.cells if {"parameters", "injected-parameters"} & set(c.metadata.get("tags", []))]
    assert tagged and all("remove-cell" in c.metadata["tags"] for c in tagged)


def test_edge_cases_render_in_both_formats(tmp_path: Path) -> None:
    """SVG figure, Styler table, markdown table, error output, math and a citation in captions,
    section references, unknown labels and citation keys: the book still renders."""
    import pandas as pd

    from recsys_causal.notebooks import new_chapter_notebook

    root = make_synthetic_root(tmp_path / "root")
    run = make_synthetic_run(tmp_path / "run")
    ch = get_chapter("longterm_03")
    nb = new_chapter_notebook(ch, [
        ("md", "## Setup {#sec-lt03-setup}\n\nSee @sec-lt03-setup, @fig-lt03-svg, @tbl-lt03-md, @fig-missing "
               "and [@nokey2020]. Math: $\\hat\\tau = \\frac{1}{n}\\sum_i \\psi_i$."),
        ("code", '#| label: fig-lt03-svg\n#| fig-cap: "An SVG figure with $\\\\alpha$ and a citation [@bang2005doubly]."\nsvg()'),
        ("code", '#| label: tbl-lt03-styler\n#| tbl-cap: "A Styler table."\nstyler()'),
        ("code", '#| label: tbl-lt03-md\n#| tbl-cap: "A markdown table."\nmdtable()'),
        ("code", "boom()"),
    ])
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">'
           '<rect width="200" height="100" fill="#0072B2"/></svg>')
    styler = pd.DataFrame({"a": [1.5, 2.25], "b": ["x", "y"]}).style.format(precision=2).to_html()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "svg()" in cell.source:
            cell.outputs = [nbformat.v4.new_output("display_data", data={"image/svg+xml": svg, "text/plain": "fig"})]
        elif "styler()" in cell.source:
            cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": styler, "text/plain": "s"})]
        elif "mdtable()" in cell.source:
            cell.outputs = [nbformat.v4.new_output("display_data", data={
                "text/markdown": "| k | v |\n|---|---:|\n| n | 10 |\n", "text/plain": "md"})]
        elif "boom()" in cell.source:
            cell.outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="bad",
                                                   traceback=["\x1b[31mValueError\x1b[0m: bad"])]
    path = run / "executed" / ch.executed_name
    nbformat.write(nb, path)
    res = render_book(run, root, renderer="fallback")
    html = res.html.read_text()
    text = _html_text(html)
    # chapter 3 of this run (longterm_01, longterm_02, longterm_03, ...)
    assert "Figure 3.1: An SVG figure" in text and 'src="data:image/svg+xml;base64,' in html
    assert "Table 3.1: A Styler table." in text and "Table 3.2: A markdown table." in text
    assert "[Section 3.1]" not in text and 'href="#sec-lt03-setup"' in html and "Section 3.1" in text
    assert "?@fig-missing" in text
    assert "ValueError: bad" in text and "\x1b" not in html
    assert "<math" in html  # MathML, no external math script
    pdf = _pdf_text(res.pdf)
    assert "Figure 3.1: An SVG figure" in pdf and "Table 3.2: A markdown table." in pdf


def test_links_to_missing_labels_do_not_break_typst() -> None:
    from recsys_causal.render.fallback import drop_dangling_links

    typ = "#figure(image(\"a.png\")) <fig-a>\nSee #link(<fig-a>)[Figure 1.1] and #link(<fig-b>)[Figure 1.2]."
    out, dangling = drop_dangling_links(typ)
    assert "#link(<fig-a>)[Figure 1.1]" in out and "#[Figure 1.2]" in out and dangling == ["fig-b"]
