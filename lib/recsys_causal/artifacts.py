"""Artifacts with a contract: atomic files in a run directory, a manifest, and on-demand builders.

A run directory `data/runs/<run>/` holds `processed/` (parquet row-level tables, CSV report
tables), `writeup/figures/` and `writeup/tables/`, and `manifest.json`, which records for every
artifact the parameters, data fingerprint and package version that made it. Chapters read their
inputs with `RunStore.get(name)`: an artifact that is missing or was made with other parameters
is rebuilt by the registered builder, the same lib function the upstream chapter uses.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import importlib
import importlib.util
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recsys_causal import __version__
from recsys_causal.params import Params

MANIFEST = "manifest.json"
MANIFEST_LOCK = ".manifest.lock"
ABSENT = "absent"  # manifest section: outputs a builder left out of the run (no file), with their key

# Modules that register builders; each is imported lazily when a builder is needed.
BUILDER_MODULES: tuple[str, ...] = (
    "recsys_causal.longterm.build_panel",
    "recsys_causal.longterm.build_estimates",
    "recsys_causal.longterm.build_aipw",
    "recsys_causal.interference.build_slates",
    "recsys_causal.interference.build_effects",
    "recsys_causal.interference.build_advanced",
    "recsys_causal.validation.build_study",
)


PACKAGE_DIR = Path(__file__).resolve().parent


def _module_file(module: str, pkg_dir: Path) -> Path | None:
    """The source file of `recsys_causal.<...>` inside `pkg_dir` (module or package)."""
    parts = module.split(".")[1:]
    base = pkg_dir.joinpath(*parts)
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _imports(path: Path, pkg: str = "recsys_causal") -> frozenset[str]:
    """Package modules a file imports anywhere (top level or inside functions), statically;
    parsed once per version of the file (its size and modification time)."""
    st = path.stat()
    return _imports_of_version(str(path), st.st_mtime_ns, st.st_size, pkg)


@functools.lru_cache(maxsize=4096)
def _imports_of_version(path: str, mtime_ns: int, size: int, pkg: str) -> frozenset[str]:
    return frozenset(scan_imports(Path(path).read_text(), pkg))


def imports_in(source: str, filename: str = "<source>", pkg: str = "recsys_causal") -> set[str]:
    """Package modules some Python source imports anywhere (top level or inside functions),
    from its syntax tree: the reference `scan_imports` is tested against."""
    import ast

    out: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == pkg}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == pkg and not node.level:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}  # `from pkg.sub import module`
    return out


_FROM_IMPORT = re.compile(r"(?:^|[;:])[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]*(\([^)]*\)|[^\n;#]*)", re.M)
_IMPORT = re.compile(r"(?:^|[;:])[ \t]*import[ \t]+([^\n;#]*)", re.M)
_COMMENT = re.compile(r"#[^\n]*")


def scan_imports(source: str, pkg: str = "recsys_causal") -> set[str]:
    """`imports_in` without parsing: import statements found by pattern, twenty times faster, which
    every kernel and command pays when it computes the code fingerprints. A test checks that it
    equals `imports_in` on every module of the package; on other text it may find more (an import
    quoted at the start of a docstring line), never less, so a fingerprint only ever covers more."""
    source = source.replace("\\\n", " ")
    out: set[str] = set()
    for m in _FROM_IMPORT.finditer(source):
        module = m.group(1)
        if module.split(".")[0] != pkg:
            continue
        out.add(module)
        names = _COMMENT.sub("", m.group(2)).strip("() \n\t")
        out |= {f"{module}.{n.split()[0]}" for n in names.split(",") if n.strip()}
    for m in _IMPORT.finditer(source):
        for alias in m.group(1).split(","):
            parts = alias.split()
            if parts and parts[0].split(".")[0] == pkg:
                out.add(parts[0])
    return out


def module_closure(module: str | Iterable[str], pkg_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The source files `module` (or several modules) runs with: itself and every package module
    it imports, transitively (their parent packages' __init__ files included)."""
    seen: dict[Path, None] = {}
    todo = [module] if isinstance(module, str) else list(module)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # a module's parent packages run too
            f = _module_file(".".join(parts[:i]), pkg_dir)
            if f is not None and f not in seen:
                seen[f] = None
                todo.extend(_imports(f))
    return sorted(seen)


def files_fingerprint(files: Iterable[Path], base: Path) -> str:
    """Hash of some files' paths (relative to `base`) and bytes, in sorted order."""
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.relative_to(base).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


@functools.cache
def code_fingerprint(module: str = "recsys_causal.artifacts", pkg_dir: Path = PACKAGE_DIR) -> str:
    """Hash of the source files a builder's module runs with (`module_closure`): editing an
    estimator makes the artifacts it computes stale, editing a plot or a sentence that no builder
    imports does not."""
    return files_fingerprint(module_closure(module, pkg_dir), pkg_dir)


