"""The `recsys-causal` command: run chapters, render the book, list chapters and parameters."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from recsys_causal.chapters import CHAPTERS, PARTS, select_chapters
from recsys_causal.data.errors import DataError
from recsys_causal.params import (
    SECTIONS,
    ParamsError,
    field_default,
    load_params,
    nested_section,
    type_text,
)
from recsys_causal.paths import project_root, resolve, runs_dir
from recsys_causal.render import RenderError, check_renderer
from recsys_causal.runs import (
    RunBusy,
    RunDirError,
    RunNameError,
    check_run_dir,
    check_run_name,
    run_lock,
)

EXIT_USAGE = 2
EXIT_FAILED = 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recsys-causal", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute chapters with papermill, then render the book")
    run.add_argument("--params", default="params/default.yaml", help="parameter profile (YAML)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override one parameter (repeatable), e.g. longterm.n_bootstrap=200")
    run.add_argument("--only", default=None, help="a track (longterm, interference, validation) or a chapter id")
    run.add_argument("--run-name", default="default", help="artifacts go to data/runs/<run-name>/")
    run.add_argument("--no-render", action="store_true", help="execute chapters but do not render the book")
    run.add_argument("--renderer", choices=("auto", "quarto", "fallback"), default="auto",
                     help="quarto when found (auto), or the nbconvert/typst fallback")
    run.add_argument("--force", action="store_true",
                     help="execute every selected chapter and render the book even when they are fresh")

    ren = sub.add_parser("render", help="render the book from a run's executed chapters")
    ren.add_argument("--run-name", default="default")
    ren.add_argument("--renderer", choices=("auto", "quarto", "fallback"), default="auto")
    ren.add_argument("--force", action="store_true", help="render even when the book is fresh")

    sub.add_parser("list", help="chapters in order with their parameters, inputs and outputs")
    sub.add_parser("sync-notebooks", help="rewrite every chapter's parameters cell from the parameter classes")
    return p


def _error(msg: str) -> int:
    print(f"recsys-causal: error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def cmd_list() -> int:
    """Print chapters in order, then every parameter with its default and type."""
    for part, title in PARTS.items():
        print(f"\n{title}")
        for ch in (c for c in CHAPTERS if c.track == part):
            print(f"  {ch.id:<16} {ch.title}")
            print(f"  {'':<16} notebook: {ch.notebook}")
            if ch.inputs:
                print(f"  {'':<16} inputs:   {', '.join(ch.inputs)}")
            if ch.outputs:
                print(f"  {'':<16} outputs:  {', '.join(ch.outputs)}")
            print(f"  {'':<16} parameters: seed, run_name, params_file, {ch.section}.*")
    print("\nParameters (section.key = default  [type]  description)")
    print("  seed = 42  [int]  the one seed behind every random choice")
    for section, cls in SECTIONS.items():
        for name, f in cls.model_fields.items():
            sub = nested_section(cls, name)
            for key, g in (sub.model_fields.items() if sub is not None else [(None, f)]):
                label = f"{section}.{name}" + (f".{key}" if key else "")
                print(f"  {label} = {field_default(g)!r}  [{type_text(g.annotation)}]  {g.description or ''}")
    return 0


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from recsys_causal.pipeline import ChapterFailed, run_pipeline

    root = project_root()
    check_run_name(args.run_name)
    params_path = resolve(args.params, root) if args.params else None
    params = load_params(params_path, args.overrides)
    from recsys_causal.pipeline import preflight

    try:
        chapters = select_chapters(args.only)
    except KeyError as exc:
        return _error(str(exc.args[0]))
    preflight(params, sorted({c.section for c in chapters if c.section != "validation"}))
    missing = [c.notebook for c in chapters if not (root / c.notebook).is_file()]
    if missing:
        return _error(f"chapter notebook(s) missing: {', '.join(missing)}")
    check_run_dir(runs_dir(root) / args.run_name)
    if not args.no_render:
        try:
            check_renderer(args.renderer)
        except RenderError as exc:
            return _error(str(exc))
    t0 = time.perf_counter()
    try:
        with run_lock(runs_dir(root) / args.run_name):
            result = run_pipeline(params, chapters, root, run_name=args.run_name, render=not args.no_render,
                                  renderer=args.renderer, argv=["recsys-causal", *argv], force=args.force,
                                  check_data=False)
    except ChapterFailed as exc:
        print(f"recsys-causal: chapter {exc.chapter.id} ({exc.chapter.title}) failed: {exc.detail}", file=sys.stderr)
        print(f"recsys-causal: the executed notebook with the traceback is {exc.executed}", file=sys.stderr)
        return EXIT_FAILED
    fresh = sum(c.status == "fresh" for c in result.chapters)
    print(f"run '{args.run_name}': {len(result.chapters)} chapter(s) ({fresh} fresh) in "
          f"{time.perf_counter() - t0:.1f} s; artifacts in {result.run_dir}")
    if result.book is not None:
        print(f"book: {result.book.html}")
        print(f"pdf:  {result.book.pdf}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from recsys_causal.render import render_book

    try:
        check_renderer(args.renderer)
    except RenderError as exc:
        return _error(str(exc))
    root = project_root()
    run_dir = runs_dir(root) / check_run_name(args.run_name)
    if not (run_dir / "executed").is_dir():
        return _error(f"run '{args.run_name}' has no executed chapters in {run_dir}/executed (run `recsys-causal run` first)")
    from recsys_causal.consistency import mismatched_chapters, run_params

    stale = mismatched_chapters(run_dir, run_params(run_dir))
    if stale:
        return _error(
            f"run '{args.run_name}' mixes parameter sets: {', '.join(m.describe() for m in stale)} were executed "
            f"with other parameters than its params.yaml; `recsys-causal run --run-name {args.run_name} "
            f"--only <chapter>` with the run's parameters re-executes them (a run that renders does it itself)")
    with run_lock(run_dir):
        book = render_book(run_dir, root, renderer=args.renderer, force=args.force)
    if book.fresh:
        print("the book is fresh (rendered from these chapters already; --force renders it again)")
    for line in book.warning_lines():
        print(line)
    print(f"book: {book.html}")
    print(f"pdf:  {book.pdf}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args, argv)
    except BrokenPipeError:  # e.g. `recsys-causal list | head`
        return 0
    except KeyboardInterrupt:
        print("recsys-causal: interrupted; chapters that finished are kept (a rerun reuses them), "
              "the interrupted one left the run as it was", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace, argv: list[str]) -> int:
    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "run":
            return cmd_run(args, argv)
        if args.command == "render":
            return cmd_render(args)
        if args.command == "sync-notebooks":
            from recsys_causal.notebooks import sync_parameters_cells

            for path in sync_parameters_cells():
                print(f"updated {Path(path).relative_to(project_root())}")
            return 0
    except (ParamsError, DataError, RunNameError, RunBusy, RunDirError) as exc:
        return _error(str(exc).splitlines()[0])
    except RenderError as exc:  # rendering failed after the chapters ran: they are kept
        print(f"recsys-causal: the book was not rendered: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except FileNotFoundError as exc:
        return _error(str(exc).splitlines()[0])
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
