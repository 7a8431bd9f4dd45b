"""`OnnxTransformer`: the Transformer module with its forward pass run by onnxruntime.

Tokenization, padding, `max_seq_length` and saving stay the Transformer's own, so Pooling, Dense,
Normalize and every `encode()` option behave exactly as on the torch backend.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sentembed.backend import _export as exporting
from sentembed.backend._optimize import FUSION_RECIPE, fuse_checked
from sentembed.backend._session import DEFAULT_PROVIDER, OpenVinoSession, cpu_has_bf16, create_session, require_runtime
from sentembed.common.checks import check_choice, check_positive_int
from sentembed.common.runtime import BatchesInFlight
from sentembed.common.types import Features
from sentembed.models.transformer import Transformer

logger = logging.getLogger(__name__)

# Keys of `model_kwargs` that configure the ONNX or OpenVINO backend rather than `AutoModel.from_pretrained`.
BACKEND_OPTIONS = ("file_name", "provider", "num_threads", "ov_config", "inference_precision")
# What OpenVINO computes float operations in: fp32 (the default everywhere), or bf16 where the CPU has it.
INFERENCE_PRECISIONS = ("f32", "bf16")
RUNTIMES = ("onnx", "openvino")


@dataclass
class OnnxSettings:
    """Which file to run and how: the `model_kwargs` keys named in BACKEND_OPTIONS, the runtime
    that runs it (onnxruntime or OpenVINO), and the cache folder.

    Attributes:
        file_name: The ONNX (or OpenVINO .xml) file to run, relative to the model. Default None: the plain
            export, made when missing.
        provider: onnxruntime's execution provider. Default "CPUExecutionProvider".
        num_threads: Threads the runtime computes with. Default None: the runtime's choice.
        ov_config: OpenVINO properties (backend "openvino" only). Default None.
        inference_precision: OpenVINO's float precision: "f32" (default) or "bf16".
        runtime: "onnx" (default) or "openvino".
        cache_folder: Where exports of hub models go. Default None.
        export_kwargs: Options for the ONNX export. Default {}.

    Raises:
        TypeError: A file_name that is not a path, or an ov_config that is not a dict.
        ValueError: An unknown runtime, an option of the other runtime, or a num_threads that is not a positive
            int.
        ImportError: The runtime is not installed.
    """

    file_name: str | None = None
    provider: str = DEFAULT_PROVIDER
    num_threads: int | None = None
    ov_config: dict[str, Any] | None = None
    inference_precision: str = "f32"
    runtime: str = "onnx"
    cache_folder: str | None = None
    export_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.num_threads = check_positive_int(self.num_threads, "num_threads", optional=True)
        if self.file_name is not None and not isinstance(self.file_name, (str, os.PathLike)):
            raise TypeError(f"file_name must be a str path, got {type(self.file_name).__name__}")
        check_choice(self.runtime, RUNTIMES, "runtime")
        require_runtime(self.runtime)
        if self.runtime == "openvino" and self.provider != DEFAULT_PROVIDER:
            raise ValueError("provider is an onnxruntime option; backend='openvino' runs on the CPU (use ov_config)")
        if self.runtime == "onnx" and self.ov_config is not None:
            raise ValueError("ov_config is an OpenVINO option; use it with backend='openvino'")
        if self.ov_config is not None and not isinstance(self.ov_config, dict):
            raise TypeError(f"ov_config must be a dict of OpenVINO properties, got {type(self.ov_config).__name__}")
        self._check_inference_precision()

    def _check_inference_precision(self) -> None:
        """bf16 only on OpenVINO, only where the CPU computes it natively, and never contradicted by ov_config."""
        check_choice(self.inference_precision, INFERENCE_PRECISIONS, "inference_precision")
        if self.inference_precision == "f32":
            return
        if self.runtime != "openvino":
            raise ValueError("inference_precision='bf16' is an OpenVINO option; use it with backend='openvino'")
        hint = (self.ov_config or {}).get("INFERENCE_PRECISION_HINT")
        if hint is not None and str(hint).lower() != "bf16":
            raise ValueError(f"inference_precision='bf16' contradicts ov_config INFERENCE_PRECISION_HINT={hint!r}")
        if not cpu_has_bf16():
            raise ValueError(
                "inference_precision='bf16' needs a CPU with native bf16 (AVX512_BF16 or AMX); this one has none, "
                "so it would be emulated slowly: leave it at 'f32'"
            )

    def openvino_config(self) -> dict[str, Any]:
        """The OpenVINO properties to compile with.

        Returns:
            The precision asked for, then the caller's own ov_config.
        """
        return {"INFERENCE_PRECISION_HINT": self.inference_precision, **(self.ov_config or {})}


def split_backend_options(model_kwargs: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate the ONNX backend's options from the keyword arguments meant for the torch model."""
    model_kwargs = dict(model_kwargs or {})
    options = {key: model_kwargs.pop(key) for key in BACKEND_OPTIONS if key in model_kwargs}
    return model_kwargs, options


