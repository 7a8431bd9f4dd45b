"""What `encode` reuses or splits: cached vectors (`cache=`) and chunked long texts (`chunking=`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from sentembed.cache import EmbeddingCache, model_fingerprint
from sentembed.cache.sqlite import entry_keys
from sentembed.chunking import Chunking
from sentembed.sentence_transformer.encoding import EncodeRequest

CACHEABLE_OUTPUTS = ("sentence_embedding", "token_embeddings")


def check_cache(cache: Any, output_value: str | None) -> EmbeddingCache | None:
    if cache is None:
        return None
    if not isinstance(cache, EmbeddingCache):
        raise TypeError(f"cache must be a sentembed.cache.EmbeddingCache, got {type(cache).__name__}")
    if output_value not in CACHEABLE_OUTPUTS:
        raise ValueError(f"the cache keeps {list(CACHEABLE_OUTPUTS)}, not output_value={output_value!r}")
    return cache


def cache_key_parts(
    model: Any, prompt: str | None, output_value: str | None, route: str | None = None
) -> dict[str, Any]:
    """Everything besides the text that changes the model's raw output for it (with a Router, the route too).
    The options `encode` applies afterwards (truncate_dim, normalize_embeddings, precision) run on cached and
    fresh vectors alike."""
    parts = {
        "model": model_fingerprint(model),
        "prompt": prompt or "",
        "max_seq_length": str(model.max_seq_length),
        "output_value": output_value,
    }
    if route is not None:
        parts["route"] = route
    return parts


def encode_through_cache(
    cache: EmbeddingCache,
    parts: dict[str, Any],
    request: EncodeRequest,
    run: Callable[[EncodeRequest], Any],
) -> torch.Tensor | list[torch.Tensor]:
    """The raw outputs for the request's texts: cached ones read, the rest encoded together and written."""
    cache.check_model(parts["model"])
    keys = entry_keys(parts, request.texts)
    found = cache.get_many(keys)
    missing = [index for index in range(len(keys)) if index not in found]
    if missing:
        fresh = run(dataclasses.replace(request, texts=[request.texts[index] for index in missing]))
        fresh_rows = list(fresh)
        cache.put_many([keys[index] for index in missing], fresh_rows)
        found.update(zip(missing, fresh_rows))
    rows = [found[index] for index in range(len(keys))]
    return torch.stack(rows) if request.output_value == "sentence_embedding" else rows


@dataclasses.dataclass
class ChunkedTexts:
    """Texts split into chunks: the chunk texts in order, and for each the index of the text it came from."""

    texts: list[str]
    owners: list[int]
    count: int
    pooling: str

    @classmethod
    def split(cls, model: Any, texts: list[str], chunking: Any, prompt: str | None) -> ChunkedTexts:
        settings = Chunking.coerce(chunking).for_model(model, prompt)
        pieces = settings.split(texts, model.tokenizer)
        owners = [owner for owner, chunks in enumerate(pieces) for _ in chunks]
        return cls([chunk.text for chunks in pieces for chunk in chunks], owners, len(texts), settings.pooling)

    def pool(self, chunk_embeddings: torch.Tensor) -> torch.Tensor:
        """One vector per text from its chunks' vectors: their mean or element-wise max."""
        owners = torch.tensor(self.owners, device=chunk_embeddings.device)
        shape = (self.count, chunk_embeddings.shape[1])
        if self.pooling == "max":
            empty = torch.full(shape, float("-inf"), dtype=chunk_embeddings.dtype, device=chunk_embeddings.device)
            return empty.scatter_reduce(0, owners[:, None].expand_as(chunk_embeddings), chunk_embeddings, "amax")
        sums = torch.zeros(shape, dtype=chunk_embeddings.dtype, device=chunk_embeddings.device)
        sums.index_add_(0, owners, chunk_embeddings)
        counts = torch.bincount(owners, minlength=self.count).clamp(min=1).to(chunk_embeddings.dtype)
        return sums / counts[:, None]
