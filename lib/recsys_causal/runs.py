"""Run names and run ownership: a run directory is named safely and used by one process at a time.

A run name is letters, digits, `-`, `_` and `.`, does not start with `.`, and has at most 64
characters, so it always names one folder directly under data/runs/. `run_lock` holds an
exclusive lock on `<run>/.lock` (an OS file lock, released when the process ends, so a lock left
by a killed process is taken over without asking) and writes the holder's pid into the file for
the message a second process gets.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recsys_causal.chapters import Chapter

RUN_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")
RUN_NAME_RULE = ("letters, digits, '-', '_' and '.', not starting with '.', at most 64 characters")
LOCK_FILE = ".lock"


def executed_path(run_dir: Path, chapter: Chapter) -> Path:
    """Where a run keeps a chapter's executed notebook: <run>/executed/<track>/<notebook>."""
    return Path(run_dir) / "executed" / chapter.executed_name


class RunNameError(ValueError):
    """A run name that would not name one folder under data/runs/."""


class RunBusy(RuntimeError):
    """Another process holds the run."""


class RunDirError(ValueError):
    """The run directory cannot be used as it is (not writable, corrupt manifest)."""


def check_run_dir(run_dir: Path) -> None:
    """Refuse, in one line, a run directory the pipeline could not use: not writable, or a
    manifest that is not valid JSON (a chapter would fail on it after its kernel started)."""
    import json

    run_dir = Path(run_dir)
    existing = next((p for p in (run_dir, *run_dir.parents) if p.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise RunDirError(f"run directory '{run_dir}' cannot be written ('{existing}' is read-only)")
    manifest = run_dir / "manifest.json"
    if manifest.is_file():
        try:
            json.loads(manifest.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise RunDirError(f"run '{run_dir.name}': manifest.json is not valid JSON ({str(exc).splitlines()[0]}); "
                              "delete it and the run's artifacts are rebuilt") from None


def check_run_name(name: str) -> str:
    """`name` when it is a valid run name, else RunNameError naming the rule."""
    if not isinstance(name, str) or not RUN_NAME_RE.match(name):
        raise RunNameError(f"run name {name!r} is not valid: use {RUN_NAME_RULE}")
    return name


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir` for this process; RunBusy (naming the holder's pid) when another has it."""
    import fcntl

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise RunBusy(f"run '{run_dir.name}' is in use by process {holder} "
                          f"(lock {path}); wait for it or use another --run-name") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
