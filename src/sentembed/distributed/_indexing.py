"""Building an `EmbeddingStore` on Ray: workers encode shards of the corpus and write each shard's embeddings
to a staging folder; the driver commits the shards to the store as segments, in corpus order.

A shard file is named by its first row and a hash of its texts and the store's model settings, so a rerun
after an interruption commits the shards it finds staged and encodes only the rest; the rows already in the
store are checked against the input and skipped, as in `EmbeddingStore.build`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from sentembed.common.checks import check_positive_int
from sentembed.common.errors import StoreError, WorkerError
from sentembed.common.files import load_array, path_inside
from sentembed.distributed._actors import ShardEncoder, check_model_options, check_model_source, raise_worker_error
from sentembed.distributed._cluster import actor_pool, check_pool, connect, require_ray
from sentembed.sentence_transformer import SentenceTransformer
from sentembed.store import BuildOptions, EmbeddingStore, PreparedBuild, commit_rows, prepare_build, text_hashes

logger = logging.getLogger(__name__)

SHARD_FOLDER = "ray-shards"
SHARD_SUFFIX = ".shard.npy"


@dataclass(frozen=True)
class Shard:
    """Rows `start`..`stop` of the corpus, staged as the file `name`."""

    start: int
    stop: int
    name: str


@dataclass(frozen=True)
class RayOptions:
    """Where and how the workers run."""

    workers: int | None = None
    gpus_per_worker: float = 0
    cpus_per_worker: float = 1
    device: str | None = None
    model_options: dict[str, Any] | None = None
    address: str | None = None


def build_store(
    path: str | Path,
    model: str,
    texts: Sequence[str],
    ids: Sequence[int] | Sequence[str] | None = None,
    metadata: Sequence[dict] | None = None,
    precision: str = "float32",
    batch_size: int = 32,
    normalize_embeddings: bool = True,
    prompt: str | None = None,
    prompt_name: str | None = None,
    segment_size: int = 4096,
    show_progress_bar: bool = True,
    chunk_tokens: int | None = None,
    chunk_overlap: int = 0,
    *,
    workers: int | None = None,
    gpus_per_worker: float = 0,
    cpus_per_worker: float = 1,
    device: str | None = None,
    model_options: dict[str, Any] | None = None,
    address: str | None = None,
    shard_dir: str | Path | None = None,
) -> EmbeddingStore:
    """`EmbeddingStore.build` with the encoding spread over Ray workers, one shard of `segment_size` rows each.

    Ray is joined at `address`, or started locally on this machine's cores. Workers write shards to `shard_dir`
    (default: `ray-shards` inside the store; on a cluster it must be a folder every node can write and the
    driver read). Run it again after an interruption and it resumes without encoding committed or staged
    shards again.

    Args:
        path: The store's folder.
        model: The model's name or folder (each worker loads its own copy).
        texts: The texts to encode and store.
        ids: One unique id per text. Default None: 0, 1, 2, ...
        metadata: One dict per text. Default None.
        precision: "float32" (default), "int8" or "ubinary".
        batch_size: Texts per `encode` batch. Default 32.
        normalize_embeddings: Store unit-length embeddings. Default True.
        prompt: A prompt to put before every text. Default None.
        prompt_name: The name of one of the model's prompts instead. Default None.
        segment_size: Rows per shard (and store segment). Default 4096.
        show_progress_bar: Show progress over the rows. Default True.
        chunk_tokens: Store texts as chunks of at most this many tokens. Default None.
        chunk_overlap: Tokens shared by neighbouring chunks. Default 0.
        workers: How many Ray workers. Default None: as many as the cluster holds.
        gpus_per_worker: GPUs each worker reserves. Default 0.
        cpus_per_worker: CPUs each worker reserves. Default 1.
        device: Where each worker's model runs. Default None: the best available there.
        model_options: Keyword arguments for the SentenceTransformer. Default None.
        address: The Ray cluster to join. Default None: a local one (or the one already joined).
        shard_dir: Where workers write shards. Default None: "ray-shards" inside the store.

    Returns:
        The store, open, holding every text.

    Raises:
        ImportError: Ray is not installed.
        ValueError: Arguments `EmbeddingStore.build` refuses, or pool settings the cluster cannot hold.
        WorkerError: Workers that failed for good, or shards Ray did not return (run it again to resume).
    """
    source = check_model_source(model)
    loading = check_model_options(SentenceTransformer, model_options)
    segment_size = check_positive_int(segment_size, "segment_size")
    check_positive_int(batch_size, "batch_size")
    check_pool(workers, cpus_per_worker, gpus_per_worker)
    options = BuildOptions(
        precision, batch_size, normalize_embeddings, prompt, prompt_name, segment_size, show_progress_bar,
        chunk_tokens, chunk_overlap,
    )  # fmt: skip
    driver_model = SentenceTransformer(source, device="cpu", **loading)
    build = prepare_build(EmbeddingStore, Path(path), driver_model, texts, ids, metadata, options)
    # The default staging folder is the store's: a link out of it would let the clean-up delete files elsewhere.
    staging = Path(shard_dir) if shard_dir is not None else path_inside(path, SHARD_FOLDER, f"shard folder of {path}")
    staging.mkdir(parents=True, exist_ok=True)
    shards = plan_shards(build, segment_size)
    remove_stale_shards(staging, shards)
    pending = [index for index, shard in enumerate(shards) if not (staging / shard.name).is_file()]
    logger.info(
        "%d rows already stored, %d shards staged, %d shards to encode",
        build.store.count, len(shards) - len(pending), len(pending),
    )  # fmt: skip
    ray_options = RayOptions(workers, gpus_per_worker, cpus_per_worker, device, loading, address)
    total = len(build.rows.texts)
    with tqdm(total=total, initial=build.store.count, desc="Building store", disable=not show_progress_bar) as bar:
        committer = Committer(build, shards, staging, bar)
        for index in sorted(set(range(len(shards))) - set(pending)):
            committer.finished(index)
        for index in encode_shards(build, shards, pending, staging, source, batch_size, ray_options):
            committer.finished(index)
    if committer.next != len(shards):
        raise WorkerError(f"Ray returned {committer.next} of {len(shards)} shards; run the build again to resume")
    if shard_dir is None and not any(staging.iterdir()):
        staging.rmdir()
    return build.store


def plan_shards(build: PreparedBuild, segment_size: int) -> list[Shard]:
    """The shards of the rows not yet in the store, each named by its start and a hash of its content."""
    manifest = build.store.manifest
    settings = json.dumps([manifest.model, manifest.fingerprint, manifest.prompt, manifest.normalized, manifest.dim])
    texts, shards = build.rows.texts, []
    for start in range(build.store.count, len(texts), segment_size):
        stop = min(start + segment_size, len(texts))
        digest = hashlib.blake2b(settings.encode("utf-8"), digest_size=8)
        digest.update(text_hashes(texts[start:stop]).tobytes())
        shards.append(Shard(start, stop, f"{start:012d}-{digest.hexdigest()}{SHARD_SUFFIX}"))
    return shards


def remove_stale_shards(staging: Path, shards: list[Shard]) -> None:
    """Delete staged shards this build has no use for (committed already, or from other input or settings)."""
    wanted = {shard.name for shard in shards}
    for file in staging.glob(f"*{SHARD_SUFFIX}"):
        if file.name not in wanted:
            file.unlink()


class Committer:
    """Commits finished shards to the store in corpus order: a shard waits until every one before it is in."""

    def __init__(self, build: PreparedBuild, shards: list[Shard], staging: Path, progress: Any) -> None:
        self.build, self.shards, self.staging, self.progress = build, shards, staging, progress
        self.ready: set[int] = set()
        self.next = 0

    def finished(self, index: int) -> None:
        """Note that shard `index` is staged, and commit every shard that can now go in."""
        self.ready.add(index)
        while self.next in self.ready:
            self.commit(self.shards[self.next])
            self.ready.discard(self.next)
            self.next += 1

    def commit(self, shard: Shard) -> None:
        """Add a staged shard to the store as one segment, then delete its file."""
        file = self.staging / shard.name
        if not file.is_file():
            raise StoreError(
                f"a worker staged shard {shard.name}, but {file} is not here; on a cluster, shard_dir (--shard-dir) "
                "must be a folder that every node writes and this driver reads (a shared file system)"
            )
        embeddings = np.array(load_array(file))
        expected = (shard.stop - shard.start, self.build.store.dim)
        if embeddings.shape != expected:
            raise StoreError(f"staged shard {file} has shape {embeddings.shape}, expected {expected}; delete it")
        commit_rows(self.build.store, self.build.rows, shard.start, embeddings)
        file.unlink()
        self.progress.update(len(embeddings))


def encode_shards(
    build: PreparedBuild,
    shards: list[Shard],
    pending: list[int],
    staging: Path,
    source: str,
    batch_size: int,
    options: RayOptions,
) -> Iterator[int]:
    """Encode the pending shards on Ray, yielding each shard's index as its file is staged."""
    if not pending:
        return
    ray = require_ray()
    connect(options.address)
    texts = build.rows.texts
    items = [
        {"shard": index, "name": shards[index].name, "texts": texts[shards[index].start : shards[index].stop]}
        for index in pending
    ]
    arguments = {
        "model": source,
        "manifest": build.store.manifest,
        "shard_dir": str(staging.resolve()),
        "device": options.device,
        "model_options": options.model_options,
        "model_batch_size": batch_size,
    }
    pool = actor_pool(options.workers, options.cpus_per_worker, options.gpus_per_worker, most=len(pending))
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    results = dataset.map_batches(
        ShardEncoder, fn_constructor_kwargs=arguments, batch_size=1, batch_format="numpy", **pool
    )
    for row in results.iter_rows():
        if row["error"]:
            raise_worker_error(row["error"])
        yield int(row["shard"])
