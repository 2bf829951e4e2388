"""Generated include files: every number on the book's front page and reproducibility page.

`write_generated` reads the run directory (manifest.json, params.yaml, run_info.json and the
report tables under processed/) and writes markdown files (and the summary's forest plots) into
`report/_generated/`, which `index.qmd` and `report/reproducibility.qmd` pull in with the
`{{< generated report/_generated/... >}}` shortcode (report/generated.lua; the fallback renderer
resolves the same shortcode).
Nothing here is typed by hand; an artifact a partial run did not produce gives a
"not computed in this run" line.
"""

from __future__ import annotations

import json
import math
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from recsys_causal.artifact_names import IF, LT
from recsys_causal.chapters import Chapter
from recsys_causal.pipeline import git_commit, package_versions

TRACKS = {"longterm": "KuaiRec", "interference": "MovieLens"}
TRACK_TITLES = {"longterm": "Long-term track (KuaiRec)", "interference": "Interference track (MovieLens)"}
REPORT_GENERATED = "report/_generated"  # where the generated files are, relative to the project root
NOT_COMPUTED = "not computed in this run"
SIMULATED, REAL, SEMI_SYNTHETIC = "simulated", "real", "semi-synthetic"
# tracks whose outcome the project always simulates, even on real files (clicks from the click model)
SIMULATED_OUTCOME_TRACKS: frozenset[str] = frozenset({"interference"})


# ----------------------------------------------------------------------------------------------
# Reading the run
# ----------------------------------------------------------------------------------------------
def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or {} when the file is missing or not an object."""
    try:
        data = json.loads(Path(path).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def read_params(run_dir: Path) -> dict[str, Any]:
    """The run's resolved parameters: params.yaml, else the manifest's per-section record."""
    p = Path(run_dir) / "params.yaml"
    if p.is_file():
        try:
            data = yaml.safe_load(p.read_text()) or {}
            if isinstance(data, dict):
                return data
        except yaml.YAMLError:
            pass
    out: dict[str, Any] = {}
    for entry in read_json(Path(run_dir) / "manifest.json").get("artifacts", {}).values():
        sec = entry.get("section")
        if sec and sec not in out and isinstance(entry.get("parameters"), dict):
            out[sec] = entry["parameters"]
            if "seed" in entry:
                out.setdefault("seed", entry["seed"])
    return out


@dataclass
class TrackStatus:
    """Where a track's numbers come from in this run."""

    section: str
    computed: bool  # at least one artifact of the track is in the manifest
    simulated: bool  # from the manifest when computed, else from the parameters
    fingerprint: str
    data_path: str
    source: str = ""  # one sentence naming the data source and its column mapping
    logged_outcome: bool = False  # the outcome was read from a log (an experiment), not simulated

    @property
    def dataset(self) -> str:
        return TRACKS.get(self.section, self.section)

    @property
    def kind(self) -> str:
        """`simulated`, `real`, or `semi-synthetic` (real MovieLens ratings, clicks from the click model)."""
        if self.logged_outcome:
            return REAL
        if self.simulated:
            return SIMULATED
        return SEMI_SYNTHETIC if self.section in SIMULATED_OUTCOME_TRACKS else REAL

    @property
    def truth_known(self) -> bool:
        """True when the track's numbers have truth rows beside them (the outcome is simulated)."""
        return self.kind != REAL

    def sentence(self) -> str:
        name = self.dataset
        title = TRACK_TITLES[self.section]
        if not self.computed:
            return f"**{title}**: {NOT_COMPUTED}."
        return self._kind_sentence(name, title) + (f" {self.source}" if self.source else "")

    def _kind_sentence(self, name: str, title: str) -> str:
        if self.logged_outcome:
            return (f"**{title}: a logged experiment.** The outcomes are read from the experiment log, not "
                    "simulated; there is no truth to compare with, so this track shows no truth rows.")
        if self.kind == SIMULATED:
            return (
                f"**{title}: simulated data.** The {name}-format simulator wrote these data (fingerprint "
                f"`{self.fingerprint}`); the numbers are not findings about {name}. The truth rows are the "
                "simulator's own effects, which the estimates are checked against."
            )
        if self.kind == SEMI_SYNTHETIC:
            return (
                f"**{title}: semi-synthetic data.** Real {name} ratings from `{self.data_path}` (fingerprint "
                f"`{self.fingerprint}`), with clicks simulated by the project's click model: {name} records "
                "ratings, not clicks on slates. The truth rows are that click model's expected clicks; they "
                "check the estimators in the click model's world, not how real users click."
            )
        return (
            f"**{title}: real {name} data** from `{self.data_path}` (fingerprint `{self.fingerprint}`). "
            "There is no truth to compare with, so this track shows no truth rows."
        )


