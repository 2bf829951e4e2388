"""Run the chapters in order with papermill, then render the book.

Each chapter notebook is executed with its parameters injected into
`<run_dir>/executed/<track>/<notebook>`; a failing chapter stops the run with its name, the
exception and the path of the executed notebook that holds the traceback. Artifacts of earlier
chapters are untouched (every artifact write is atomic).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from recsys_causal import __version__
from recsys_causal.artifacts import atomic_write_text
from recsys_causal.chapters import CHAPTERS, Chapter
from recsys_causal.data.errors import DataError
from recsys_causal.params import LongtermParams, Params, dump_yaml
from recsys_causal.paths import resolve, runs_dir
from recsys_causal.runs import executed_path

TRACKED_PACKAGES = (
    "numpy", "pandas", "pyarrow", "scikit-learn", "lightgbm", "xgboost", "statsmodels",
    "matplotlib", "seaborn", "papermill", "nbconvert", "pydantic", "duckdb", "scipy", "sqlglot", "pyspark",
)


class ChapterFailed(RuntimeError):
    """A chapter notebook raised; carries the chapter and the executed notebook path."""

    def __init__(self, chapter: Chapter, executed: Path, detail: str):
        super().__init__(f"chapter {chapter.id} ({chapter.title}) failed: {detail}")
        self.chapter = chapter
        self.executed = executed
        self.detail = detail


@dataclass
class ChapterRun:
    chapter: Chapter
    status: str
    seconds: float
    executed: Path


@dataclass
class RunResult:
    run_dir: Path
    chapters: list[ChapterRun] = field(default_factory=list)
    book: Any = None


def preflight(params: Params, sections: Sequence[str]) -> None:
    """Check the data sources of the tracks about to run (folders exist, headers have the columns).

    Runs before any chapter so a wrong path, a file lacking a column or data the track cannot
    analyse (stray dates, negative durations, too short a calendar, no treatment contrast, a
    slate-experiment log not randomized by slate) fails in seconds, with one line.
    """
    for section in sections:
        sec = params.section(section)
        if getattr(sec, "experiment_path", ""):
            from recsys_causal.interference.experiment_log import load_experiment_log

            load_experiment_log(sec)  # a full read and check of the slate-experiment log
        data_path = getattr(sec, "data_path", "")
        if not data_path:
            continue
        if section == "longterm":
            check_longterm_source(sec)
            continue
        folder = resolve(data_path)
        if not folder.exists():
            raise DataError(f"{section}.data_path '{data_path}' does not exist (expected a dataset folder)")
        if not folder.is_dir():
            raise DataError(f"{section}.data_path '{data_path}' is not a folder (expected a dataset folder)")
        if section == "interference":
            from recsys_causal.data.movielens import load_movielens

            # a full read (columnar, seconds even for ml-25m): an error on line 2,000,000 is
            # reported now, not after a kernel started
            load_movielens(folder, sec.layout)


def check_longterm_source(sec: LongtermParams) -> None:
    """Preflight of `longterm.data_path`: a KuaiRec folder gets the KuaiRec checks, a log the cheap
    schema and first-rows checks of its column mapping (`recsys_causal.data.logs.check_log`)."""
    from recsys_causal.data.logs import check_log, resolve_source

    source = resolve_source(sec.data_path, sec.matrix, sec.columns)
    if source.kind == "kuairec":
        from recsys_causal.data.kuairec import check_contents, validate_folder

        folder = source.files[0].parent
        validate_folder(folder, sec.matrix)
        check_contents(folder, sec.matrix, sec.high_watch_threshold, sec.treatment_cutoff, sec.outcome_horizon_days)
    elif not (source.remote and sec.engine == "spark"):
        if source.remote:
            raise DataError(f"longterm.data_path '{sec.data_path}' is a URL: only longterm.engine=spark reads "
                            "from a cluster's storage")
        check_log(source, sec.memory_limit)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "recsys-causal": __version__}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(root: Path) -> str:
    """The checked-out commit (with '-dirty' when the tree has changes), or 'unknown'."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def injected_parameters(chapter: Chapter, params: Params, run_name: str, params_file: Path) -> dict[str, Any]:
    """The values papermill writes into the chapter's parameters cell."""
    values: dict[str, Any] = {"seed": params.seed, "run_name": run_name, "params_file": str(params_file)}
    values.update(params.section(chapter.section).model_dump(mode="json"))
    return values


