"""The artifact store: atomic writes, the manifest, freshness and on-demand builders."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from recsys_causal import artifacts
from recsys_causal.artifacts import ArtifactError, RunStore, atomic_write_text, builder, write_frame
from recsys_causal.params import build_params

CALLS: list[str] = []


@builder(outputs=("toy_upstream.parquet",), section="longterm", keys=("high_watch_threshold",))
def _build_upstream(store: RunStore) -> dict[str, pd.DataFrame]:
    CALLS.append("upstream")
    t = store.params.longterm.high_watch_threshold
    return {"toy_upstream.parquet": pd.DataFrame({"x": np.arange(5), "t": t})}


@builder(outputs=("toy_a.csv", "toy_b.parquet"), section="longterm", keys=("n_bootstrap",),
         upstream=("toy_upstream.parquet",))
def _build_downstream(store: RunStore) -> dict[str, pd.DataFrame]:
    CALLS.append("downstream")
    up = store.get("toy_upstream.parquet")
    return {
        "toy_a.csv": pd.DataFrame({"sum": [float(up["x"].sum())], "b": [store.params.longterm.n_bootstrap]}),
        "toy_b.parquet": up.assign(y=up["x"] * 2),
    }


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


def store_for(tmp_path, **longterm):
    return RunStore(tmp_path / "run", build_params({"longterm": longterm}))


def test_get_builds_upstream_once_and_records_manifest(tmp_path):
    store = store_for(tmp_path)
    a = store.get("toy_a.csv")
    assert a["sum"].iloc[0] == 10.0
    assert CALLS == ["downstream", "upstream"]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    entry = manifest["artifacts"]["toy_a.csv"]
    assert entry["parameters"]["n_bootstrap"] == 400
    assert entry["data_fingerprint"].startswith("simulator:")
    assert entry["package_version"]
    assert entry["simulated"] is True
    # a second store on the same run reads, does not rebuild
    CALLS.clear()
    store2 = store_for(tmp_path)
    store2.get("toy_a.csv")
    store2.get("toy_b.parquet")
    assert CALLS == []


def test_ensure_builds_what_is_stale_once_and_reads_nothing(tmp_path):
    store = store_for(tmp_path)
    store.ensure("toy_b.parquet")
    assert CALLS == ["downstream", "upstream"] and store.is_fresh("toy_a.csv")
    CALLS.clear()
    fresh = store_for(tmp_path)
    fresh.ensure("toy_a.csv")
    fresh.ensure("toy_upstream.parquet")
    assert CALLS == [] and fresh._memo == {}  # fresh: neither built nor read
    (tmp_path / "run" / "processed" / "toy_a.csv").unlink()
    fresh.ensure("toy_a.csv")
    assert CALLS == ["downstream"]


def test_changed_parameter_rebuilds_only_what_depends_on_it(tmp_path):
    store_for(tmp_path).get("toy_a.csv")
    CALLS.clear()
    store_for(tmp_path, n_bootstrap=50).get("toy_a.csv")
    assert CALLS == ["downstream"]  # upstream does not depend on n_bootstrap
    CALLS.clear()
    store_for(tmp_path, n_bootstrap=50, high_watch_threshold=1.5).get("toy_a.csv")
    assert CALLS == ["downstream", "upstream"]


def test_seed_change_makes_artifacts_stale(tmp_path):
    RunStore(tmp_path / "run", build_params({})).get("toy_upstream.parquet")
    CALLS.clear()
    RunStore(tmp_path / "run", build_params({"seed": 1})).get("toy_upstream.parquet")
    assert CALLS == ["upstream"]


def test_deleted_file_is_rebuilt(tmp_path):
    store = store_for(tmp_path)
    store.get("toy_upstream.parquet")
    (tmp_path / "run" / "processed" / "toy_upstream.parquet").unlink()
    CALLS.clear()
    store_for(tmp_path).get("toy_upstream.parquet")
    assert CALLS == ["upstream"]


def test_a_truncated_or_replaced_file_is_rebuilt_not_taken_as_fresh(tmp_path):
    import os

    store_for(tmp_path).get("toy_upstream.parquet")
    path = tmp_path / "run" / "processed" / "toy_upstream.parquet"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # truncated by hand: the size differs
    CALLS.clear()
    store_for(tmp_path).get("toy_upstream.parquet")
    assert CALLS == ["upstream"] and path.read_bytes() == good
    # same size, other bytes (e.g. a file from another attempt copied in): the hash differs
    path.write_bytes(bytes(b ^ 1 for b in good[:8]) + good[8:])
    CALLS.clear()
    store_for(tmp_path).get("toy_upstream.parquet")
    assert CALLS == ["upstream"]
    # touched but unchanged: the hash is checked once and matches, nothing is rebuilt
    os.utime(path, ns=(1, 1))
    CALLS.clear()
    store_for(tmp_path).get("toy_upstream.parquet")
    assert CALLS == []


def test_identical_parameters_give_identical_bytes(tmp_path):
    a = store_for(tmp_path / "1")
    b = store_for(tmp_path / "2")
    a.get("toy_a.csv"), b.get("toy_a.csv"), a.get("toy_b.parquet"), b.get("toy_b.parquet")
    for name in ("toy_a.csv", "toy_b.parquet"):
        assert a.path(name).read_bytes() == b.path(name).read_bytes()


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "t.csv"
    write_frame(pd.DataFrame({"a": [1]}), target)
    before = target.read_bytes()

    class Boom(pd.DataFrame):
        def to_csv(self, *args, **kwargs):
            path = args[0]
            with open(path, "w") as fh:
                fh.write("partial")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_frame(Boom({"a": [2]}), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # no temp file left behind


def test_atomic_writes_get_the_umask_mode_not_0600(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        p = atomic_write_text(tmp_path / "x.txt", "hello")
    finally:
        os.umask(old)
    assert (p.stat().st_mode & 0o777) == 0o644


def test_atomic_write_text(tmp_path):
    p = atomic_write_text(tmp_path / "a" / "b.txt", "hello")
    assert p.read_text() == "hello"


def test_failing_builder_keeps_earlier_artifacts(tmp_path):
    store = store_for(tmp_path)
    store.get("toy_upstream.parquet")
    before = store.path("toy_upstream.parquet").read_bytes()

    @builder(outputs=("toy_broken.csv",), section="longterm", upstream=("toy_upstream.parquet",))
    def _broken(s: RunStore) -> dict[str, pd.DataFrame]:
        s.get("toy_upstream.parquet")
        raise ValueError("model diverged")

    with pytest.raises(ValueError, match="model diverged"):
        store.get("toy_broken.csv")
    assert store.path("toy_upstream.parquet").read_bytes() == before
    assert "toy_broken.csv" not in store.manifest()["artifacts"]


def test_unknown_artifact_and_bad_names(tmp_path):
    store = store_for(tmp_path)
    with pytest.raises(ArtifactError, match="no builder"):
        store.get("does_not_exist.parquet")
    with pytest.raises(ArtifactError, match=r"\.parquet or \.csv"):
        write_frame(pd.DataFrame(), tmp_path / "x.txt")


def test_builder_missing_output_is_an_error(tmp_path):
    @builder(outputs=("toy_missing_1.csv", "toy_missing_2.csv"), section="longterm")
    def _half(s: RunStore) -> dict[str, pd.DataFrame]:
        return {"toy_missing_1.csv": pd.DataFrame({"a": [1]})}

    with pytest.raises(ArtifactError, match="toy_missing_2.csv"):
        store_for(tmp_path).get("toy_missing_1.csv")


def test_real_data_fingerprint_follows_files(tmp_path):
    folder = tmp_path / "kuairec"
    folder.mkdir()
    (folder / "small_matrix.csv").write_text("a\n1\n")
    store = RunStore(tmp_path / "run", build_params({"longterm": {"data_path": str(folder)}}))
    fp1 = store.data_fingerprint("longterm")
    assert fp1.startswith("files:") and not store.is_simulated("longterm")
    (folder / "small_matrix.csv").write_text("a\n1\n2\n")
    store2 = RunStore(tmp_path / "run", build_params({"longterm": {"data_path": str(folder)}}))
    assert store2.data_fingerprint("longterm") != fp1


def test_save_figure_and_table(tmp_path):
    import matplotlib.pyplot as plt

    store = store_for(tmp_path)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    paths = store.save_figure(fig, "01_line", section="longterm")
    plt.close(fig)
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert all(p.stat().st_size > 0 for p in paths)
    t = store.save_table(pd.DataFrame({"a": [1.23456789]}), "01_table", section="longterm")
    assert t.parent.name == "tables"
    m = store.manifest()
    assert "01_line" in m["figures"] and "01_table.csv" in m["tables"]


def test_builder_modules_are_importable_names():
    assert all(m.startswith("recsys_causal.") for m in artifacts.BUILDER_MODULES)


def test_code_change_makes_artifacts_stale(tmp_path, monkeypatch):
    store_for(tmp_path).get("toy_upstream.parquet")
    CALLS.clear()
    store_for(tmp_path).get("toy_upstream.parquet")
    assert CALLS == []
    monkeypatch.setattr(artifacts, "code_fingerprint", lambda module="": "edited-estimator")
    store_for(tmp_path).get("toy_upstream.parquet")
    assert CALLS == ["upstream"]
    entry = store_for(tmp_path).manifest()["artifacts"]["toy_upstream.parquet"]
    assert entry["code_fingerprint"] == "edited-estimator"


def test_code_fingerprint_follows_what_a_builder_imports(tmp_path):
    """Editing a plot leaves the panel fresh; editing the panel code makes it stale (and, through
    the upstream keys, everything built on it)."""
    import shutil

    pkg = tmp_path / "recsys_causal"
    shutil.copytree(artifacts.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    files = {f.relative_to(pkg).as_posix() for f in artifacts.module_closure("recsys_causal.longterm.build_panel", pkg)}
    assert "longterm/panel.py" in files and "data/kuairec.py" in files and "artifacts.py" in files
    assert "longterm/plots.py" not in files and "render/book.py" not in files

    def fp() -> str:
        artifacts.code_fingerprint.cache_clear()
        return artifacts.code_fingerprint("recsys_causal.longterm.build_panel", pkg)

    before = fp()
    (pkg / "longterm" / "plots.py").write_text((pkg / "longterm" / "plots.py").read_text() + "\n# a new colour\n")
    assert fp() == before
    (pkg / "longterm" / "panel.py").write_text((pkg / "longterm" / "panel.py").read_text() + "\n# an edit\n")
    assert fp() != before
    artifacts.code_fingerprint.cache_clear()


def _save_tables(run_dir, prefix: str, n: int) -> None:
    store = RunStore(run_dir, build_params({}))
    for i in range(n):
        store.save_table(pd.DataFrame({"i": [i]}), f"{prefix}_{i}", section="longterm")


def test_concurrent_writers_keep_every_manifest_entry(tmp_path):
    """A kernel and a background build update one manifest: the lock keeps both sets of entries."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_save_tables, args=(tmp_path / "run", p, 40)) for p in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    tables = RunStore(tmp_path / "run", build_params({})).manifest()["tables"]
    assert len(tables) == 120


