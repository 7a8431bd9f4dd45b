"""MaxSim (late-interaction) scores between multi-vector embeddings: one vector per token.

A side is a padded (batch, tokens, dim) tensor or array, a list of (tokens_i, dim) items, or one (tokens, dim)
item. Masks mark the real tokens; without one, list items use their lengths and padded tensors their non-zero
rows. Scores are float32 (half-precision products are summed in float32), on the documents' device.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from sentembed.common.checks import check_positive_int, to_tensor

logger = logging.getLogger(__name__)

# Elements of the (queries, query tokens, documents, document tokens) products scored at once.
DEFAULT_CHUNK_ELEMENTS = 100_000_000
# A document without any real token scores this: below any real score, and finite, so losses stay finite.
EMPTY_DOCUMENT_SCORE = -1e9


def maxsim(
    a: Any,
    b: Any,
    a_mask: Any = None,
    b_mask: Any = None,
    chunk_elements: int | None = None,
    length_normalize: bool = False,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """MaxSim of every query in `a` with every document in `b`: the sum over query tokens of their best dot
    product with a document token.

    Args:
        a: The queries' token vectors: a padded (batch, tokens, dim) tensor or array, a list of (tokens_i, dim)
            items, or one (tokens, dim) item.
        b: The documents, in the same forms.
        a_mask: The queries' real tokens: a bool (batch, tokens) tensor or array, or a list of 1-D masks.
            Default None: list items' lengths, or a padded tensor's non-zero rows.
        b_mask: The documents' real tokens, in the same forms. Default None, as for `a_mask`.
        chunk_elements: How many elements of the token-by-token products to compute at once (a positive int),
            bounding memory. Default None: 100,000,000.
        length_normalize: Divide each score by the query's number of real tokens. Default False.
        device: Where to compute the products, e.g. "cuda". Default None: the documents' device.

    Returns:
        A float32 tensor of shape (len(a), len(b)) on the documents' device (a document without a real token
        scores -1e9).

    Raises:
        TypeError: Embeddings or masks in a form not listed above.
        ValueError: Queries and documents of different dimensions, masks that do not fit, or a
            `chunk_elements` that is not a positive int.
    """
    queries, query_mask = _side(a, a_mask, "a", "a_mask")
    documents, document_mask = _side(b, b_mask, "b", "b_mask")
    result_device = _result_device(b, a)
    if not len(queries) or not len(documents):
        return torch.zeros(len(queries), len(documents), dtype=torch.float32, device=result_device)
    _check_same_dim(queries, documents)
    budget = check_positive_int(chunk_elements, "chunk_elements", optional=True) or DEFAULT_CHUNK_ELEMENTS
    scoring_device = torch.device(device) if device is not None else result_device
    queries, query_mask = queries.to(scoring_device), query_mask.to(scoring_device)
    per_document = queries.shape[0] * queries.shape[1] * max(documents.shape[1], 1)
    step = max(1, budget // per_document)
    chunks = [
        _score_all_pairs(
            queries,
            query_mask,
            documents[start : start + step].to(scoring_device),
            document_mask[start : start + step].to(scoring_device),
        ).to(result_device)
        for start in range(0, len(documents), step)
    ]
    scores = torch.cat(chunks, dim=1)
    return _normalized(scores, query_mask, length_normalize).to(result_device)


def maxsim_pairwise(
    a: Any,
    b: Any,
    a_mask: Any = None,
    b_mask: Any = None,
    chunk_elements: int | None = None,
    length_normalize: bool = False,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """MaxSim of query i of `a` with document i of `b` only (see `maxsim`).

    Args:
        a: The queries' token vectors: a padded (batch, tokens, dim) tensor or array, a list of (tokens_i, dim)
            items, or one (tokens, dim) item.
        b: The documents, as many as queries, in the same forms.
        a_mask: The queries' real tokens: a bool (batch, tokens) tensor or array, or a list of 1-D masks.
            Default None: list items' lengths, or a padded tensor's non-zero rows.
        b_mask: The documents' real tokens, in the same forms. Default None, as for `a_mask`.
        chunk_elements: How many elements of the token-by-token products to compute at once (a positive int),
            bounding memory. Default None: 100,000,000.
        length_normalize: Divide each score by the query's number of real tokens. Default False.
        device: Where to compute the products, e.g. "cuda". Default None: the documents' device.

    Returns:
        A float32 tensor of shape (n,) on the documents' device.

    Raises:
        TypeError: Embeddings or masks in a form not listed above.
        ValueError: Queries and documents of different dimensions, masks that do not fit, or a
            `chunk_elements` that is not a positive int, or `a` and `b` of different lengths.
    """
    queries, query_mask = _side(a, a_mask, "a", "a_mask")
    documents, document_mask = _side(b, b_mask, "b", "b_mask")
    if len(queries) != len(documents):
        raise ValueError(
            f"a and b must hold the same number of items (query i is scored with document i), "
            f"got {len(queries)} and {len(documents)}"
        )
    result_device = _result_device(b, a)
    if not len(queries):
        return torch.zeros(0, dtype=torch.float32, device=result_device)
    _check_same_dim(queries, documents)
    budget = check_positive_int(chunk_elements, "chunk_elements", optional=True) or DEFAULT_CHUNK_ELEMENTS
    scoring_device = torch.device(device) if device is not None else result_device
    step = max(1, budget // (queries.shape[1] * max(documents.shape[1], 1)))
    chunks = []
    for start in range(0, len(queries), step):
        part = slice(start, start + step)
        chunk = (tensor[part].to(scoring_device) for tensor in (queries, query_mask, documents, document_mask))
        chunks.append(_score_aligned_pairs(*chunk).to(result_device))
    return _normalized(torch.cat(chunks), query_mask.to(result_device), length_normalize)


def mean_maxsim(
    a: Any,
    b: Any,
    a_mask: Any = None,
    b_mask: Any = None,
    chunk_elements: int | None = None,
    length_normalize: bool = True,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """`maxsim` divided by each query's number of real tokens (MeanMaxSim), so long queries do not score higher.

    Args:
        a: The queries' token vectors: a padded (batch, tokens, dim) tensor or array, a list of (tokens_i, dim)
            items, or one (tokens, dim) item.
        b: The documents, in the same forms.
        a_mask: The queries' real tokens: a bool (batch, tokens) tensor or array, or a list of 1-D masks.
            Default None: list items' lengths, or a padded tensor's non-zero rows.
        b_mask: The documents' real tokens, in the same forms. Default None, as for `a_mask`.
        chunk_elements: How many elements of the token-by-token products to compute at once (a positive int),
            bounding memory. Default None: 100,000,000.
        length_normalize: Divide each score by the query's number of real tokens. Default True.
        device: Where to compute the products, e.g. "cuda". Default None: the documents' device.

    Returns:
        A float32 tensor of shape (len(a), len(b)) on the documents' device.

    Raises:
        TypeError: Embeddings or masks in a form not listed above.
        ValueError: Queries and documents of different dimensions, masks that do not fit, or a
            `chunk_elements` that is not a positive int.
    """
    return maxsim(a, b, a_mask, b_mask, chunk_elements, length_normalize, device)


def mean_maxsim_pairwise(
    a: Any,
    b: Any,
    a_mask: Any = None,
    b_mask: Any = None,
    chunk_elements: int | None = None,
    length_normalize: bool = True,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """`maxsim_pairwise` divided by each query's number of real tokens (MeanMaxSim of aligned pairs).

    Args:
        a: The queries' token vectors: a padded (batch, tokens, dim) tensor or array, a list of (tokens_i, dim)
            items, or one (tokens, dim) item.
        b: The documents, as many as queries, in the same forms.
        a_mask: The queries' real tokens: a bool (batch, tokens) tensor or array, or a list of 1-D masks.
            Default None: list items' lengths, or a padded tensor's non-zero rows.
        b_mask: The documents' real tokens, in the same forms. Default None, as for `a_mask`.
        chunk_elements: How many elements of the token-by-token products to compute at once (a positive int),
            bounding memory. Default None: 100,000,000.
        length_normalize: Divide each score by the query's number of real tokens. Default True.
        device: Where to compute the products, e.g. "cuda". Default None: the documents' device.

    Returns:
        A float32 tensor of shape (n,) on the documents' device.

    Raises:
        TypeError: Embeddings or masks in a form not listed above.
        ValueError: Queries and documents of different dimensions, masks that do not fit, or a
            `chunk_elements` that is not a positive int, or `a` and `b` of different lengths.
    """
    return maxsim_pairwise(a, b, a_mask, b_mask, chunk_elements, length_normalize, device)


def _side(embeddings: Any, mask: Any, name: str, mask_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One side as a padded float (batch, tokens, dim) tensor and a bool (batch, tokens) mask of real tokens."""
    if isinstance(embeddings, (list, tuple)):
        items = [_float(to_tensor(item)) for item in embeddings]
        for index, item in enumerate(items):
            if item.dim() != 2:
                raise ValueError(f"{name}[{index}] must be a (tokens, dim) matrix, got shape {tuple(item.shape)}")
        if not items:
            return torch.zeros(0, 0, 0), torch.zeros(0, 0, dtype=torch.bool)
        padded = torch.nn.utils.rnn.pad_sequence(items, batch_first=True)
        lengths = torch.tensor([len(item) for item in items], device=padded.device)
        derived = torch.arange(padded.shape[1], device=padded.device)[None, :] < lengths[:, None]
    elif isinstance(embeddings, (torch.Tensor, np.ndarray)):
        padded = _float(to_tensor(embeddings))
        if padded.dim() == 2:
            padded = padded.unsqueeze(0)
        if padded.dim() != 3:
            raise ValueError(f"{name} must be 2-D (one item) or 3-D (a padded batch), got shape {tuple(padded.shape)}")
        derived = padded.ne(0).any(dim=-1)
    else:
        raise TypeError(f"{name} must be a tensor, an array or a list of matrices, got {type(embeddings).__name__}")
    return padded, derived if mask is None else _mask(mask, padded, mask_name)