ATTEMPT_DIR = "attempt"  # this attempt's params.yaml / run_info.json, until every chapter succeeded


def attempt_params(run_dir: Path) -> Path:
    """The parameter file the chapters of the current attempt read (papermill's `params_file`)."""
    return run_dir / ATTEMPT_DIR / "params.yaml"


def write_run_info(run_dir: Path, params: Params, root: Path, argv: Sequence[str] | None,
                   sections: Sequence[str] = ("longterm", "interference")) -> None:
    """Record this attempt's resolved parameters and provenance in <run>/attempt/; they become the
    run's `params.yaml` and `run_info.json` only when every chapter succeeded (`commit_run_info`)."""
    (run_dir / ATTEMPT_DIR).mkdir(parents=True, exist_ok=True)
    dump_yaml(params, attempt_params(run_dir))
    info = {
        "run_name": run_dir.name,
        "started_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(root),
        "command": " ".join(argv) if argv else "",
        "package_versions": package_versions(),
        "platform": platform.platform(),
        "data_sources": {  # the tracks this attempt runs, not every track
            s: (getattr(params.section(s), "data_path", "") or "simulator") for s in sections
            if s in ("longterm", "interference")
        },
    }
    atomic_write_text(run_dir / ATTEMPT_DIR / "run_info.json", json.dumps(info, indent=2))


def commit_run_info(run_dir: Path) -> None:
    """The successful attempt's parameters and provenance become the run's (atomic replaces)."""
    for name in ("params.yaml", "run_info.json"):
        atomic_write_text(run_dir / name, (run_dir / ATTEMPT_DIR / name).read_text())


def chapter_kernel_manager(env: dict[str, str], stderr: Any) -> type:
    """A kernel manager class whose kernel gets `env` as its whole environment and `stderr` as
    its standard error (warnings, library chatter go to the chapter's log file).

    Each chapter's kernel is set up this way instead of by changing this process's environment
    or file descriptors, so chapters can execute side by side (`_execute_side_by_side`)."""
    from jupyter_client import AsyncKernelManager

    class ChapterKernelManager(AsyncKernelManager):  # type: ignore[misc]
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw["env"] = dict(env)
            kw["stderr"] = stderr
            await super().start_kernel(**kw)

    return ChapterKernelManager


HEARTBEAT_SECONDS = 30.0


