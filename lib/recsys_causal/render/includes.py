"""Generated include files: every number on the book's front page and reproducibility page.

`write_generated` reads the run directory (manifest.json, params.yaml, run_info.json and the
report tables under processed/) and writes markdown files into `report/_generated/`, which
`report/index.qmd` and `report/reproducibility.qmd` pull in with Quarto's
`{{< include _generated/... >}}` shortcode (the fallback renderer resolves the same shortcode).
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

from recsys_causal.chapters import Chapter

LT = "kuairec_long_term_"
IF = "movielens_interference_"
LT_TABLE = f"{LT}estimator_comparison_with_aipw.csv"
LT_TABLE_FALLBACK = f"{LT}estimator_comparison.csv"
IF_TABLE = f"{IF}product_summary.csv"
TRACKS = {"longterm": "KuaiRec", "interference": "MovieLens"}
TRACK_TITLES = {"longterm": "Long-term track (KuaiRec)", "interference": "Interference track (MovieLens)"}
NOT_COMPUTED = "not computed in this run"


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

    @property
    def dataset(self) -> str:
        return TRACKS.get(self.section, self.section)

    def sentence(self) -> str:
        name = self.dataset
        if not self.computed:
            return f"**{TRACK_TITLES[self.section]}**: {NOT_COMPUTED}."
        if self.simulated:
            return (
                f"**{TRACK_TITLES[self.section]}: simulated data.** The {name}-format simulator wrote "
                f"these data (fingerprint `{self.fingerprint}`); the numbers are not findings about {name}."
            )
        return (
            f"**{TRACK_TITLES[self.section]}: real {name} data** from `{self.data_path}` "
            f"(fingerprint `{self.fingerprint}`)."
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
    return out


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
def fmt_num(x: Any) -> str:
    """A number for a reader: 3 significant digits for small values, thousands separators for big."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x) if x is not None else ""
    if math.isnan(v):
        return "–"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


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


def _ci(lo: Any, hi: Any) -> str:
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return "–"
    return f"[{fmt_num(lo)}, {fmt_num(hi)}]"


def _is_oracle(row: pd.Series) -> bool:
    return any("oracle" in str(row.get(c, "")).lower() or "truth" in str(row.get(c, "")).lower()
               for c in ("method", "source", "model"))


# ----------------------------------------------------------------------------------------------
# The front page
# ----------------------------------------------------------------------------------------------
def data_status_md(status: dict[str, TrackStatus]) -> str:
    """The first lines of the book: real or simulated data, per track."""
    computed = [s for s in status.values() if s.computed]
    sim = [s for s in computed if s.simulated]
    if computed and len(sim) == len(computed):
        head = (
            "::: {.callout-warning}\n## This run uses simulated data\n\n"
            "Every number in this book comes from the project's simulators, which write files in the "
            "KuaiRec and MovieLens formats and know the true effects. They check that the methods "
            "recover a known truth; **they are not findings about KuaiRec or MovieLens users.**\n\n"
        )
    elif sim:
        head = (
            "::: {.callout-warning}\n## This run mixes real and simulated data\n\n"
            "Read each track's line below before any number: simulated tracks are **not findings "
            "about the real dataset.**\n\n"
        )
    elif computed:
        head = "::: {.callout-note}\n## This run uses real data\n\n"
    else:
        head = "::: {.callout-warning}\n## No track was computed in this run\n\n"
    body = "\n".join(f"- {s.sentence()}" for s in status.values())
    return head + body + "\n:::\n"


def longterm_md(run_dir: Path, status: TrackStatus) -> str:
    df = read_artifact(run_dir, LT_TABLE)
    source = LT_TABLE
    if df is None:
        df = read_artifact(run_dir, LT_TABLE_FALLBACK)
        source = LT_TABLE_FALLBACK
    if df is None or df.empty:
        return (f"*Long-term estimates: {NOT_COMPUTED}* (`{LT_TABLE}` is not in the run directory; "
                "run the long-term chapters).\n")
    cols = {c: c for c in df.columns}
    est = df[~df.apply(_is_oracle, axis=1)] if len(df) else df
    oracle = df[df.apply(_is_oracle, axis=1)] if len(df) else df
    rows = []
    for _, r in df.iterrows():
        rows.append([
            md_escape(r.get("method", "")), md_escape(r.get("model", "")), fmt_num(r.get("estimate")),
            _ci(r.get("ci_95_lower"), r.get("ci_95_upper")), md_escape(r.get("source", "")),
        ])
    label = "simulated data" if status.simulated else "real data"
    out = [md_table(["Method", "Model", "Estimate", "95% CI", "Source"], rows,
                    caption=f"Long-term effect of a high-watch day, every estimator ({label}; from `{source}`).")]
    if "estimate" in cols and len(est):
        vals = pd.to_numeric(est["estimate"], errors="coerce").dropna()
        lo = pd.to_numeric(est.get("ci_95_lower"), errors="coerce") if "ci_95_lower" in est else None
        hi = pd.to_numeric(est.get("ci_95_upper"), errors="coerce") if "ci_95_upper" in est else None
        sent = f"The {len(vals)} estimates range from {fmt_num(vals.min())} to {fmt_num(vals.max())}"
        if lo is not None and hi is not None:
            excl = int(((lo > 0) | (hi < 0)).sum())
            n_ci = int((lo.notna() & hi.notna()).sum())
            sent += f"; {excl} of {n_ci} confidence intervals exclude zero"
        if len(oracle) and "estimate" in oracle:
            truth = pd.to_numeric(oracle["estimate"], errors="coerce").dropna()
            if len(truth):
                t = float(truth.iloc[0])
                sent += f". The simulator's true effect is {fmt_num(t)}"
                if lo is not None and hi is not None:
                    cover = int(((lo <= t) & (hi >= t)).sum())
                    sent += f", covered by {cover} of {n_ci} intervals"
        out.append(sent + ".\n")
    return "\n".join(out)


