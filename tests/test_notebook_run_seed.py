"""The notebooks' run is seeded from the end-to-end run only where that is safe."""

from __future__ import annotations

import json

from conftest import seed_notebook_run


def _finished_run(path):
    (path / "processed").mkdir(parents=True)
    (path / "processed" / "table.csv").write_text("a\n1\n")
    (path / "executed").mkdir()
    (path / "executed" / "chapter.ipynb").write_text("{}")
    (path / "manifest.json").write_text(json.dumps({"artifacts": {}}))
    return path


def test_seeds_only_an_absent_run_under_the_test_runs_folder(tmp_path, monkeypatch):
    source = _finished_run(tmp_path / "e2e")
    runs = tmp_path / "runs"
    monkeypatch.delenv("RECSYS_CAUSAL_RUNS_DIR", raising=False)
    monkeypatch.setenv("RECSYS_CAUSAL_PARAMS", "params/test.yaml")
    assert seed_notebook_run(source, "params/test.yaml") is None  # a user's data/runs: never
    monkeypatch.setenv("RECSYS_CAUSAL_RUNS_DIR", str(runs))
    monkeypatch.setenv("RECSYS_CAUSAL_PARAMS", "params/default.yaml")
    assert seed_notebook_run(source, "params/test.yaml") is None  # another profile
    assert not runs.exists()
    monkeypatch.setenv("RECSYS_CAUSAL_PARAMS", "params/test.yaml")
    target = seed_notebook_run(source, "params/test.yaml")
    assert target == runs / "default"
    assert (target / "processed" / "table.csv").read_text() == "a\n1\n" and (target / "manifest.json").is_file()
    assert not (target / "executed").exists()  # artifacts only, not the executed notebooks
    (target / "processed" / "table.csv").write_text("changed")
    assert seed_notebook_run(source, "params/test.yaml") is None  # an existing run is left as it is
    assert (target / "processed" / "table.csv").read_text() == "changed"
