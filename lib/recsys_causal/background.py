"""Build a chapter's artifacts in a background process while `run` executes the other tracks.

The validation study does not depend on either track, and it is the longest computation of a cold
run; the chapters before it use one core most of the time. `run` therefore starts
`python -m recsys_causal.background <run_dir> <params.yaml> <artifact> ...` when the study's
artifacts are stale, executes the other chapters meanwhile, and waits for it before the study's
own chapter, whose notebook then finds its artifacts fresh. The store's manifest lock keeps the
concurrent writers from losing each other's entries; the artifacts are the same bytes as when
the notebook builds them itself, and a failure here only means the notebook builds them (and
reports any error) as usual.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from recsys_causal.chapters import Chapter

#: chapters whose artifacts are built in the background: independent of every other track
BACKGROUND_CHAPTERS: tuple[str, ...] = ("validation_01",)
#: the last line of a build's log: how long the build itself took (it may end long before the wait)
BUILT_LINE = re.compile(r"^built \d+ artifact\(s\) in (\d+(?:\.\d+)?) s$", re.M)


def build_seconds(log: Path) -> float | None:
    """The seconds a finished build reported in its log (`BUILT_LINE`), or None."""
    try:
        found = BUILT_LINE.findall(log.read_text(errors="replace"))
    except OSError:
        return None
    return float(found[-1]) if found else None


@dataclass
class BackgroundBuild:
    """A running background build of one chapter's artifacts."""

    chapter: Chapter
    process: subprocess.Popen[bytes]
    log: Path
    started: float

    def wait(self, out: TextIO) -> bool:
        """Wait for the build; True when it succeeded (the log says why when it did not)."""
        if self.process.poll() is None:
            print(f"    ... waiting for the background build of {self.chapter.id}'s artifacts", file=out, flush=True)
        rc = self.process.wait()
        secs = build_seconds(self.log)
        if secs is None:  # no summary line: the time since the build started
            secs = time.perf_counter() - self.started
        if rc != 0:
            print(f"    ... the background build of {self.chapter.id} failed (exit {rc}, log {self.log}); "
                  "the chapter builds its artifacts itself", file=out, flush=True)
        else:
            print(f"    ... {self.chapter.id}'s artifacts were built in the background ({secs:.1f} s)",
                  file=out, flush=True)
        return rc == 0

    def stop(self) -> None:
        """Stop the build (the run failed or was interrupted); its partial files are temp files."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(chapter: Chapter, run_dir: Path, params_file: Path) -> BackgroundBuild:
    """Start building `chapter`'s outputs for the parameters in `params_file`."""
    log = Path(run_dir) / "logs" / f"{chapter.id}.background.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "recsys_causal.background", str(run_dir), str(params_file),
                                 *chapter.outputs], stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return BackgroundBuild(chapter, proc, log, time.perf_counter())


def main(argv: Sequence[str] | None = None) -> int:
    """Build the named artifacts of a run: `<run_dir> <params.yaml> <artifact> ...`."""
    from recsys_causal.artifacts import RunStore
    from recsys_causal.params import build_params, read_yaml

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3:
        print("usage: python -m recsys_causal.background RUN_DIR PARAMS_YAML ARTIFACT ...", file=sys.stderr)
        return 2
    run_dir, params_file, names = Path(args[0]), Path(args[1]), args[2:]
    t0 = time.perf_counter()
    store = RunStore(run_dir, build_params(read_yaml(params_file), origin=str(params_file)))
    for name in names:
        store.ensure(name)
    print(f"built {len(names)} artifact(s) in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
