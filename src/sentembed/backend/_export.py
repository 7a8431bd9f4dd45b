"""Export a Hugging Face encoder to ONNX with `torch.onnx.export`, and keep the export fresh.

An export records a fingerprint of the checkpoint it came from (file sizes and modification
times), so a later load re-exports when the weights or config have changed since.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from sentembed.common.runtime import default_cache_folder
from sentembed.version import __version__

logger = logging.getLogger(__name__)

ONNX_FOLDER = "onnx"
OPENVINO_FOLDER = "openvino"
DEFAULT_FILE_NAME = f"{ONNX_FOLDER}/model.onnx"
FUSED_FILE_NAME = f"{ONNX_FOLDER}/model_O2.onnx"
OPSET = 17
FINGERPRINT_KEY = "sentembed_fingerprint"
RECIPE_KEY = "sentembed_fusion_recipe"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "output"
_CHECKPOINT_FILES = ("config.json", "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class _Positional(torch.nn.Module):
    """Calls the model with named inputs given by position, returning its first output only.

    That is the last hidden state of an encoder, or the logits of a sequence classifier.
    """

    def __init__(self, model: torch.nn.Module, input_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.input_names, inputs, strict=True)), return_dict=True)[0]


def checkpoint_fingerprint(folder: str | os.PathLike | None) -> str:
    """Sizes and modification times of the checkpoint's config and weights files, as a JSON string."""
    if folder is None or not Path(folder).is_dir():
        return "{}"
    entries = {}
    for name in _CHECKPOINT_FILES:
        path = Path(folder) / name
        if path.exists():
            stat = path.stat()
            entries[name] = [stat.st_size, stat.st_mtime_ns]
    return json.dumps(entries, sort_keys=True)


def read_metadata(onnx_path: str | os.PathLike) -> dict[str, str]:
    """The metadata properties of an ONNX file, read without its weights' external data."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return {prop.key: prop.value for prop in model.metadata_props}


def read_fingerprint(onnx_path: str | os.PathLike) -> str | None:
    """The fingerprint stored in an export of ours, or None for a file written by someone else."""
    return read_metadata(onnx_path).get(FINGERPRINT_KEY)


def is_stale(onnx_path: str | os.PathLike, checkpoint_folder: str | os.PathLike | None) -> bool:
    """True when the file is missing, or is our export of a checkpoint that has changed since."""
    if not Path(onnx_path).exists():
        return True
    stored = read_fingerprint(onnx_path)
    return stored is not None and stored != checkpoint_fingerprint(checkpoint_folder)


@contextmanager
def eager_attention(model: torch.nn.Module) -> Iterator[None]:
    """Trace the plain attention code, whose pattern onnxruntime's optimizer fuses into one op."""
    setter = getattr(model, "set_attn_implementation", None)
    previous = getattr(model.config, "_attn_implementation", None)
    if setter is None or previous in (None, "eager"):
        yield
        return
    setter("eager")
    try:
        yield
    finally:
        setter(previous)


def export_encoder(
    model: torch.nn.Module, tokenizer, onnx_path: str | os.PathLike, checkpoint_folder: str | os.PathLike | None
) -> Path:
    """Write `model` as ONNX with dynamic batch and sequence axes, atomically, with a fingerprint."""
    import onnx

    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    sample = tokenizer(["an example", "a somewhat longer example sentence"], padding=True, return_tensors="pt")
    names = [name for name in INPUT_NAMES if name in sample]
    wrapper = _Positional(model, names).eval()
    with torch.no_grad():
        output_rank = wrapper(*(sample[name] for name in names)).dim()
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes[OUTPUT_NAME] = {0: "batch", 1: "sequence"} if output_rank == 3 else {0: "batch"}
    with tempfile.TemporaryDirectory(dir=onnx_path.parent) as scratch:
        traced = Path(scratch) / "model.onnx"
        with eager_attention(model), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                tuple(sample[name].cpu() for name in names),
                str(traced),
                input_names=names,
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        save_stamped(onnx.load(str(traced)), onnx_path, checkpoint_folder)
    logger.info("Exported %s to %s", type(model).__name__, onnx_path)
    return onnx_path


def is_fresh_export(
    onnx_path: str | os.PathLike, checkpoint_folder: str | os.PathLike | None, recipe: str | None = None
) -> bool:
    """True for a file of ours made from the checkpoint as it is now, and with `recipe` when one is given
    (a file from elsewhere is never fresh)."""
    if not Path(onnx_path).exists():
        return False
    metadata = read_metadata(onnx_path)
    made_from_checkpoint = metadata.get(FINGERPRINT_KEY) == checkpoint_fingerprint(checkpoint_folder)
    return made_from_checkpoint and (recipe is None or metadata.get(RECIPE_KEY) == recipe)


def save_stamped(
    graph, onnx_path: str | os.PathLike, checkpoint_folder: str | os.PathLike | None, recipe: str | None = None
) -> Path:
    """Save a ModelProto atomically, recording which checkpoint it was made from (and how it was fused)."""
    import onnx

    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    stamps = {FINGERPRINT_KEY: checkpoint_fingerprint(checkpoint_folder), "sentembed": __version__}
    if recipe is not None:
        stamps[RECIPE_KEY] = recipe
    _set_metadata(graph, stamps)
    with tempfile.NamedTemporaryFile(dir=onnx_path.parent, suffix=".onnx", delete=False) as scratch:
        onnx.save(graph, scratch.name)
    os.chmod(scratch.name, 0o644)  # as readable as the checkpoint beside it, not private to this user
    os.replace(scratch.name, onnx_path)
    return onnx_path


def restamp(onnx_path: str | os.PathLike, checkpoint_folder: str | os.PathLike) -> None:
    """Record `checkpoint_folder` as the source of an export of ours that was copied next to it."""
    import onnx

    if read_fingerprint(onnx_path) is not None:
        save_stamped(onnx.load(str(onnx_path)), onnx_path, checkpoint_folder)


def _set_metadata(graph, values: dict[str, str]) -> None:
    kept = [prop for prop in graph.metadata_props if prop.key not in values]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    for key, value in values.items():
        graph.metadata_props.add(key=key, value=value)


def folder_is_writable(folder: str | os.PathLike) -> bool:
    """Whether a file can be created in `folder`/onnx (tried for real: permission bits lie to root)."""
    target = Path(folder) / ONNX_FOLDER
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target):
            return True
    except OSError:
        return False


def cache_root(cache_folder: str | None) -> Path:
    """sentembed's cache folder: `cache_folder`, else SENTENCE_TRANSFORMERS_HOME, else ~/.cache/sentembed."""
    return Path(default_cache_folder(cache_folder) or Path.home() / ".cache" / "sentembed")


def fallback_folder(checkpoint_folder: str | os.PathLike | None, cache_folder: str | None) -> Path:
    """A writable folder for the exports of a model whose own folder is read-only."""
    key = hashlib.sha256(str(Path(checkpoint_folder or "unknown").resolve()).encode()).hexdigest()[:16]
    return cache_root(cache_folder) / "onnx-exports" / key


def export_folder(checkpoint_folder: str | os.PathLike | None, cache_folder: str | None) -> Path:
    """Where exports of this checkpoint live: its own folder if writable, else the cache folder."""
    if checkpoint_folder is not None and folder_is_writable(checkpoint_folder):
        return Path(checkpoint_folder)
    return fallback_folder(checkpoint_folder, cache_folder)
