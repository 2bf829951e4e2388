"""The chapter's builders: registration, freshness keys, determinism and the artifacts' contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal import artifacts
from recsys_causal.artifact_names import IF
from recsys_causal.artifacts import Builder, RunStore
from recsys_causal.interference import build_effects as be
from recsys_causal.interference.exposure import component_columns, example_slates
from recsys_causal.interference.randomized import EFFECT_COLUMNS, PRODUCT_COLUMNS
from recsys_causal.params import InterferenceParams, build_params

artifacts._load_builder_modules()  # register every real builder before the fake slates one


def _fake_slates(store: RunStore) -> dict[str, pd.DataFrame]:
    return {IF.SLATES: example_slates(store.params.interference.n_slate_users, seed=store.params.seed)}


@pytest.fixture
def fake_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Builder((IF.SLATES,), "interference", _fake_slates, ("n_slate_users",), ())
    monkeypatch.setitem(artifacts._BUILDERS, IF.SLATES, fake)


def _store(path, **interference) -> RunStore:
    params = build_params({"seed": 3, "interference": {"n_slate_users": 120, "n_randomization": 60, **interference}})
    return RunStore(path, params)


def test_builders_are_registered_with_every_knob():
    for name in (IF.EXPOSURE, IF.COMPONENT):
        b = artifacts.get_builder(name)
        assert b.func is be.build_exposure and b.upstream == (IF.SLATES,)
    for name in (IF.OBSERVED_EFFECTS, IF.PRODUCT_SUMMARY):
        assert artifacts.get_builder(name).func is be.build_observed_effects
    click_knobs = {k for k in InterferenceParams.model_fields if k.startswith("click_")}
    assert click_knobs | {"promotion_probability"} == set(be.EXPERIMENT_KEYS)
    assert set(be.LOG_KEYS) <= set(artifacts.get_builder(IF.EXPOSURE).keys)
    assert "n_randomization" in artifacts.get_builder(IF.OBSERVED_EFFECTS).keys


def test_build_writes_the_four_artifacts(tmp_path, fake_upstream):
    store = _store(tmp_path / "run")
    effects = store.get(IF.OBSERVED_EFFECTS)
    product = store.get(IF.PRODUCT_SUMMARY)
    exposure = store.get(IF.EXPOSURE)
    component = store.get(IF.COMPONENT)
    assert len(exposure) == 120 * 12 and len(component) == 120
    assert list(component.columns) == component_columns()
    assert list(effects.columns) == list(EFFECT_COLUMNS) and len(effects) == 5
    assert list(product.columns) == list(PRODUCT_COLUMNS) and len(product) == 5
    assert component["promotion_applied"].sum() == 60
    assert set(component["assignment_arm"]) == {"promote_focal_item", "leave_slate_unchanged"}
    manifest = store.manifest()["artifacts"]
    assert {IF.EXPOSURE, IF.COMPONENT, IF.OBSERVED_EFFECTS, IF.PRODUCT_SUMMARY} <= set(manifest)


def test_identical_parameters_give_identical_files(tmp_path, fake_upstream):
    a, b = _store(tmp_path / "a"), _store(tmp_path / "b")
    for store in (a, b):
        store.get(IF.PRODUCT_SUMMARY)
    for name in (IF.OBSERVED_EFFECTS, IF.PRODUCT_SUMMARY, IF.COMPONENT):
        assert a.path(name).read_bytes() == b.path(name).read_bytes(), name


def test_freshness_follows_the_right_knobs(tmp_path, fake_upstream):
    base = _store(tmp_path / "x")
    more_draws = _store(tmp_path / "x", n_randomization=80)
    boost = _store(tmp_path / "x", click_focal_boost=0.5)
    assert base.expected_key(IF.EXPOSURE) == more_draws.expected_key(IF.EXPOSURE)
    assert base.expected_key(IF.OBSERVED_EFFECTS) != more_draws.expected_key(IF.OBSERVED_EFFECTS)
    assert base.expected_key(IF.EXPOSURE) != boost.expected_key(IF.EXPOSURE)
    assert base.expected_key(IF.OBSERVED_EFFECTS) != boost.expected_key(IF.OBSERVED_EFFECTS)


def test_click_parameters_change_the_world(tmp_path, fake_upstream):
    """A reader can run a world where promotion helps: the oracle total turns positive."""
    harm = _store(tmp_path / "harm").get(IF.PRODUCT_SUMMARY).set_index("key")
    helps = _store(tmp_path / "helps", click_focal_boost=1.5, click_nonfocal_penalty=0.0,
                   click_same_cluster_penalty=0.0, click_displaced_penalty=0.0).get(IF.PRODUCT_SUMMARY).set_index("key")
    assert harm.loc["total_change", "oracle_value"] < 0 < helps.loc["total_change", "oracle_value"]
    assert np.isfinite(helps["value"]).all()
