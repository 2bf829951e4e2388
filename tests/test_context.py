"""How a chapter resolves its parameters: defaults < profile < notebook (papermill) values."""

from __future__ import annotations

import pytest

from recsys_causal.chapters import get_chapter
from recsys_causal.context import open_chapter, resolve_params
from recsys_causal.params import ParamsError

CH = get_chapter("longterm_03")


def test_defaults_when_nothing_is_given(monkeypatch):
    monkeypatch.delenv("RECSYS_CAUSAL_PARAMS", raising=False)
    params, run = resolve_params(CH, {"n_bootstrap": 400, "seed": 42})
    assert params.longterm.n_bootstrap == 400 and run == "default"


def test_profile_from_environment_then_notebook_values_win(monkeypatch, project_root):
    monkeypatch.setenv("RECSYS_CAUSAL_PARAMS", str(project_root / "params" / "test.yaml"))
    params, _ = resolve_params(CH, {"n_bootstrap": 400})  # equal to the default: the profile wins
    assert params.longterm.n_bootstrap == 50
    assert params.seed == 7
    params, _ = resolve_params(CH, {"n_bootstrap": 123, "seed": 5})  # injected by papermill
    assert params.longterm.n_bootstrap == 123 and params.seed == 5


def test_a_papermill_value_equal_to_the_code_default_still_beats_the_profile(monkeypatch, project_root):
    """The README's `papermill ... -p n_folds 5 -p seed 42` with params_file=params/test.yaml."""
    monkeypatch.delenv("RECSYS_CAUSAL_PARAMS", raising=False)
    injected = "# Parameters\nn_folds = 5\nseed = 42\nparams_file = \"params/test.yaml\"\n"
    values = {"n_folds": 5, "seed": 42, "n_bootstrap": 400, "params_file": str(project_root / "params" / "test.yaml"),
              "In": ["", "# Parameters (papermill injects overrides here)\nn_folds = 5\n", injected]}
    params, _ = resolve_params(CH, values)
    assert params.longterm.n_folds == 5 and params.seed == 42  # explicit, although equal to the defaults
    assert params.longterm.n_bootstrap == 50  # not injected, equal to the code default: the profile's


def test_explicit_params_file_beats_environment(monkeypatch, project_root, tmp_path):
    monkeypatch.setenv("RECSYS_CAUSAL_PARAMS", str(project_root / "params" / "test.yaml"))
    f = tmp_path / "p.yaml"
    f.write_text("longterm:\n  n_bootstrap: 77\n")
    params, _ = resolve_params(CH, {"params_file": str(f)})
    assert params.longterm.n_bootstrap == 77


def test_bad_notebook_value_is_named(monkeypatch):
    monkeypatch.delenv("RECSYS_CAUSAL_PARAMS", raising=False)
    with pytest.raises(ParamsError, match="longterm.n_bootstrap"):
        resolve_params(CH, {"n_bootstrap": -5})


def test_open_chapter_uses_runs_dir_and_labels_simulated_data(monkeypatch, tmp_path):
    monkeypatch.delenv("RECSYS_CAUSAL_PARAMS", raising=False)
    monkeypatch.setenv("RECSYS_CAUSAL_RUNS_DIR", str(tmp_path / "runs"))
    ctx = open_chapter("longterm_03", {"run_name": "ctx"})
    assert ctx.store.run_dir == tmp_path / "runs" / "ctx"
    assert ctx.simulated
    assert "simulated data" in ctx.data_label()
    real = open_chapter("longterm_03", {"run_name": "ctx2", "data_path": str(tmp_path)})
    assert not real.simulated and str(tmp_path) in real.data_label()


def test_save_figure_shows_the_saved_png_once_and_returns_nothing(monkeypatch, tmp_path):
    import matplotlib.pyplot as plt
    from IPython.display import Image

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    monkeypatch.delenv("RECSYS_CAUSAL_PARAMS", raising=False)
    monkeypatch.setenv("RECSYS_CAUSAL_RUNS_DIR", str(tmp_path / "runs"))
    ctx = open_chapter("longterm_03", {"run_name": "fig"})
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    assert ctx.save_figure(fig, "03_line") is None
    assert not plt.fignum_exists(fig.number)  # closed: the inline backend cannot draw it again
    png = tmp_path / "runs" / "fig" / "writeup" / "figures" / "03_line.png"
    assert len(shown) == 1 and isinstance(shown[0], Image) and shown[0].data == png.read_bytes()


def test_real_movielens_ratings_are_labelled_semi_synthetic(monkeypatch, tmp_path):
    monkeypatch.delenv("RECSYS_CAUSAL_PARAMS", raising=False)
    monkeypatch.setenv("RECSYS_CAUSAL_RUNS_DIR", str(tmp_path / "runs"))
    ctx = open_chapter("interference_03", {"run_name": "ctx3", "data_path": str(tmp_path)})
    label = ctx.data_label()
    assert "semi-synthetic" in label and str(tmp_path) in label and "click model" in label
    lt = open_chapter("longterm_03", {"run_name": "ctx4", "data_path": str(tmp_path)})
    assert "no truth rows" in lt.data_label() and "semi-synthetic" not in lt.data_label()
