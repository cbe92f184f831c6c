"""Scaling out with Ray: connecting to a cluster and running actor pools over Ray Data.

A shared service below the rooms: it knows Ray and nothing of any model. A room hands it a
dataset, a callable class that loads its model once in ``__init__`` and processes batches in
``__call__``, and what one actor needs; this module sizes the pool from the cluster's resources
(one GPU per actor where the cluster has GPUs) and leaves Ray's own progress bars off, since the
driver reports progress through the library's callback as results arrive.

Ray is an optional extra (``pip install 'polymodal[ray]'``): it is imported only when a function
here is called, and a missing install is a :class:`~polymodal.errors.DependencyMissingError`
naming the extra.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from polymodal.errors import BadInputError, require

EXTRA = "ray"
SMALL_HOST_BYTES = 64 * 2**30
"""Below this much memory a host is small: a local cluster gets :data:`LOCAL_OBJECT_STORE_BYTES`."""
LOCAL_OBJECT_STORE_BYTES = 2**30
"""Object store of a local cluster on a small host. Ray reserves 30 % of memory by default (7 GiB
of shared memory on a 24 GiB host, taken from the work running beside it); our rows are file
paths, transcripts and embedding batches, kilobytes to a few megabytes each, and Ray spills to
disk beyond the cap rather than failing."""


def require_ray() -> ModuleType:
    """The ``ray`` module with Ray Data, or a :class:`DependencyMissingError` naming the extra."""
    ray = require("ray", EXTRA)
    require("ray.data", EXTRA)
    return ray


def local_object_store_bytes(total_memory: int | None = None) -> int | None:
    """The object store cap for a local cluster: :data:`LOCAL_OBJECT_STORE_BYTES` on a small host,
    ``None`` (Ray's default) on a large one. ``total_memory`` defaults to this host's."""
    if total_memory is None:
        total_memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return LOCAL_OBJECT_STORE_BYTES if total_memory < SMALL_HOST_BYTES else None


def connect(address: str | None = None, *, num_cpus: int | None = None) -> ModuleType:
    """Ray, connected: an initialised session is reused as it is (a test's or a notebook's
    ``ray.init``), else ``ray.init(address)`` runs once for the process and stays up for the
    next call, since starting a cluster costs seconds.

    ``address``: ``None`` starts a local cluster (or joins ``RAY_ADDRESS`` when that is set),
    ``"auto"`` joins the cluster started on this machine with ``ray start --head``, and
    ``"ray://head:10001"`` connects to a remote cluster through Ray Client. Only a local cluster
    takes ``num_cpus`` and the small-host object store cap. A cluster that cannot be reached is
    a :class:`BadInputError` on ``address``.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    options: dict[str, Any] = {}
    if address is None and not os.environ.get("RAY_ADDRESS"):
        options = {"num_cpus": num_cpus, "object_store_memory": local_object_store_bytes()}
    try:
        ray.init(address=address, **options)
    except (ConnectionError, ValueError) as exc:
        where = f"at {address}" if address else "named by RAY_ADDRESS"
        raise BadInputError(
            f"Cannot connect to the Ray cluster {where}: {exc}", param="address"
        ) from exc
    return ray


@dataclass(frozen=True)
class PoolPlan:
    """An actor pool's size and what each actor reserves, and how many items go in one call."""

    size: int
    num_cpus: float
    num_gpus: float
    memory: int | None
    batch_size: int


def plan_pool(
    resources: Mapping[str, float],
    items: int,
    *,
    batch_size: int,
    cpus: float = 1.0,
    memory: int | None = None,
    gpus: bool = True,
) -> PoolPlan:
    """How many actors ``resources`` (``ray.cluster_resources()``) can hold for ``items`` items.

    With GPUs (and ``gpus`` allowed) each actor takes one, so the pool has one actor per GPU;
    otherwise as many actors as the CPUs (``cpus`` each) and the memory (``memory`` bytes each,
    a loaded model's peak) allow. Never more actors than items, each loading a model for
    nothing, and at least one (an autoscaling cluster may add nodes). The items per call are
    ``batch_size`` at most, fewer when there are few items, so every actor gets some.
    """
    limits = [int(resources.get("CPU", 1) // cpus)]
    if memory:
        limits.append(int(resources.get("memory", memory) // memory))
    has_gpus = gpus and resources.get("GPU", 0) >= 1
    if has_gpus:
        limits.append(int(resources["GPU"]))
    size = max(1, min(*limits, items))
    per_call = max(1, min(batch_size, math.ceil(items / size)))
    return PoolPlan(size, cpus, 1.0 if has_gpus else 0.0, memory, per_call)


def map_with_actors(
    dataset: Any,
    actor: type,
    *,
    constructor_kwargs: Mapping[str, Any],
    items: int,
    batch_size: int,
    cpus: float = 1.0,
    memory: int | None = None,
    gpus: bool = True,
) -> Any:
    """``dataset.map_batches`` through a fixed pool of ``actor`` instances sized by
    :func:`plan_pool` for the connected cluster; each actor is built once with
    ``constructor_kwargs`` (plain picklable data), so its model loads once.

    Ray Data's own progress output is turned off for this dataset: the caller reports progress
    as it receives the results.
    """
    ray = require_ray()
    plan = plan_pool(
        ray.cluster_resources(), items, batch_size=batch_size, cpus=cpus, memory=memory, gpus=gpus
    )
    dataset.context.enable_progress_bars = False
    dataset.context.print_on_execution_start = False
    return dataset.map_batches(
        actor,
        fn_constructor_kwargs=dict(constructor_kwargs),
        compute=ray.data.ActorPoolStrategy(size=plan.size),
        batch_size=plan.batch_size,
        num_cpus=plan.num_cpus,
        num_gpus=plan.num_gpus or None,
        memory=plan.memory,
    )