def interference_md(run_dir: Path, status: TrackStatus) -> str:
    df = read_artifact(run_dir, IF_TABLE)
    if df is None or df.empty:
        return (f"*Interference effects: {NOT_COMPUTED}* (`{IF_TABLE}` is not in the run directory; "
                "run the interference chapters).\n")
    has_oracle = "oracle_value" in df.columns and pd.to_numeric(df["oracle_value"], errors="coerce").notna().any()
    header = ["Effect", "Estimate", "95% CI"] + (["Truth (simulator)"] if has_oracle else [])
    rows = []
    for _, r in df.iterrows():
        row = [md_escape(r.get("metric", "")), fmt_num(r.get("value")), _ci(r.get("ci_95_lower"), r.get("ci_95_upper"))]
        if has_oracle:
            row.append(fmt_num(r.get("oracle_value")))
        rows.append(row)
    label = "simulated data" if status.simulated else "real data"
    out = [md_table(header, rows, caption=f"Effects of promoting a focal item, per 1,000 slates ({label}; from `{IF_TABLE}`).")]
    if "plain_language" in df.columns:
        bullets = [f"- **{md_escape(r.get('metric', ''))}**: {str(r['plain_language']).strip()}"
                   for _, r in df.iterrows() if str(r.get("plain_language", "") or "").strip() not in ("", "nan")]
        if bullets:
            out.append("What each row measures:\n\n" + "\n".join(bullets) + "\n")
    return "\n".join(out)


def summary_md(run_dir: Path, status: dict[str, TrackStatus]) -> str:
    return (
        "## Headline results: long-term effects on KuaiRec {.unnumbered}\n\n"
        + longterm_md(run_dir, status["longterm"])
        + "\n## Headline results: interference in slates on MovieLens {.unnumbered}\n\n"
        + interference_md(run_dir, status["interference"])
    )


# ----------------------------------------------------------------------------------------------
# The reproducibility page
# ----------------------------------------------------------------------------------------------
def _package_versions_now() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from recsys_causal import __version__

    out = {"python": platform.python_version(), "recsys-causal": __version__}
    for name in ("numpy", "pandas", "pyarrow", "scikit-learn", "lightgbm", "xgboost", "statsmodels",
                 "matplotlib", "seaborn", "papermill", "nbconvert", "pydantic", "duckdb", "scipy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _git_commit(root: Path | None) -> str:
    import subprocess

    if root is None:
        return "unknown"
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def reproducibility_md(run_dir: Path, root: Path | None, status: dict[str, TrackStatus],
                       present: Sequence[Chapter], missing: Sequence[Chapter]) -> str:
    run_dir = Path(run_dir)
    info = read_json(run_dir / "run_info.json")
    params = read_params(run_dir)
    notes = []
    commit = info.get("git_commit") or ""
    if not commit:
        commit = _git_commit(root)
        notes.append("git commit read at render time (the run did not record it)")
    versions = info.get("package_versions") or {}
    if not versions:
        versions = _package_versions_now()
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
        parts.append("The resolved parameters of the run (`params.yaml` in the run directory):\n")
        parts.append("```yaml\n" + yaml.safe_dump(params, sort_keys=False).rstrip() + "\n```\n")
    else:
        parts.append(f"*Parameters: {NOT_COMPUTED}* (no `params.yaml` or manifest in the run directory).\n")
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


def write_generated(run_dir: Path, out_dir: Path, root: Path | None = None,
                    present: Sequence[Chapter] = (), missing: Sequence[Chapter] = ()) -> dict[str, Path]:
    """Write data_status.md, summary.md and reproducibility.md into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = read_params(run_dir)
    status = track_status(run_dir, params)
    files = {
        "data_status.md": data_status_md(status),
        "summary.md": summary_md(run_dir, status),
        "reproducibility.md": reproducibility_md(run_dir, root, status, present, missing),
    }
    out = {}
    for name, text in files.items():
        p = out_dir / name
        p.write_text(text)
        out[name] = p
    return out