def checkpoint_folder(transformer: Transformer) -> Path | None:
    """The folder the torch model was loaded from, when it was loaded from one."""
    name = getattr(transformer.auto_model, "name_or_path", None)
    return Path(name) if name and Path(name).is_dir() else None


def ensure_export(transformer: Transformer, cache_folder: str | None = None) -> Path:
    """The path of a fresh `onnx/model.onnx` for this Transformer, exporting it when missing or stale."""
    source = checkpoint_folder(transformer)
    for folder in (source, exporting.fallback_folder(source, cache_folder)):
        if folder is not None:
            candidate = folder / exporting.DEFAULT_FILE_NAME
            if candidate.exists() and not exporting.is_stale(candidate, source):
                return candidate
    target = exporting.export_folder(source, cache_folder) / exporting.DEFAULT_FILE_NAME
    return exporting.export_encoder(transformer.auto_model, transformer.tokenizer, target, source)


def fused_graph(transformer: Transformer, cache_folder: str | None, sample: dict[str, np.ndarray]) -> Path:
    """The O2-fused export (`onnx/model_O2.onnx`), made and cached on first use; the plain one if fusion fails."""
    source = checkpoint_folder(transformer)
    for folder in (source, exporting.fallback_folder(source, cache_folder)):
        if folder is not None and exporting.is_fresh_export(folder / exporting.FUSED_FILE_NAME, source, FUSION_RECIPE):
            return folder / exporting.FUSED_FILE_NAME
    plain = ensure_export(transformer, cache_folder)
    graph = fuse_checked(plain, transformer.config, sample)
    if graph is None:
        return plain
    target = exporting.export_folder(source, cache_folder) / exporting.FUSED_FILE_NAME
    return exporting.save_stamped(graph, target, source, FUSION_RECIPE)


def find_onnx_file(transformer: Transformer, file_name: str | os.PathLike, cache_folder: str | None) -> Path:
    """Find a named ONNX file: as given, in the model folder, or in the export cache folder."""
    source = checkpoint_folder(transformer)
    places = [Path(file_name)]
    if not Path(file_name).is_absolute():
        places += [folder / file_name for folder in (source, exporting.fallback_folder(source, cache_folder)) if folder]
    for place in places:
        if place.is_file():
            return place
    raise OSError(f"model file {str(file_name)!r} not found; looked in: {', '.join(str(p) for p in places)}")