class ArtifactError(RuntimeError):
    """An artifact cannot be found, built or read."""


# ----------------------------------------------------------------------------------------------
# Atomic writes
# ----------------------------------------------------------------------------------------------
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        # mkstemp makes the file 0600; the result gets the mode any new file gets (0666 - umask)
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write text to `path` through a temp file + rename, so a crash never leaves half a file."""
    return _atomic(Path(path), lambda p: p.write_text(text))


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write bytes atomically."""
    return _atomic(Path(path), lambda p: p.write_bytes(data))


def write_frame(df: pd.DataFrame, path: Path) -> Path:
    """Write a DataFrame atomically as parquet or CSV (by suffix), deterministically."""
    path = Path(path)
    if path.suffix == ".parquet":
        return _atomic(path, lambda p: df.to_parquet(p, index=False, engine="pyarrow"))
    if path.suffix == ".csv":
        return _atomic(path, lambda p: df.to_csv(p, index=False, float_format="%.10g"))
    raise ArtifactError(f"cannot write table '{path.name}': expected a .parquet or .csv name")


def read_frame(path: Path) -> pd.DataFrame:
    """Read a parquet or CSV artifact."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"artifact file '{path}' does not exist")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def content_matches(path: Path, entry: dict[str, Any]) -> bool:
    """Whether `path` holds the bytes the manifest `entry` recorded: the size must match; the
    sha256 is computed only when the modification time differs from the recorded one."""
    st = path.stat()
    if "size" in entry and st.st_size != entry["size"]:
        return False
    if entry.get("mtime_ns") == st.st_mtime_ns:
        return True
    return bool(entry.get("sha256")) and file_sha256(path) == entry["sha256"]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Builders
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Builder:
    """A function that computes a group of artifacts from the run's parameters and upstream ones."""

    outputs: tuple[str, ...]
    section: str
    func: Callable[[RunStore], dict[str, pd.DataFrame]]
    keys: tuple[str, ...] | None  # section keys the outputs depend on (None = the whole section)
    upstream: tuple[str, ...]
    optional: tuple[str, ...] = ()  # outputs the builder may leave out (e.g. the truth, on real data)

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"


_BUILDERS: dict[str, Builder] = {}


def builder(
    outputs: Iterable[str],
    section: str,
    keys: Iterable[str] | None = None,
    upstream: Iterable[str] = (),
    optional: Iterable[str] = (),
) -> Callable[[Callable[[RunStore], dict[str, pd.DataFrame]]], Callable[[RunStore], dict[str, pd.DataFrame]]]:
    """Register `func(store) -> {artifact name: DataFrame}` as the builder of `outputs`.

    `keys` lists the section parameters the outputs depend on; `upstream` lists artifacts it
    reads (their own parameters are folded into freshness automatically); `optional` lists
    outputs it may leave out, which are then absent from the run (no file) rather than empty.
    """
    optional = tuple(optional)
    if not set(optional) <= set(outputs):
        raise ValueError(f"optional outputs {sorted(set(optional) - set(outputs))} are not outputs")

    def deco(func: Callable[[RunStore], dict[str, pd.DataFrame]]) -> Callable[[RunStore], dict[str, pd.DataFrame]]:
        b = Builder(tuple(outputs), section, func, tuple(keys) if keys is not None else None, tuple(upstream),
                    optional)
        for name in b.outputs:
            _BUILDERS[name] = b
        return func

    return deco


#: which builder modules a name prefix points to first (a kernel of one track imports its own)
_PREFIX_MODULES: tuple[tuple[str, str], ...] = (
    ("kuairec_long_term_", "recsys_causal.longterm."),
    ("movielens_interference_", "recsys_causal.interference."),
    ("validation_", "recsys_causal.validation."),
)


def _load_builder_modules(name: str = "") -> None:
    """Import the builder modules of `name`'s track (every builder module when that is not enough)."""
    pkgs = [pkg for prefix, pkg in _PREFIX_MODULES if name.startswith(prefix)]
    for mods in ([m for m in BUILDER_MODULES if pkgs and m.startswith(pkgs[0])], BUILDER_MODULES):
        for mod in mods:
            if importlib.util.find_spec(mod) is not None:
                importlib.import_module(mod)
        if name and name in _BUILDERS:
            return


def get_builder(name: str) -> Builder:
    """The builder registered for artifact `name`."""
    if name not in _BUILDERS:
        _load_builder_modules(name)
    if name not in _BUILDERS:
        raise ArtifactError(f"no builder is registered for artifact '{name}'")
    return _BUILDERS[name]


