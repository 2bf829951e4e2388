"""The notebook-facing entry point: validated parameters plus the run's artifact store.

Every chapter notebook starts with a papermill `parameters` cell, then calls
`open_chapter("<chapter id>", globals())`. Values are resolved in this order: the code defaults,
then a profile file (`params_file`, else $RECSYS_CAUSAL_PARAMS), then every notebook value that
differs from the code default (papermill's `-p` injections), all validated together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recsys_causal.artifacts import RunStore
from recsys_causal.chapters import Chapter, get_chapter
from recsys_causal.parameter_reads import ParamsView, ReadLog
from recsys_causal.params import (
    SECTIONS,
    Params,
    ParamsError,
    build_params,
    env_params_file,
    read_yaml,
)
from recsys_causal.paths import project_root, resolve, runs_dir

DEFAULT_RUN_NAME = "default"
#: set by `run` for each chapter it executes: where the kernel records the parameters it read
READS_ENV = "RECSYS_CAUSAL_PARAMETER_READS"


def _reads_writer() -> Any:
    """A callback that keeps $RECSYS_CAUSAL_PARAMETER_READS holding the parameters read so far
    (None when the notebook is not executed by `run`)."""
    import json
    import os

    from recsys_causal.artifacts import atomic_write_text

    target = os.environ.get(READS_ENV, "")
    if not target:
        return None
    atomic_write_text(Path(target), "[]\n")

    def write(reads: frozenset[str]) -> None:
        atomic_write_text(Path(target), json.dumps(sorted(reads)) + "\n")

    return write


@dataclass
class ChapterContext:
    """What a chapter needs: its definition, the run's parameters and the artifact store."""

    chapter: Chapter
    run_params: Params
    store: RunStore
    run_name: str
    reads: ReadLog | None = None

    def __post_init__(self) -> None:
        if self.reads is None:
            self.reads = ReadLog(self.run_params, on_new=_reads_writer())

    @property
    def params(self) -> ParamsView:
        """The run's parameters, read through a view that records what the chapter reads: the
        chapter's freshness key hashes those values (`recsys_causal.freeze`)."""
        assert self.reads is not None
        return self.reads.view()

    @property
    def section(self) -> Any:
        """The chapter's parameter section (e.g. `LongtermParams`), through the recording view."""
        return self.params.section(self.chapter.section)

    @property
    def simulated(self) -> bool:
        """True when this track runs on simulator data rather than a real dataset."""
        return self.store.is_simulated(self.chapter.section)

    def get(self, name: str) -> pd.DataFrame:
        """Read an artifact, building it (and its upstream) when missing or stale.

        Only the chapter's outputs and declared reads may be read, so the registry's list of
        what a chapter depends on cannot drift from what its notebook does.
        """
        self._check_readable(name)
        return self.store.get(name)

    def _check_readable(self, name: str) -> None:
        if name not in self.chapter.readable():
            raise KeyError(f"chapter {self.chapter.id} reads '{name}', which is neither one of its outputs nor "
                           f"in its declared reads (recsys_causal.chapters): {', '.join(sorted(self.chapter.readable()))}")

    def get_optional(self, name: str) -> pd.DataFrame | None:
        """Like `get`, but None for an artifact this run leaves out (the truth, on real data)."""
        self._check_readable(name)
        return self.store.get_optional(name)

    def save_figure(self, fig: Any, name: str) -> None:
        """Save a figure to writeup/figures/ (PNG + SVG), show that PNG in the cell, close it.

        The cell shows exactly the saved file, whatever matplotlib backend is active, and the
        closed figure is not drawn a second time by the inline backend. Returns nothing (the
        files are listed in the run's manifest), so no local path reaches the book.
        """
        import matplotlib.pyplot as plt
        from IPython.display import Image, display

        paths = self.store.save_figure(fig, name, section=self.chapter.section)
        plt.close(fig)
        png = next(p for p in paths if p.suffix == ".png")
        display(Image(data=png.read_bytes(), format="png"))

    def save_table(self, df: pd.DataFrame, name: str) -> None:
        """Save a report table to the run's writeup/tables/ (listed in the manifest)."""
        self.store.save_table(df, name, section=self.chapter.section)

    def data_label(self) -> str:
        """A sentence saying which data this chapter ran on (never mistake simulated for real)."""
        sec = self.chapter.section
        if sec == "validation":
            return "This chapter runs on simulated data by design."
        data_path = getattr(self.section, "data_path", "")
        if data_path and sec == "interference":
            return (
                f"**This run uses semi-synthetic data**: the real MovieLens ratings in `{data_path}`, with clicks "
                "simulated by the project's click model (MovieLens records ratings, not clicks on slates). The "
                "truth rows are that click model's expected clicks: they check the estimators in its world, "
                "not how real users click."
            )
        if data_path:
            return (f"This run uses the real dataset in `{data_path}`; there is no truth to compare with, so "
                    "the chapter shows no truth rows.")
        name = "KuaiRec" if sec == "longterm" else "MovieLens"
        return (
            f"**This run uses simulated data** written in the {name} file format by the project's "
            f"simulator (seed {self.params.seed}); its numbers are not findings about {name}."
        )


