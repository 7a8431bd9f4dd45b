"""Graph rewrites on an exported encoder: transformer fusions (O1 to O4) and dynamic int8 quantization."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from sentembed.common.checks import check_choice

logger = logging.getLogger(__name__)

OptimizationLevel = Literal["O1", "O2", "O3", "O4"]
OPTIMIZATION_LEVELS: tuple[str, ...] = get_args(OptimizationLevel)
# Stamped into fused files; cached fused graphs made by another recipe are made again.
# Recipe 2 keeps SkipLayerNormalization and BiasGelu out of CPU graphs (see session.SLOW_CPU_FUSIONS).
FUSION_RECIPE = "2"
# A fused graph must match the plain one this closely on a sample batch, or it is not used.
FUSION_TOLERANCE = 1e-4


@dataclass(frozen=True)
class DynamicQuantization:
    """How weights are stored for one CPU family; activations are quantized to uint8 at run time."""

    signed_weights: bool
    per_channel: bool
    reduce_range: bool


# AVX2 and AVX-512 without VNNI multiply u8 x s8 with 16-bit intermediate sums that can saturate,
# so their weights keep 7 bits; VNNI and ARM64 (SDOT) accumulate in 32 bits and use all 8.
QUANTIZATION_CONFIGS = {
    "arm64": DynamicQuantization(signed_weights=True, per_channel=True, reduce_range=False),
    "avx2": DynamicQuantization(signed_weights=True, per_channel=True, reduce_range=True),
    "avx512": DynamicQuantization(signed_weights=True, per_channel=True, reduce_range=True),
    "avx512_vnni": DynamicQuantization(signed_weights=True, per_channel=True, reduce_range=False),
}
# The keys of QUANTIZATION_CONFIGS, as a type for the arguments that name one.
QuantizationConfigName = Literal["arm64", "avx2", "avx512", "avx512_vnni"]
QUANTIZED_OPERATORS = ["MatMul", "Attention"]


def _optimizer_model_type(config: Any) -> str:
    from onnxruntime.transformers.optimizer import MODEL_TYPES

    model_type = getattr(config, "model_type", "bert")
    return model_type if model_type in MODEL_TYPES else "bert"


def fuse(onnx_path: str | os.PathLike, config: Any, level: str = "O2") -> Any:
    """Apply onnxruntime's transformer fusions (attention, GELU, LayerNorm) to an export; returns a ModelProto.

    O1 keeps to onnxruntime's basic rewrites; O2 adds the fusions; O3 also approximates GELU;
    O4 also fuses residual adds into LayerNorm and biases into GELU, and stores weights in float16
    (for GPUs: on CPU each of these is slower).
    """
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    check_choice(level, OPTIMIZATION_LEVELS, "optimization level")
    model_type = _optimizer_model_type(config)
    if level == "O1":
        return optimize_model(str(onnx_path), model_type, opt_level=1, only_onnxruntime=True).model
    options = FusionOptions(model_type)
    options.enable_gelu_approximation = level in ("O3", "O4")
    for_gpu = level == "O4"
    options.enable_skip_layer_norm = for_gpu  # see session.SLOW_CPU_FUSIONS
    options.enable_bias_gelu = for_gpu
    optimized = optimize_model(
        str(onnx_path),
        model_type,
        num_heads=getattr(config, "num_attention_heads", 0) or 0,
        hidden_size=getattr(config, "hidden_size", 0) or 0,
        optimization_options=options,
        opt_level=0,
    )
    if level == "O4":
        optimized.convert_float_to_float16(keep_io_types=True)
    optimized.topological_sort()
    return _declare_contrib_domain(optimized.model)


def _declare_contrib_domain(model: Any) -> Any:
    """Fused nodes live in onnxruntime's com.microsoft domain, which the graph must import to be valid."""
    uses_contrib = any(node.domain == "com.microsoft" for node in model.graph.node)
    if uses_contrib and not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.add(domain="com.microsoft", version=1)
    return model


def fuse_checked(onnx_path: str | os.PathLike, config: Any, sample: dict[str, Any]) -> Any:
    """The O2-fused ModelProto when it matches the plain graph on `sample`; None when fusion fails."""
    import numpy as np

    from sentembed.backend._session import create_session

    try:
        fused = fuse(onnx_path, config, "O2")
        plain_out = create_session(str(onnx_path)).run(None, sample)[0]
        fused_out = create_session(fused.SerializeToString()).run(None, sample)[0]
    except Exception as error:  # the optimizer is pattern-based and may not know an architecture
        logger.warning("onnxruntime fusions failed on %s (%s); running the plain export.", onnx_path, error)
        return None
    difference = float(np.abs(plain_out - fused_out).max())
    if difference > FUSION_TOLERANCE:
        logger.warning("Fused graph differs by %.2e from %s; running the plain export.", difference, onnx_path)
        return None
    return fused


def quantize_dynamic_int8(onnx_path: str | os.PathLike, config: Any, target: str, output_path: Path) -> Path:
    """Fuse the export, then store its MatMul and Attention weights as int8 for the CPU family `target`."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    check_choice(target, QUANTIZATION_CONFIGS, "quantization config")
    settings = QUANTIZATION_CONFIGS[target]
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_path.parent) as scratch:
        fused_path = Path(scratch) / "fused.onnx"
        onnx.save(fuse(onnx_path, config, "O2"), str(fused_path))
        quantize_dynamic(
            fused_path,
            output_path,
            op_types_to_quantize=QUANTIZED_OPERATORS,
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            weight_type=QuantType.QInt8 if settings.signed_weights else QuantType.QUInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return output_path
