"""One seed: identical parameters give byte-identical tables, a different seed does not."""

from __future__ import annotations

import pytest

from recsys_causal.artifacts import RunStore
from recsys_causal.params import load_params
from recsys_causal.paths import project_root

TABLES = (
    "kuairec_long_term_panel.parquet",
    "kuairec_long_term_oracle.parquet",
    "kuairec_long_term_weighted_panel.parquet",
    "kuairec_long_term_estimator_comparison.csv",
    "kuairec_long_term_aipw_results.csv",
    "kuairec_long_term_aipw_segment_effects.csv",
    "movielens_interference_slates.parquet",
    "movielens_interference_component_slate.parquet",
    "movielens_interference_observed_effects.csv",
    "movielens_interference_advanced_policy_targeting.csv",
)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    params = load_params(project_root() / "params" / "test.yaml")
    base = tmp_path_factory.mktemp("determinism")
    a, b = RunStore(base / "a", params), RunStore(base / "b", params)
    for name in TABLES:
        a.get(name)
        b.get(name)
    return a, b


@pytest.mark.parametrize("name", TABLES)
def test_same_parameters_same_bytes(two_runs, name):
    a, b = two_runs
    assert a.path(name).read_bytes() == b.path(name).read_bytes(), name


def test_other_seed_other_data(tmp_path):
    p1 = load_params(project_root() / "params" / "test.yaml")
    p2 = load_params(project_root() / "params" / "test.yaml", ["seed=8"])
    name = "kuairec_long_term_panel.parquet"
    a, b = RunStore(tmp_path / "a", p1), RunStore(tmp_path / "b", p2)
    assert not a.get(name).equals(b.get(name))