def track_status(run_dir: Path, params: dict[str, Any] | None = None) -> dict[str, TrackStatus]:
    """Per track: computed or not, simulated or real, and the data fingerprint, from the manifest."""
    params = params if params is not None else read_params(run_dir)
    arts = read_json(Path(run_dir) / "manifest.json").get("artifacts", {})
    out: dict[str, TrackStatus] = {}
    for sec in TRACKS:
        entries = [e for e in arts.values() if e.get("section") == sec]
        data_path = str((params.get(sec) or {}).get("data_path", "") or "")
        if entries:
            simulated = any(bool(e.get("simulated", not data_path)) for e in entries)
            fps = sorted({str(e.get("data_fingerprint", "")) for e in entries if e.get("data_fingerprint")})
            out[sec] = TrackStatus(sec, True, simulated, ", ".join(fps) or "unknown", data_path)
        else:
            out[sec] = TrackStatus(sec, False, not data_path, "", data_path)
        out[sec].source, out[sec].logged_outcome = data_source(sec, params.get(sec) or {})
    return out


def data_source(section: str, values: dict[str, Any]) -> tuple[str, bool]:
    """(sentence naming the track's data source and mapping, whether its outcome comes from a log),
    from the run's recorded parameters of that section; empty when they cannot be read."""
    from recsys_causal.params import InterferenceParams, LongtermParams

    try:
        if section == "longterm":
            from recsys_causal.data.logs import describe_longterm_data

            lt = LongtermParams.model_validate(values)
            return (describe_longterm_data(lt) if lt.data_path else ""), False
        if section == "interference":
            from recsys_causal.interference.experiment_source import describe_experiment_source

            ip = InterferenceParams.model_validate(values)
            return (describe_experiment_source(ip) if ip.experiment_path else ""), bool(ip.experiment_path)
    except Exception:  # a run recorded with other parameters, or a log no longer readable
        return "", False
    return "", False


def artifact_path(run_dir: Path, name: str) -> Path:
    """Where a processed artifact of the run lives (manifest path, else processed/<name>)."""
    entry = read_json(Path(run_dir) / "manifest.json").get("artifacts", {}).get(name, {})
    if entry.get("path"):
        return Path(run_dir) / entry["path"]
    return Path(run_dir) / "processed" / name


def read_artifact(run_dir: Path, name: str) -> pd.DataFrame | None:
    p = artifact_path(run_dir, name)
    if not p.is_file():
        return None
    try:
        return pd.read_csv(p)
    except (OSError, ValueError, pd.errors.ParserError):
        return None


# ----------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------
def md_escape(text: Any) -> str:
    s = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("@", "\\@").replace("*", "\\*").replace("_", "\\_")


