"""Benchmark: the user-day panel of a big_matrix-sized KuaiRec file and of a 100M-row Parquet log.

Writes a simulator file of KuaiRec big_matrix size (7,176 users x 61 days, ~12.5M rows) named
big_matrix.csv in a temporary folder, then, each in a fresh child process (so peak RSS is the
step's own):

  duckdb    the DuckDB panel query on big_matrix.csv (preflight check_log + build_panel_sql)
  panel     the pandas reference: validate_folder + load_interactions + build_user_day_panel
  baseline  pandas.read_csv(usecols) + groupby(user_id, date) daily sums (no lags, no checks)

and prints wall time, peak RSS and the ratios. Targets on 2 cores: duckdb <= 10 s and <= 1.5 GiB.

Then it writes an interaction log of `--log-rows` rows (default 100 million) as Parquet with its
own column names (uid, item, ts epoch seconds, eng, dur_ms; 0.1% duplicate rows; no date column,
so the day is the UTC day of ts) into `--data-dir` (default: the temporary folder), and times

  log       the DuckDB panel query on that log (longterm.memory_limit 1GB, the default)

Target: <= 60 s and <= 2 GiB. `--skip-log` / `--skip-big` run one part only.

    .venv/bin/python benchmarks/panel.py [--users 7176] [--days 61] [--keep DIR]
                                         [--log-rows 100000000] [--data-dir DIR]
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
elif step == "duckdb":
    from recsys_causal.data.logs import check_log, resolve_source
    from recsys_causal.longterm.panel_sql import build_panel_sql
    src = resolve_source(folder, "big_matrix")
    forms = check_log(src)
    res = build_panel_sql(src, 1.0, 0.5, 7, forms=forms)
    out = {"rows_read": res.report.rows_read, "duplicates_removed": res.report.duplicates_removed,
           "panel_rows": len(res.result.panel)}
elif step == "log":
    from recsys_causal.data.logs import check_log, resolve_source
    from recsys_causal.longterm.panel_sql import build_panel_sql
    cols = {"user": "uid", "item": "item", "timestamp": "ts", "date": "", "engagement": "eng", "duration": "dur_ms"}
    src = resolve_source(folder, "big_matrix", cols)
    forms = check_log(src)
    t1 = time.perf_counter()
    res = build_panel_sql(src, 1.0, 0.5, 7, forms=forms, memory_limit=sys.argv[3], duplicate_policy=sys.argv[4])
    out = {"rows_read": res.report.rows_read, "duplicates_removed": res.report.duplicates_removed,
           "panel_rows": len(res.result.panel), "check_s": t1 - t0}
elif step == "write-log":
    import numpy as np, pyarrow as pa, pyarrow.parquet as pq
    rows, n_users, n_days = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    rng = np.random.default_rng(0)
    t_start = 1_700_000_000 - 1_700_000_000 % 86400
    per_day = rows / (n_users * n_days * 0.6) / 1.001
    written, dups, chunk_users = 0, 0, max(1, n_users // 20)
    schema = pa.schema([("uid", pa.int64()), ("item", pa.int64()), ("ts", pa.float64()), ("eng", pa.float64()),
                        ("dur_ms", pa.int64())])
    with pq.ParquetWriter(folder, schema, compression="snappy") as w:
        for u0 in range(0, n_users, chunk_users):
            nu = min(chunk_users, n_users - u0)
            act = rng.random((nu, n_days)) < 0.6
            lam = rng.gamma(2.0, per_day / 2.0, (nu, 1)) * np.ones((1, n_days))
            n = np.where(act, 1 + rng.poisson(np.maximum(lam - 1, 0)), 0).ravel()
            cells = np.repeat(np.arange(nu * n_days), n)
            m = len(cells)
            uid = (u0 + cells // n_days).astype(np.int64)
            ts = t_start + (cells % n_days) * 86400.0 + np.round(rng.random(m) * 86_400_000) / 1000.0
            eng = rng.gamma(1.2, 0.7, m)
            dur = np.round(eng * rng.integers(3_000, 60_000, m)).astype(np.int64)
            item = rng.integers(0, 200_000, m)
            d = rng.random(m) < 0.001  # duplicate rows: exact copies
            idx = np.concatenate([np.arange(m), np.flatnonzero(d)])
            dups += int(d.sum())
            w.write_table(pa.table({"uid": uid[idx], "item": item[idx], "ts": ts[idx], "eng": eng[idx],
                                    "dur_ms": dur[idx]}, schema=schema), row_group_size=1 << 20)
            written += len(idx)
    import os
    out = {"rows": written, "duplicates": dups, "mib": os.path.getsize(folder) / 2**20}
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
    ap.add_argument("--keep", type=Path, default=None, help="write the big_matrix file here and keep it")
    ap.add_argument("--log-rows", type=int, default=100_000_000, help="rows of the Parquet log")
    ap.add_argument("--log-users", type=int, default=60_000)
    ap.add_argument("--memory-limit", default="1GB", help="DuckDB memory limit of the log's panel query")
    ap.add_argument("--data-dir", type=Path, default=None, help="write the Parquet log here and keep it")
    ap.add_argument("--duplicate-policy", nargs="+", default=["keep_first", "keep_all"],
                    choices=("keep_first", "keep_all"), help="longterm.duplicate_policy of the log's query (each is timed)")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--skip-log", action="store_true")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_big:
            big(args, args.keep or Path(tmp))
        if not args.skip_log:
            log(args, args.data_dir or Path(tmp))
    print(f"load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} now, on {os.cpu_count()} cores "
          "(the machine is shared: wall time inflates with other work)")


def big(args: argparse.Namespace, folder: Path) -> None:
    """big_matrix size: DuckDB against the pandas reference and a plain pandas baseline."""
    if not (folder / "big_matrix.csv").is_file():
        sim = run_child(folder, "simulate", str(args.users), str(args.days), str(args.plays))
        print(f"simulator: wrote {sim['rows']:,} rows ({sim['duplicates']:,} duplicates) to big_matrix.csv "
              f"({sim['mib']:,.0f} MiB) in {sim['wall_s']:.1f} s wall, {sim['cpu_s']:.1f} s CPU, "
              f"peak RSS {sim['peak_rss_mib']:,.0f} MiB")
    duck = run_child(folder, "duckdb")
    panel = run_child(folder, "panel")
    base = run_child(folder, "baseline")
    assert duck["panel_rows"] == panel["panel_rows"] and duck["duplicates_removed"] == panel["duplicates_removed"]
    print(f"duckdb:   {duck['wall_s']:.2f} s wall, {duck['cpu_s']:.2f} s CPU, peak RSS {duck['peak_rss_mib']:,.0f} MiB, "
          f"{duck['rows_read']:,} rows read, {duck['panel_rows']:,} panel rows")
    print(f"pandas:   {panel['wall_s']:.2f} s wall, {panel['cpu_s']:.2f} s CPU (load {panel['load_s']:.2f} s), peak RSS {panel['peak_rss_mib']:,.0f} MiB, "
          f"{panel['rows_read']:,} rows read, {panel['duplicates_removed']:,} duplicates removed, "
          f"{panel['panel_rows']:,} panel rows")
    print(f"baseline: {base['wall_s']:.2f} s wall, {base['cpu_s']:.2f} s CPU, peak RSS {base['peak_rss_mib']:,.0f} MiB "
          f"(pandas read_csv(usecols) + groupby daily sums)")
    print(f"ratio duckdb / pandas: wall {duck['wall_s'] / panel['wall_s']:.2f}, "
          f"RSS {duck['peak_rss_mib'] / panel['peak_rss_mib']:.2f}; pandas / baseline: wall "
          f"{panel['wall_s'] / base['wall_s']:.2f}, RSS {panel['peak_rss_mib'] / base['peak_rss_mib']:.2f}")
    ok = duck["wall_s"] <= 10 and duck["peak_rss_mib"] <= 1536
    print(f"target big_matrix duckdb (<= 10 s wall, <= 1.5 GiB): {'met' if ok else 'NOT met'}")


def log(args: argparse.Namespace, folder: Path) -> None:
    """The Parquet log of `--log-rows` rows with its own column names."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"log_{args.log_rows}.parquet"
    if not path.is_file():
        w = run_child(path, "write-log", str(args.log_rows), str(args.log_users), str(args.days))
        print(f"log: wrote {w['rows']:,} rows ({w['duplicates']:,} duplicates) to {path.name} ({w['mib']:,.0f} MiB) "
              f"in {w['wall_s']:.1f} s")
    for policy in args.duplicate_policy:
        log_step(args, path, policy)


def log_step(args: argparse.Namespace, path: Path, policy: str) -> None:
    """One timed panel query on the log."""
    r = run_child(path, "log", args.memory_limit, policy)
    print(f"log ({policy}): {r['wall_s']:.2f} s wall (preflight {r['check_s']:.2f} s), {r['cpu_s']:.2f} s CPU, peak RSS "
          f"{r['peak_rss_mib']:,.0f} MiB, {r['rows_read']:,} rows read, {r['duplicates_removed']:,} duplicates "
          f"removed, {r['panel_rows']:,} panel rows (memory_limit {args.memory_limit})")
    ok = r["wall_s"] <= 60 and r["peak_rss_mib"] <= 2048
    print(f"target {args.log_rows:,}-row log, {policy} (<= 60 s wall, <= 2 GiB): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
