"""Benchmark: render one run's book with Quarto and with the fallback renderer, side by side.

Both renderers read the same prepared project (the run's executed chapters in report/ and
`_quarto.yml.local`); nothing is executed. Each renderer renders `--repeats` times into `_book/`
and the script prints the minimum and median wall time of each and their ratio. Run it after a
run exists (`make report`, or `recsys-causal run --no-render`):

    .venv/bin/python benchmarks/render.py [--run-name default] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from recsys_causal.paths import project_root, runs_dir
from recsys_causal.render import render_book
from recsys_causal.render.quarto import find_quarto, quarto_version


def time_render(run_dir, root, renderer: str, repeats: int) -> list[float]:
    """Wall seconds of `repeats` renders of the run's book with `renderer`."""
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        book = render_book(run_dir, root, renderer=renderer, force=True)  # time a render, not the freeze
        seconds.append(time.perf_counter() - t0)
        pages = len(list(book.html.parent.rglob("*.html")))
        print(f"  {renderer}: {seconds[-1]:.1f} s ({pages} HTML page(s), PDF {book.pdf.stat().st_size / 1e6:.1f} MB"
              f", {len(book.warnings)} warning(s))", flush=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-name", default="default")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    root = project_root()
    run_dir = runs_dir(root) / args.run_name
    if not (run_dir / "executed").is_dir():
        print(f"benchmarks/render.py: run '{args.run_name}' has no executed chapters in {run_dir}; "
              "run `make report` or `recsys-causal run --no-render` first", file=sys.stderr)
        return 2
    results = {"fallback": time_render(run_dir, root, "fallback", args.repeats)}
    binary = find_quarto()
    if binary:
        print(f"quarto {'.'.join(map(str, quarto_version(binary)))} at {binary}")
        results["quarto"] = time_render(run_dir, root, "quarto", args.repeats)
    else:
        print("quarto not found: only the fallback is timed")
    print(f"\nrender of run '{args.run_name}' ({args.repeats} repeat(s) each)")
    for name, secs in results.items():
        print(f"  {name:<8} min {min(secs):6.1f} s   median {statistics.median(secs):6.1f} s")
    if "quarto" in results:
        print(f"  quarto / fallback (median): {statistics.median(results['quarto']) / statistics.median(results['fallback']):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
