"""Static int8 for OpenVINO with NNCF: activations and weights in int8, their ranges calibrated on real
texts; the transformer preset keeps outliers (SmoothQuant) and the sensitive operations in float."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sentembed.common.checks import check_positive_int, check_text_list

# What the reference calibrates on when no texts are given (a hub dataset: needs a connection).
DEFAULT_DATASET = ("glue", "sst2", "train", "sentence")


@dataclass(frozen=True)
class OVQuantizationConfig:
    """NNCF's settings for static int8, under the names the reference's (optimum's) config uses.

    `num_samples` calibration texts set the activation ranges; `model_type="transformer"` turns on the
    transformer preset (SmoothQuant with `smooth_quant_alpha`, mixed-precision attention); `ignored_scope`
    keeps named operations, name patterns or operation types in float.

    Attributes:
        num_samples: Calibration texts to use. Default 300.
        model_type: "transformer" (default) for the transformer preset, or None.
        sym: Symmetric quantization of activations. Default False.
        fast_bias_correction: NNCF's fast bias correction (else its slower, finer one). Default True.
        smooth_quant_alpha: SmoothQuant's alpha. Default None: NNCF's.
        ignored_scope: {"names" / "patterns" / "types": [...]} kept in float. Default {}.

    Raises:
        ValueError: A num_samples that is not a positive int, an unknown model_type or ignored_scope key.
    """

    num_samples: int = 300
    model_type: str | None = "transformer"
    sym: bool = False
    fast_bias_correction: bool = True
    smooth_quant_alpha: float | None = None
    ignored_scope: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_positive_int(self.num_samples, "num_samples")
        if self.model_type not in (None, "transformer"):
            raise ValueError(f"model_type must be 'transformer' or None, got {self.model_type!r}")
        unknown = set(self.ignored_scope) - {"names", "patterns", "types"}
        if unknown:
            raise ValueError(f"ignored_scope takes 'names', 'patterns' and 'types', not {sorted(unknown)}")

    @classmethod
    def of(cls, value: OVQuantizationConfig | dict | None) -> OVQuantizationConfig:
        """The config an export's `quantization_config` argument stands for.

        Args:
            value: A config, a dict of its fields, or None for the defaults.

        Returns:
            The config.

        Raises:
            TypeError: Anything else.
        """
        if value is None:
            return cls()
        if isinstance(value, dict):
            return cls(**value)
        if not isinstance(value, cls):
            raise TypeError(f"quantization_config must be an OVQuantizationConfig, a dict or None, not {value!r}")
        return value


def calibration_texts_from(
    texts: list | None,
    dataset_name: str | None,
    dataset_config_name: str | None,
    dataset_split: str | None,
    column_name: str | None,
    count: int,
) -> list[str]:
    """The caller's texts (or pairs), else `count` texts of a hub dataset (the reference's default: glue/sst2)."""
    if texts is not None:
        texts = check_calibration_texts(texts)
        if not texts:
            raise ValueError("calibration_texts is empty; pass a few hundred texts like those you will encode")
        return texts[:count]
    name, config, split, column = DEFAULT_DATASET
    if dataset_name is not None:
        name, config, split, column = dataset_name, dataset_config_name, dataset_split or "train", column_name
    if column is None:
        raise ValueError("column_name is needed with dataset_name: the column that holds the texts")
    try:
        from datasets import load_dataset

        rows = load_dataset(name, config, split=split)
    except Exception as error:  # offline, unknown dataset, no `datasets` package
        raise OSError(
            f"could not load the calibration dataset {name!r} ({error.__class__.__name__}: {error}); "
            "pass calibration_texts=[...] to calibrate on texts of your own"
        ) from None
    return [str(text) for text in rows[column][:count]]


def check_calibration_texts(texts: Any) -> list:
    """Texts, or for a cross-encoder (first, second) pairs of texts."""
    if isinstance(texts, (list, tuple)) and texts and all(isinstance(item, (tuple, list)) for item in texts):
        for index, item in enumerate(texts):
            if len(item) != 2 or not all(isinstance(text, str) for text in item):
                raise TypeError(f"calibration_texts[{index}] must be a text or a (text, text) pair, got {item!r}")
        return [tuple(item) for item in texts]
    return check_text_list(texts, "calibration_texts")


def calibration_items(tokenizer: Any, texts: list, input_names: list[str], max_length: int) -> list[dict]:
    """One model input per text or pair (unpadded), as NNCF's calibration dataset takes them."""
    items = []
    for text in texts:
        columns = [[part] for part in text] if isinstance(text, tuple) else [[text]]
        encoded = tokenizer(*columns, truncation=True, max_length=max_length, return_tensors="np")
        items.append({name: np.asarray(encoded[name], dtype=np.int64) for name in input_names if name in encoded})
    return items


def quantize_static_int8(
    onnx_path: Path, tokenizer: Any, texts: list[str], max_length: int, config: OVQuantizationConfig, target: Path
) -> Path:
    """Read the float export, quantize it with NNCF calibrated on `texts`, and save the OpenVINO IR at `target`."""
    import nncf
    import openvino
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters

    model = openvino.Core().read_model(str(onnx_path))
    items = calibration_items(tokenizer, texts, [port.get_any_name() for port in model.inputs], max_length)
    advanced = None
    if config.smooth_quant_alpha is not None:
        alphas = AdvancedSmoothQuantParameters(matmul=config.smooth_quant_alpha)
        advanced = AdvancedQuantizationParameters(smooth_quant_alphas=alphas)
    quantized = nncf.quantize(
        model,
        nncf.Dataset(items),
        mode=None,
        preset=nncf.QuantizationPreset.PERFORMANCE if config.sym else nncf.QuantizationPreset.MIXED,
        subset_size=min(config.num_samples, len(items)),
        fast_bias_correction=config.fast_bias_correction,
        model_type=nncf.ModelType.TRANSFORMER if config.model_type == "transformer" else None,
        ignored_scope=nncf.IgnoredScope(**config.ignored_scope, validate=False) if config.ignored_scope else None,
        advanced_parameters=advanced,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    openvino.save_model(quantized, str(target), compress_to_fp16=False)
    return target
