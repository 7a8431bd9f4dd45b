"""The parts of `encode()` that do not need the model: option checks, the request, and output shaping."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sentembed.common.batching import deduplicate
from sentembed.common.checks import check_choice, check_positive_int, check_texts
from sentembed.common.types import PRECISIONS, supports_modality
from sentembed.models.clip import check_text_or_image
from sentembed.quantization import quantize_embeddings

OUTPUT_VALUES = ("sentence_embedding", "token_embeddings", None)


@dataclass(frozen=True)
class EncodeRequest:
    """What running the model over distinct texts needs: in one process or sent to a pool worker."""

    texts: list[str]
    batch_size: int
    output_value: str | None
    extra_features: dict[str, Any] = field(default_factory=dict)
    # Keyword arguments for the modules' forward passes, each given to the modules that name it in `forward_kwargs`.
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    # Per-call tokenizer options by modality (`encode(..., processing_kwargs=...)`), e.g. {"text": {"max_length": 8}}.
    processing_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)


def check_encode_options(output_value: str | None, precision: str, truncate_dim: int | None, batch_size: int) -> int:
    """Refuse unknown options; returns `batch_size` as an int."""
    check_choice(output_value, OUTPUT_VALUES, "output_value")
    if precision not in PRECISIONS:
        raise ValueError(f"Precision {precision!r} is not supported; use one of {list(PRECISIONS)}")
    check_positive_int(truncate_dim, "truncate_dim", optional=True)
    return check_positive_int(batch_size, "batch_size")


def check_inputs(inputs: Any, modalities: list[str]) -> tuple[list[Any], bool]:
    """The inputs as a list, and whether a single one was given: texts, and PIL images too when the model reads
    images; a TypeError names the first item that is neither."""
    if isinstance(inputs, np.ndarray) and inputs.ndim == 2 and inputs.dtype.kind in "UO":
        inputs = inputs.tolist()
    if is_pair_list(inputs):
        return [(first, second) for first, second in inputs], False
    if "image" not in modalities or isinstance(inputs, str):
        return check_texts(inputs, "inputs")
    if isinstance(inputs, np.ndarray):
        inputs = inputs.tolist()
    if not isinstance(inputs, (list, tuple)):
        return [check_text_or_image(inputs, "inputs")], True
    return [check_text_or_image(item, f"inputs[{index}]") for index, item in enumerate(inputs)], False


# The keys of a dict input that combines modalities in one input, e.g. {"text": ..., "image": ...}.
MODALITY_KEYS = ("text", "image", "audio", "video")


def input_modality(item: Any) -> str | None:
    """The modality of one input: "text", "image" (a PIL image or a 3-D array), "audio" (a 1-D array),
    "message" (a chat message: a dict with "role" and "content"), modalities joined by "+" for a dict that
    combines them ("image+text"), or None for anything else."""
    if isinstance(item, str):
        return "text"
    if isinstance(item, dict):
        if "role" in item and "content" in item:
            return "message"
        keys = sorted(key for key in item if key in MODALITY_KEYS)
        return "+".join(keys) if keys and len(keys) == len(item) else None
    if isinstance(item, (np.ndarray, torch.Tensor)):
        return {1: "audio", 3: "image"}.get(item.ndim)
    return "image" if type(item).__module__.startswith("PIL.") else None


def check_batch_modalities(inputs: list[Any], supported: list[str]) -> None:
    """Refuse a batch the model cannot preprocess as one: chat messages on a model without "message" support,
    a modality (or a combination) it does not read, or several modalities in one batch. The ValueError says
    which modalities were found, which the model lacks, and what to do instead."""
    found = {modality for modality in map(input_modality, inputs) if modality is not None}
    listed_supported = ", ".join(supported)
    if "message" in found and "message" not in supported:
        mixing = " and mixes with other modalities in this batch" if len(found) > 1 else ""
        raise ValueError(
            "This model does not support chat-style 'message' inputs (dicts with 'role' and 'content')"
            f"{mixing}. Supported modalities: {listed_supported}."
        )
    unsupported = sorted({part for modality in found for part in modality.split("+") if part not in supported})
    if len(found) > 1:
        mixed = f"This batch mixes multiple modalities ({', '.join(sorted(found))})"
        if unsupported:
            raise ValueError(
                f"{mixed}, and this model does not support {', '.join(unsupported)}. "
                f"Supported modalities: {listed_supported}."
            )
        raise ValueError(f"{mixed}; one batch holds one. Encode each modality separately.")
    if not found:
        return
    (modality,) = found
    parts = tuple(modality.split("+"))
    if supports_modality(supported, parts[0] if len(parts) == 1 else parts):
        return
    if unsupported:
        raise ValueError(
            f"Modality '{modality}' is not supported by this model. Supported modalities: {listed_supported}."
        )
    raise ValueError(
        f"This model supports {' and '.join(parts)} individually but cannot combine them in a single input (it "
        "reads no 'message' inputs). Encode each modality separately."
    )


def is_pair_list(inputs: Any) -> bool:
    """A non-empty list of (text, text) pairs, which are encoded as one sequence each."""
    return (
        isinstance(inputs, list)
        and bool(inputs)
        and all(
            isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(part, str) for part in item)
            for item in inputs
        )
    )


def with_prompt(prompt: str | None, inputs: list[Any]) -> list[Any]:
    """The prompt before every text (before the first text of a pair); images stay as they are."""
    if not prompt:
        return inputs
    return [
        prompt + item if isinstance(item, str) else (prompt + item[0], item[1]) if isinstance(item, tuple) else item
        for item in inputs
    ]


def deduplicate_inputs(inputs: list[Any]) -> tuple[list[Any], list[int]]:
    """Distinct texts (as `deduplicate` gives them); a list holding images is kept whole, one row per input."""
    if all(isinstance(item, str) for item in inputs):
        return deduplicate(inputs)
    return inputs, list(range(len(inputs)))


def strip_padding(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
    """Per-text token embeddings without the padding positions at the end."""
    lengths = attention_mask.sum(dim=1).tolist()
    left_padded = bool((attention_mask[:, 0] == 0).any())
    width = attention_mask.shape[1]
    return [
        rows[width - length :] if left_padded else rows[:length]
        for rows, length in zip(token_embeddings, lengths, strict=True)
    ]


def check_model_kwargs(kwargs: dict[str, Any], accepted: list[str]) -> dict[str, Any]:
    """`kwargs` when every name is one the model's modules read (`get_model_kwargs()`); ValueError otherwise."""
    unknown = sorted(set(kwargs) - set(accepted))
    if not unknown:
        return kwargs
    if accepted:
        valid = f"the valid additional keyword arguments are: {accepted}."
    else:
        valid = "this model does not accept any additional keyword arguments."
    raise ValueError(
        "SentenceTransformer.encode() has been called with additional keyword arguments that this model does not "
        f"use: {unknown}. As per SentenceTransformer.get_model_kwargs(), {valid}"
    )


