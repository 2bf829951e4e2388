"""End to end: `recsys-causal run` on the test profile executes every chapter and renders the book."""

from __future__ import annotations

import json
import re

import pytest

from recsys_causal.chapters import CHAPTERS

pytestmark = pytest.mark.e2e


def test_every_chapter_ran_in_order_with_progress(e2e_run):
    out = e2e_run.result.stdout
    positions = []
    for ch in CHAPTERS:
        m = re.search(rf"{re.escape(ch.id)}\s+.*\.\.\. ok \((\d+\.\d) s\)", out)
        assert m, f"no 'ok' status line for {ch.id}:\n{out}"
        positions.append(m.start())
    assert positions == sorted(positions)
    assert "book:" in out and "pdf:" in out
    # the study's artifacts were built while the tracks ran, and its chapter found them fresh
    assert "validation_01's artifacts were built in the background" in out


def test_every_chapter_output_exists_and_is_in_the_manifest(e2e_run):
    manifest = json.loads((e2e_run.run_dir / "manifest.json").read_text())
    for ch in CHAPTERS:
        for name in ch.outputs:
            assert name in manifest["artifacts"], f"{ch.id}: {name} missing from manifest"
            assert (e2e_run.run_dir / manifest["artifacts"][name]["path"]).is_file()
        assert (e2e_run.run_dir / "executed" / ch.executed_name).is_file()
    assert (e2e_run.run_dir / "params.yaml").is_file()
    info = json.loads((e2e_run.run_dir / "run_info.json").read_text())
    assert info["package_versions"]["pandas"]


