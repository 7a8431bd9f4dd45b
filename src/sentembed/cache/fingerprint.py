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


def _state_versions(model: torch.nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is replaced or changed in place (training, load_state_dict)."""
    tensors = [*model.parameters(), *model.buffers()]
    return tuple((id(tensor), tensor._version) for tensor in tensors)


def model_fingerprint(model: torch.nn.Module) -> str:
    """BLAKE2b over every module's class and configuration, the tokenizer, the backend and every weight
    the output depends on (a module's `unused_weights`, such as a Transformer's pooler, are left out: they are
    often initialised at random on loading, and never change a vector).

    Computed once per model and state: it is remembered until a weight changes, so repeated calls are free.
    """
    versions = _state_versions(model)
    memo = getattr(model, _MEMO_ATTRIBUTE, None)
    if memo is not None and memo[0] == versions:
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
    object.__setattr__(model, _MEMO_ATTRIBUTE, (versions, fingerprint))
    return fingerprint
