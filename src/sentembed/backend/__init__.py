"""Fast CPU inference: ONNX export, onnxruntime or OpenVINO execution, graph fusions and int8 quantization.

`SentenceTransformer(..., backend="onnx" | "openvino")` swaps the Transformer module for an `OnnxTransformer`;
the functions here write optimised or quantized ONNX files that `model_kwargs={"file_name": ...}` loads.
`backend="auto"` picks one of these paths for this CPU under a quality bar (docs/backends.md).
`pack_linear_weights` speeds up torch itself on the CPU: linear layers keep a oneDNN-packed copy of their weights.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, get_args

from sentembed.backend._auto import QUALITY_BARS, BackendChoice, choice_off_cpu, choose_backend, split_auto_options
from sentembed.backend._cpu import CpuFeatures, detect_cpu, emulation_environment
from sentembed.backend._export import save_stamped
from sentembed.backend._onnx_classifier import OnnxSequenceClassifier
from sentembed.backend._onnx_transformer import (
    BACKEND_OPTIONS,
    OnnxGraph,
    OnnxSettings,
    OnnxTransformer,
    checkpoint_folder,
    ensure_export,
    split_backend_options,
)
from sentembed.backend._optimize import (
    FUSION_RECIPE,
    OPTIMIZATION_LEVELS,
    QUANTIZATION_CONFIGS,
    OptimizationLevel,
    QuantizationConfigName,
    fuse,
    quantize_dynamic_int8,
)
from sentembed.backend._packed import PackedLinear, pack_linear_weights
from sentembed.backend._session import require_runtime
from sentembed.backend._static_int8 import (
    OVQuantizationConfig,
    calibration_texts_from,
    quantize_static_int8,
)
from sentembed.common.checks import check_choice
from sentembed.common.runtime import available_cores, default_device, default_num_threads
from sentembed.common.types import Backend
from sentembed.models import SequenceClassifier, Transformer

# The runtimes a model can be put on by name, and "auto", which picks one of them (with a file and precision).
RUNTIME_BACKENDS = ("torch", "onnx", "openvino")
BACKENDS: tuple[str, ...] = get_args(Backend)

__all__ = [
    "BACKENDS",
    "BACKEND_OPTIONS",
    "QUALITY_BARS",
    "BackendChoice",
    "CpuFeatures",
    "OPTIMIZATION_LEVELS",
    "QUANTIZATION_CONFIGS",
    "OnnxGraph",
    "OnnxSequenceClassifier",
    "OnnxSettings",
    "OnnxTransformer",
    "OVQuantizationConfig",
    "PackedLinear",
    "apply_backend",
    "available_cores",
    "default_num_threads",
    "detect_cpu",
    "emulation_environment",
    "export_dynamic_quantized_onnx_model",
    "export_optimized_onnx_model",
    "export_static_quantized_openvino_model",
    "pack_linear_weights",
    "split_model_kwargs",
    "use_backend",
]


def check_backend(backend: str) -> str:
    return check_choice(backend, BACKENDS, "backend")


def split_model_kwargs(model_kwargs: dict[str, Any] | None, backend: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a model's `model_kwargs` into what the torch model and what the backend reads.

    Args:
        model_kwargs: The caller's model_kwargs, or None.
        backend: "torch", "onnx", "openvino" or "auto".

    Returns:
        (keyword arguments for the torch model, options for the backend: file_name, provider, num_threads,
        ov_config, inference_precision and the auto_* keys); torch keeps them all but the auto_* keys.

    Raises:
        ValueError: An unknown backend, or auto_* keys with a backend other than "auto".
    """
    model_kwargs = dict(model_kwargs or {})
    auto_options = split_auto_options(model_kwargs, check_backend(backend))
    if backend == "torch":
        return model_kwargs, {}
    model_kwargs, options = split_backend_options(model_kwargs)
    return model_kwargs, {**options, **auto_options}


def apply_backend(
    modules: list[Any],
    backend: str,
    options: dict[str, Any],
    cache_folder: str | None = None,
    device: str | None = None,
) -> tuple[list[Any], str, BackendChoice | None]:
    """Put a loaded pipeline on its backend, choosing one for backend="auto".

    With "auto" the backend and its options come from `choose_backend` (cached per model and CPU); the
    caller's num_threads still applies. "auto" chooses among CPU paths, so on any other device it keeps torch.

    Args:
        modules: The pipeline's modules, a Transformer first.
        backend: "torch", "onnx", "openvino" or "auto".
        options: The backend's options (from `split_model_kwargs`).
        cache_folder: Where exported files of hub models go. Default None.
        device: Where the model will run. Default None: the default device.

    Returns:
        (the modules on their backend, the backend's name, what backend="auto" chose or None for a named
        backend).

    Raises:
        ValueError: An unknown backend, or a pipeline whose first module is not a Transformer.
    """
    if check_backend(backend) != "auto":
        return use_backend(modules, backend, options, cache_folder), backend, None
    target = str(device) if device is not None else default_device()
    if not target.startswith("cpu"):
        return modules, "torch", choice_off_cpu(target, options)
    if not isinstance(modules[0], Transformer) or isinstance(modules[0], OnnxGraph):
        raise ValueError(
            f"backend='auto' needs a Transformer as the first module, got {type(modules[0]).__name__}; "
            "use backend='torch'"
        )
    choice, measured = choose_backend(modules, options, cache_folder, use_backend)
    if measured is None:
        threads = {"num_threads": options["num_threads"]} if options.get("num_threads") else {}
        measured = use_backend(modules, choice.backend, {**choice.options, **threads}, cache_folder)
    return measured, choice.backend, choice


