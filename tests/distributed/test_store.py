"""Building an EmbeddingStore on Ray: equal to a store built in one process (from Python, and from
`sentembed index --ray` on JSON lines, Parquet and text files), and resumed after the driver is killed or
stops between shards."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from sentembed.cli.main import main
from sentembed.distributed import build_store
from sentembed.distributed._indexing import SHARD_FOLDER, SHARD_SUFFIX, Committer
from sentembed.store import EmbeddingStore
from tests.support.paths import MINILM_L3, REPO

DOCS = 240
SEGMENT = 40
TIMEOUT_S = 180
QUERIES = ["protein folding in the cell", "vitamin D and bone density", "tumour growth in mice", "sleep"]


@pytest.fixture(scope="module")
def corpus(scifact_docs) -> dict:
    docs = scifact_docs[:DOCS]
    return {
        "ids": [doc["_id"] for doc in docs],
        "texts": [doc["title"] + " " + doc["text"] for doc in docs],
        "metadata": [{"title": doc["title"]} for doc in docs],
    }


@pytest.fixture(scope="module")
def local_store(corpus, tmp_path_factory) -> EmbeddingStore:
    """The corpus built in this process, without Ray: what every Ray build must equal."""
    path = tmp_path_factory.mktemp("local") / "store"
    return EmbeddingStore.build(
        path, str(MINILM_L3), corpus["texts"], ids=corpus["ids"], metadata=corpus["metadata"],
        segment_size=SEGMENT, show_progress_bar=False,
    )  # fmt: skip


def assert_same_store(store: EmbeddingStore, expected: EmbeddingStore) -> None:
    assert store.ids.tolist() == expected.ids.tolist(), "rows lost, duplicated or out of order"
    np.testing.assert_allclose(store.embeddings(), expected.embeddings(), atol=1e-6, rtol=0)
    for position in (0, SEGMENT, expected.count - 1):
        assert store.get_text(position) == expected.get_text(position)
        assert store.get_metadata(position) == expected.get_metadata(position)
    hits, expected_hits = store.search(QUERIES, top_k=10), expected.search(QUERIES, top_k=10)
    assert [[hit["corpus_id"] for hit in row] for row in hits] == [
        [h["corpus_id"] for h in row] for row in expected_hits
    ]
    store.verify()


def write_jsonl(path: Path, corpus: dict) -> Path:
    lines = [
        json.dumps({"id": doc_id, "text": text, **meta})
        for doc_id, text, meta in zip(corpus["ids"], corpus["texts"], corpus["metadata"], strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def index_args(source: Path, store: Path, *extra: str) -> list[str]:
    return [
        "index", str(source), "--store", str(store), "--ray", "--model", str(MINILM_L3),
        "--segment-size", str(SEGMENT), "--workers", "2", "--no-progress", *extra,
    ]  # fmt: skip


def test_index_ray_reads_parquet(ray_cluster, corpus, local_store, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as parquet

    table = pa.table({"id": corpus["ids"], "text": corpus["texts"], "title": [m["title"] for m in corpus["metadata"]]})
    parquet.write_table(table, tmp_path / "corpus.parquet")
    assert main(index_args(tmp_path / "corpus.parquet", tmp_path / "store")) == 0
    assert_same_store(EmbeddingStore.open(tmp_path / "store"), local_store)


@pytest.mark.slow
def test_index_ray_reads_text_files(ray_cluster, corpus, local_store, tmp_path):
    lines = [text.replace("\n", " ") for text in corpus["texts"][:60]]
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(index_args(tmp_path / "corpus.txt", tmp_path / "store")) == 0
    store = EmbeddingStore.open(tmp_path / "store")
    assert store.ids.tolist() == list(range(60))
    np.testing.assert_allclose(store.embeddings(), local_store.embeddings()[:60], atol=1e-6, rtol=0)


def stored_rows(store: Path) -> int:
    try:
        return json.loads((store / "manifest.json").read_text(encoding="utf-8"))["count"]
    except (OSError, ValueError, KeyError):
        return 0


def test_a_killed_driver_resumes_to_the_same_store(ray_address, corpus, local_store, tmp_path, caplog):
    source, store = write_jsonl(tmp_path / "corpus.jsonl", corpus), tmp_path / "store"
    command = [sys.executable, "-m", "sentembed.cli.main", *index_args(source, store, "--address", ray_address)]
    driver = subprocess.Popen(
        command, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while stored_rows(store) < SEGMENT:
            assert driver.poll() is None, f"the driver ended (code {driver.returncode}) before it could be killed"
            assert time.monotonic() < deadline, "the driver committed no shard in time"
            time.sleep(0.02)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=60)
    committed = stored_rows(store)
    assert SEGMENT <= committed < DOCS, f"killed after {committed} of {DOCS} rows: not mid-run"

    with caplog.at_level(logging.INFO, logger="sentembed.distributed"):
        assert main(index_args(source, store)) == 0
    resumed = [record.getMessage() for record in caplog.records if "already stored" in record.getMessage()]
    assert resumed and resumed[0].startswith(f"{committed} rows already stored"), resumed
    assert_same_store(EmbeddingStore.open(store), local_store)


def test_staged_shards_are_committed_without_encoding_them_again(
    ray_cluster, corpus, local_store, tmp_path, monkeypatch, caplog
):
    commit, calls = Committer.commit, []

    def commit_once(self, shard):
        calls.append(shard)
        if len(calls) > 1:
            raise KeyboardInterrupt("the driver stops here")
        commit(self, shard)

    monkeypatch.setattr(Committer, "commit", commit_once)
    arguments = {"ids": corpus["ids"], "metadata": corpus["metadata"], "segment_size": SEGMENT}
    with pytest.raises(KeyboardInterrupt):
        build_store(
            tmp_path / "store", str(MINILM_L3), corpus["texts"], workers=2, show_progress_bar=False, **arguments
        )
    monkeypatch.setattr(Committer, "commit", commit)
    staged = len(list((tmp_path / "store" / SHARD_FOLDER).iterdir()))
    assert staged >= 1 and EmbeddingStore.open(tmp_path / "store").count == SEGMENT

    with caplog.at_level(logging.INFO, logger="sentembed.distributed"):
        store = build_store(tmp_path / "store", str(MINILM_L3), corpus["texts"], show_progress_bar=False, **arguments)
    shards = DOCS // SEGMENT - 1
    assert f"{SEGMENT} rows already stored, {staged} shards staged, {shards - staged} shards to encode" in caplog.text
    assert_same_store(store, local_store)
    assert not (tmp_path / "store" / SHARD_FOLDER).exists(), "the staging folder is left behind"


def test_a_resume_from_other_input_is_refused(ray_cluster, corpus, local_store):
    changed = [*corpus["texts"][:-1], "another text"]
    with pytest.raises(ValueError, match="already holds"):
        build_store(local_store.path, str(MINILM_L3), changed[:10], show_progress_bar=False)


@pytest.mark.parametrize(
    ("arguments", "error", "name"),
    [
        ({"workers": 0}, ValueError, "workers"),
        ({"gpus_per_worker": -1}, ValueError, "gpus_per_worker"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"segment_size": 0}, ValueError, "segment_size"),
        ({"model": object()}, TypeError, "model"),
        ({"model_options": {"backnd": "onnx"}}, TypeError, "backnd"),
    ],
)
def test_bad_build_arguments_are_named_before_the_store_is_made(tmp_path, arguments, error, name):
    arguments = {"model": str(MINILM_L3), **arguments}
    with pytest.raises(error, match=name):
        build_store(tmp_path / "store", texts=["a", "b"], **arguments)
    assert not (tmp_path / "store").exists()


def test_a_shard_folder_linked_out_of_the_store_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / f"000000000000-stale{SHARD_SUFFIX}").write_bytes(b"not ours")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / SHARD_FOLDER).symlink_to(outside, target_is_directory=True)
    with pytest.raises(OSError, match="shard folder"):
        build_store(tmp_path / "store", str(MINILM_L3), ["a", "b"], show_progress_bar=False)
    assert (outside / f"000000000000-stale{SHARD_SUFFIX}").exists()  # the clean-up never reached it


def test_index_refuses_ray_options_without_ray(tmp_path, capsys):
    (tmp_path / "corpus.txt").write_text("a text\n", encoding="utf-8")
    store = str(tmp_path / "store")
    assert main(["index", str(tmp_path / "corpus.txt"), "--store", store, "--workers", "2"]) == 2
    assert "--workers needs --ray" in capsys.readouterr().err
    assert main(["index", str(tmp_path / "corpus.txt"), "--store", store, "--gpus-per-worker", "1"]) == 2
    assert "--gpus-per-worker needs --ray" in capsys.readouterr().err
    assert main(["index", str(tmp_path / "corpus.txt"), "--store", store, "--ray", "--cache", "c.db"]) == 2
    assert "--cache" in capsys.readouterr().err


@pytest.mark.slow
def test_a_chunked_ray_build_equals_a_chunked_local_build(ray_cluster, corpus, tmp_path):
    texts, arguments = corpus["texts"][:60], {"chunk_tokens": 64, "chunk_overlap": 16, "show_progress_bar": False}
    store = build_store(tmp_path / "ray", str(MINILM_L3), texts, segment_size=SEGMENT, workers=2, **arguments)
    local = EmbeddingStore.build(tmp_path / "local", str(MINILM_L3), texts, segment_size=SEGMENT, **arguments)
    assert store.count == local.count > len(texts) and store.manifest.chunking == local.manifest.chunking
    np.testing.assert_allclose(store.embeddings(), local.embeddings(), atol=1e-6, rtol=0)
    assert store.search(QUERIES, top_k=5) == local.search(QUERIES, top_k=5)


def shard_encoder_pids() -> list[int]:
    return [
        process.pid
        for process in psutil.process_iter(["cmdline"])
        if any("MapBatches(ShardEncoder)" in part for part in process.info["cmdline"] or [])
    ]


@pytest.mark.slow
def test_a_worker_killed_mid_build_leaves_the_store_complete(ray_cluster, corpus, local_store, tmp_path):
    path, killed = tmp_path / "store", []

    def kill_one_worker_after_the_first_commit() -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and not killed:
            pids = shard_encoder_pids()
            if stored_rows(path) >= SEGMENT and pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(stored_rows(path))
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_worker_after_the_first_commit, daemon=True)
    killer.start()
    store = build_store(
        path, str(MINILM_L3), corpus["texts"], ids=corpus["ids"], metadata=corpus["metadata"],
        segment_size=SEGMENT, workers=2, show_progress_bar=False,
    )  # fmt: skip
    killer.join(timeout=TIMEOUT_S)
    assert killed and killed[0] < DOCS, "no worker was killed mid-build"
    assert_same_store(store, local_store)


def test_resources_no_node_has_are_refused_not_waited_for(ray_address, tmp_path):
    """Without the check, Ray waits forever for a GPU that never comes: the command is bounded by a timeout."""
    (tmp_path / "corpus.txt").write_text("a text\nanother text\n", encoding="utf-8")
    command = [
        sys.executable, "-m", "sentembed.cli.main", "index", str(tmp_path / "corpus.txt"), "--store",
        str(tmp_path / "store"), "--model", str(MINILM_L3), "--ray", "--address", ray_address,
        "--gpus-per-worker", "1", "--no-progress",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=REPO)
    assert result.returncode == 2
    assert "gpus_per_worker=1, but no node of the Ray cluster has 1 GPU" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_worker_error_keeps_its_type_and_message(ray_address, tmp_path):
    """The driver loads its model on the CPU; each worker loads it on `device`, which this machine lacks."""
    from sentembed.common.runtime import default_device

    if default_device() != "cpu":
        pytest.skip("needs a machine without a GPU")
    with pytest.raises(ValueError, match=r"cuda") as raised:
        build_store(
            tmp_path / "store", str(MINILM_L3), ["a text", "another text"], device="cuda", workers=1,
            address=ray_address, show_progress_bar=False,
        )  # fmt: skip
    assert "raised in a Ray worker" in "\n".join(getattr(raised.value, "__notes__", []))
