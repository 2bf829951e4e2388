"""Benchmark: the report loop as a user meets it: cold run, warm run, one-parameter rerun.

In a fresh copy of the project's sources (so `data/runs/` starts empty), the script runs
`recsys-causal run` on a profile three times and prints each wall time, its ratio to the cold run
and the per-chapter seconds of the cold run, all measured in this one invocation:

- cold: every chapter executed, the book rendered;
- warm: the same command again (every chapter `fresh`, the book not rendered again);
- force: the same command with `--force` (every chapter executed again, the book rendered again);
  the tables of the cold, warm and forced runs are compared byte for byte;
- rerun: one chapter with one parameter changed (`--only longterm_05 --set longterm.n_bootstrap=...`),
  rendered: the bootstrap summaries are recomputed, the chapters that show them executed again
  and the others re-stamped with the new value (one parameter set per book), no model refitted;
- refit rerun: the same with a parameter that refits models (`longterm.n_refit_bootstrap`).

    .venv/bin/python benchmarks/report.py [--params params/default.yaml] [--renderer fallback]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATUS = re.compile(r"^\[\s*\d+/\d+\]\s+(\S+)\s+.*\.\.\. (ok \((\d+\.\d) s\)|fresh(?: \(re-stamped)?)", re.M)
BACKGROUND = re.compile(r"^\s+\.\.\. (\S+)'s artifacts were built in the background \((\d+\.\d) s\)", re.M)


def copy_sources(dest: Path) -> Path:
    """The tracked sources a run needs (no data, no runs, no book)."""
    for name in ("pyproject.toml", "_quarto.yml", "index.qmd", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for folder in ("params", "notebooks", "report"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns(
            "longterm", "interference", "validation", "_generated", "*.ipynb", ".ipynb_checkpoints")
            if folder == "report" else shutil.ignore_patterns(".ipynb_checkpoints"))
    return dest


def run(cwd: Path, args: list[str]) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RECSYS_CAUSAL_PARAMS", "RECSYS_CAUSAL_RUNS_DIR")}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "recsys_causal.cli", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"benchmarks/report.py: `run {' '.join(args)}` failed:\n{proc.stderr[-3000:]}")
    return secs, proc.stdout


def table_digests(project: Path, run_name: str) -> dict[str, str]:
    """SHA-256 of every table (CSV / Parquet) of a run's processed artifacts."""
    folder = project / "data" / "runs" / run_name / "processed"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.suffix in (".csv", ".parquet")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params/default.yaml")
    ap.add_argument("--renderer", default="fallback", choices=("auto", "quarto", "fallback"))
    ap.add_argument("--n-bootstrap", type=int, default=1000, help="the rerun's longterm.n_bootstrap")
    ap.add_argument("--n-refit-bootstrap", type=int, default=40, help="the refit rerun's longterm.n_refit_bootstrap")
    ap.add_argument("--workdir", default="", help="keep the project copy here (a new folder), e.g. to "
                    "time the renderers on its run with benchmarks/render.py --run-name bench")
    args = ap.parse_args(argv)
    base = ["--params", args.params, "--run-name", "bench", "--renderer", args.renderer]
    with tempfile.TemporaryDirectory(prefix="recsys-bench-") as tmp:
        where = Path(args.workdir) if args.workdir else Path(tmp)
        where.mkdir(parents=True, exist_ok=not args.workdir)
        project = copy_sources(where)
        cold, out_cold = run(project, base)
        tables = {"cold": table_digests(project, "bench")}
        warm, out_warm = run(project, base)
        tables["warm"] = table_digests(project, "bench")
        force, out_force = run(project, [*base, "--force"])
        tables["force"] = table_digests(project, "bench")
        rerun, out_rerun = run(project, [*base, "--only", "longterm_05", "--set",
                                         f"longterm.n_bootstrap={args.n_bootstrap}"])
        refit, out_refit = run(project, [*base, "--only", "longterm_05", "--set",
                                         f"longterm.n_bootstrap={args.n_bootstrap}", "--set",
                                         f"longterm.n_refit_bootstrap={args.n_refit_bootstrap}"])
    print(f"profile {args.params}, renderer {args.renderer}, {os.cpu_count()} CPU(s)\n")
    print(f"{'step':<44} {'wall s':>8} {'/ cold':>8}")
    for name, secs in (("cold run (empty data/runs/)", cold), ("warm run (nothing changed)", warm),
                       ("forced run (--force)", force), (f"rerun: longterm_05 with n_bootstrap={args.n_bootstrap}", rerun),
                       (f"refit rerun: n_refit_bootstrap={args.n_refit_bootstrap}", refit)):
        print(f"{name:<44} {secs:8.1f} {secs / cold:8.3f}")
    print("\nper chapter, cold run (and the same chapter in the warm run and the reruns)")
    warm_status = {m.group(1): m.group(2) for m in STATUS.finditer(out_warm)}
    rerun_status = {m.group(1): m.group(2) for m in STATUS.finditer(out_rerun)}
    refit_status = {m.group(1): m.group(2) for m in STATUS.finditer(out_refit)}
    for m in STATUS.finditer(out_cold):
        cid, secs = m.group(1), float(m.group(3) or 0)
        print(f"  {cid:<18} {secs:7.1f} s  {secs / cold:6.3f}   warm: {warm_status.get(cid, '-'):<14} "
              f"rerun: {rerun_status.get(cid, '-'):<20} refit rerun: {refit_status.get(cid, '-')}")
    for m in BACKGROUND.finditer(out_cold):
        print(f"  {m.group(1)}'s artifacts, built in the background while the tracks ran: {float(m.group(2)):.1f} s "
              f"({float(m.group(2)) / cold:.3f} of the cold run)")
    for label, out in (("cold", out_cold), ("warm", out_warm), ("force", out_force), ("rerun", out_rerun),
                       ("refit rerun", out_refit)):
        book = [ln for ln in out.splitlines() if "the book" in ln]
        print(f"  book ({label}): {book[-1].strip() if book else '-'}")
    differ = sorted(n for n in tables["cold"] if len({tables[k].get(n) for k in tables}) != 1)
    print(f"\ntables of the cold, warm and forced runs: {len(tables['cold'])} compared, "
          + ("byte-identical" if not differ else f"DIFFERENT: {', '.join(differ)}"))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