def use_backend(
    modules: list[Any], backend: str, options: dict[str, Any], cache_folder: str | None = None
) -> list[Any]:
    """Replace the leading Transformer with its `backend` counterpart; the other modules stay as they are.

    Args:
        modules: The pipeline's modules.
        backend: "torch" (nothing changes), "onnx" or "openvino".
        options: The backend's options (file_name, provider, num_threads, ...).
        cache_folder: Where exported files of hub models go. Default None.

    Returns:
        The modules, the first on the backend.

    Raises:
        ValueError: An unknown backend, or a first module that is not a Transformer.
        ImportError: The backend's runtime is not installed.
    """
    if check_choice(backend, RUNTIME_BACKENDS, "backend") == "torch":
        return modules
    first = modules[0]
    if not isinstance(first, Transformer):
        raise ValueError(f"backend={backend!r} needs a Transformer as the first module, got {type(first).__name__}")
    if isinstance(first, OnnxGraph):
        return modules
    settings = OnnxSettings(runtime=backend, cache_folder=cache_folder, **options)
    counterpart = OnnxSequenceClassifier if isinstance(first, SequenceClassifier) else OnnxTransformer
    return [counterpart.from_transformer(first, settings), *modules[1:]]


def _transformer_of(model: Any) -> Transformer:
    """The Transformer inside a SentenceTransformer or CrossEncoder (or a bare Transformer)."""
    if isinstance(model, Transformer):
        return model
    for module in getattr(model, "children", lambda: [])():
        if isinstance(module, Transformer):
            return module
    raise TypeError(f"{type(model).__name__} holds no Transformer module to export")


def _write_target(model_name_or_path: str | os.PathLike, name: str) -> Path:
    return Path(model_name_or_path) / "onnx" / f"model_{name}.onnx"


def _push(path: Path, model_name_or_path: str | os.PathLike, create_pr: bool, folder: str = "onnx") -> None:
    from huggingface_hub import HfApi

    HfApi().upload_file(
        path_or_fileobj=str(path),
        path_in_repo=f"{folder}/{path.name}",
        repo_id=str(model_name_or_path),
        create_pr=create_pr,
        commit_message=f"Add {path.name}",
    )


def export_optimized_onnx_model(
    model: Any,
    optimization_config: OptimizationLevel,
    model_name_or_path: str | os.PathLike,
    push_to_hub: bool = False,
    create_pr: bool = False,
    file_suffix: str | None = None,
) -> Path:
    """Write `onnx/model_<O1..O4>.onnx` under `model_name_or_path` (a folder, or a hub repo with push_to_hub).

    O1: basic graph rewrites; O2: plus attention, GELU and LayerNorm fusions; O3: plus approximate
    GELU; O4: plus float16 weights (meant for GPUs).

    Args:
        model: The SentenceTransformer or CrossEncoder (or a bare Transformer) to export; a torch model, or one
            already on the onnx backend.
        optimization_config: "O1", "O2", "O3" or "O4".
        model_name_or_path: The model's folder (the file goes to its `onnx/` folder), or a hub repository with
            `push_to_hub`.
        push_to_hub: Upload the file to the repository `model_name_or_path`. Default False.
        create_pr: Upload as a pull request. Default False.
        file_suffix: The file's suffix. Default None: the level, e.g. model_O3.onnx.

    Returns:
        The path written.

    Raises:
        ImportError: onnxruntime is not installed.
        ValueError: An unknown optimization_config.
        TypeError: A model without a Transformer.
    """
    require_runtime("onnx")
    transformer = _transformer_of(model)
    check_choice(optimization_config, OPTIMIZATION_LEVELS, "optimization_config")
    source = ensure_export(transformer)
    target = _local_target(model_name_or_path, push_to_hub, file_suffix or optimization_config)
    graph = fuse(source, transformer.config, optimization_config)
    save_stamped(graph, target, checkpoint_folder(transformer), FUSION_RECIPE)
    if push_to_hub:
        _push(target, model_name_or_path, create_pr)
    return target


