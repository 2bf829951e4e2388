"""Shared fixtures: the project root, and one end-to-end run of the pipeline on the test profile.

`e2e_run` copies the project's sources into a temporary folder, runs
`recsys-causal run --params params/test.yaml` there (every chapter, then the fallback book), and
hands the result to the end-to-end tests, so the pipeline runs once per session. Where Quarto is
found, `e2e_run` then starts `quarto render` at the root of a copy of the finished project, as a
Quarto user would; that book is the one the browser and PDF tests check (`e2e_book`), so the
session renders the Quarto book once. Without Quarto they check the fallback book. The
notebooks (nbval) then start from the end-to-end run's artifacts (`NotebookRunSeed`).

Under pytest-xdist (`make test` runs `-n 2 --dist loadgroup`) the tests that share a session
fixture land on one worker, and the longest chains start first (see `pytest_collection_modifyitems`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from xdist.remote import Producer
    from xdist.scheduler.protocol import Scheduling
    from xdist.workermanage import WorkerController

os.environ.setdefault("MPLBACKEND", "Agg")  # tests draw off-screen

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "recsys_causal.cli"]


# session fixtures whose users must share one xdist worker (the fixture then runs once)
E2E_FIXTURES = frozenset({"e2e_run", "e2e_book", "e2e_root_render", "rendered_book"})
# the end-to-end tests, then the notebooks (collected after tests/): the notebooks share one run
# directory (build/test-runs/default), run in order, and start from the end-to-end run's artifacts
# (`NotebookRunSeed`), so they must run in the process that made it
E2E_GROUP = "e2e-book"
GROUPS_DIR = "recsys_causal_xdist_groups"  # workerinput key: where workers write their test groups
GROUPS_DIR_KEY = pytest.StashKey[str]()  # the same folder, on the controller's config
APT_LOCK = Path(tempfile.gettempdir()) / "recsys-causal-apt.lock"  # see `apt_lock`


def xdist_group_of(item: pytest.Item) -> str | None:
    """The xdist group an item must run in, or None when any worker may take it."""
    if item.path.suffix == ".ipynb":
        return E2E_GROUP
    if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
        return E2E_GROUP
    return None


#: fixtures that wait for the root `quarto render`, which starts once the end-to-end run is done
RENDER_FIXTURES = frozenset({"e2e_book", "e2e_root_render", "rendered_book"})


def _start_rank(item: pytest.Item) -> tuple[int, int]:
    """Sort key under xdist: grouped tests first, ungrouped slow ones next, the rest last.

    Inside the end-to-end group: the tests of the run, then the notebooks, then the tests of
    the Quarto book, so the worker does the first two while the root render runs beside it
    instead of waiting for it."""
    if xdist_group_of(item) is not None:  # xdist starts the groups first anyway (the largest first)
        if item.path.suffix == ".ipynb":
            return 0, 1
        return 0, 2 if RENDER_FIXTURES & set(getattr(item, "fixturenames", ())) else 0
    return (1 if item.get_closest_marker("slow") or item.get_closest_marker("e2e") else 2), 0


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that share a session fixture with one xdist group; under xdist, slow ones first."""
    groups: dict[str, str] = {}
    for item in items:
        group = xdist_group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            groups[item.nodeid] = group
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None or workerinput.get("workerid") == "gw0":  # one process per session
        if (installer := start_system_installs(items)) is not None:
            INSTALLERS.append(installer)  # held, so it is not reaped (and warned about) while it runs
    if workerinput is not None:  # an xdist worker: every worker sorts alike (a stable sort)
        items.sort(key=_start_rank)
        if workerinput.get(GROUPS_DIR):
            out = Path(workerinput[GROUPS_DIR]) / f"{workerinput['workerid']}.json"
            out.write_text(json.dumps(groups))


