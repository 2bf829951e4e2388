"""`_quarto.yml` agrees with the chapter registry, and Quarto renders the book where it exists."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from recsys_causal.chapters import CHAPTERS, PARTS
from recsys_causal.render.book import (
    book_contents,
    book_items,
    chapter_path,
    merge_config,
    quarto_config,
    quarto_yml_text,
)
from recsys_causal.render.quarto import NOT_FOUND, find_quarto, warn_lines

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return yaml.safe_load((ROOT / "_quarto.yml").read_text())


def test_quarto_yml_is_generated_from_the_registry() -> None:
    assert (ROOT / "_quarto.yml").read_text() == quarto_yml_text(), (
        "_quarto.yml is out of date: run `python -m recsys_causal.render.book`")


def test_quarto_yml_lists_exactly_the_registry_chapters_in_order_in_three_parts() -> None:
    # the committed file plus a full run's _quarto.yml.local, merged as Quarto merges them
    cfg = merge_config(_config(), {"book": book_contents()})
    assert cfg == quarto_config()
    items = book_items(cfg)
    notebooks = [i.file for i in items if i.file.endswith(".ipynb")]
    assert notebooks == [f"report/{c.executed_name}" for c in CHAPTERS]
    assert items[0].kind == "index" and items[0].file == "index.qmd"
    parts = [i.text for i in items if i.kind in ("part", "appendix-part")]
    assert parts == [PARTS["longterm"], PARTS["interference"], PARTS["validation"]] == [
        "Long-term effects on KuaiRec", "Interference in slates on MovieLens", "Appendix"]
    # each chapter sits in its track's part; the appendix holds validation + reproducibility
    current = None
    for i in items:
        if i.kind in ("part", "appendix-part"):
            current = i.text
        elif i.chapter is not None:
            assert current == PARTS[i.chapter.track], i.file
    appendix = cfg["book"]["appendices"]
    assert appendix[-1] == "report/reproducibility.qmd"
    assert [a for a in appendix if a.endswith(".ipynb")] == [chapter_path(c) for c in CHAPTERS if c.track == "validation"]
    assert cfg["book"]["chapters"][-1] == "report/references.qmd"


def test_merge_config_follows_quarto() -> None:
    """Maps merge, lists concatenate without repeats (first wins), scalars are replaced."""
    base = {"book": {"date": "today", "chapters": ["index.qmd"]}, "lang": "en"}
    local = {"book": {"date": "2026-01-02", "chapters": ["index.qmd", {"part": "P", "chapters": ["a"]}, "b"]}}
    assert merge_config(base, local) == {
        "book": {"date": "2026-01-02", "chapters": ["index.qmd", {"part": "P", "chapters": ["a"]}, "b"]},
        "lang": "en"}
    assert merge_config({"a": [1, 2]}, {"a": [2, 3]}) == {"a": [1, 2, 3]}


def test_quarto_yml_renders_html_and_typst_without_executing() -> None:
    cfg = _config()
    assert cfg["project"]["type"] == "book" and cfg["project"]["output-dir"] == "_book"
    assert cfg["project"]["pre-render"] == "report/setup.py" and (ROOT / "report" / "setup.py").is_file()
    assert cfg["book"]["chapters"] == ["index.qmd"] and (ROOT / "index.qmd").is_file()
    assert cfg["execute"]["enabled"] is False
    assert set(cfg["format"]) == {"html", "typst"}
    html = cfg["format"]["html"]
    assert html["code-fold"] is True and not html.get("embed-resources")
    assert cfg["bibliography"] == "report/references.bib"
    assert cfg["book"]["title"] == "Causal inference for recommender systems"
    assert cfg["book"]["author"] == "recsys-causal contributors"
    for page in ("references.qmd", "reproducibility.qmd", "references.bib"):
        assert (ROOT / "report" / page).is_file(), page


def test_partial_run_config_drops_missing_chapters_and_empty_parts() -> None:
    present = {chapter_path(CHAPTERS[0])}
    cfg = quarto_config(present)
    items = book_items(cfg)
    assert [i.file for i in items if i.file.endswith(".ipynb")] == [chapter_path(CHAPTERS[0])]
    assert [i.text for i in items if i.kind == "part"] == [PARTS["longterm"]]
    assert cfg["book"]["appendices"] == ["report/reproducibility.qmd"]


def test_quarto_warn_lines_are_found_in_its_output() -> None:
    out = ("\x1b[1m[1/2] index.qmd\x1b[22m\n\x1b[33mWARN: report/a.html: Unable to resolve crossref @fig-x\x1b[39m\n"
           "Output created: _book/index.html\nWARN (typst) something else\n")
    assert warn_lines(out) == ["WARN: report/a.html: Unable to resolve crossref @fig-x", "WARN (typst) something else"]


def test_environment_yml_provides_quarto() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "conda-forge" in env["channels"]
    assert any(isinstance(d, str) and d.replace(" ", "").startswith("quarto>=1.9") for d in deps)
    assert any(isinstance(d, str) and d.startswith("python=3.11") for d in deps)
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-e .[dev]" in pip


def _require_quarto() -> None:
    """Skip without quarto, except where CI installed it and asked for every Quarto test to run."""
    import os

    if find_quarto() is None:
        if os.environ.get("RECSYS_CAUSAL_REQUIRE_QUARTO"):
            pytest.fail("RECSYS_CAUSAL_REQUIRE_QUARTO is set but " + NOT_FOUND)
        pytest.skip(NOT_FOUND)


def test_quarto_renders_a_tiny_book(tmp_path: Path) -> None:
    """A tiny copy of the book (one executed chapter) through `quarto render`."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest_book import make_synthetic_root, make_synthetic_run
    from recsys_causal.render import render_book

    _require_quarto()
    root = make_synthetic_root(tmp_path / "root")
    run = make_synthetic_run(tmp_path / "run")
    for p in (run / "executed").rglob("*.ipynb"):
        if p.name != "01_panel.ipynb":
            p.unlink()
    res = render_book(run, root, renderer="quarto")
    assert not [w for w in res.warnings if "Refusing to remove" in w or "output" in w.lower()], res.warnings
    assert res.renderer == "quarto"
    assert res.html == root / "_book" / "index.html" and res.html.is_file()
    assert res.pdf.is_file() and res.pdf.parent == root / "_book"
    pages = "".join(p.read_text() for p in (root / "_book").rglob("*.html"))
    assert "Data and the user-day panel" in pages
    plain = pages.replace("&nbsp;", " ").replace("\u00a0", " ")
    assert "Figure 1.1" in plain and "Table 1.1" in plain
    assert shutil.which("quarto") or find_quarto()