def export_dynamic_quantized_onnx_model(
    model: Any,
    quantization_config: QuantizationConfigName,
    model_name_or_path: str | os.PathLike,
    push_to_hub: bool = False,
    create_pr: bool = False,
    file_suffix: str | None = None,
) -> Path:
    """Write `onnx/model_qint8_<config>.onnx`: fused, with int8 weights tuned for arm64, avx2, avx512 or avx512_vnni.

    Activations are quantized on the fly, so no calibration data is needed.

    Args:
        model: The SentenceTransformer or CrossEncoder (or a bare Transformer) to export; a torch model, or one
            already on the onnx backend.
        quantization_config: "arm64", "avx2", "avx512" or "avx512_vnni": the CPU the weights are tuned for.
        model_name_or_path: The model's folder (the file goes to its `onnx/` folder), or a hub repository with
            `push_to_hub`.
        push_to_hub: Upload the file to the repository `model_name_or_path`. Default False.
        create_pr: Upload as a pull request. Default False.
        file_suffix: The file's suffix. Default None: "qint8_<config>".

    Returns:
        The path written.

    Raises:
        ImportError: onnxruntime is not installed.
        ValueError: An unknown quantization_config.
        TypeError: A model without a Transformer.
    """
    require_runtime("onnx")
    transformer = _transformer_of(model)
    check_choice(quantization_config, QUANTIZATION_CONFIGS, "quantization_config")
    source = ensure_export(transformer)
    target = _local_target(model_name_or_path, push_to_hub, file_suffix or f"qint8_{quantization_config}")
    quantize_dynamic_int8(source, transformer.config, quantization_config, target)
    if push_to_hub:
        _push(target, model_name_or_path, create_pr)
    return target


def _local_target(model_name_or_path: str | os.PathLike, push_to_hub: bool, name: str) -> Path:
    """Where to write an ONNX file: inside the given folder, or in a scratch folder for a hub repository."""
    return _write_target(_local_folder(model_name_or_path, push_to_hub), name)


def _local_folder(model_name_or_path: str | os.PathLike, push_to_hub: bool) -> Path:
    """The given folder, or a scratch folder when it names a hub repository to push to."""
    if push_to_hub and not Path(model_name_or_path).is_dir():
        return Path(tempfile.mkdtemp(prefix="sentembed-export-"))
    return Path(model_name_or_path)


def export_static_quantized_openvino_model(
    model: Any,
    quantization_config: OVQuantizationConfig | dict | None,
    model_name_or_path: str | os.PathLike,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    dataset_split: str | None = None,
    column_name: str | None = None,
    push_to_hub: bool = False,
    create_pr: bool = False,
    file_suffix: str = "qint8_quantized",
    calibration_texts: list[str] | list[tuple[str, str]] | None = None,
) -> Path:
    """Write `openvino/openvino_model_<file_suffix>.xml` (and its `.bin`): static int8 by NNCF.

    Activation ranges are calibrated on `calibration_texts` (sentembed's keyword: a few hundred texts like
    those you will encode, or (query, document) pairs for a cross-encoder), else on a hub dataset
    (`dataset_name`, `dataset_config_name`, `dataset_split`, `column_name`; glue/sst2 by default, as in the
    reference). Load the result with
    `backend="openvino", model_kwargs={"file_name": "openvino/openvino_model_qint8_quantized.xml"}`.

    Args:
        model: The SentenceTransformer or CrossEncoder (or a bare Transformer) to export; a torch model, or one
            already on the onnx backend.
        quantization_config: An OVQuantizationConfig, a dict of its fields, or None for the defaults.
        model_name_or_path: The model's folder (the files go to its `openvino/` folder), or a hub repository
            with `push_to_hub`.
        dataset_name: The hub dataset to calibrate on. Default None: glue.
        dataset_config_name: Its configuration. Default None: sst2.
        dataset_split: Its split. Default None: train.
        column_name: Its text column. Default None: sentence.
        push_to_hub: Upload the files to the repository `model_name_or_path`. Default False.
        create_pr: Upload as a pull request. Default False.
        file_suffix: The file's suffix. Default "qint8_quantized".
        calibration_texts: Texts (or pairs) to calibrate on instead of a dataset. Default None.

    Returns:
        The path of the .xml file written.

    Raises:
        ImportError: OpenVINO or NNCF is not installed.
        TypeError: A model without a Transformer.
        ValueError: Empty calibration_texts, or a dataset_name without column_name.
    """
    require_runtime("openvino")
    try:
        import nncf  # noqa: F401
    except ImportError:
        raise ImportError('static int8 needs NNCF: pip install "sentembed[openvino-int8]"') from None
    config = OVQuantizationConfig.of(quantization_config)
    transformer = _transformer_of(model)
    texts = calibration_texts_from(
        calibration_texts, dataset_name, dataset_config_name, dataset_split, column_name, config.num_samples
    )
    source = ensure_export(transformer)
    target = _local_folder(model_name_or_path, push_to_hub) / "openvino" / f"openvino_model_{file_suffix}.xml"
    quantize_static_int8(source, transformer.tokenizer, texts, transformer.max_seq_length, config, target)
    if push_to_hub:
        for path in (target, target.with_suffix(".bin")):
            _push(path, model_name_or_path, create_pr, folder="openvino")
    return target
