"""The `recsys-causal` command as a user runs it: list, bad input, failures, overrides."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT as ROOT_DIR
from conftest import copy_project, run_cli
from recsys_causal.chapters import CHAPTERS


def test_list_shows_chapters_in_order_and_parameters(project_root):
    r = run_cli(["list"], project_root)
    assert r.returncode == 0, r.stderr
    positions = [r.stdout.index(c.id) for c in CHAPTERS]
    assert positions == sorted(positions)
    assert "longterm.high_watch_threshold = 1.0" in r.stdout
    assert "interference.promotion_probability = 0.5" in r.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--set", "longterm.data_path=/nonexistent"], "/nonexistent"),
        (["run", "--set", "longterm.nope=1"], "longterm.nope"),
        (["run", "--set", "longterm.n_bootstrap=many"], "longterm.n_bootstrap"),
        (["run", "--params", "params/nope.yaml"], "nope.yaml"),
        (["run", "--only", "chapter_99"], "chapter_99"),
        (["run", "--set", "interference.data_path=/nonexistent/ml-1m"], "/nonexistent/ml-1m"),
        (["run", "--run-name", "../../x"], "run name '../../x' is not valid"),
        (["run", "--run-name", "/abs/dir"], "run name '/abs/dir' is not valid"),
        (["run", "--run-name", ""], "run name '' is not valid"),
        (["run", "--run-name", ".hidden"], "not starting with '.'"),
        (["run", "--run-name", "x" * 65], "at most 64 characters"),
        (["render", "--run-name", "a/b"], "run name 'a/b' is not valid"),
    ],
)
def test_bad_input_exits_2_with_one_line(project_root, tmp_path, args, needle):
    r = run_cli(args, project_root, env_extra={"RECSYS_CAUSAL_RUNS_DIR": str(tmp_path / "runs")})
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert not (tmp_path / "runs").exists(), "nothing may run on bad input"


@pytest.mark.parametrize("command", ["run", "render"])
def test_renderer_quarto_without_quarto_is_refused_before_any_chapter(project_root, tmp_path, command):
    """`--renderer quarto` on a machine without quarto: one line, exit 2, no kernel started."""
    import shutil

    if shutil.which("quarto", path="/usr/bin:/bin"):
        pytest.skip("quarto is installed system-wide: this machine cannot be made to lack it")
    no_quarto = {"RECSYS_CAUSAL_QUARTO": str(tmp_path / "nowhere"), "QUARTO_PATH": "",
                 "PATH": "/usr/bin:/bin", "RECSYS_CAUSAL_RUNS_DIR": str(tmp_path / "runs")}
    args = [command, "--renderer", "quarto", *(["--params", "params/test.yaml"] if command == "run" else [])]
    r = run_cli(args, project_root, env_extra=no_quarto)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "quarto not found" in lines[0] and "--renderer fallback" in lines[0], r.stderr
    assert not (tmp_path / "runs").exists(), "nothing may run on bad input"


def test_kuairec_folder_without_watch_ratio_is_rejected(project_root, tmp_path):
    folder = tmp_path / "KuaiRec"
    folder.mkdir()
    (folder / "small_matrix.csv").write_text(
        "user_id,video_id,play_duration,video_duration,time,date,timestamp\n"
        "14,148,4381,6067,2020-07-05 05:27:48.378,20200705.0,1593898068.378\n"
    )
    r = run_cli(["run", "--set", f"longterm.data_path={folder}"], project_root,
                env_extra={"RECSYS_CAUSAL_RUNS_DIR": str(tmp_path / "runs")})
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "watch_ratio" in lines[0] and "small_matrix.csv" in lines[0], r.stderr


@pytest.mark.e2e
def test_override_is_recorded_in_manifest(tmp_path):
    project = copy_project(tmp_path / "project")
    r = run_cli(["run", "--params", "params/test.yaml", "--set", "longterm.high_watch_threshold=1.5",
                 "--only", "longterm_01", "--run-name", "t15", "--no-render"], project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "longterm_01" in r.stdout and "ok" in r.stdout
    manifest = json.loads((project / "data/runs/t15/manifest.json").read_text())
    panel = manifest["artifacts"]["kuairec_long_term_panel.parquet"]
    assert panel["parameters"]["high_watch_threshold"] == 1.5
    assert (project / "data/runs/t15/executed/longterm/01_panel.ipynb").is_file()
    assert not (project / "_book").exists()


@pytest.mark.e2e
def test_failing_chapter_stops_run_names_it_and_damages_nothing(tmp_path):
    """A failed attempt keeps the good executed notebook, the run's params.yaml / run_info.json and
    the artifacts; its own notebook is kept beside the good one and named in the message."""
    import hashlib

    import nbformat

    project = copy_project(tmp_path / "project")
    base = ["run", "--params", "params/test.yaml", "--run-name", "fail", "--no-render"]
    r = run_cli([*base, "--only", "longterm_01"], project)
    assert r.returncode == 0, r.stderr[-2000:]
    run_dir = project / "data/runs/fail"
    executed = run_dir / "executed/longterm/01_panel.ipynb"
    kept = {p: p.read_bytes() for p in (executed, run_dir / "params.yaml", run_dir / "run_info.json")}
    target = next(c for c in CHAPTERS if c.id == "longterm_01")
    nb = nbformat.read(project / target.notebook, as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("raise RuntimeError('deliberate failure for the test')"))
    nbformat.write(nb, project / target.notebook)
    r = run_cli([*base, "--only", "longterm", "--set", "longterm.n_bootstrap=60"], project)
    assert r.returncode == 1
    assert "longterm_01" in r.stderr and "deliberate failure" in r.stderr
    failed = run_dir / "executed/longterm/01_panel.failed.ipynb"
    assert str(failed) in r.stderr and "deliberate failure" in failed.read_text()
    assert "longterm_02" not in r.stdout  # the run stopped at its first chapter
    assert {p: p.read_bytes() for p in kept} == kept  # the good notebook and the run's record
    manifest = json.loads((run_dir / "manifest.json").read_text())
    entry = manifest["artifacts"]["kuairec_long_term_panel.parquet"]
    assert hashlib.sha256((run_dir / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]


def test_a_run_held_by_another_process_is_refused_and_a_dead_holder_is_taken_over(tmp_path):
    """Two runs with one run name at once: the second exits 2 at once, naming the holder's pid."""
    import os
    import subprocess
    import sys

    from recsys_causal.runs import RunBusy, run_lock

    run_dir = tmp_path / "runs" / "shared"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from recsys_causal.runs import run_lock\n"
        f"with run_lock(Path({str(run_dir)!r})):\n    print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunBusy, match=rf"process {holder.pid}"):
            with run_lock(run_dir):
                pass
        r = run_cli(["run", "--params", "params/test.yaml", "--run-name", "shared", "--only", "longterm_01"],
                    ROOT_DIR, env_extra={"RECSYS_CAUSAL_RUNS_DIR": str(tmp_path / "runs")})
        assert r.returncode == 2 and f"in use by process {holder.pid}" in r.stderr.strip()
        assert len(r.stderr.strip().splitlines()) == 1
        assert not (run_dir / "params.yaml").exists()  # nothing written by the refused run
    finally:
        holder.kill()
        holder.wait()
    with run_lock(run_dir):  # the killed holder's lock is gone with it
        assert (run_dir / ".lock").read_text().strip() == str(os.getpid())