PAPERMILL_CELL_HEAD = "# Parameters\n"  # the first line of the cell papermill injects


def injected_names(values: dict[str, Any]) -> set[str]:
    """Names papermill injected (`-p name value`): assignments of its injected cell, read from the
    kernel's input history (`In`), so an injected value equal to the code default still counts."""
    import ast

    names: set[str] = set()
    for src in values.get("In", []) or []:
        if isinstance(src, str) and src.startswith(PAPERMILL_CELL_HEAD):
            try:
                tree = ast.parse(src)
            except SyntaxError:
                continue
            names |= {t.id for node in tree.body if isinstance(node, ast.Assign)
                      for t in node.targets if isinstance(t, ast.Name)}
    return names


def resolve_params(chapter: Chapter, values: dict[str, Any]) -> tuple[Params, str]:
    """Merge for `chapter`, lowest first: code defaults, the profile file (`params_file`, else
    $RECSYS_CAUSAL_PARAMS), then notebook values: every value papermill injected, and any value of
    the parameters cell that differs from the code default (an edit by hand). Returns the params
    and the run name."""
    params_file = str(values.get("params_file", "") or "") or env_params_file()
    base: dict[str, Any] = read_yaml(resolve(params_file)) if params_file else {}
    section = chapter.section
    defaults = SECTIONS[section]().model_dump(mode="json")
    explicit = injected_names(values)
    sec_values = dict(base.get(section, {}) or {})
    for key, default in defaults.items():
        if key in values and (key in explicit or _differs(values[key], default)):
            sec_values[key] = values[key]
    data = dict(base)
    data[section] = sec_values
    if "seed" in values and ("seed" in explicit or _differs(values["seed"], Params.model_fields["seed"].default)):
        data["seed"] = values["seed"]
    params = build_params(data, origin=f"chapter {chapter.id}")
    from recsys_causal.runs import RunNameError, check_run_name

    try:
        run_name = check_run_name(str(values.get("run_name") or DEFAULT_RUN_NAME))
    except RunNameError as exc:
        raise ParamsError(f"chapter {chapter.id}: {exc}") from None
    return params, run_name


def _differs(value: Any, default: Any) -> bool:
    if isinstance(value, int | float) and isinstance(default, int | float) and not isinstance(value, bool):
        return float(value) != float(default)
    return value != default


def open_chapter(chapter_id: str, values: dict[str, Any]) -> ChapterContext:
    """Validate the notebook's parameters and open the run directory for chapter `chapter_id`."""
    chapter = get_chapter(chapter_id)
    params, run_name = resolve_params(chapter, values)
    root = project_root()
    run_dir = runs_dir(root) / run_name
    store = RunStore(run_dir, params)
    from recsys_causal.booktable import install_display
    from recsys_causal.style import apply_style

    apply_style()
    install_display()
    return ChapterContext(chapter=chapter, run_params=params, store=store, run_name=run_name)