def running_cell(executed: Path) -> str:
    """'k/n': the code cell papermill is executing in the notebook it is writing ('?' if unknown)."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001 - papermill may be halfway through writing the file
        return "?"
    code = [c for c in nb.cells if c.cell_type == "code"]
    for k, c in enumerate(code, 1):
        if (c.get("metadata", {}).get("papermill") or {}).get("status") == "running":
            return f"{k}/{len(code)}"
    return "?"


@contextlib.contextmanager
def heartbeat(chapter: Chapter, executed: Path, out: TextIO, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """When `out` is not a terminal (CI, batch, a log file), print a line every `every` seconds
    naming the chapter, its running cell and the elapsed time, so a long chapter shows life."""
    import threading

    if getattr(out, "isatty", lambda: False)():
        yield
        return
    stop = threading.Event()
    t0 = time.perf_counter()

    def beat() -> None:
        while not stop.wait(every):
            print(f"    ... {chapter.id} still running: cell {running_cell(executed)}, "
                  f"{time.perf_counter() - t0:.0f} s", file=out, flush=True)

    thread = threading.Thread(target=beat, name=f"heartbeat-{chapter.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)


def execute_chapter(chapter: Chapter, params: Params, run_name: str, run_dir: Path, root: Path) -> Path:
    """Execute one chapter notebook with papermill; raise ChapterFailed with the traceback's home."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from recsys_causal.context import READS_ENV
    from recsys_causal.freeze import (
        ALL_PARAMETERS,
        READS_SUFFIX,
        chapter_key,
        global_reads,
        key_path,
        write_key,
    )

    executed = executed_path(run_dir, chapter)
    executed.parent.mkdir(parents=True, exist_ok=True)
    attempt, failed = attempt_path(executed), failed_path(executed)
    reads_file = attempt.with_name(attempt.name + READS_SUFFIX)
    reads_file.unlink(missing_ok=True)
    parameters = injected_parameters(chapter, params, run_name, attempt_params(run_dir))
    # the kernel reads the run's parameter file, never a profile from this process's environment
    env = {k: v for k, v in os.environ.items() if k != "RECSYS_CAUSAL_PARAMS"}
    env[READS_ENV] = str(reads_file)
    log_path = run_dir / "logs" / f"{chapter.id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log_path, "wb") as log:
            pm.execute_notebook(
                str(root / chapter.notebook),
                str(attempt),
                parameters=parameters,
                cwd=str(root),
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                report_mode=False,
                kernel_manager_class=chapter_kernel_manager(env, log),
            )
    except BaseException as exc:
        # the good executed notebook (if any) stays; the failed attempt is kept beside it
        if attempt.is_file():
            os.replace(attempt, failed)
        if isinstance(exc, PapermillExecutionError):
            raise ChapterFailed(chapter, failed, f"{exc.ename}: {exc.evalue}") from None
        if isinstance(exc, Exception):  # kernel died, notebook unreadable, ...
            raise ChapterFailed(chapter, failed, f"{type(exc).__name__}: {exc}") from None
        raise  # KeyboardInterrupt / SystemExit: stop, nothing replaced
    # what the notebook read through its context, plus the parameter names its code uses; a
    # notebook that recorded nothing is taken to read every parameter
    try:
        reads = set(json.loads(reads_file.read_text())) | global_reads(chapter, root / chapter.notebook)
    except (OSError, ValueError):
        reads = {ALL_PARAMETERS}
    reads_file.unlink(missing_ok=True)
    key = chapter_key(chapter, params, root, run_dir, reads)
    key_path(executed).unlink(missing_ok=True)  # never an old key beside a new notebook
    os.replace(attempt, executed)
    failed.unlink(missing_ok=True)
    write_key(executed, key, reads)
    return executed


def attempt_path(executed: Path) -> Path:
    """Where papermill writes a chapter while it runs (the heartbeat reads it)."""
    return executed.with_name(executed.stem + ".attempt.ipynb")


def failed_path(executed: Path) -> Path:
    """Where a failed attempt's notebook is kept, beside the last good one."""
    return executed.with_name(executed.stem + ".failed.ipynb")


def restamp_if_needed(chapter: Chapter, params: Params, run_name: str, run_dir: Path) -> list[str]:
    """Give a fresh chapter the run's injected parameters when they differ only in values it never
    read (so the book keeps one parameter set); returns the keys that differed."""
    from recsys_causal.consistency import mismatched_chapters
    from recsys_causal.freeze import restamp

    mismatch = mismatched_chapters(run_dir, params, [chapter])
    if not mismatch:
        return []
    restamp(executed_path(run_dir, chapter),
            injected_parameters(chapter, params, run_name, attempt_params(run_dir)))
    return list(mismatch[0].keys)