def test_book_exists_and_contains_every_chapter(e2e_run):
    html = e2e_run.book_dir / "index.html"
    assert html.is_file()
    pdfs = list(e2e_run.book_dir.glob("*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].stat().st_size > 10_000
    text = html.read_text(encoding="utf-8")
    for ch in CHAPTERS:
        assert ch.title in text, f"chapter '{ch.title}' missing from the HTML book"
    assert "simulated" in text.lower()


def test_figures_written_to_run_dir(e2e_run):
    figures = list((e2e_run.run_dir / "writeup" / "figures").glob("*.png"))
    assert len(figures) >= len(CHAPTERS)


def test_executed_chapters_show_tables_as_markdown_and_one_output_per_labelled_cell(e2e_run):
    """No pandas HTML (Quarto would load require.js / jQuery from a CDN for it, and Typst drops it);
    every figure or table cell has exactly one display output, so no sub-figures."""
    import nbformat

    problems = []
    for ch in CHAPTERS:
        nb = nbformat.read(e2e_run.run_dir / "executed" / ch.executed_name, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            shown = [o for o in cell.get("outputs", []) if o.get("output_type") in ("display_data", "execute_result")]
            if any("text/html" in o.get("data", {}) for o in shown):
                problems.append(f"{ch.id} cell {i}: text/html output")
            if re.search(r"^#\|\s*label:\s*(fig|tbl)-", cell.source, re.M) and len(shown) != 1:
                problems.append(f"{ch.id} cell {i}: {len(shown)} outputs in a labelled cell")
    assert not problems, "\n".join(problems)


def test_a_book_with_two_parameter_sets_is_refused(e2e_run):
    """The README's rerun recipe in an existing run, then `render`: refused, chapters named."""
    import shutil

    from conftest import run_cli

    runs = e2e_run.run_dir.parent
    shutil.copytree(e2e_run.run_dir, runs / "mixed")
    r = run_cli(["run", "--params", "params/test.yaml", "--only", "longterm_06", "--set",
                 "longterm.multiplicity_method=bh", "--run-name", "mixed", "--no-render"], e2e_run.project)
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_cli(["render", "--run-name", "mixed", "--renderer", "fallback"], e2e_run.project)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "mixes parameter sets" in lines[0]
    for cid in ("longterm_01", "longterm_05"):
        assert f"{cid} (multiplicity_method)" in lines[0]
    assert "longterm_06" not in lines[0] and "interference" not in lines[0]


def test_a_bootstrap_size_change_recomputes_only_the_summaries_it_feeds(e2e_run, tmp_path):
    """The README's one-parameter rerun: `--only longterm_05 --set longterm.n_bootstrap=...` in the
    same run rebuilds the bootstrap summaries, re-executes the chapters that show them, re-stamps
    the ones that never read the value, and refits no model."""
    import hashlib
    import shutil

    from conftest import copy_project, run_cli
    from recsys_causal.artifact_names import LT
    from recsys_causal.consistency import executed_parameters

    project = copy_project(tmp_path / "project")  # its own book folder: the shared run's stays as it is
    run = project / "data" / "runs" / "rerun"
    shutil.copytree(e2e_run.run_dir, run)
    kept = (LT.PANEL, LT.WEIGHTED_PANEL, LT.GCOMP_COUNTERFACTUALS, LT.GCOMP_REFIT_BOOTSTRAP, LT.AIPW_REFIT_BOOTSTRAP,
            LT.AIPW_SCORES, LT.EFFECT_PREDICTIONS)

    def sha(name: str) -> str:
        return hashlib.sha256((run / "processed" / name).read_bytes()).hexdigest()

    before = {n: sha(n) for n in (*kept, LT.AIPW_RESULTS)}
    n_boot = json.loads((run / "manifest.json").read_text())["artifacts"][LT.AIPW_RESULTS]["parameters"]["n_bootstrap"]
    r = run_cli(["run", "--params", "params/test.yaml", "--only", "longterm_05", "--set",
                 f"longterm.n_bootstrap={n_boot + 17}", "--run-name", "rerun", "--renderer", "fallback"], project)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    for cid in ("longterm_01", "longterm_02"):
        assert re.search(rf"{cid}\s+.*\.\.\. fresh \(re-stamped: n_bootstrap changed, never read\)$", out, re.M), out
    for cid in ("longterm_03", "longterm_04", "longterm_05", "longterm_06"):
        assert re.search(rf"{cid}\s+.*\.\.\. ok \(", out), out
    assert "interference_" not in out and "validation_" not in out
    assert {n: sha(n) for n in kept} == {n: before[n] for n in kept}  # no model was refitted
    assert sha(LT.AIPW_RESULTS) != before[LT.AIPW_RESULTS]
    for ch in CHAPTERS[:6]:  # one parameter set in the book
        assert executed_parameters(run / "executed" / ch.executed_name)["n_bootstrap"] == n_boot + 17, ch.id


def test_the_executive_summary_states_the_artifacts_numbers(e2e_run):
    import pandas as pd

    from recsys_causal.describe import format_number

    summary = (e2e_run.project / "report" / "_generated" / "summary.md").read_text()
    res = pd.read_csv(e2e_run.run_dir / "processed" / "kuairec_long_term_aipw_results.csv")
    p = res[res["is_primary_aipw"]].iloc[0]
    assert f"**{format_number(p['aipw_ate'])} interactions over the next 7 days**" in summary
    assert f"95% CI {format_number(p['ci_95_lower'])} to {format_number(p['ci_95_upper'])}" in summary
    prod = pd.read_csv(e2e_run.run_dir / "processed" / "movielens_interference_product_summary.csv").set_index("key")
    assert f"**{format_number(prod.loc['total_change', 'value'])} clicks per 1,000 promoted slates**" in summary
    # first screen: the answers come before the long description of the questions
    index = (e2e_run.project / "index.qmd").read_text()
    assert index.index("summary.md") < index.index("## The two questions")


def test_a_second_run_with_nothing_changed_reuses_every_chapter_and_the_book(e2e_run):
    """Fresh chapters are not executed again, the book is not rendered again, no table changes."""
    import hashlib

    def digests():
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((e2e_run.run_dir / "processed").iterdir()) if p.is_file()}

    from conftest import run_cli

    before = digests()
    r = run_cli(["run", "--params", "params/test.yaml", "--run-name", "e2e", "--renderer", "fallback"],
                e2e_run.project)
    assert r.returncode == 0, r.stderr[-2000:]
    for ch in CHAPTERS:
        assert re.search(rf"{re.escape(ch.id)}\s+.*\.\.\. fresh$", r.stdout, re.M), r.stdout
    assert "the book is fresh" in r.stdout and f"({len(CHAPTERS)} fresh)" in r.stdout
    assert digests() == before


# the root render runs in a copy of the finished project (`e2e_root_render`, started by `e2e_run`
# in the background), so it cannot replace the _book/ (and book key) the tests above rely on; its
# _book is the one the browser and PDF tests check (`e2e_book`)
def test_quarto_render_at_the_project_root_renders_the_runs_book(e2e_root_render):
    """What a Quarto user types: `quarto render` at the root. Its pre-render step runs the
    pipeline on the profile in $RECSYS_CAUSAL_PARAMS, finds every chapter fresh (no kernel starts)
    and prepares that run's book, which Quarto renders."""
    import os

    from recsys_causal.render.quarto import find_quarto, warn_lines

    binary = find_quarto()
    if binary is None:
        if os.environ.get("RECSYS_CAUSAL_REQUIRE_QUARTO"):
            pytest.fail("RECSYS_CAUSAL_REQUIRE_QUARTO is set but quarto was not found")
        pytest.skip("quarto not found on PATH")
    assert e2e_root_render is not None, "quarto was found, but the root render was not started"
    book = e2e_root_render.project / "_book"
    proc = e2e_root_render.result()
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert f"({len(CHAPTERS)} fresh)" in log and " ... ok (" not in log, log[-3000:]
    assert f"the book holds {len(CHAPTERS)} chapter(s) of run 'e2e'" in log, log[-3000:]
    assert (book / "index.html").is_file() and len(list(book.glob("*.pdf"))) == 1
    warns = warn_lines(proc.stdout + proc.stderr)
    assert not [w for w in warns if "Refusing" in w or "output" in w.lower() or "crossref" in w.lower()], warns
    pages = "".join(p.read_text() for p in book.rglob("*.html"))
    assert "cdn.jsdelivr" not in pages and "require.min.js" not in pages
