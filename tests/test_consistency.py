"""One parameter set per book: executed chapters made with other parameters are found, by name."""

from __future__ import annotations

from pathlib import Path

import nbformat

from recsys_causal.chapters import get_chapter
from recsys_causal.consistency import expected_parameters, mismatched_chapters
from recsys_causal.params import build_params


def _executed(run: Path, chapter_id: str, values: dict) -> None:
    ch = get_chapter(chapter_id)
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": {**values, "run_name": "x", "params_file": "p.yaml"}}
    path = run / "executed" / ch.executed_name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_a_chapter_made_with_another_value_is_named_with_the_parameter(tmp_path: Path) -> None:
    params = build_params({"longterm": {"multiplicity_method": "bh"}})
    old = build_params({})
    _executed(tmp_path, "longterm_05", expected_parameters(get_chapter("longterm_05"), old))
    _executed(tmp_path, "longterm_06", expected_parameters(get_chapter("longterm_06"), params))
    _executed(tmp_path, "interference_01", expected_parameters(get_chapter("interference_01"), params))
    found = mismatched_chapters(tmp_path, params)
    assert [m.chapter.id for m in found] == ["longterm_05"]
    assert found[0].keys == ("multiplicity_method",)
    assert found[0].describe() == "longterm_05 (multiplicity_method)"
    # the run's location (run name, params file) does not count, and other sections do not either
    assert mismatched_chapters(tmp_path, old) and not [m for m in mismatched_chapters(tmp_path, old)
                                                        if m.chapter.id == "interference_01"]


def test_a_notebook_without_recorded_parameters_is_inconsistent(tmp_path: Path) -> None:
    path = tmp_path / "executed" / get_chapter("longterm_01").executed_name
    path.parent.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), path)
    assert [m.keys for m in mismatched_chapters(tmp_path, build_params({}))] == [("no recorded parameters",)]


def test_heartbeat_names_the_chapter_and_its_running_cell_when_not_on_a_terminal(tmp_path: Path) -> None:
    import io
    import time

    from recsys_causal.pipeline import heartbeat, running_cell

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("a"), nbformat.v4.new_markdown_cell("m"), nbformat.v4.new_code_cell("b"),
                nbformat.v4.new_code_cell("c")]
    nb.cells[2].metadata["papermill"] = {"status": "running"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert running_cell(path) == "2/3" and running_cell(tmp_path / "missing.ipynb") == "?"
    out = io.StringIO()
    with heartbeat(get_chapter("longterm_05"), path, out, every=0.05):
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all("longterm_05 still running: cell 2/3" in ln for ln in lines)