def _float(tensor: torch.Tensor) -> torch.Tensor:
    """Quantized (integer) token vectors as float32, so products and masking work on them."""
    return tensor if tensor.is_floating_point() else tensor.float()


def _mask(mask: Any, padded: torch.Tensor, name: str) -> torch.Tensor:
    """A caller's mask (a tensor, an array, or a list of per-item 1-D masks) as bool (batch, tokens)."""
    if isinstance(mask, (list, tuple)):
        mask = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(item) for item in mask], batch_first=True)
    elif isinstance(mask, np.ndarray):
        mask = torch.from_numpy(mask)
    elif not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, an array or a list of per-item masks, got {type(mask).__name__}")
    mask = mask.to(padded.device).bool()
    if mask.dim() == 1:
        mask = mask.unsqueeze(0)
    if mask.shape[-1] != padded.shape[1]:
        raise ValueError(f"{name} covers {mask.shape[-1]} tokens, but the padded embeddings have {padded.shape[1]}")
    return mask.expand(padded.shape[0], -1)


def _check_same_dim(queries: torch.Tensor, documents: torch.Tensor) -> None:
    if queries.shape[-1] != documents.shape[-1]:
        raise ValueError(f"token embedding dimensions differ: {queries.shape[-1]} vs {documents.shape[-1]}")