NUMERIC_CELL = re.compile(r"^[-+\u2212]?[\d.,]+%?$|^\[.*\]$|^–$")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    """A pipe table: numeric / interval columns right-aligned, text columns left-aligned."""
    def align(j: int) -> str:
        vals = [r[j].strip() for r in rows if j < len(r) and r[j].strip()]
        return "---:" if vals and all(NUMERIC_CELL.match(v) for v in vals) else ":---"

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align(j) for j in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if caption:
        lines += ["", f": {caption}"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# The front page
# ----------------------------------------------------------------------------------------------
def data_status_md(status: dict[str, TrackStatus]) -> str:
    """The first lines of the book: real or simulated data, per track."""
    computed = [s for s in status.values() if s.computed]
    kinds = {s.kind for s in computed}
    if kinds == {SIMULATED}:
        head = (
            "::: {.callout-warning}\n## This run uses simulated data\n\n"
            "Every number in this book comes from the project's simulators, which write files in the "
            "KuaiRec and MovieLens formats and know the true effects. They check that the methods "
            "recover a known truth; **they are not findings about KuaiRec or MovieLens users.**\n\n"
        )
    elif kinds == {REAL}:
        head = "::: {.callout-note}\n## This run uses real data\n\n"
    elif kinds == {SEMI_SYNTHETIC}:
        head = (
            "::: {.callout-warning}\n## This run uses semi-synthetic data: real ratings, simulated clicks\n\n"
            "The ratings are real; the clicks are drawn from the project's click model, so the numbers "
            "describe that model's world.\n\n"
        )
    elif kinds:
        words = " and ".join(k for k in (REAL, SEMI_SYNTHETIC, SIMULATED) if k in kinds)
        head = (
            f"::: {{.callout-warning}}\n## This run mixes {words} data\n\n"
            "Read each track's line below before any number: a simulated track is **not a finding "
            "about the real dataset**, and a semi-synthetic one describes the click model's world.\n\n"
        )
    else:
        head = "::: {.callout-warning}\n## No track was computed in this run\n\n"
    body = "\n".join(f"- {s.sentence()}" for s in status.values())
    return head + body + "\n:::\n"


TRUTH_LABELS = {SIMULATED: "the simulator's true value", SEMI_SYNTHETIC: "the click model's true value",
                REAL: "the true value"}
QUESTIONS = {
    "longterm": "Does a high-watch day change how much a user interacts over the next 7 days?",
    "interference": "When a focal item is promoted in a 12-item slate, how much of its gain is taken from its competitors?",
}
FOREST = {"longterm": "forest_longterm.png", "interference": "forest_interference.png"}


def longterm_forest(run_dir: Path, out: Path, simulated: bool) -> str:
    """Draw the long-term forest plot (primary first); its Markdown, or '' without the table."""
    from recsys_causal.render.figures import plot_forest, primary_caption, save_png

    df = read_artifact(run_dir, LT.COMPARISON_WITH_AIPW)
    if df is None or df.empty or "role" not in df or "primary" not in df:
        return ""
    est = df[df["role"] != "oracle"].copy()
    est = est.assign(_order=~est["primary"].astype(bool)).sort_values("_order", kind="mergesort")
    oracle = df[df["role"] == "oracle"]
    truth = float(oracle["estimate"].iloc[0]) if simulated and len(oracle) else None
    labels = [f"{m}\n{k}" if len(str(k)) < 40 else str(m) for m, k in zip(est["method"], est["model"], strict=True)]
    fig = plot_forest(labels, est["estimate"], est["ci_95_lower"], est["ci_95_upper"], truth=truth,
                      xlabel="Effect on next-7-day interactions")
    save_png(fig, out / FOREST["longterm"])
    cap = (f"Every long-term estimator with its 95% interval; the primary estimate (doubly robust AIPW) "
           f"first, in {primary_caption()}" + ("; dashed line: the simulator's true effect." if truth is not None else "."))
    return f"![{cap}]({REPORT_GENERATED}/{FOREST['longterm']})\n"


def interference_forest(run_dir: Path, out: Path, simulated: bool) -> str:
    """Draw the interference forest plot (total change first); its Markdown, or ''."""
    from recsys_causal.render.answers import IF_TOTAL_KEY
    from recsys_causal.render.figures import (
        plot_forest,
        primary_caption,
        save_png,
        truth_mark_caption,
    )

    df = read_artifact(run_dir, IF.PRODUCT_SUMMARY)
    if df is None or df.empty or "key" not in df:
        return ""
    rows = df[df["metric"].astype(str).str.contains("per 1,000")].copy()
    rows = rows.assign(_order=rows["key"] != IF_TOTAL_KEY).sort_values("_order", kind="mergesort")
    truth = rows["oracle_value"].to_numpy(dtype=float) if simulated and "oracle_value" in rows else None
    labels = [str(m).replace(" per 1,000 promoted slates", "") for m in rows["metric"]]
    fig = plot_forest(labels, rows["value"], rows["ci_95_lower"], rows["ci_95_upper"], truth=truth,
                      xlabel="Change in clicks per 1,000 promoted slates")
    save_png(fig, out / FOREST["interference"])
    cap = (f"Effects of promoting the focal item, per 1,000 promoted slates, with 95% intervals; the "
           f"total change first, in {primary_caption()}"
           + (f"; {truth_mark_caption()} crosses: the click model's true values." if truth is not None else "."))
    return f"![{cap}]({REPORT_GENERATED}/{FOREST['interference']})\n"


def summary_md(run_dir: Path, status: dict[str, TrackStatus], out: Path | None = None) -> str:
    """The answers: per track the question, the primary estimate and what it means, then a forest plot."""
    from recsys_causal.render.answers import answer_md, interference_answer, longterm_answer

    parts = ["## The answers {.unnumbered}\n"]
    for sec, answer, forest in (("longterm", longterm_answer, longterm_forest),
                                ("interference", interference_answer, interference_forest)):
        st = status[sec]
        a = answer(run_dir) if st.computed else None
        parts.append(f"### {TRACK_TITLES[sec]} {{.unnumbered}}\n")
        parts.append(answer_md(a, st.truth_known, QUESTIONS[sec], f"{TRACK_TITLES[sec]}: {NOT_COMPUTED}.",
                               truth_label=TRUTH_LABELS[st.kind]))
        if a is not None and out is not None:
            parts.append(forest(run_dir, out, st.truth_known))
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------
# The reproducibility page
# ----------------------------------------------------------------------------------------------
def reproducibility_md(run_dir: Path, root: Path | None, status: dict[str, TrackStatus],
                       present: Sequence[Chapter], missing: Sequence[Chapter]) -> str:
    run_dir = Path(run_dir)
    info = read_json(run_dir / "run_info.json")
    params = read_params(run_dir)
    notes = []
    commit = info.get("git_commit") or ""
    if not commit:
        commit = git_commit(root) if root is not None else "unknown"
        notes.append("git commit read at render time (the run did not record it)")
    versions = info.get("package_versions") or {}
    if not versions:
        versions = package_versions()
        notes.append("package versions read at render time (the run did not record them)")
    from recsys_causal.render.book import run_date

    date = run_date(run_dir)
    parts = [data_status_md(status), "\n## The run {.unnumbered}\n"]
    rows = [
        ["Run name", f"`{info.get('run_name') or run_dir.name}`"],
        ["Run date", date],
        ["Git commit", f"`{commit}`"],
        ["Command", f"`{info['command']}`" if info.get("command") else "not recorded"],
        ["Platform", md_escape(info.get("platform") or platform.platform())],
        ["Seed", f"{params.get('seed', 'unknown')}"],
        ["Chapters executed", md_escape(", ".join(c.id for c in present) or "none")],
    ]
    if missing:
        rows.append(["Chapters not executed", md_escape(", ".join(c.id for c in missing))])
    parts.append(md_table(["", ""], rows))
    if notes:
        parts.append("*Note: " + "; ".join(notes) + ".*\n")
    parts.append("\n## Data sources {.unnumbered}\n")
    srows = []
    for s in status.values():
        src = "simulator" if s.simulated else f"`{s.data_path}`"
        srows.append([TRACK_TITLES[s.section], src, "yes" if s.simulated else "no",
                      f"`{s.fingerprint}`" if s.fingerprint else NOT_COMPUTED])
    parts.append(md_table(["Track", "Source", "Simulated", "Data fingerprint"], srows))
    parts.append("\n## Package versions {.unnumbered}\n")
    parts.append(md_table(["Package", "Version"], [[md_escape(k), md_escape(v)] for k, v in versions.items()]))
    parts.append("\n## Parameters {.unnumbered}\n")
    if params:
        parts.append("The resolved parameters of the run (`params.yaml` in the run directory). Every chapter "
                     "of this book was executed with them: the render step checks the values papermill "
                     "injected into each executed chapter and refuses a run that mixes parameter sets.\n")
        parts.append("```yaml\n" + yaml.safe_dump(params, sort_keys=False).rstrip() + "\n```\n")
    else:
        parts.append(f"*Parameters: {NOT_COMPUTED}* (no `params.yaml` or manifest in the run directory).\n")
    parts.append(saved_outputs_md(run_dir))
    parts.append("\n## Commands to reproduce {.unnumbered}\n")
    run_name = info.get("run_name") or run_dir.name
    cmd = info.get("command") or f"recsys-causal run --params params/default.yaml --run-name {run_name}"
    clean_commit = commit.replace("-dirty", "")
    parts.append(
        "```bash\n"
        f"git checkout {clean_commit}\n"
        "make report            # creates .venv, installs the project, runs every chapter, renders the book\n"
        f"# or, with the recorded parameters of this run:\n"
        f"{cmd}\n"
        f"# re-render this book without recomputing:\n"
        f"recsys-causal render --run-name {run_name}\n"
        "```\n"
    )
    if "dirty" in commit:
        parts.append("*The working tree had uncommitted changes when this run started (`-dirty`).*\n")
    return "\n".join(parts)


def _path_cell(path: str) -> str:
    """A file path for a table cell: escaped, and allowed to wrap after `/` and `_`."""
    return md_escape(path).replace("\\_", "\\_\u200b").replace("/", "/\u200b")


def saved_outputs_md(run_dir: Path) -> str:
    """Every table and figure the run saved (paths inside the run directory), per track."""
    manifest = read_json(Path(run_dir) / "manifest.json")
    rows = []
    for name, e in sorted(manifest.get("artifacts", {}).items(), key=lambda kv: (str(kv[1].get("section")), kv[0])):
        rows.append([md_escape(e.get("section", "")), "analysis table", _path_cell(str(e.get("path", name))),
                     f"{int(e['rows']):,}" if isinstance(e.get("rows"), int | float) else ""])
    for name, e in sorted(manifest.get("tables", {}).items(), key=lambda kv: (str(kv[1].get("section")), kv[0])):
        rows.append([md_escape(e.get("section", "")), "report table", _path_cell(str(e.get("path", name))), ""])
    for name, e in sorted(manifest.get("figures", {}).items(), key=lambda kv: (str(kv[1].get("section")), kv[0])):
        files = e.get("files") or [name]
        rows.append([md_escape(e.get("section", "")), "figure", ", ".join(_path_cell(str(f)) for f in files), ""])
    if not rows:
        return ""
    head = ("\n## Saved tables and figures {.unnumbered}\n\nThe run directory keeps every analysis table "
            "(Parquet / CSV, with all columns), every table the chapters show (CSV) and every figure "
            "(PNG and SVG); paths are relative to the run directory.\n\n")
    return head + md_table(["Track", "Kind", "File", "Rows"], rows)


def write_generated(run_dir: Path, out_dir: Path, root: Path | None = None,
                    present: Sequence[Chapter] = (), missing: Sequence[Chapter] = ()) -> dict[str, Path]:
    """Write data_status.md, summary.md and reproducibility.md into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = read_params(run_dir)
    status = track_status(run_dir, params)
    files = {
        "data_status.md": data_status_md(status),
        "summary.md": summary_md(run_dir, status, out_dir),
        "reproducibility.md": reproducibility_md(run_dir, root, status, present, missing),
    }
    out = {}
    for name, text in files.items():
        p = out_dir / name
        p.write_text(text)
        out[name] = p
    return out
