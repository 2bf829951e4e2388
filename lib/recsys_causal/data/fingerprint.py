"""Fingerprints of a track's data source, recorded in the manifest and used for freshness."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from recsys_causal.params import Params
from recsys_causal.paths import resolve

SIM_KEYS_PREFIX = "sim_"


def folder_fingerprint(folder: Path) -> str:
    """Hash of every file's name, size and modification time in `folder` (fast, content-free)."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def file_fingerprint(path: Path) -> str:
    """Hash of one file's name, size and modification time (fast, content-free)."""
    st = Path(path).stat()
    return hashlib.sha256(f"{Path(path).name}:{st.st_size}:{int(st.st_mtime)}".encode()).hexdigest()[:16]


def source_fingerprint(params: Params, section: str) -> str:
    """`files:<hash>` for a real dataset folder, `simulator:<hash>` (seed + sim_* keys) otherwise;
    with an experiment log (`experiment_path`), `+log:<hash>` of that file is appended."""
    base = _base_fingerprint(params, section)
    log = getattr(params.section(section), "experiment_path", "")
    if log and resolve(log).is_file():
        return f"{base}+log:{file_fingerprint(resolve(log))}"
    return base


def _base_fingerprint(params: Params, section: str) -> str:
    sec = params.section(section)
    data_path = getattr(sec, "data_path", "")
    if data_path and section == "longterm":
        from recsys_causal.data.logs import resolve_source, source_files_fingerprint

        source = resolve_source(data_path, sec.matrix, sec.columns)
        if source.kind != "kuairec":  # a log: its files, wherever they are (Hive partitions too)
            return f"files:{source_files_fingerprint(source)}"
        return f"files:{folder_fingerprint(resolve(data_path))}"
    if data_path:
        folder = resolve(data_path)
        if not folder.is_dir():
            raise FileNotFoundError(f"{section}.data_path '{folder}' is not a folder")
        return f"files:{folder_fingerprint(folder)}"
    values = sec.model_dump(mode="json")
    sim = {k: v for k, v in values.items() if k.startswith(SIM_KEYS_PREFIX)}
    blob = json.dumps({"seed": params.seed, **sim}, sort_keys=True)
    return f"simulator:{hashlib.sha256(blob.encode()).hexdigest()[:16]}"