def hashed_keys(b: Builder) -> frozenset[str] | None:
    """The section keys an artifact of `b` is keyed on: its own and, through the upstream keys,
    those of every builder upstream of it in the same section (None: the whole section)."""
    keys: set[str] = set()
    seen: set[str] = set()
    todo = [b]
    while todo:
        cur = todo.pop()
        if cur.name in seen:
            continue
        seen.add(cur.name)
        if cur.section == b.section:
            if cur.keys is None:
                return None
            keys |= set(cur.keys)
        todo.extend(get_builder(u) for u in cur.upstream)
    return frozenset(keys)


class _BuilderStore:
    """What a builder sees of the store: everything, but the parameters through a view that
    refuses keys the builder did not declare (`recsys_causal.parameter_reads.guarded`)."""

    def __init__(self, store: RunStore, b: Builder):
        from recsys_causal.parameter_reads import guarded

        self._store = store
        self.params = guarded(store.params, b.section, hashed_keys(b), f"builder {b.name}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


# ----------------------------------------------------------------------------------------------
# The run store
# ----------------------------------------------------------------------------------------------
class RunStore:
    """One run directory: typed paths, atomic writes, the manifest and dependency-aware reads."""

    def __init__(self, run_dir: Path, params: Params, data_fingerprints: dict[str, str] | None = None):
        self.run_dir = Path(run_dir)
        self.params = params
        self.processed_dir = self.run_dir / "processed"
        self.figures_dir = self.run_dir / "writeup" / "figures"
        self.tables_dir = self.run_dir / "writeup" / "tables"
        self._fingerprints: dict[str, str] = dict(data_fingerprints or {})
        self._memo: dict[str, pd.DataFrame] = {}
        for d in (self.processed_dir, self.figures_dir, self.tables_dir):
            d.mkdir(parents=True, exist_ok=True)

    # -- paths and manifest --------------------------------------------------------------------
    def path(self, name: str) -> Path:
        """Where artifact `name` lives (tables under processed/)."""
        return self.processed_dir / name

    @property
    def manifest_path(self) -> Path:
        return self.run_dir / MANIFEST

    def manifest(self) -> dict[str, Any]:
        """The manifest as a dict (empty skeleton when the run is new)."""
        if self.manifest_path.is_file():
            try:
                return json.loads(self.manifest_path.read_text())
            except json.JSONDecodeError as exc:
                raise ArtifactError(f"manifest '{self.manifest_path}' is not valid JSON: {exc}") from None
        return {"artifacts": {}, "figures": {}}

    @contextlib.contextmanager
    def manifest_lock(self) -> Iterator[None]:
        """Hold the manifest for one read-modify-write: kernels and a background build of the
        same run update it concurrently, and an unlocked update could drop another's entries."""
        import fcntl

        fd = os.open(self.run_dir / MANIFEST_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _update_manifest(self, section: str, entries: dict[str, dict[str, Any]]) -> None:
        with self.manifest_lock():
            m = self.manifest()
            m.setdefault(section, {}).update(entries)
            atomic_write_text(self.manifest_path, json.dumps(m, indent=2, sort_keys=True))

    def data_fingerprint(self, section: str) -> str:
        """Fingerprint of the data source behind a track (files for real data, parameters for simulated)."""
        if section not in self._fingerprints:
            from recsys_causal.data.fingerprint import source_fingerprint

            self._fingerprints[section] = source_fingerprint(self.params, section)
        return self._fingerprints[section]

    def is_simulated(self, section: str) -> bool:
        """True when the track's data comes from the simulator (empty data_path)."""
        sec = self.params.section(section)
        return not getattr(sec, "data_path", "")

    # -- freshness --------------------------------------------------------------------------
    def expected_key(self, name: str) -> str:
        """Freshness key of artifact `name`: its parameters, its data and its upstream keys."""
        b = get_builder(name)
        parts = [
            b.name,
            code_fingerprint(b.func.__module__),
            self.params.digest(b.section, list(b.keys) if b.keys is not None else None),
            self.data_fingerprint(b.section),
            *(self.expected_key(u) for u in b.upstream),
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def is_fresh(self, name: str) -> bool:
        """True when `name` exists, was made with the current parameters, data and code, and its
        file is the one the manifest recorded (a truncated, replaced or half-written file is not)."""
        manifest = self.manifest()
        absent = manifest.get(ABSENT, {}).get(name)
        if absent is not None:
            return absent.get("key") == self.expected_key(name) and not self.path(name).exists()
        entry = manifest.get("artifacts", {}).get(name)
        path = self.path(name)
        if not entry or not path.is_file() or entry.get("key") != self.expected_key(name):
            return False
        return content_matches(path, entry)

    def ensure(self, name: str) -> None:
        """Build `name` (and what it needs) when it is missing or stale; nothing is read."""
        if not self.is_fresh(name):
            self.build(name)

    def is_absent(self, name: str) -> bool:
        """True when the (fresh) builder of `name` left it out of this run, e.g. the truth on real data."""
        self.ensure(name)
        return name in self.manifest().get(ABSENT, {})

    # -- reading and building -------------------------------------------------------------------
    def get(self, name: str) -> pd.DataFrame:
        """Return artifact `name`, building it (and what it needs) when missing or stale."""
        if name in self._memo:
            return self._memo[name]
        if self.is_absent(name):
            raise ArtifactError(f"artifact '{name}' is absent from this run (its builder leaves it out "
                                "with these data); read it with get_optional")
        df = read_frame(self.path(name))
        self._memo[name] = df
        return df

    def get_optional(self, name: str) -> pd.DataFrame | None:
        """Artifact `name`, or None when its builder left it out of this run (see `builder(optional=)`)."""
        return None if self.is_absent(name) else self.get(name)

    def build(self, name: str) -> dict[str, pd.DataFrame]:
        """Run the builder of `name` and write all of its outputs atomically, then the manifest.

        An optional output the builder leaves out is recorded as absent, and a file an earlier
        build wrote for it is removed, so the run never shows a stale or empty stand-in."""
        b = get_builder(name)
        results = b.func(_BuilderStore(self, b))
        missing = [o for o in b.outputs if o not in results and o not in b.optional]
        if missing:
            raise ArtifactError(f"builder {b.name} did not return {missing}")
        self.put_many(results, section=b.section, key_of=self.expected_key, builder_name=b.name)
        left_out = [o for o in b.outputs if o not in results]
        with self.manifest_lock():
            m = self.manifest()
            had_absent = any(o in m.get(ABSENT, {}) for o in b.outputs)
            for o in b.outputs:
                m.get(ABSENT, {}).pop(o, None)
            for o in left_out:
                self.path(o).unlink(missing_ok=True)
                m.get("artifacts", {}).pop(o, None)
                self._memo.pop(o, None)
                m.setdefault(ABSENT, {})[o] = {"key": self.expected_key(o), "builder": b.name, "section": b.section}
            if left_out or had_absent:
                atomic_write_text(self.manifest_path, json.dumps(m, indent=2, sort_keys=True))
        return results

    def put_many(
        self,
        tables: dict[str, pd.DataFrame],
        section: str,
        key_of: Callable[[str], str] | None = None,
        builder_name: str = "",
    ) -> None:
        """Write several tables, then record them in the manifest in one update."""
        entries: dict[str, dict[str, Any]] = {}
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        for name, df in tables.items():
            path = write_frame(df, self.path(name))
            self._memo[name] = read_frame(path) if name.endswith(".csv") else df
            entries[name] = {
                "path": str(path.relative_to(self.run_dir)),
                "rows": int(len(df)),
                "columns": [str(c) for c in df.columns],
                "key": key_of(name) if key_of else "",
                "builder": builder_name,
                "section": section,
                "seed": self.params.seed,
                "parameters": self.params.section(section).model_dump(mode="json"),
                "data_fingerprint": self.data_fingerprint(section),
                "simulated": self.is_simulated(section),
                "package_version": __version__,
                "code_fingerprint": code_fingerprint(get_builder(name).func.__module__) if builder_name else "",
                "sha256": file_sha256(path),
                "size": path.stat().st_size,
                "mtime_ns": path.stat().st_mtime_ns,
                "written_at": now,
            }
        self._update_manifest("artifacts", entries)

    # -- report outputs ------------------------------------------------------------------------
    def save_table(self, df: pd.DataFrame, name: str, section: str) -> Path:
        """Write a small report table to writeup/tables/<name>.csv and record it."""
        fname = name if name.endswith(".csv") else f"{name}.csv"
        path = write_frame(df, self.tables_dir / fname)
        self._update_manifest(
            "tables",
            {fname: {"path": str(path.relative_to(self.run_dir)), "section": section,
                     "parameters": self.params.section(section).model_dump(mode="json"),
                     "seed": self.params.seed, "package_version": __version__}},
        )
        return path

    def save_figure(self, fig: Any, name: str, section: str, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
        """Save a matplotlib figure under writeup/figures/ as PNG and SVG, atomically."""
        paths = []
        for fmt in formats:
            target = self.figures_dir / f"{name}.{fmt}"
            kwargs: dict[str, Any] = {"dpi": 160, "bbox_inches": "tight"}
            if fmt == "svg":
                kwargs["metadata"] = {"Date": None}
            elif fmt == "png":
                kwargs["metadata"] = {"Software": None}
            paths.append(_atomic(target, lambda p, f=fmt, k=kwargs: fig.savefig(p, format=f, **k)))
        self._update_manifest(
            "figures",
            {name: {"files": [str(p.relative_to(self.run_dir)) for p in paths], "section": section}},
        )
        return paths