def row_facts(item: Any, extra_features: dict[str, Any]) -> dict[str, Any]:
    """What an `output_value=None` dict holds beside the model's per-text tensors: the input's `modality`
    ("text" or "image") and, when a prompt was used, its `prompt_length` in tokens."""
    facts: dict[str, Any] = {"modality": "text" if isinstance(item, str) else "image"}
    if "prompt_length" in extra_features:
        facts["prompt_length"] = extra_features["prompt_length"]
    return facts


def truncate_output_dicts(outputs: list[dict[str, Any]], truncate_dim: int | None) -> list[dict[str, Any]]:
    """Per-text output dicts (`output_value=None`) with their sentence embedding cut to `truncate_dim`."""
    if truncate_dim is None:
        return outputs
    return [
        {**output, "sentence_embedding": output["sentence_embedding"][..., :truncate_dim]}
        if "sentence_embedding" in output
        else output
        for output in outputs
    ]


def postprocess(embeddings: torch.Tensor, truncate_dim: int | None, normalize: bool) -> torch.Tensor:
    """Truncate, then normalise: the order the reference applies them in."""
    if truncate_dim is not None:
        embeddings = embeddings[..., :truncate_dim]
    if normalize:
        embeddings = F.normalize(embeddings, p=2, dim=-1)
    return embeddings


def shape_sentence_embeddings(
    embeddings: torch.Tensor, precision: str, convert_to_numpy: bool, convert_to_tensor: bool
) -> np.ndarray | torch.Tensor | list[torch.Tensor]:
    """Quantise the whole result at once, then return it as an array, a tensor or a list of tensors."""
    if precision != "float32":
        quantized = quantize_embeddings(embeddings.float(), precision)
        if convert_to_tensor or not convert_to_numpy:
            embeddings = torch.from_numpy(quantized)
        else:
            return quantized
    if convert_to_tensor:
        return embeddings
    if convert_to_numpy:
        # numpy has no bfloat16, so bf16 models give float32 arrays; float16 stays float16, as in the reference
        return embeddings.cpu().float().numpy() if embeddings.dtype == torch.bfloat16 else embeddings.cpu().numpy()
    return list(embeddings)
