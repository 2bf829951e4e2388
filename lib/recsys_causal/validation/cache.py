"""Per-replicate results of the simulation study, kept on disk and reused.

A task (one data set of one setting, analysed under its scenarios) is computed once per
(seed, study parameters, scenarios, replicate index, code fingerprint) and stored as a small
Parquet file; growing `n_replicates`, re-running a chapter, or changing only how the study runs
(`n_jobs`, backend) reuses every stored replicate and computes only the new ones. A code edit to
the study or to any chapter module it calls changes the fingerprint, so nothing stale is reused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from recsys_causal.artifacts import atomic_write_bytes, code_fingerprint
from recsys_causal.params import ValidationParams

#: Validation knobs that say how the study runs, not what it computes.
NOT_IN_DIGEST: tuple[str, ...] = ("n_replicates", "n_jobs", "backend", "scheduler_address", "scenarios")
#: The modules whose code a replicate runs (each with its whole import closure).
STUDY_MODULES: tuple[str, ...] = (
    "recsys_causal.validation.runner",
    "recsys_causal.validation.longterm_world",
    "recsys_causal.validation.interference_world",
)


def study_digest(seed: int, validation: ValidationParams) -> str:
    """Hash of everything a replicate's numbers depend on but its index and scenarios."""
    knobs = {k: v for k, v in validation.model_dump(mode="json").items() if k not in NOT_IN_DIGEST}
    code = [code_fingerprint(m) for m in STUDY_MODULES]
    blob = json.dumps({"seed": int(seed), "validation": knobs, "code": code}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class ReplicateCache:
    """A folder of task results, one Parquet file per (world, setting, scenarios, replicate)."""

    def __init__(self, folder: Path, digest: str):
        self.folder = Path(folder)
        self.digest = digest

    def path(self, world: str, setting: str, scenarios: tuple[str, ...], replicate: int) -> Path:
        name = f"{world}-{setting}-{'+'.join(scenarios)}-r{replicate:05d}-{self.digest}.parquet"
        return self.folder / name

    def get(self, world: str, setting: str, scenarios: tuple[str, ...], replicate: int) -> pd.DataFrame | None:
        """The stored result of one task, or None (missing or unreadable: recomputed)."""
        p = self.path(world, setting, scenarios, replicate)
        if not p.is_file():
            return None
        try:
            return pd.read_parquet(p)
        except Exception:  # a damaged file is a cache miss, never a wrong result
            return None

    def put(self, world: str, setting: str, scenarios: tuple[str, ...], replicate: int,
            result: pd.DataFrame) -> pd.DataFrame:
        """Store one task's result atomically and return it as read back (so cached and fresh
        results have the same dtypes, and the study's tables are byte-identical either way)."""
        import io

        buf = io.BytesIO()
        result.to_parquet(buf, index=False)
        p = atomic_write_bytes(self.path(world, setting, scenarios, replicate), buf.getvalue())
        return pd.read_parquet(p)