def start_background_builds(chapters: Sequence[Chapter], params: Params, run_dir: Path, root: Path,
                            force: bool = False) -> dict[str, Any]:
    """Start the background builds (`recsys_causal.background`) of the chapters about to run whose
    artifacts are stale, when other chapters run before them."""
    from recsys_causal import background
    from recsys_causal.artifacts import RunStore
    from recsys_causal.freeze import is_fresh

    builds: dict[str, Any] = {}
    store = RunStore(run_dir, params)
    for i, ch in enumerate(chapters):
        if ch.id not in background.BACKGROUND_CHAPTERS or i == 0:
            continue
        if not force and is_fresh(ch, params, run_dir, root):
            continue
        if all(store.is_fresh(name) for name in ch.outputs):
            continue
        builds[ch.id] = background.start(ch, run_dir, attempt_params(run_dir))
    return builds


def prebuild_inputs(chapters: Sequence[Chapter], params: Params, run_dir: Path) -> None:
    """Build, here and in order, every stale artifact the chapters show (their outputs and
    reads), so that their notebooks, executed side by side, only read them."""
    from recsys_causal.artifacts import RunStore

    store = RunStore(run_dir, params)
    for ch in chapters:
        for name in (*ch.outputs, *ch.reads):
            store.ensure(name)


