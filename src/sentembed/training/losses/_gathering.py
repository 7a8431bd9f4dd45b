"""Embeddings from every process of a distributed run, for losses whose negatives span all devices.

Outside a distributed run (or with one process) these are the identity, so `gather_across_devices=True`
is safe everywhere.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def local_offset(local_rows: int) -> int:
    """Where this process's rows start in the gathered batch (every process holds `local_rows`)."""
    return dist.get_rank() * local_rows if world_size() > 1 else 0


def gather_with_grad(embeddings: torch.Tensor) -> torch.Tensor:
    """All processes' embeddings, concatenated in rank order; gradients flow back to this process's rows."""
    if world_size() == 1:
        return embeddings
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(embeddings.contiguous()))


def gather_without_grad(embeddings: torch.Tensor) -> torch.Tensor:
    """All processes' embeddings, concatenated in rank order, detached (e.g. a guide model's)."""
    if world_size() == 1:
        return embeddings
    parts = [torch.empty_like(embeddings) for _ in range(world_size())]
    dist.all_gather(parts, embeddings.contiguous())
    return torch.cat(parts)
