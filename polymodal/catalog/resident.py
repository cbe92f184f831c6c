"""Resident models: each loaded once, shared by every caller, evicted least-recently-used
under the memory budget (``POLYMODAL_MEMORY_MB``, see :func:`polymodal.config.default_memory_mb`).

A model is keyed by its family, its identity (the catalogue name, or the absolute path of a
local directory), and its loader options with the loader's own defaults filled in (so
``load(m, "clip")`` and ``load(m, "clip", backend="auto")`` are one model). The key is
computed from the request alone, so a resident model is returned without touching the disk:
:func:`~polymodal.catalog.locate.resolve` and its Hugging Face cache scan run only on a miss.

Loading takes no global lock: two keys load in parallel (a large Whisper load does not hold up
a CLIP request), and callers of one key share one load, the later ones waiting for the first's
result. A failed load is not kept: every caller waiting on it gets its error, the next call
tries again.

Memory per model, first that applies: the ``memory_mb`` attribute of what the loader returned
(a loader that knows its footprint says so); the growth of the process's resident set during
the load, when no other load ran at the same time (it also counts a library imported by that
first load, so it errs on the large side, and sees host memory only, not an accelerator's);
the catalogue's ``memory_mb``; the size of the weights on disk.

What a model makes after its load (the compiled UNet a first generation request exports) is
added to its record by :func:`grew`, with the same eviction.

A model larger than the whole budget is loaded alone: every other model is evicted first and a
warning is logged. Refusing it would make a default budget on a small machine reject the one
model the user asked for; a warning tells them to raise the budget or pick a smaller model.

Evicting (or :func:`unload`) drops only the cache's reference: a caller still holding the model
keeps using it, and its memory is freed when the last holder lets go.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

from polymodal.catalog import locate
from polymodal.catalog.specs import get_spec, loader_for
from polymodal.config import settings

log = logging.getLogger(__name__)

Key = tuple[str, str, tuple[tuple[str, Any], ...]]


@dataclass(frozen=True)
class ResidentModel:
    """A model the cache holds now. ``memory_from`` says where ``memory_mb`` came from
    (``loader``, ``measured``, ``catalogue`` or ``disk``); ``last_used`` is a Unix time;
    ``load_seconds`` is how long its loader ran (what the first caller waited)."""

    name: str
    family: str
    source: str
    options: dict[str, Any]
    memory_mb: float
    memory_from: str
    last_used: float
    load_seconds: float = 0.0


@dataclass
class _Entry:
    model: Any
    record: ResidentModel


def _identity(name: str) -> str:
    """The model a request names, without reading the disk beyond one ``stat``: the absolute
    path of a local directory, else the catalogue name (a Hugging Face id maps to its entry)."""
    local = locate.local_dir(name)
    return str(local) if local is not None else get_spec(name).name


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _options(loader: Callable[..., Any], options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The options as the loader will see them: its keyword defaults, overridden by the caller's."""
    try:
        parameters = inspect.signature(loader).parameters.values()
    except (TypeError, ValueError):
        parameters = []
    defaults = {
        p.name: p.default
        for p in parameters
        if p.default is not inspect.Parameter.empty
        and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    return tuple(sorted((k, _freeze(v)) for k, v in {**defaults, **options}.items()))


def _rss_mb() -> float | None:
    """This process's resident set in MB (Linux), or ``None`` where it cannot be read."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class _Cache:
    """The resident models and the loads in flight; one short lock guards both tables."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()  # least recently used first
        self._pending: dict[Key, Future[Any]] = {}
        self._reserved: dict[Key, float] = {}  # loads in flight -> their estimated memory
        self._overlapped: set[Key] = set()  # loads that ran beside another (RSS not theirs)

    def get(self, key: Key, build: Callable[[Key, float], _Entry]) -> Any:
        """The resident model for ``key``, or the result of the one ``build`` running for it
        (called with the key and the budget in MB, read once per load)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                entry.record = replace(entry.record, last_used=time.time())
                return entry.model
            pending = self._pending.get(key)
            leader = pending is None
            if leader:
                pending = self._pending[key] = Future()
        assert pending is not None
        if not leader:
            return pending.result()
        try:
            budget = settings().memory_mb
            entry = build(key, budget)
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            pending.set_exception(exc)
            raise
        with self._lock:
            del self._pending[key]
            self._entries[key] = entry
            self._evict(key, 0.0, budget)
        _warn_if_too_large(entry.record, budget)
        pending.set_result(entry.model)
        return entry.model

    def reserve(self, key: Key, estimate_mb: float, budget: float) -> None:
        """Make room for a load about to start: evict least recently used models first."""
        with self._lock:
            if self._reserved:
                self._overlapped.update([*self._reserved, key])
            self._reserved[key] = estimate_mb
            self._evict(key, estimate_mb, budget)

    def release(self, key: Key) -> bool:
        """End a load's reservation; whether its RSS growth was its own (no load beside it)."""
        with self._lock:
            self._reserved.pop(key, None)
            alone = key not in self._overlapped
            self._overlapped.discard(key)
            return alone

    def _evict(self, keep: Key, extra_mb: float, budget: float) -> None:
        """Drop least recently used models (never ``keep``) while they, the loads in flight and
        ``extra_mb`` are over ``budget``. The caller holds the lock."""
        others = sum(mb for k, mb in self._reserved.items() if k != keep) + extra_mb
        for key in list(self._entries):
            used = others + sum(e.record.memory_mb for e in self._entries.values())
            if used <= budget:
                break
            if key != keep:
                dropped = self._entries.pop(key).record
                log.info(
                    "Evicted %s (%.0f MB) to stay within %.0f MB.",
                    dropped.name,
                    dropped.memory_mb,
                    budget,
                )

    def grow(self, model: Any, extra_mb: float, budget: float) -> ResidentModel | None:
        """Count ``extra_mb`` more for the resident ``model`` (found by identity) and evict
        least recently used others to stay within ``budget``; ``None`` if it is not resident."""
        with self._lock:
            for key, entry in self._entries.items():
                if entry.model is model:
                    memory = round(entry.record.memory_mb + extra_mb, 1)
                    entry.record = replace(entry.record, memory_mb=memory)
                    self._evict(key, 0.0, budget)
                    return entry.record
        return None

    def drop(self, match: Callable[[Key], bool]) -> tuple[ResidentModel, ...]:
        with self._lock:
            keys = [key for key in self._entries if match(key)]
            return tuple(self._entries.pop(key).record for key in keys)

    def records(self) -> tuple[ResidentModel, ...]:
        with self._lock:
            return tuple(entry.record for entry in self._entries.values())


_CACHE = _Cache()


def _warn_if_too_large(record: ResidentModel, budget: float) -> None:
    if record.memory_mb > budget:
        log.warning(
            "Model %s holds about %.0f MB, more than the whole memory budget of %.0f MB "
            "(POLYMODAL_MEMORY_MB): it stays resident alone.",
            record.name,
            record.memory_mb,
            budget,
        )


def _memory(
    model: Any, grown_mb: float | None, resolved: locate.ResolvedModel
) -> tuple[float, str]:
    declared = getattr(model, "memory_mb", None)
    if isinstance(declared, int | float) and declared > 0:
        return float(declared), "loader"
    if grown_mb is not None and grown_mb >= 1:
        return grown_mb, "measured"
    if resolved.spec.memory_mb > 0:
        return float(resolved.spec.memory_mb), "catalogue"
    return locate.on_disk_mb(resolved.path), "disk"


def _build(
    name: str, family: str, loader: Callable[..., Any], options: dict[str, Any]
) -> Callable[[Key], _Entry]:
    def build(key: Key, budget: float) -> _Entry:
        resolved = locate.resolve(name, family)
        estimate = resolved.spec.memory_mb or locate.on_disk_mb(resolved.path)
        _CACHE.reserve(key, estimate, budget)
        try:
            before, started = _rss_mb(), time.monotonic()
            model = loader(resolved, **options)
            after, seconds = _rss_mb(), time.monotonic() - started
        finally:
            alone = _CACHE.release(key)
        grown = after - before if alone and before is not None and after is not None else None
        memory_mb, memory_from = _memory(model, grown, resolved)
        record = ResidentModel(
            name=resolved.spec.name,
            family=family,
            source=resolved.spec.source,
            options=dict(key[2]),
            memory_mb=round(memory_mb, 1),
            memory_from=memory_from,
            last_used=time.time(),
            load_seconds=round(seconds, 3),
        )
        return _Entry(model, record)

    return build


def load(name_or_path: str | os.PathLike[str] | None, family: str, **loader_options: Any) -> Any:
    """The model, loaded once per (family, model, options) and shared: the only door to a model.

    ``name_or_path`` is a catalogue name, a catalogue model's Hugging Face id, a local
    directory, or ``None`` for the family's default. The family's loader receives the
    :class:`~polymodal.catalog.locate.ResolvedModel` and ``loader_options`` unchanged.
    """
    loader = loader_for(family)
    name = locate.requested_name(name_or_path, family)
    key: Key = (family, _identity(name), _options(loader, loader_options))
    return _CACHE.get(key, _build(name, family, loader, loader_options))


def unload(
    name_or_path: str | os.PathLike[str] | None = None, family: str | None = None
) -> tuple[ResidentModel, ...]:
    """Drop resident models: those of ``name_or_path`` (every option set) and/or ``family``,
    or all when neither is given. Returns what was dropped; loads still in flight stay."""
    identity = _identity(str(name_or_path)) if name_or_path else None

    def match(key: Key) -> bool:
        return (family is None or key[0] == family) and (identity is None or key[1] == identity)

    return _CACHE.drop(match)


def grew(model: Any, extra_mb: float) -> None:
    """A resident model made ``extra_mb`` more after its load (a compiled copy of its weights,
    made on first use): its record counts it from now on, and the least recently used other
    models are evicted to stay within the budget. A model the cache does not hold (built by
    hand, or evicted meanwhile) is left alone."""
    record = _CACHE.grow(model, extra_mb, settings().memory_mb)
    if record is not None:
        _warn_if_too_large(record, settings().memory_mb)


def resident() -> tuple[ResidentModel, ...]:
    """The models held now, least recently used (the next to be evicted) first."""
    return _CACHE.records()
