"""Parameters: defaults, profiles, overrides and one-line errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from recsys_causal.params import (
    SECTIONS,
    Params,
    ParamsError,
    apply_overrides,
    build_params,
    load_params,
    parse_override,
)

ROOT = Path(__file__).resolve().parents[1]


def test_profiles_validate():
    default = load_params(ROOT / "params" / "default.yaml")
    test = load_params(ROOT / "params" / "test.yaml")
    assert default.longterm.outcome_horizon_days == 7
    assert test.longterm.sim_n_users < default.longterm.sim_n_users


def test_default_profile_matches_code_defaults():
    """params/default.yaml only restates report defaults: a drift between the two is a bug."""
    data = yaml.safe_load((ROOT / "params" / "default.yaml").read_text())
    defaults = Params()
    assert data["seed"] == defaults.seed
    for section in SECTIONS:
        for key, value in (data.get(section) or {}).items():
            assert getattr(defaults.section(section), key) == value, f"{section}.{key}"


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("longterm.high_watch_threshold=1.5", ["longterm", "high_watch_threshold"], 1.5),
        ("longterm.treatment_cutoff=median", ["longterm", "treatment_cutoff"], "median"),
        ("interference.n_slate_users=200", ["interference", "n_slate_users"], 200),
        ("seed=3", ["seed"], 3),
        ("longterm.data_path=", ["longterm", "data_path"], ""),
    ],
)
def test_parse_override_types(text, path, value):
    assert parse_override(text) == (path, value)


def test_overrides_applied_and_typed():
    p = load_params(None, ["longterm.high_watch_threshold=1.5", "seed=9", "longterm.treatment_cutoff=median"])
    assert p.longterm.high_watch_threshold == 1.5
    assert p.seed == 9
    assert p.longterm.treatment_cutoff == "median"


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("longterm.bogus=1", "longterm.bogus"),
        ("nosuchsection.key=1", "nosuchsection.key"),
        ("longterm.high_watch_threshold=abc", "longterm.high_watch_threshold"),
        ("longterm.high_watch_threshold=-1", "longterm.high_watch_threshold"),
        ("longterm.treatment_cutoff=1.5", "longterm.treatment_cutoff"),
        ("longterm.matrix=tiny", "longterm.matrix"),
        ("interference.promotion_probability=1.0", "interference.promotion_probability"),
        ("interference.focal_max_position=20", "interference.focal_max_position"),
        ("longterm.sim_start_date=2020-13-01", "longterm.sim_start_date"),
        ("longterm", "section.key=value"),
    ],
)
def test_bad_values_are_named_in_one_line(override, needle):
    with pytest.raises(ParamsError) as info:
        load_params(None, [override])
    msg = str(info.value)
    assert needle in msg
    assert "\n" not in msg


def test_unknown_key_in_yaml_is_rejected(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("longterm:\n  n_bootstrapp: 3\n")
    with pytest.raises(ParamsError, match="longterm.n_bootstrapp"):
        load_params(f)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ParamsError, match="does not exist"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ParamsError, match="mapping"):
        load_params(bad)


def test_digest_tracks_only_requested_keys():
    a = build_params({})
    b = build_params({"longterm": {"n_bootstrap": 50}})
    assert a.digest("longterm") != b.digest("longterm")
    assert a.digest("longterm", ["high_watch_threshold"]) == b.digest("longterm", ["high_watch_threshold"])
    assert a.digest("interference") == b.digest("interference")
    c = build_params({"seed": 1})
    assert a.digest("longterm", ["high_watch_threshold"]) != c.digest("longterm", ["high_watch_threshold"])


def test_a_nested_group_of_keys_is_set_one_key_at_a_time():
    base = {"interference": {"experiment_columns": {"user": "u"}}}
    out = apply_overrides(base, ["interference.experiment_columns.slate=sid", "interference.experiment_arms.promoted=1"])
    assert out["interference"]["experiment_columns"] == {"user": "u", "slate": "sid"}
    p = build_params(out)
    assert (p.interference.experiment_columns.slate, p.interference.experiment_columns.user) == ("sid", "u")
    assert p.interference.experiment_columns.item == "item_id" and p.interference.experiment_arms.promoted == 1
    for bad, needle in [("interference.experiment_columns.nope=x", "interference.experiment_columns.nope"),
                        ("interference.experiment_columns=x", "interference.experiment_columns.<key>"),
                        ("interference.slate_size.x=1", "'interference.slate_size' is a value")]:
        with pytest.raises(ParamsError, match=needle.replace(".", r"\.").replace("<", ".").replace(">", ".")):
            apply_overrides({}, [bad])
    with pytest.raises(ParamsError, match="interference.experiment_columns.nope"):
        build_params({"interference": {"experiment_columns": {"nope": "x"}}})


def test_apply_overrides_does_not_mutate_input():
    base = {"longterm": {"n_bootstrap": 10}}
    out = apply_overrides(base, ["longterm.n_bootstrap=20"])
    assert base["longterm"]["n_bootstrap"] == 10 and out["longterm"]["n_bootstrap"] == 20