class OnnxGraph:
    """What every module run by onnxruntime or OpenVINO shares: its session, saving and pickling.

    A backend module is a Transformer subclass built from a loaded Transformer's parts (its tokenizer,
    config and torch weights stay shared), so everything but the forward pass behaves as on torch.
    """

    settings: OnnxSettings
    onnx_path: Path

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"build a {type(self).__name__} with {type(self).__name__}.from_transformer(module, settings)")

    @classmethod
    def from_transformer(cls, transformer: Transformer, settings: OnnxSettings | None = None) -> Any:
        """The backend counterpart of a loaded Transformer (sharing its tokenizer and weights), session open.

        Args:
            transformer: The loaded Transformer (or SequenceClassifier).
            settings: The file and runtime to use. Default None: `OnnxSettings()`.

        Returns:
            The backend module.

        Raises:
            TypeError: A module that is not a Transformer.
            OSError: A file_name that is not there.
        """
        if not isinstance(transformer, Transformer):
            raise TypeError(
                f"the {cls.__name__} backend runs Transformer modules, got {type(transformer).__name__}; "
                "use backend='torch' for a model whose first module is not a Transformer"
            )
        settings = settings or OnnxSettings()
        module = cls.from_parts(transformer.parts(), backend=settings.runtime)
        module.settings = settings
        module._open_session()
        return module

    def _open_session(self) -> None:
        self.onnx_path = self._model_file()
        self.session = self._new_session(self.settings.num_threads)
        self.lane_session: Any = None
        self.input_names = [node.name for node in self.session.get_inputs()]
        logger.info("Running %s with %s", self.onnx_path, self.settings.runtime)

    def _new_session(self, num_threads: int | None) -> Any:
        settings = self.settings
        if settings.runtime == "openvino":
            return OpenVinoSession(str(self.onnx_path), num_threads, settings.openvino_config())
        return create_session(str(self.onnx_path), settings.provider, num_threads)

    def open_lane_session(self, num_threads: int) -> None:
        """Open a second session of the same graph with `num_threads` threads, for batches computed while
        another one is (the server's lanes, each on its share of the cores); a batch computed alone keeps the
        session with every thread. Costs the graph's memory a second time.

        Args:
            num_threads: Each lane's threads.
        """
        self.lane_session = self._new_session(check_positive_int(num_threads, "num_threads"))
        self._batches = BatchesInFlight()

    def _model_file(self) -> Path:
        """The file named in the settings, else the export this runtime runs best: onnxruntime's fused graph,
        or for OpenVINO the plain export (OpenVINO fuses on its own and cannot read onnxruntime's fused ops)."""
        settings = self.settings
        if settings.file_name is not None:
            return find_onnx_file(self, settings.file_name, settings.cache_folder)
        if settings.runtime == "openvino":
            return ensure_export(self, settings.cache_folder)
        return fused_graph(self, settings.cache_folder, self._sample_inputs())

    def _sample_inputs(self) -> dict[str, np.ndarray]:
        sample = self.tokenizer(["an example", "a second, longer example sentence"], padding=True, return_tensors="np")
        return {name: np.asarray(sample[name], dtype=np.int64) for name in exporting.INPUT_NAMES if name in sample}

    def _session_inputs(self, features: Features) -> dict[str, np.ndarray]:
        if "input_ids" not in features:
            raise ValueError("the ONNX backend needs input_ids (inputs_embeds is only supported on the torch backend)")
        inputs = {}
        for name in self.input_names:
            if name in features:
                inputs[name] = features[name].detach().cpu().numpy().astype(np.int64, copy=False)
            elif name == "token_type_ids":
                inputs[name] = np.zeros_like(features["input_ids"].cpu().numpy(), dtype=np.int64)
            else:
                raise ValueError(f"the ONNX graph {self.onnx_path} needs an input {name!r} the tokenizer does not give")
        return inputs

    def run_graph(self, features: Features) -> torch.Tensor:
        """Run the graph on a padded batch.

        Args:
            features: The batch's features (input_ids, attention_mask, ...).

        Returns:
            The graph's first output, on the batch's device.
        """
        inputs = self._session_inputs(features)
        with self._session_for_a_batch() as session:
            output = session.run(None, inputs)[0]
        return torch.from_numpy(output).to(features["input_ids"].device)

    @contextmanager
    def _session_for_a_batch(self) -> Iterator[Any]:
        """The session with every thread for a batch computed alone; the lane session (see
        `open_lane_session`) for one computed while another is."""
        if self.lane_session is None:
            yield self.session
            return
        alone = self._batches.start()
        try:
            yield self.session if alone else self.lane_session
        finally:
            self._batches.finish()

    def copy_onnx_file(self, output_path: str | os.PathLike) -> None:
        """Put the model file being run under `output_path`/onnx/ (an OpenVINO IR, with its weights, under
        openvino/), marked as made from the checkpoint there.

        Args:
            output_path: The model folder being saved.
        """
        is_openvino_ir = self.onnx_path.suffix == ".xml"
        folder = exporting.OPENVINO_FOLDER if is_openvino_ir else exporting.ONNX_FOLDER
        target = Path(output_path) / folder / self.onnx_path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.onnx_path.resolve() == target.resolve():
            return
        shutil.copyfile(self.onnx_path, target)
        if is_openvino_ir:
            shutil.copyfile(self.onnx_path.with_suffix(".bin"), target.with_suffix(".bin"))
        else:
            exporting.restamp(target, output_path)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("session", None)
        for name in ("lane_session", "_batches"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._open_session()


class OnnxTransformer(OnnxGraph, Transformer):
    """A Transformer whose `token_embeddings` come from an ONNX export run in onnxruntime."""

    def forward(self, features: Features) -> Features:
        """Token embeddings of the batch, from the graph.

        Args:
            features: The padded batch (input_ids, attention_mask, ...).

        Returns:
            The features, with "token_embeddings" set.
        """
        features["token_embeddings"] = self.run_graph(features)
        return features

    def save(self, output_path: str, safe_serialization: bool = True) -> None:
        """Save the torch checkpoint as usual, plus the ONNX file being run, under onnx/ with its own name.

        Args:
            output_path: The module's folder.
            safe_serialization: Write the torch weights as safetensors. Default True.
        """
        super().save(output_path, safe_serialization=safe_serialization)
        self.copy_onnx_file(output_path)
