"""Ray itself: importing it (an optional dependency), joining or starting a cluster, and sizing actor pools."""

from __future__ import annotations

import numbers
from typing import Any

from sentembed.common.checks import check_positive_int
from sentembed.common.runtime import available_cores

INSTALL_HINT = 'pip install "sentembed[ray]"'


def require_ray() -> Any:
    """The `ray` module, or an ImportError that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the ray[data] extra, not just ray core)
    except ImportError as error:
        raise ImportError(f"sentembed.distributed needs Ray Data: {INSTALL_HINT}") from error
    return ray


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at `address`, or start a local one on this machine's cores; nothing if Ray is up.

    Args:
        address: A Ray cluster address such as "ray://head:10001", or "auto". Default None: a local cluster.

    Raises:
        ImportError: Ray is not installed (the `ray` extra).
        ValueError: An address that is not a non-empty string.
    """
    ray = require_ray()
    if ray.is_initialized():
        return
    if address is None:
        ray.init(num_cpus=available_cores(), include_dashboard=False)
    else:
        if not isinstance(address, str) or not address:
            raise ValueError(f"address must be a Ray cluster address such as 'ray://head:10001', got {address!r}")
        ray.init(address=address)


def check_resources(value: Any, name: str) -> float:
    """A non-negative number of CPUs or GPUs per worker (fractions allowed, bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def actor_pool(
    workers: int | None, cpus_per_worker: float, gpus_per_worker: float, most: int | None = None
) -> dict[str, Any]:
    """`map_batches` keywords for a pool of `workers` actors (default: as many as the cluster holds now; never
    more than `most`), each holding `cpus_per_worker` CPUs and `gpus_per_worker` GPUs. Ray Data restarts an
    actor that dies and runs its batches again (its default for actor pools)."""
    ray = require_ray()
    workers, cpus, gpus = check_pool(workers, cpus_per_worker, gpus_per_worker)
    check_nodes_fit([node["Resources"] for node in ray.nodes() if node.get("Alive")], cpus, gpus)
    if workers is None:
        workers = pool_size(ray.cluster_resources(), cpus, gpus)
    if most is not None:
        workers = min(workers, most)
    return {
        "compute": ray.data.ActorPoolStrategy(size=workers),
        "num_cpus": cpus,
        "num_gpus": gpus,
    }


def check_nodes_fit(nodes: list[dict[str, float]], cpus: float, gpus: float) -> None:
    """Refuse a worker that no node of the cluster can hold (Ray would wait for one forever): a ValueError saying
    what the largest node has.

    Args:
        nodes: each live node's resources, as `ray.nodes()` gives them ({"CPU": 8.0, "GPU": 1.0, ...}).
        cpus: CPUs per worker.
        gpus: GPUs per worker.
    """
    for resource, wanted, name in (("GPU", gpus, "gpus_per_worker"), ("CPU", cpus, "cpus_per_worker")):
        largest = max((node.get(resource, 0) for node in nodes), default=0)
        if wanted > largest:
            raise ValueError(
                f"{name}={wanted:g}, but no node of the Ray cluster has {wanted:g} {resource}"
                f"{'s' if wanted != 1 else ''} (the largest has {largest:g}), so Ray would wait for one forever; "
                f"lower {name} or join a cluster whose nodes have them"
            )


def check_pool(workers: Any, cpus_per_worker: Any, gpus_per_worker: Any) -> tuple[int | None, float, float]:
    """The pool's size (None: fit the cluster) and each worker's CPUs and GPUs, checked."""
    return (
        check_positive_int(workers, "workers", optional=True),
        check_resources(cpus_per_worker, "cpus_per_worker"),
        check_resources(gpus_per_worker, "gpus_per_worker"),
    )


def pool_size(resources: dict[str, float], cpus: float, gpus: float) -> int:
    """How many workers of this shape the cluster's resources hold (at least one)."""
    fits = [resources.get("CPU", 0) / cpus] if cpus else []
    if gpus:
        fits.append(resources.get("GPU", 0) / gpus)
    return max(1, int(min(fits))) if fits else 1