def _result_device(documents: Any, queries: Any) -> torch.device:
    """The documents' device; the queries' when the documents are numpy; else the CPU."""
    for side in (documents, queries):
        if isinstance(side, torch.Tensor):
            return side.device
        if isinstance(side, (list, tuple)) and side and isinstance(side[0], torch.Tensor):
            return side[0].device
    return torch.device("cpu")


def _common_dtype(*tensors: torch.Tensor) -> list[torch.Tensor]:
    dtype = tensors[0].dtype
    for tensor in tensors[1:]:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return [tensor.to(dtype) for tensor in tensors]


def _score_all_pairs(
    queries: torch.Tensor, query_mask: torch.Tensor, documents: torch.Tensor, document_mask: torch.Tensor
) -> torch.Tensor:
    """(queries, documents) scores of one chunk of documents."""
    queries, documents = _common_dtype(queries, documents)
    products = torch.einsum("ash,bth->abst", queries, documents)
    products.masked_fill_(~document_mask[None, :, None, :], torch.finfo(products.dtype).min)
    best = products.max(dim=-1).values if products.shape[-1] else products.new_zeros(products.shape[:3])
    scores = (best.float() * query_mask[:, None, :]).sum(dim=-1)
    return _fill_empty_documents(scores, ~document_mask.any(dim=-1)[None, :])


def _score_aligned_pairs(
    queries: torch.Tensor, query_mask: torch.Tensor, documents: torch.Tensor, document_mask: torch.Tensor
) -> torch.Tensor:
    """(n,) scores of query i with document i, for one chunk of pairs."""
    queries, documents = _common_dtype(queries, documents)
    products = torch.einsum("bsh,bth->bst", queries, documents)
    products.masked_fill_(~document_mask[:, None, :], torch.finfo(products.dtype).min)
    best = products.max(dim=-1).values if products.shape[-1] else products.new_zeros(products.shape[:2])
    scores = (best.float() * query_mask).sum(dim=-1)
    return _fill_empty_documents(scores, ~document_mask.any(dim=-1))


def _fill_empty_documents(scores: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
    """Documents without a real token score `EMPTY_DOCUMENT_SCORE` (their maxima were the dtype minimum)."""
    empty = empty.expand_as(scores)
    # Checking reads the mask back (a device sync) and is a data-dependent branch: skipped while compiling.
    if not torch.compiler.is_compiling() and empty.any():
        logger.warning(
            "Some documents have no token vector left (every token masked, e.g. by keep_only_token_ids or "
            "skiplist_words filtering, or zero tokens); they score %.0e.",
            EMPTY_DOCUMENT_SCORE,
        )
    return scores.masked_fill(empty, EMPTY_DOCUMENT_SCORE)


def _normalized(scores: torch.Tensor, query_mask: torch.Tensor, length_normalize: bool) -> torch.Tensor:
    """Scores divided by each query's number of real tokens (at least one) when `length_normalize`."""
    if not length_normalize:
        return scores
    counts = query_mask.sum(dim=-1).clamp(min=1).to(device=scores.device, dtype=scores.dtype)
    return scores / (counts[:, None] if scores.dim() == 2 else counts)