def _fake_quarto(tmp_path: Path, version: str = "1.9.20") -> Path:
    """A stand-in `quarto` that records its arguments and writes what `quarto render` would."""
    log = tmp_path / "quarto-args.txt"
    script = tmp_path / "bin" / "quarto"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then echo {version}; exit 0; fi\n'
        f'echo "$@" > {log}\n'
        'out="$2/_book"; /bin/mkdir -p "$out"\n'
        'echo "<html>book</html>" > "$out/index.html"\n'
        'echo "%PDF-1.7" > "$out/Causal-inference-for-recommender-systems.pdf"\n'
    )
    script.chmod(0o755)
    return script


def test_quarto_is_found_through_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_quarto(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("QUARTO_PATH", raising=False)
    monkeypatch.setenv("RECSYS_CAUSAL_QUARTO", str(fake))
    assert find_quarto() == str(fake)
    monkeypatch.delenv("RECSYS_CAUSAL_QUARTO")
    monkeypatch.setenv("QUARTO_PATH", str(fake))
    assert find_quarto() == str(fake)
    monkeypatch.delenv("QUARTO_PATH")
    assert find_quarto() is None


def test_render_book_runs_quarto_on_the_report_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest_book import make_synthetic_root, make_synthetic_run
    from recsys_causal.render import RenderError, render_book

    root = make_synthetic_root(tmp_path / "root")
    run = make_synthetic_run(tmp_path / "run")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("QUARTO_PATH", raising=False)
    monkeypatch.delenv("RECSYS_CAUSAL_QUARTO", raising=False)
    with pytest.raises(RenderError, match="quarto not found on PATH"):
        render_book(run, root, renderer="quarto")
    monkeypatch.setenv("RECSYS_CAUSAL_QUARTO", str(_fake_quarto(tmp_path)))
    res = render_book(run, root, renderer="auto")
    assert res.renderer == "quarto"
    assert res.html == root / "_book" / "index.html" and res.pdf.suffix == ".pdf"
    assert (tmp_path / "quarto-args.txt").read_text().split() == ["render", str(root)]
    # the run's chapters: _quarto.yml.local lists what this run executed
    cfg = merge_config(yaml.safe_load((root / "_quarto.yml").read_text()),
                       yaml.safe_load((root / "_quarto.yml.local").read_text()))
    files = [i.file for i in book_items(cfg) if i.file.endswith(".ipynb")]
    assert files == ["report/longterm/01_panel.ipynb", "report/longterm/02_propensity.ipynb",
                     "report/interference/02_randomized_effects.ipynb",
                     "report/validation/01_simulation_study.ipynb"]
    assert cfg["book"]["date"] == "2026-11-20"
    for f in files:
        assert (root / f).is_file()
    assert (root / "report" / "_generated" / "summary.md").is_file()


def test_old_quarto_is_rejected_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest_book import make_synthetic_root, make_synthetic_run
    from recsys_causal.render import RenderError, render_book

    root = make_synthetic_root(tmp_path / "root")
    run = make_synthetic_run(tmp_path / "run")
    monkeypatch.setenv("RECSYS_CAUSAL_QUARTO", str(_fake_quarto(tmp_path, version="1.4.550")))
    with pytest.raises(RenderError, match=r"needs quarto >= 1.9"):
        render_book(run, root, renderer="quarto")