@pytest.mark.e2e
def test_a_run_killed_mid_chapter_damages_nothing_and_resumes(tmp_path):
    """kill -9 while a chapter runs: no half notebook counts as executed, the run's record is
    intact, and the next run executes that chapter again and succeeds."""
    import os
    import signal
    import subprocess
    import sys
    import time

    project = copy_project(tmp_path / "project")
    run_dir = project / "data/runs/killed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_CAUSAL_")}
    args = [sys.executable, "-m", "recsys_causal.cli", "run", "--params", "params/test.yaml", "--run-name",
            "killed", "--only", "longterm_01", "--no-render"]
    proc = subprocess.Popen(args, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    attempt = run_dir / "executed/longterm/01_panel.attempt.ipynb"
    deadline = time.time() + 120
    while not attempt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert attempt.exists(), "the chapter never started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    executed = run_dir / "executed/longterm/01_panel.ipynb"
    assert not executed.exists() and not executed.with_name(executed.name + ".key").exists()
    assert not (run_dir / "params.yaml").exists()  # an attempt that did not finish is not the run's record
    if (run_dir / "manifest.json").exists():
        json.loads((run_dir / "manifest.json").read_text())  # never half written
    r = run_cli(["run", "--params", "params/test.yaml", "--run-name", "killed", "--only", "longterm_01",
                 "--no-render"], project)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "longterm_01" in r.stdout and "... ok" in r.stdout and executed.is_file()
