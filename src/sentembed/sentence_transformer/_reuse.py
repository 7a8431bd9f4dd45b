"""What `encode` reuses or splits: cached vectors (`cache=`) and chunked long texts (`chunking=`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import torch

from sentembed.cache import EmbeddingCache, entry_keys, model_fingerprint
from sentembed.chunking import Chunking
from sentembed.sentence_transformer._encoding import EncodeRequest

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
    model: Any,
    prompt: str | None,
    output_value: str | None,
    route: str | None = None,
    processing_kwargs: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything besides the text that changes the model's raw output for it (with a Router, the route too;
    per-call `processing_kwargs` too). The options `encode` applies afterwards (truncate_dim,
    normalize_embeddings, precision) run on cached and fresh vectors alike."""
    parts = {
        "model": model_fingerprint(model),
        "prompt": prompt or "",
        "max_seq_length": str(model.max_seq_length),
        "output_value": output_value,
    }
    if route is not None:
        parts["route"] = route
    if processing_kwargs:
        parts["processing_kwargs"] = processing_kwargs
    return parts


def encode_through_cache(
    cache: EmbeddingCache,
    parts: dict[str, Any],
    request: EncodeRequest,
    run: Callable[[EncodeRequest], Any],
) -> torch.Tensor | list[torch.Tensor]:
    """The raw outputs for the request's texts: cached ones read and checked, the rest encoded together and
    written (rows holding NaN or inf are returned but never written)."""
    cache.check_model(parts["model"])
    keys = entry_keys(parts, request.texts)
    found = cache.get_many(keys)
    missing = [index for index in range(len(keys)) if index not in found]
    fresh: dict[int, torch.Tensor] = {}
    if missing:
        fresh = dict(
            zip(
                missing,
                run(dataclasses.replace(request, texts=[request.texts[index] for index in missing])),
                strict=True,
            )
        )
        finite = [index for index in missing if bool(torch.isfinite(fresh[index]).all())]
        cache.put_many([keys[index] for index in finite], [fresh[index] for index in finite])
    if found:
        check_entries(cache, list(found.values()), row_shape(parts, fresh, request, run))
    rows = [found[index] if index in found else fresh[index] for index in range(len(keys))]
    return torch.stack(rows) if request.output_value == "sentence_embedding" else rows


# The (dtype, rank, width) of the rows a model state gives with given options (the cache key parts, which hold
# the model's fingerprint): learnt from fresh rows, or from encoding one text, and remembered.
_ROW_SHAPES: dict[str, tuple[torch.dtype, int, int]] = {}
MAX_REMEMBERED_SHAPES = 256


def row_shape(
    parts: dict[str, Any], fresh: dict[int, torch.Tensor], request: EncodeRequest, run: Callable[[EncodeRequest], Any]
) -> tuple[torch.dtype, int, int]:
    """The dtype, rank and width of the rows this model gives for this request: a fresh row's, or remembered,
    or (once per model state and options) the first text's, encoded again."""
    key = json.dumps(parts, sort_keys=True, default=str)
    if fresh:
        row = next(iter(fresh.values()))
    elif key in _ROW_SHAPES:
        return _ROW_SHAPES[key]
    else:
        row = run(dataclasses.replace(request, texts=request.texts[:1]))[0]
    if len(_ROW_SHAPES) >= MAX_REMEMBERED_SHAPES:
        _ROW_SHAPES.clear()
    _ROW_SHAPES[key] = (row.dtype, row.ndim, row.shape[-1])
    return _ROW_SHAPES[key]


def check_entries(cache: EmbeddingCache, rows: list[torch.Tensor], shape: tuple[torch.dtype, int, int]) -> None:
    """Refuse cached rows that this model cannot have given: another dtype, rank or width, or NaN or inf (encode
    never writes those, so the file was changed outside sentembed): an OSError naming the cache file."""
    problem = next(filter(None, (_shape_problem(row, shape) for row in rows)), None)
    if problem is None and not _all_finite(rows, shape[1]):
        problem = "holds NaN or inf"
    if problem is not None:
        raise OSError(
            f"{cache.path}: an entry {problem}; the file was changed outside sentembed: clear the cache "
            "(EmbeddingCache.clear) or delete the file"
        )


def _shape_problem(row: torch.Tensor, shape: tuple[torch.dtype, int, int]) -> str | None:
    """What is wrong with a cached row's dtype or shape for this model, or None."""
    dtype, rank, width = shape
    if row.dtype != dtype:
        return f"holds {_dtype_name(row.dtype)} values where this model gives {_dtype_name(dtype)}"
    if row.ndim != rank or row.shape[-1] != width:
        return f"has shape {list(row.shape)} where this model gives rows of width {width}"
    return None


def _all_finite(rows: list[torch.Tensor], rank: int) -> bool:
    """Whether no row holds NaN or inf: one check over the stacked rows of sentence embeddings."""
    if rank == 1:
        return bool(torch.isfinite(torch.stack(rows)).all())
    return all(bool(torch.isfinite(row).all()) for row in rows)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


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
