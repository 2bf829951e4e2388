"""Fresh chapters and books: a key changes exactly when what the executed notebook depends on does."""

from __future__ import annotations

import shutil
from pathlib import Path

from recsys_causal.chapters import CHAPTERS, get_chapter
from recsys_causal.freeze import book_key, chapter_key, is_fresh, key_path
from recsys_causal.params import build_params

ROOT = Path(__file__).resolve().parents[1]


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    return root


def test_chapter_key_follows_source_own_parameters_and_data(tmp_path: Path) -> None:
    root = _root(tmp_path)
    ch = get_chapter("longterm_05")
    base = build_params({})
    k = chapter_key(ch, base, root)
    assert k == chapter_key(ch, build_params({}), root)  # deterministic
    assert k != chapter_key(ch, build_params({"longterm": {"n_bootstrap": 1000}}), root)
    assert k != chapter_key(ch, build_params({"seed": 7}), root)
    assert k != chapter_key(ch, build_params({"longterm": {"sim_n_users": 500}}), root)  # other data
    # another track's parameters do not touch it ...
    assert k == chapter_key(ch, build_params({"interference": {"sim_n_users": 500}}), root)
    # ... but the validation study reads every section
    val = get_chapter("validation_01")
    assert chapter_key(val, base, root) != chapter_key(val, build_params({"interference": {"sim_n_users": 500}}), root)
    nb = root / ch.notebook
    nb.write_text(nb.read_text().replace("Doubly robust", "Doubly-robust", 1))
    assert chapter_key(ch, base, root) != k  # an edited notebook is executed again


def test_a_chapter_is_fresh_only_with_its_notebook_and_matching_key(tmp_path: Path) -> None:
    root, run = _root(tmp_path), tmp_path / "run"
    ch, params = CHAPTERS[0], build_params({})
    executed = run / "executed" / ch.executed_name
    executed.parent.mkdir(parents=True)
    assert not is_fresh(ch, params, run, root)
    executed.write_text("{}")
    assert not is_fresh(ch, params, run, root)  # no key: a failed or interrupted attempt
    key_path(executed).write_text(chapter_key(ch, params, root) + "\n")
    assert is_fresh(ch, params, run, root)
    assert not is_fresh(ch, build_params({"longterm": {"n_folds": 3}}), run, root)


def test_book_key_changes_with_a_chapter_the_renderer_and_the_sources(tmp_path: Path) -> None:
    root, run = _root(tmp_path), tmp_path / "run"
    (run / "executed").mkdir(parents=True)
    (root / "index.qmd").write_text("# Home\n")
    k = book_key(run, root, "fallback", CHAPTERS)
    assert k == book_key(run, root, "fallback", CHAPTERS)
    assert k != book_key(run, root, "quarto", CHAPTERS)
    executed = run / "executed" / CHAPTERS[0].executed_name
    executed.parent.mkdir(parents=True)
    key_path(executed).write_text("abc\n")
    k2 = book_key(run, root, "fallback", CHAPTERS)
    assert k2 != k
    (root / "index.qmd").write_text("# Home, edited\n")
    assert book_key(run, root, "fallback", CHAPTERS) != k2
