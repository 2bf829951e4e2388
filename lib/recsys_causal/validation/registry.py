"""What a world and an estimator of the simulation study are: the study's small contracts.

An **estimator** is a function ``f(analysis) -> list[EstimateRow]`` that calls a chapter's own
estimation code on one analysed data set. A **world** draws one data set of a setting and turns
it into analyses, one per scenario, and lists its estimators (explicitly, in its module: no
import-time registration). Tests build stand-in worlds and estimators with the same types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recsys_causal.validation.runner import StudyConfig
    from recsys_causal.validation.scenarios import Scenario


@dataclass(frozen=True)
class EstimateRow:
    """One estimate of one replicate: point, SE, interval and the truth it targets."""

    estimator: str
    inference: str
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    truth: float
    estimand: str = "ATE"


EstimatorFn = Callable[[Any], list[EstimateRow]]


@dataclass(frozen=True)
class EstimatorSpec:
    """A named estimator of one world."""

    name: str
    world: str
    func: EstimatorFn


def register_estimator(world: str, name: str, registry: dict[str, list[EstimatorSpec]]
                       ) -> Callable[[EstimatorFn], EstimatorFn]:
    """Decorator: add `func(analysis) -> list[EstimateRow]` to `registry[world]` (replacing a namesake)."""

    def deco(func: EstimatorFn) -> EstimatorFn:
        specs = registry.setdefault(world, [])
        specs[:] = [s for s in specs if s.name != name]
        specs.append(EstimatorSpec(name, world, func))
        return func

    return deco


@dataclass(frozen=True)
class World:
    """How to draw one data set of a setting and turn it into analyses, one per scenario.

    `simulate(config, setting, sim_seed) -> data`; `analyse(config, data, scenarios, est_seed)
    -> {scenario key: analysis}` (analyses of one data set may share fitted nuisances);
    `estimators` in the order the tables list them.
    """

    name: str
    simulate: Callable[[StudyConfig, str, int], Any]
    analyse: Callable[[StudyConfig, Any, Sequence[Scenario], int], dict[str, Any]]
    estimators: tuple[EstimatorSpec, ...] = ()
