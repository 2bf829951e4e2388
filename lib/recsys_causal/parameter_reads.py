"""Which parameters a computation actually reads: views of `Params` that record or refuse reads.

Freshness is only as good as the list of parameters it hashes. A builder declares its `keys`;
while it runs it sees the parameters through a view that refuses any other key of its section,
so a builder cannot quietly depend on a parameter its artifacts' key leaves out. A chapter
notebook sees them through a view that records every key it reads, and the chapter's key hashes
exactly those (`recsys_causal.freeze`), so changing a parameter re-executes only the chapters
that read it or read an artifact made from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel

#: keys that change how fast a result is computed, never the result (free to read, never hashed)
SPEED_KEYS: frozenset[str] = frozenset({"n_jobs", "backend", "scheduler_address", "memory_limit", "spark_master"})

#: keys the data fingerprint of a track already covers (`recsys_causal.data.fingerprint`): the data
#: source and the simulator's settings
DATA_KEYS: frozenset[str] = frozenset({"data_path", "experiment_path"})
SIMULATOR_PREFIX = "sim_"


def covered_by_fingerprint(key: str) -> bool:
    """True for a key whose value every artifact key already hashes through the data fingerprint."""
    return key in DATA_KEYS or key.startswith(SIMULATOR_PREFIX)


#: methods that read a whole section (or model) at once
_WHOLE_READS = frozenset({"model_dump", "model_dump_json", "__iter__", "__eq__", "dict", "json"})


class UndeclaredParameter(RuntimeError):
    """A computation read a parameter its declaration leaves out."""


Reader = Callable[[str, str], None]  # (section, key) -> None; key "*" reads the whole section


class SectionView:
    """A read-through view of one parameter section that reports each key read to `reader`."""

    __slots__ = ("_name", "_reader", "_section")

    def __init__(self, section: BaseModel, name: str, reader: Reader):
        object.__setattr__(self, "_section", section)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_reader", reader)

    def __getattr__(self, key: str) -> Any:
        sec = object.__getattribute__(self, "_section")
        name = object.__getattribute__(self, "_name")
        reader = object.__getattribute__(self, "_reader")
        if key in type(sec).model_fields:
            reader(name, key)
        elif key in _WHOLE_READS:
            reader(name, "*")
        elif key == "model_copy":  # a copy is read through the same view
            return lambda *a, **kw: SectionView(sec.model_copy(*a, **kw), name, reader)
        return getattr(sec, key)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (for a worker process) as the plain section: workers compute, the parent checks."""
        return (_plain, (object.__getattribute__(self, "_section"),))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"parameters are read-only here (tried to set {self._name}.{key})")

    def __repr__(self) -> str:
        return f"SectionView({object.__getattribute__(self, '_name')})"


class ParamsView:
    """A read-through view of `Params` whose sections are `SectionView`s reporting to `reader`."""

    __slots__ = ("_params", "_reader")

    def __init__(self, params: BaseModel, reader: Reader):
        object.__setattr__(self, "_params", params)
        object.__setattr__(self, "_reader", reader)

    def section(self, name: str) -> SectionView:
        """Section `name`, as a view."""
        params = object.__getattribute__(self, "_params")
        return SectionView(params.section(name), name, object.__getattribute__(self, "_reader"))

    def __getattr__(self, key: str) -> Any:
        params = object.__getattribute__(self, "_params")
        fields = type(params).model_fields
        if key in fields and isinstance(getattr(params, key), BaseModel):
            return self.section(key)
        if key in fields:
            object.__getattribute__(self, "_reader")("", key)
        elif key in _WHOLE_READS or key in ("to_dict",):
            object.__getattribute__(self, "_reader")("*", "*")
        return getattr(params, key)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"parameters are read-only here (tried to set {key})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_plain, (object.__getattribute__(self, "_params"),))


def _plain(section: BaseModel) -> BaseModel:
    return section


def unwrap(params: Any) -> Any:
    """The `Params` (or section) behind a view, or `params` itself."""
    if isinstance(params, ParamsView):
        return object.__getattribute__(params, "_params")
    if isinstance(params, SectionView):
        return object.__getattribute__(params, "_section")
    return params


def guarded(params: BaseModel, section: str, keys: Iterable[str] | None, owner: str) -> ParamsView:
    """A view of `params` that raises `UndeclaredParameter` when `owner` reads a key of `section`
    outside `keys` (None: the whole section is declared). The seed, `SPEED_KEYS` and the keys the
    data fingerprint covers are free;
    other sections are refused outright (a builder is keyed on its own section)."""
    allowed = None if keys is None else frozenset(keys) | SPEED_KEYS
    fields = set(type(params.section(section)).model_fields)  # type: ignore[attr-defined]
    whole = allowed is None or all(k in allowed or covered_by_fingerprint(k) for k in fields)

    def check(sec: str, key: str) -> None:
        if sec == "" and key == "seed":
            return
        if sec == section and (key == "*" and whole or allowed is None or key in allowed
                               or covered_by_fingerprint(key)):
            return
        what = f"{sec}.{key}" if sec and key != "*" else (f"all of {sec}" if sec not in ("", "*") else "all parameters")
        declared = "the whole section" if allowed is None else ", ".join(sorted(allowed - SPEED_KEYS)) or "none"
        raise UndeclaredParameter(f"{owner} reads {what}, which is not among its declared keys ({section}: {declared}); "
                                  "declare it so the artifacts' freshness follows it")

    return ParamsView(params, check)


class ReadLog:
    """Records the parameters read through `view()`: `section.key` names, `section.*` for a whole
    section, `*` for every parameter."""

    def __init__(self, params: BaseModel, on_new: Callable[[frozenset[str]], None] | None = None):
        self.params = params
        self.reads: set[str] = set()
        self._on_new = on_new

    def _record(self, section: str, key: str) -> None:
        name = "*" if section == "*" else (key if not section else f"{section}.{key}")
        if name.split(".")[-1] in SPEED_KEYS or name in self.reads:
            return
        self.reads.add(name)
        if self._on_new is not None:
            self._on_new(frozenset(self.reads))

    def record(self, name: str) -> None:
        """Record a read made outside the view (e.g. a notebook global): 'section.key' or 'seed'."""
        section, _, key = name.rpartition(".")
        self._record(section, key)

    def view(self) -> ParamsView:
        """The recording view of the parameters."""
        return ParamsView(self.params, self._record)
