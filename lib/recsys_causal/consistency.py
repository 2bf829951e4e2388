"""One parameter set per book: which executed chapters were made with other parameters than the run's.

Papermill records the values it injected in each executed notebook (`metadata.papermill.parameters`).
A chapter is *inconsistent* when those values differ from what the run's parameters would inject
now (for example after `run --only longterm_06 --set longterm.multiplicity_method=bh`, chapters
01-05 still hold Holm). `run` re-executes such chapters before it renders; `render` refuses a
run that has any, so a book never mixes two parameter sets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from recsys_causal.chapters import CHAPTERS, Chapter
from recsys_causal.params import Params, build_params, read_yaml
from recsys_causal.runs import executed_path

# injected values that locate the run rather than shape its numbers
LOCATION_KEYS = ("run_name", "params_file")


@dataclass(frozen=True)
class Mismatch:
    """An executed chapter whose injected parameters differ from the run's."""

    chapter: Chapter
    keys: tuple[str, ...]  # the parameters that differ (first few)

    def describe(self) -> str:
        return f"{self.chapter.id} ({', '.join(self.keys)})"


def expected_parameters(chapter: Chapter, params: Params) -> dict[str, Any]:
    """What `run` injects into `chapter` for `params`, without the run's location."""
    from recsys_causal.pipeline import injected_parameters

    values = injected_parameters(chapter, params, "", Path())
    return {k: v for k, v in values.items() if k not in LOCATION_KEYS}


def executed_parameters(path: Path) -> dict[str, Any] | None:
    """The values papermill injected into an executed notebook (None when it holds none)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return None
    values = (nb.metadata.get("papermill") or {}).get("parameters")
    if not isinstance(values, dict):
        return None
    return {k: v for k, v in values.items() if k not in LOCATION_KEYS}


def mismatched_chapters(run_dir: Path, params: Params, chapters: Iterable[Chapter] = CHAPTERS) -> list[Mismatch]:
    """Executed chapters of `run_dir` whose injected parameters are not those of `params`."""
    out = []
    for ch in chapters:
        path = executed_path(run_dir, ch)
        if not path.is_file():
            continue
        actual = executed_parameters(path)
        expected = expected_parameters(ch, params)
        if actual is None:
            out.append(Mismatch(ch, ("no recorded parameters",)))
            continue
        keys = tuple(sorted(k for k in expected if _norm(actual.get(k)) != _norm(expected[k])))
        if keys:
            out.append(Mismatch(ch, keys[:3] + (("...",) if len(keys) > 3 else ())))
    return out


def run_params(run_dir: Path) -> Params:
    """The run's recorded parameters (params.yaml)."""
    return build_params(read_yaml(Path(run_dir) / "params.yaml"), origin=f"{Path(run_dir).name}/params.yaml")


def _norm(v: Any) -> Any:
    """Compare YAML/JSON round-tripped values: tuples as lists, ints as floats."""
    if isinstance(v, tuple | list):
        return [_norm(x) for x in v]
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int | float):
        return float(v)
    return v
