"""Fresh chapters and books: a key changes exactly when what the executed notebook depends on does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

from recsys_causal.artifacts import PACKAGE_DIR
from recsys_causal.chapters import CHAPTERS, get_chapter
from recsys_causal.freeze import (
    book_key,
    chapter_key,
    global_reads,
    is_fresh,
    key_path,
    notebook_modules,
    recorded_key,
    render_fingerprint,
    restamp,
    write_key,
)
from recsys_causal.params import build_params

ROOT = Path(__file__).resolve().parents[1]


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    return root


def test_chapter_key_follows_source_read_parameters_artifacts_and_data(tmp_path: Path) -> None:
    root, run = _root(tmp_path), tmp_path / "run"
    ch05, base = get_chapter("longterm_05"), build_params({})

    def key(ch, params, reads=()):
        return chapter_key(ch, params, root, run, reads)

    k = key(ch05, base)
    assert k == key(ch05, build_params({}))  # deterministic
    assert k != key(ch05, build_params({"seed": 7}))
    assert k != key(ch05, build_params({"longterm": {"sim_n_users": 500}}))  # other data
    # a parameter the chapter never reads still reaches it through the artifacts it shows ...
    assert k != key(ch05, build_params({"longterm": {"n_bootstrap": 1000}}))
    # ... but not a chapter whose artifacts do not depend on it
    ch01 = get_chapter("longterm_01")
    assert key(ch01, base) == key(ch01, build_params({"longterm": {"n_bootstrap": 1000, "n_folds": 3}}))
    assert key(ch01, base) != key(ch01, build_params({"longterm": {"high_watch_threshold": 1.5}}))
    # a parameter the notebook read is hashed by value
    reads = ("longterm.multiplicity_method",)
    assert key(ch01, base, reads) != key(ch01, build_params({"longterm": {"multiplicity_method": "bh"}}), reads)
    assert key(ch01, base, ("*",)) != key(ch01, build_params({"interference": {"slate_size": 10}}), ("*",))
    # another track's parameters do not touch it
    assert k == key(ch05, build_params({"interference": {"sim_n_users": 500}}))
    nb = root / ch05.notebook
    nb.write_text(nb.read_text().replace("Doubly robust", "Doubly-robust", 1))
    assert key(ch05, base) != k  # an edited notebook is executed again


def test_a_notebook_is_keyed_on_the_code_it_imports_not_on_every_module() -> None:
    files = {f.relative_to(PACKAGE_DIR).as_posix() for f in notebook_modules(ROOT / get_chapter("longterm_05").notebook)}
    assert {"longterm/aipw_plots.py", "longterm/aipw_text.py", "context.py", "describe.py", "style.py"} <= files
    assert "interference/effect_plots.py" not in files and "validation/plots.py" not in files
    assert "render/fallback.py" not in files and "pipeline.py" not in files


def test_parameter_names_the_code_uses_count_as_reads(tmp_path: Path) -> None:
    root = _root(tmp_path)
    ch = get_chapter("longterm_01")
    nb = root / ch.notebook
    data = json.loads(nb.read_text())
    data["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                          "source": ["print(n_bootstrap, seed)\n", "%time x = 1\n"]})
    nb.write_text(json.dumps(data))
    assert global_reads(ch, nb) == {"seed", "longterm.n_bootstrap"}


def test_a_chapter_is_fresh_only_with_its_notebook_and_matching_key(tmp_path: Path) -> None:
    root, run = _root(tmp_path), tmp_path / "run"
    ch, params = CHAPTERS[0], build_params({})
    executed = run / "executed" / ch.executed_name
    executed.parent.mkdir(parents=True)
    assert not is_fresh(ch, params, run, root)
    executed.write_text("{}")
    assert not is_fresh(ch, params, run, root)  # no key: a failed or interrupted attempt
    key_path(executed).write_text("0123456789abcdef\n")  # an unreadable key is never fresh
    assert not is_fresh(ch, params, run, root)
    reads = ["longterm.n_folds"]
    write_key(executed, chapter_key(ch, params, root, run, reads), reads)
    assert recorded_key(executed) == (chapter_key(ch, params, root, run, reads), reads)
    assert is_fresh(ch, params, run, root)
    assert is_fresh(ch, build_params({"longterm": {"n_bootstrap": 999}}), run, root)  # never read, never shown
    assert not is_fresh(ch, build_params({"longterm": {"n_folds": 3}}), run, root)  # read


def test_restamp_writes_the_run_parameters_and_keeps_the_outputs(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": {"n_bootstrap": 500}}
    injected = nbformat.v4.new_code_cell("# Parameters\nn_bootstrap = 500\n", execution_count=2)
    injected.metadata["tags"] = ["injected-parameters"]
    out = nbformat.v4.new_code_cell("print(1)", execution_count=3)
    out.outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells = [injected, out]
    path = tmp_path / "ch.ipynb"
    nbformat.write(nb, path)
    restamp(path, {"n_bootstrap": 1000})
    back = nbformat.read(path, as_version=4)
    assert back.metadata["papermill"]["parameters"] == {"n_bootstrap": 1000}
    assert "n_bootstrap = 1000" in back.cells[0].source and back.cells[0].execution_count == 2
    assert back.cells[1].outputs == out.outputs and len(back.cells) == 2


def test_book_key_changes_with_a_chapter_the_renderer_and_the_sources(tmp_path: Path) -> None:
    root, run = _root(tmp_path), tmp_path / "run"
    (run / "executed").mkdir(parents=True)
    (root / "index.qmd").write_text("# Home\n")
    k = book_key(run, root, "fallback", CHAPTERS)
    assert k == book_key(run, root, "fallback", CHAPTERS)
    assert k != book_key(run, root, "quarto", CHAPTERS)
    executed = run / "executed" / CHAPTERS[0].executed_name
    executed.parent.mkdir(parents=True)
    executed.write_text("{}")
    write_key(executed, "abc", [])
    k2 = book_key(run, root, "fallback", CHAPTERS)
    assert k2 != k
    executed.write_text('{"restamped": 1}')  # same key, other page: the book is made again
    k3 = book_key(run, root, "fallback", CHAPTERS)
    assert k3 != k2
    (root / "index.qmd").write_text("# Home, edited\n")
    assert book_key(run, root, "fallback", CHAPTERS) != k3


def test_the_book_key_follows_the_rendering_code_not_the_command_line_code(tmp_path: Path) -> None:
    """Editing the CLI leaves a rendered book fresh; editing a book template or the table
    formatter the renderer imports makes it stale."""
    pkg = tmp_path / "recsys_causal"
    shutil.copytree(PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    base = render_fingerprint(pkg)
    assert base == render_fingerprint(PACKAGE_DIR)
    (pkg / "cli.py").write_text((pkg / "cli.py").read_text() + "\n# edited\n")
    assert render_fingerprint(pkg) == base
    for edited in ("render/book.css", "booktable.py"):
        path = pkg / edited
        original = path.read_text()
        path.write_text(original + "\n/* edited */\n" if edited.endswith(".css") else original + "\n# edited\n")
        assert render_fingerprint(pkg) != base, edited
        path.write_text(original)
        assert render_fingerprint(pkg) == base