def _execute_in_order(chapters: Sequence[Chapter], params: Params, run_name: str, run_dir: Path, root: Path,
                      result: RunResult, out: TextIO, force: bool = False,
                      background: dict[str, Any] | None = None, side_by_side: bool = False) -> None:
    """Execute `chapters` in order, one status line each (and a bar on a terminal); a chapter
    whose executed notebook is fresh (same source, parameters, data and code) is reused, and a
    chapter whose artifacts are being built in the background waits for them first.

    `side_by_side`: the chapters do not feed each other (they only read artifacts), so once their
    stale artifacts are built (`prebuild_inputs`), their notebooks execute at the same time, one
    kernel per core; the lines still come in order."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from tqdm import tqdm

    from recsys_causal.freeze import is_fresh

    background = background or {}
    width = max((len(c.id) for c in chapters), default=10)
    bar = tqdm(total=len(chapters), desc="chapters", unit="ch", file=out, leave=True,
               disable=not getattr(out, "isatty", lambda: False)())

    def execute(ch: Chapter) -> tuple[Path, float]:
        t0 = time.perf_counter()
        try:
            with heartbeat(ch, attempt_path(executed_path(run_dir, ch)), out):
                return execute_chapter(ch, params, run_name, run_dir, root), time.perf_counter() - t0
        except ChapterFailed as exc:
            exc.seconds = time.perf_counter() - t0  # type: ignore[attr-defined]
            raise

    pending: dict[str, Future[tuple[Path, float]]] = {}
    pool: ThreadPoolExecutor | None = None
    fresh: set[str] | None = None  # known up front when side by side (each key computed once)
    if side_by_side:
        stale = [ch for ch in chapters if force or not is_fresh(ch, params, run_dir, root)]
        fresh = {ch.id for ch in chapters} - {ch.id for ch in stale}
        if len(stale) > 1:
            t0 = time.perf_counter()
            print(f"building the artifacts of {len(stale)} chapter(s) ...", file=out, flush=True)
            prebuild_inputs(stale, params, run_dir)
            print(f"built the artifacts ({time.perf_counter() - t0:.1f} s); executing the notebooks side by side",
                  file=out, flush=True)
            # one kernel per core and one more (a kernel waits on its start and its files a while)
            pool = ThreadPoolExecutor(max_workers=min(len(stale), (os.cpu_count() or 2) + 1),
                                      thread_name_prefix="chapter")
            pending = {ch.id: pool.submit(execute, ch) for ch in stale}
    try:
        for i, ch in enumerate(chapters, 1):
            prefix = f"[{i:>2}/{len(chapters)}] {ch.id:<{width}}  {ch.title}"
            bar.set_postfix_str(ch.id)
            if ch.id in background:
                bar.clear()
                background.pop(ch.id).wait(out)
            if ch.id not in pending and not force and (ch.id in fresh if fresh is not None
                                                       else is_fresh(ch, params, run_dir, root)):
                restamped = restamp_if_needed(ch, params, run_name, run_dir)
                result.chapters.append(ChapterRun(ch, "fresh", 0.0, executed_path(run_dir, ch)))
                bar.clear()
                note = f" (re-stamped: {', '.join(restamped)} changed, never read)" if restamped else ""
                print(f"{prefix} ... fresh{note}", file=out, flush=True)
                bar.update(1)
                continue
            try:
                executed, secs = pending.pop(ch.id).result() if ch.id in pending else execute(ch)
            except ChapterFailed as exc:
                secs = getattr(exc, "seconds", 0.0)
                bar.close()
                print(f"{prefix} ... FAILED after {secs:.1f} s", file=out, flush=True)
                result.chapters.append(ChapterRun(ch, "failed", secs, exc.executed))
                raise
            result.chapters.append(ChapterRun(ch, "ok", secs, executed))
            bar.clear()
            print(f"{prefix} ... ok ({secs:.1f} s)", file=out, flush=True)
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:  # chapters already running finish (their attempts stay beside)
            pool.shutdown(wait=True, cancel_futures=True)


def run_pipeline(
    params: Params,
    chapters: Sequence[Chapter],
    root: Path,
    run_name: str = "default",
    render: bool = True,
    renderer: str = "auto",
    argv: Sequence[str] | None = None,
    out: TextIO = sys.stdout,
    force: bool = False,
    check_data: bool = True,
) -> RunResult:
    """Execute `chapters` in order on `params` into data/runs/<run_name>/, then render the book
    (after bringing any earlier chapter of the run that was made with other parameters up to
    these: re-executed when it depends on a changed value, re-stamped when it does not)."""
    if check_data:  # the CLI checks before it takes the run's lock, and says so here
        preflight(params, sorted({c.section for c in chapters if c.section != "validation"}))
    run_dir = runs_dir(root) / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_info(run_dir, params, root, argv, sorted({c.section for c in chapters}))
    result = RunResult(run_dir=run_dir)
    from recsys_causal.consistency import mismatched_chapters

    # one parameter set per book: the run's other chapters made with other parameters are
    # brought up to these (re-executed when they depend on a changed value, else re-stamped)
    others = [m for m in mismatched_chapters(run_dir, params) if m.chapter not in chapters] if render else []
    if others:
        print(f"checking {len(others)} other chapter(s) made with other parameters, so the book has one "
              f"parameter set: {', '.join(m.describe() for m in others)}", file=out, flush=True)
    if others and not force:
        # the chosen chapters and those others only read artifacts once these are built: one pass,
        # their notebooks side by side
        chosen = {c.id for c in chapters} | {m.chapter.id for m in others}
        _execute_in_order([c for c in CHAPTERS if c.id in chosen], params, run_name, run_dir, root, result, out,
                          side_by_side=True)
        commit_run_info(run_dir)
    else:
        background = start_background_builds(chapters, params, run_dir, root, force=force)
        try:
            _execute_in_order(chapters, params, run_name, run_dir, root, result, out, force=force,
                              background=background)
        finally:
            for build in background.values():  # a chapter failed before theirs: stop them
                build.stop()
        commit_run_info(run_dir)
        if others:
            _execute_in_order([m.chapter for m in others], params, run_name, run_dir, root, result, out,
                              side_by_side=True)
    if render:
        from recsys_causal.render import render_book

        t0 = time.perf_counter()
        result.book = render_book(run_dir, root, renderer=renderer, force=force)
        verb = "the book is fresh" if result.book.fresh else f"rendered the book with {result.book.renderer}"
        print(f"{verb} ({result.book.renderer}, {time.perf_counter() - t0:.1f} s)", file=out)
        for line in result.book.warning_lines():
            print(line, file=out)
    return result
