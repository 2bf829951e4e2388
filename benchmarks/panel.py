"""Benchmark: the user-day panel of a big_matrix-sized KuaiRec file (not part of the tests).

Writes a simulator file of KuaiRec big_matrix size (7,176 users x 61 days, ~12.5M rows) named
big_matrix.csv in a temporary folder, then, each in a fresh child process (so peak RSS is the
step's own):

  panel     validate_folder + load_interactions + build_user_day_panel (lags and outcome window)
  baseline  pandas.read_csv(usecols) + groupby(user_id, date) daily sums (no lags, no checks)

and prints wall time, peak RSS and the ratio. Target: panel <= 15 s and <= 2 GiB on 2 cores.

    .venv/bin/python benchmarks/panel.py [--users 7176] [--days 61] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
folder, step = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if step == "simulate":
    from recsys_causal.simulate.kuairec import simulate_kuairec
    users, days, plays = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    sim = simulate_kuairec(folder, n_users=users, n_days=days, matrix="big_matrix",
                           mean_plays_per_day=plays, seed=0, with_oracle=False)
    out = {"rows": sim.n_rows, "duplicates": sim.n_duplicate_rows, "mib": sim.path.stat().st_size / 2**20}
elif step == "panel":
    from recsys_causal.data.kuairec import load_interactions, validate_folder
    from recsys_causal.longterm.panel import build_user_day_panel
    validate_folder(folder, "big_matrix")
    df, rep = load_interactions(folder, "big_matrix", "keep_first")
    t1 = time.perf_counter()
    res = build_user_day_panel(df, 1.0, 0.5, 7)
    out = {"rows_read": rep.rows_read, "duplicates_removed": rep.duplicates_removed,
           "panel_rows": len(res.panel), "load_s": t1 - t0}
else:
    import pandas as pd
    df = pd.read_csv(f"{folder}/big_matrix.csv", usecols=["user_id", "date", "play_duration", "watch_ratio"])
    daily = df.groupby(["user_id", "date"]).agg(n=("play_duration", "size"), play=("play_duration", "sum"),
                                                wr=("watch_ratio", "mean"))
    out = {"rows_read": len(df), "daily_rows": len(daily)}
out["wall_s"] = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
# VmHWM is this process's own peak (ru_maxrss would inherit the parent's peak at fork + exec)
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
out["peak_rss_mib"] = int(hwm[0].split()[1]) / 1024 if hwm else ru.ru_maxrss / 1024
out["cpu_s"] = ru.ru_utime + ru.ru_stime
print(json.dumps(out))
"""


def run_child(folder: Path, step: str, *extra: str) -> dict:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD, str(folder), step, *extra], check=True, capture_output=True, text=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["process_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=7176)
    ap.add_argument("--days", type=int, default=61)
    ap.add_argument("--plays", type=float, default=24.0, help="mean plays per active user-day")
    ap.add_argument("--keep", type=Path, default=None, help="write the file here and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        if not (folder / "big_matrix.csv").is_file():
            sim = run_child(folder, "simulate", str(args.users), str(args.days), str(args.plays))
            print(f"simulator: wrote {sim['rows']:,} rows ({sim['duplicates']:,} duplicates) to big_matrix.csv "
                  f"({sim['mib']:,.0f} MiB) in {sim['wall_s']:.1f} s wall, {sim['cpu_s']:.1f} s CPU, "
                  f"peak RSS {sim['peak_rss_mib']:,.0f} MiB")
        panel = run_child(folder, "panel")
        base = run_child(folder, "baseline")
        print(f"panel:    {panel['wall_s']:.2f} s wall, {panel['cpu_s']:.2f} s CPU (load {panel['load_s']:.2f} s), peak RSS {panel['peak_rss_mib']:,.0f} MiB, "
              f"{panel['rows_read']:,} rows read, {panel['duplicates_removed']:,} duplicates removed, "
              f"{panel['panel_rows']:,} panel rows")
        print(f"baseline: {base['wall_s']:.2f} s wall, {base['cpu_s']:.2f} s CPU, peak RSS {base['peak_rss_mib']:,.0f} MiB "
              f"(pandas read_csv(usecols) + groupby daily sums)")
        print(f"ratio panel / baseline: wall {panel['wall_s'] / base['wall_s']:.2f}, "
              f"CPU {panel['cpu_s'] / base['cpu_s']:.2f}, "
              f"RSS {panel['peak_rss_mib'] / base['peak_rss_mib']:.2f}")
        ok = panel["wall_s"] <= 15 and panel["peak_rss_mib"] <= 2048
        print(f"target (<= 15 s wall, <= 2 GiB): {'met' if ok else 'NOT met'}; load average now "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall time inflates with other work)")


if __name__ == "__main__":
    main()