def test_a_background_build_reports_its_own_seconds_not_the_wait(tmp_path):
    """A build that ended long before its chapter waits for it reports the seconds it took."""
    import io
    import subprocess
    import sys

    from recsys_causal.background import BackgroundBuild
    from recsys_causal.chapters import get_chapter

    log = tmp_path / "validation_01.background.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-c", "print('built 2 artifact(s) in 3.5 s')"], stdout=fh)
    proc.wait()
    out = io.StringIO()
    build = BackgroundBuild(get_chapter("validation_01"), proc, log, started=time.perf_counter() - 500.0)
    assert build.wait(out)
    assert "validation_01's artifacts were built in the background (3.5 s)" in out.getvalue()
    log.write_text("no summary line\n")
    out = io.StringIO()
    assert BackgroundBuild(get_chapter("validation_01"), proc, log, started=time.perf_counter() - 7.0).wait(out)
    assert "(7.0 s)" in out.getvalue()  # without the line: the time since the start


def test_the_pattern_import_scan_finds_what_the_syntax_tree_finds():
    """`scan_imports` (what the fingerprints use) against `imports_in` (the syntax tree): on every
    module of the package it finds the same modules, and on tricky source no fewer."""
    from recsys_causal.artifacts import (
        PACKAGE_DIR,
        _module_file,
        imports_in,
        module_closure,
        scan_imports,
    )

    for f in sorted(PACKAGE_DIR.rglob("*.py")):
        src = f.read_text()
        tree, scan = imports_in(src, str(f)), scan_imports(src)
        assert tree <= scan, (f, tree - scan)
        closure = set(module_closure(sorted(tree))) if tree else set()
        extra = [m for m in scan - tree if _module_file(m, PACKAGE_DIR) is not None and _module_file(m, PACKAGE_DIR) not in closure]
        assert not extra, (f, extra)  # anything more is a quoted import that names no other file
    tricky = (
        "import os, recsys_causal.inference as inf\n"
        "from recsys_causal.longterm import (  # the models\n    gcomp,\n    propensity as p,  # e(X)\n)\n"
        "def f():\n    from recsys_causal.bootstrap import \\\n        draw_counts\n"
        "    from . import sibling\n    from recsys_causal.validation.metrics import *\n"
        "if True: import recsys_causal.style; import recsys_causal.paths\n"
    )
    expected = imports_in(tricky)
    assert expected == {"recsys_causal.inference", "recsys_causal.longterm", "recsys_causal.longterm.gcomp",
                        "recsys_causal.longterm.propensity", "recsys_causal.bootstrap",
                        "recsys_causal.bootstrap.draw_counts", "recsys_causal.validation.metrics",
                        "recsys_causal.validation.metrics.*", "recsys_causal.style", "recsys_causal.paths"}
    assert scan_imports(tricky) == expected
