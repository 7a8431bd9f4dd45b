"""A fingerprint of a model's weights, configuration and tokenizer: equal fingerprints give equal vectors."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import torch

_MEMO_ATTRIBUTE = "_sentembed_fingerprint"


def _tokenizer_bytes(module: Any) -> bytes:
    """The tokenizer's vocabulary and rules, without its padding and truncation settings, which every call sets
    anew (`max_seq_length` is part of the cache key on its own)."""
    tokenizer = getattr(module, "tokenizer", None)
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    to_str = getattr(backend, "to_str", None)
    if not callable(to_str):
        return repr(type(tokenizer)).encode("utf-8")
    rules = json.loads(to_str())
    rules.pop("truncation", None)
    rules.pop("padding", None)
    return json.dumps(rules, sort_keys=True).encode("utf-8")


def _config_bytes(module: torch.nn.Module) -> bytes:
    get_config = getattr(module, "get_config_dict", None)
    config = get_config() if callable(get_config) else {}
    return json.dumps({"class": type(module).__name__, "config": config}, sort_keys=True, default=str).encode()


def _graph_file_bytes(module: Any) -> bytes:
    """The ONNX or OpenVINO file a backend module runs (an int8 file gives other vectors than the fp32 one)."""
    path = getattr(module, "onnx_path", None)
    if path is None:
        return b""
    stat = path.stat()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode()


def _tensor_bytes(tensor: torch.Tensor) -> memoryview:
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.view(torch.int16)
    return memoryview(np.ascontiguousarray(tensor.numpy())).cast("B")


# Integer views of each element size, so that a checksum sums bit patterns (exact, any dtype).
_INTEGER_VIEWS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def check_followable(model: torch.nn.Module) -> None:
    """Refuse a pipeline with a module whose output may depend on state the fingerprint cannot see: ours declare
    their settings in `get_config_dict`, and torch.nn's are decided by their weights; any other is refused."""
    for index, module in enumerate(model.children()):
        if not callable(getattr(module, "get_config_dict", None)) and not type(module).__module__.startswith(
            "torch.nn"
        ):
            raise ValueError(
                f"the embedding cache cannot follow module {index} ({type(module).__name__}): it declares no "
                "settings (get_config_dict), so a change to it would not change the cache key; encode without cache="
            )


def _weights_checksum(tensors: list[torch.Tensor]) -> tuple[int, ...]:
    """Per tensor, the wrapping sum of its elements' bit patterns (one pass over the weights, on their device):
    it changes when any single value changes, by whatever route (`.data`, numpy views), which the version
    counters miss."""
    sums = []
    for tensor in tensors:
        if tensor.numel():
            integers = _INTEGER_VIEWS.get(tensor.element_size(), torch.uint8)
            sums.append(tensor.detach().reshape(-1).view(integers).sum(dtype=integers).to("cpu", torch.int64))
    return tuple(torch.stack(sums).tolist()) if sums else ()


def _state_key(model: torch.nn.Module) -> tuple:
    """Changes whenever the pipeline's modules or their settings change, or a parameter or buffer is replaced or
    changed in place; cheap enough to compute on every call (the tokenizer is followed by identity and size)."""
    tensors = [*model.parameters(), *model.buffers()]
    modules = tuple(
        (id(module), _config_bytes(module), id(getattr(module, "tokenizer", None)), _tokenizer_size(module))
        for module in model.children()
    )
    pointers = tuple((id(tensor), tensor.data_ptr(), tensor._version) for tensor in tensors)
    return str(getattr(model, "backend", "torch")), modules, pointers, _weights_checksum(tensors)


def _tokenizer_size(module: Any) -> int | None:
    tokenizer = getattr(module, "tokenizer", None)
    return len(tokenizer) if hasattr(tokenizer, "__len__") else None


def model_fingerprint(model: torch.nn.Module) -> str:
    """BLAKE2b over every module's class and configuration, the tokenizer, the backend and every weight
    the output depends on (a module's `unused_weights`, such as a Transformer's pooler, are left out: they are
    often initialised at random on loading, and never change a vector).

    Remembered per model until its state changes: the modules, their settings, or a weight's bytes (followed by
    a cheap checksum on each call); the BLAKE2b over everything is computed again only then. A module whose
    state the fingerprint cannot follow is refused (see `check_followable`).

    Args:
        model: a SentenceTransformer (any torch module whose children are the pipeline's modules).

    Returns:
        The fingerprint, a hex string.

    Raises:
        ValueError: A module whose state the fingerprint cannot follow.
    """
    check_followable(model)
    state = _state_key(model)
    memo = getattr(model, _MEMO_ATTRIBUTE, None)
    if memo is not None and memo[0] == state:
        return memo[1]
    digest = hashlib.blake2b(digest_size=20)
    digest.update(str(getattr(model, "backend", "torch")).encode())
    for index, module in enumerate(model.children()):
        digest.update(_config_bytes(module))
        digest.update(_tokenizer_bytes(module))
        digest.update(_graph_file_bytes(module))
        unused = tuple(getattr(module, "unused_weights", ()))
        for name, tensor in module.state_dict().items():
            if unused and name.startswith(unused):
                continue
            digest.update(f"{index}.{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            digest.update(_tensor_bytes(tensor))
    fingerprint = digest.hexdigest()
    object.__setattr__(model, _MEMO_ATTRIBUTE, (state, fingerprint))
    return fingerprint