# pytest 9.2 no longer lets xdist's loadgroup tag a test's node id with its group
# (pytest-dev/pytest-xdist#1386), so the groups reach the scheduler through files instead
@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: WorkerController) -> None:
    """Tell each xdist worker where to write the groups of the tests it collected."""
    stash = node.config.stash
    if GROUPS_DIR_KEY not in stash:
        stash[GROUPS_DIR_KEY] = tempfile.mkdtemp(prefix="xdist-groups-")
    node.workerinput[GROUPS_DIR] = stash[GROUPS_DIR_KEY]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> Scheduling | None:
    """With --dist loadgroup, a scheduler that reads the groups the workers wrote."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class FileGroupScheduling(LoadGroupScheduling):
        """xdist's loadgroup, with each test's group read from the workers' files."""

        _groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._groups is None:  # first called once every worker has collected
                self._groups = {}
                if GROUPS_DIR_KEY in config.stash:
                    for path in sorted(Path(config.stash[GROUPS_DIR_KEY]).glob("*.json")):
                        self._groups.update(json.loads(path.read_text()))
            group = self._groups.get(nodeid)
            return group if group is not None else super()._split_scope(nodeid)

    return FileGroupScheduling(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the folder of xdist group files."""
    if GROUPS_DIR_KEY in config.stash:
        shutil.rmtree(config.stash[GROUPS_DIR_KEY], ignore_errors=True)


@contextmanager
def apt_lock() -> Iterator[None]:
    """Hold a machine-wide lock around apt-get, so parallel tests (and sessions) install one at a time."""
    with open(APT_LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class DebianPackages:
    """Debian packages a test module needs: how to tell they are there, and how to install them."""

    module: str  # the test module that needs them
    present: Callable[[], bool]
    install: tuple[str, ...]  # apt-get install arguments


#: Java first: the Spark test starts early, the browser test late.
JAVA = DebianPackages("test_panel_spark.py", lambda: bool(shutil.which("java")),
                      ("--no-install-recommends", "openjdk-17-jre-headless"))
CHROMIUM = DebianPackages(
    "test_book_browser.py",
    lambda: bool(shutil.which("chromium") or shutil.which("chromium-browser")) and Path("/usr/bin/chromedriver").is_file(),
    ("chromium", "chromium-driver"))
SYSTEM_PACKAGES: tuple[DebianPackages, ...] = (JAVA, CHROMIUM)
INSTALLERS: list[subprocess.Popen[bytes]] = []
_INSTALLER = """
import fcntl, json, subprocess, sys
with open(sys.argv[1], "w") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    for args in json.loads(sys.argv[2]):
        subprocess.run(["apt-get", "install", "-y", "-qq", *args], check=False)
"""
_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


def _apt_prefix() -> list[str] | None:
    """How this process runs apt-get ([] as root, sudo -n otherwise), or None when it cannot."""
    if not shutil.which("apt-get") or not hasattr(os, "geteuid"):
        return None
    if os.geteuid() == 0:
        return []
    return ["sudo", "-n"] if shutil.which("sudo") else None


def ensure_debian_packages(pkg: DebianPackages) -> None:
    """Install `pkg` with apt-get when absent (under `apt_lock`, so a background install started
    by `start_system_installs` is waited for); skip the test when it cannot be installed."""
    if pkg.present():
        return
    prefix = _apt_prefix()
    if prefix is None:
        pytest.skip(f"{' '.join(pkg.install)} is not installed and apt-get cannot run here (as root or with sudo)")
    env = {**os.environ, **_APT_ENV}
    with apt_lock():
        if pkg.present():
            return
        subprocess.run([*prefix, "apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
        res = subprocess.run([*prefix, "apt-get", "install", "-y", "-qq", *pkg.install], check=False, env=env,
                             capture_output=True, text=True, timeout=1200)
    if not pkg.present():
        tail = " ".join((res.stderr or res.stdout).strip().splitlines()[-3:])
        pytest.skip(f"could not install {' '.join(pkg.install)} with apt-get (exit {res.returncode}): {tail}")


def start_system_installs(items: list[pytest.Item]) -> subprocess.Popen[bytes] | None:
    """Start apt-get, in the background and under `apt_lock`, for the Debian packages that the
    collected tests need and this machine lacks (a fresh CI machine has neither Java nor
    Chromium): the downloads then overlap the CPU-bound tests, and each test's own
    `ensure_debian_packages` waits on the lock and finds its package there. Root only."""
    modules = {item.path.name for item in items}
    wanted = [list(p.install) for p in SYSTEM_PACKAGES if p.module in modules and not p.present()]
    if not wanted or _apt_prefix() != []:
        return None
    return subprocess.Popen([sys.executable, "-c", _INSTALLER, str(APT_LOCK), json.dumps(wanted)],
                            env={**os.environ, **_APT_ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


def copy_project(dest: Path) -> Path:
    """Copy what a run needs (sources, not data or outputs) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "_quarto.yml", "index.qmd", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    for folder in ("params", "notebooks", "report"):
        src = ROOT / folder
        if src.exists():
            shutil.copytree(
                src, dest / folder,
                ignore=shutil.ignore_patterns("longterm", "interference", "validation", "_generated",
                                              ".ipynb_checkpoints", "*.ipynb") if folder == "report"
                else shutil.ignore_patterns(".ipynb_checkpoints"),
            )
    return dest


def run_cli(args: list[str], cwd: Path, env_extra: dict[str, str] | None = None,
            timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, in `cwd`, without the test-profile environment variables."""
    # the test profile's variables stay out; the Quarto binary CI installed stays in
    keep = ("RECSYS_CAUSAL_QUARTO",)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_CAUSAL_") or k in keep}
    env.update(env_extra or {})
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@dataclass
class RootRender:
    """`quarto render` at the root of a copy of the end-to-end project, running in the background."""

    project: Path
    proc: subprocess.Popen[bytes]
    timeout: float = 1800
    _result: subprocess.CompletedProcess[str] | None = field(default=None, init=False)

    def result(self) -> subprocess.CompletedProcess[str]:
        """Wait for the render and return it as `subprocess.run` would (stdout, stderr as text)."""
        if self._result is None:
            self.proc.wait(timeout=self.timeout)
            out, err = (self.project.parent / f"quarto.{s}" for s in ("stdout", "stderr"))
            self._result = subprocess.CompletedProcess(
                self.proc.args, self.proc.returncode, out.read_text(errors="replace"), err.read_text(errors="replace"))
        return self._result

    def stop(self) -> None:
        """End the render if no test waited for it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class BookRun:
    project: Path
    run_dir: Path
    book_dir: Path
    result: subprocess.CompletedProcess[str]
    seconds: float
    root_render: RootRender | None = None


def start_root_render(project: Path, dest: Path, run_name: str = "e2e") -> RootRender | None:
    """Copy the finished project to `dest` and start `quarto render` there as a Quarto user would
    (None without quarto): the pre-render step (report/setup.py) runs the pipeline on the profile
    in $RECSYS_CAUSAL_PARAMS, finds every chapter fresh and prepares that run's book."""
    from recsys_causal.render.quarto import find_quarto

    binary = find_quarto()
    if binary is None:
        return None
    shutil.copytree(project, dest, symlinks=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_CAUSAL_") or k == "RECSYS_CAUSAL_QUARTO"}
    # the copy has no .venv of its own: the pre-render step runs with this interpreter
    env.update({"RECSYS_CAUSAL_PARAMS": "params/test.yaml", "RECSYS_CAUSAL_RUN_NAME": run_name,
                "QUARTO_PYTHON": sys.executable})
    with open(dest.parent / "quarto.stdout", "wb") as out, open(dest.parent / "quarto.stderr", "wb") as err:
        proc = subprocess.Popen([binary, "render"], cwd=dest, env=env, stdout=out, stderr=err)
    return RootRender(dest, proc)


@pytest.fixture(scope="session")
def e2e_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BookRun]:
    """One full pipeline run on params/test.yaml with the fallback book, and (Quarto found, a test
    asking for it) the root `quarto render` of a copy of it, started in the background."""
    project = copy_project(tmp_path_factory.mktemp("e2e") / "project")
    t0 = time.perf_counter()
    result = run_cli(["run", "--params", "params/test.yaml", "--run-name", "e2e", "--renderer", "fallback"], project)
    seconds = time.perf_counter() - t0
    if result.returncode != 0:
        pytest.fail(f"pipeline failed (exit {result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    render = None
    if any(RENDER_FIXTURES & set(getattr(item, "fixturenames", ())) for item in request.session.items):
        render = start_root_render(project, tmp_path_factory.mktemp("e2e-root-render") / "project")
    run = BookRun(project, project / "data" / "runs" / "e2e", project / "_book", result, seconds, render)
    E2E_RUNS.append(run)
    yield run
    E2E_RUNS.remove(run)
    if render is not None:
        render.stop()


E2E_RUNS: list[BookRun] = []  # the end-to-end run of this process, once made (see `NotebookRunSeed`)
#: what a run directory's artifacts are: the store's record and files, not its executed notebooks
SEEDED_PARTS = ("manifest.json", "processed", "raw", "cache")


def seed_notebook_run(source: Path, params_file: str) -> Path | None:
    """Copy a finished run's artifacts to the run the notebooks use ($RECSYS_CAUSAL_RUNS_DIR/default)
    when that folder does not exist yet and the notebooks read the same profile; the target, or None.

    Never outside $RECSYS_CAUSAL_RUNS_DIR (a user's data/runs stays untouched). Nothing is trusted
    blindly: each notebook's store checks every artifact's key (parameters, code, upstream) as
    usual, and rebuilds what does not match."""
    from recsys_causal.context import DEFAULT_RUN_NAME
    from recsys_causal.paths import ENV_RUNS_DIR, runs_dir

    if not os.environ.get(ENV_RUNS_DIR, "").strip() or os.environ.get("RECSYS_CAUSAL_PARAMS") != params_file:
        return None
    target = runs_dir(ROOT) / DEFAULT_RUN_NAME
    if target.exists() or not (source / "manifest.json").is_file():
        return None
    tmp = target.with_name(f".{target.name}.seeding")
    shutil.rmtree(tmp, ignore_errors=True)
    for part in SEEDED_PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, tmp / part)
        elif src.is_file():
            tmp.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmp / part)
    tmp.rename(target)
    return target


class NotebookRunSeed:
    """Before the first notebook of a session: start the notebooks' run from this process's
    end-to-end run (same profile, same code), so nbval executes every notebook against artifacts
    already computed once, instead of computing the test profile a second time. The end-to-end
    run executed the same notebooks building those artifacts in their kernels; `make nbval` alone
    (no end-to-end run) still builds everything in the notebooks."""

    def __init__(self) -> None:
        self.done = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self.done or item.path.suffix != ".ipynb":
            return
        self.done = True
        if E2E_RUNS:  # made, and finished without error (the fixture fails otherwise)
            seed_notebook_run(E2E_RUNS[0].run_dir, "params/test.yaml")


def pytest_configure(config: pytest.Config) -> None:
    """Register `NotebookRunSeed` (a plugin, so that it sees the items under notebooks/ too)."""
    config.pluginmanager.register(NotebookRunSeed(), "recsys-causal-notebook-run-seed")


@pytest.fixture(scope="session")
def e2e_root_render(e2e_run: BookRun) -> RootRender | None:
    """The root `quarto render` of the end-to-end project (None when quarto is not found)."""
    return e2e_run.root_render


@pytest.fixture(scope="session")
def e2e_book(e2e_run: BookRun) -> Path:
    """The book the browser and PDF tests check: the root `quarto render`'s `_book` (what a Quarto
    user gets) where Quarto is found, else the end-to-end run's fallback `_book`."""
    render = e2e_run.root_render
    if render is None:
        return e2e_run.book_dir
    proc = render.result()
    if proc.returncode != 0:
        pytest.fail(f"quarto render at the project root failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return render.project / "_book"
