"""encode_dataset and predict_dataset on a local Ray cluster: equal to encode and predict row for row, with
every encode option, through a killed actor, and with arguments checked before anything runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from sentembed import CrossEncoder
from sentembed.distributed import Embedder, build_store, encode_dataset, predict_dataset
from sentembed.distributed._cluster import pool_size
from tests.support.data import read_wikiqa
from tests.support.paths import CROSS_ENCODER, MINILM_L3, REPO

TIMEOUT_S = 180


def by_id(rows: list[dict], column: str) -> dict:
    return {row["id"]: row[column] for row in rows}


def embeddings_in_order(rows: list[dict], ids: list[str]) -> np.ndarray:
    found = by_id(rows, "embedding")
    assert len(found) == len(rows) == len(ids), "rows lost or duplicated"
    return np.stack([found[doc_id] for doc_id in ids])


def test_encode_dataset_equals_encode_row_for_row(ray_cluster, minilm_l6, minilm_l6_path, scifact_docs):
    docs = scifact_docs[:1000]
    ids, titles = [doc["_id"] for doc in docs], [doc["title"] for doc in docs]
    ds = ray_cluster.data.from_items([{"id": doc_id, "text": title} for doc_id, title in zip(ids, titles, strict=True)])
    rows = encode_dataset(ds, minilm_l6_path, batch_size=128, workers=2).take_all()
    np.testing.assert_allclose(embeddings_in_order(rows, ids), minilm_l6.encode(titles), atol=1e-6, rtol=0)
    assert by_id(rows, "text") == dict(zip(ids, titles, strict=True))


@pytest.mark.slow
def test_encode_dataset_equals_encode_on_all_of_scifact(ray_cluster, minilm_l6, minilm_l6_path, scifact_docs):
    ids = [doc["_id"] for doc in scifact_docs]
    texts = [doc["title"] + " " + doc["text"] for doc in scifact_docs]
    ds = ray_cluster.data.from_items([{"id": doc_id, "text": text} for doc_id, text in zip(ids, texts, strict=True)])
    rows = encode_dataset(ds, minilm_l6_path, workers=2, normalize_embeddings=True).take_all()
    expected = minilm_l6.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(embeddings_in_order(rows, ids), expected, atol=1e-6, rtol=0)


def test_encode_and_loading_options_reach_every_actor(ray_cluster, minilm_l3, sts_sentences):
    texts = sts_sentences[:200]
    ds = ray_cluster.data.from_items([{"id": index, "sentence": text} for index, text in enumerate(texts)])
    options = {"prompt_name": "query", "normalize_embeddings": True, "truncate_dim": 128, "precision": "ubinary"}
    rows = encode_dataset(
        ds, str(MINILM_L3), text_column="sentence", output_column="vector", batch_size=64, workers=2,
        model_options={"prompts": {"query": "query: "}}, **options,
    ).take_all()  # fmt: skip
    got = np.stack([vector for _, vector in sorted(by_id(rows, "vector").items())])
    expected = minilm_l3.encode(
        texts, prompt="query: ", normalize_embeddings=True, truncate_dim=128, precision="ubinary"
    )
    np.testing.assert_array_equal(got, expected)


def test_predict_dataset_equals_predict(ray_cluster):
    pairs = [(question, answer) for question, answer, _ in read_wikiqa("test")[:200]]
    ds = ray_cluster.data.from_items([{"id": i, "query": q, "document": d} for i, (q, d) in enumerate(pairs)])
    rows = predict_dataset(ds, str(CROSS_ENCODER), batch_size=64, workers=2).take_all()
    got = np.array([score for _, score in sorted(by_id(rows, "score").items())])
    expected = CrossEncoder(str(CROSS_ENCODER), device="cpu").predict(pairs)
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)


def embedder_pids() -> list[int]:
    """The processes of this machine's Embedder actors."""
    pids = []
    for process in psutil.process_iter(["cmdline"]):
        if any("MapBatches(Embedder)" in part for part in process.info["cmdline"] or []):
            pids.append(process.pid)
    return pids


def test_a_killed_actor_is_restarted_and_its_batch_run_again(ray_cluster, minilm_l3, scifact_docs):
    docs = scifact_docs[:240]
    ids, texts = [doc["_id"] for doc in docs], [doc["title"] + " " + doc["text"] for doc in docs]
    ds = ray_cluster.data.from_items([{"id": doc_id, "text": text} for doc_id, text in zip(ids, texts, strict=True)])
    batches, killed, outstanding = [], None, 0
    deadline = time.monotonic() + TIMEOUT_S
    for batch in encode_dataset(ds, MINILM_L3, batch_size=10, workers=2).iter_batches(batch_size=None):
        batches.append(batch)
        if killed is None:
            killed = embedder_pids()[0]
            os.kill(killed, signal.SIGKILL)
            outstanding = len(docs) - sum(len(part["id"]) for part in batches)
        assert time.monotonic() < deadline, "encoding did not finish in time"
    assert killed is not None and outstanding > 0, "the actor was not killed mid-run"
    assert not psutil.pid_exists(killed) or psutil.Process(killed).status() == psutil.STATUS_ZOMBIE
    rows = [
        {"id": doc_id, "embedding": vector}
        for part in batches
        for doc_id, vector in zip(part["id"], part["embedding"], strict=True)
    ]
    np.testing.assert_allclose(embeddings_in_order(rows, ids), minilm_l3.encode(texts), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("arguments", "error", "names"),
    [
        ({"model": object()}, TypeError, "model"),
        ({"text_column": "body"}, ValueError, "text_column"),
        ({"text_column": 3}, TypeError, "text_column"),
        ({"output_column": "text"}, ValueError, "output_column"),
        ({"workers": 0}, ValueError, "workers"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"model_batch_size": True}, ValueError, "model_batch_size"),
        ({"gpus_per_worker": -1}, ValueError, "gpus_per_worker"),
        ({"cpus_per_worker": "1"}, ValueError, "cpus_per_worker"),
        ({"precision": "float16"}, ValueError, "precision"),
        ({"truncate_dim": 0}, ValueError, "truncate_dim"),
        ({"convert_to_tensor": True}, TypeError, "convert_to_tensor"),
        ({"model_options": {"backend": "onnx", "devise": "cpu"}}, TypeError, "devise"),
    ],
)
def test_bad_arguments_are_named_before_anything_runs(ray_cluster, arguments, error, names):
    ds = ray_cluster.data.from_items([{"text": "a"}])
    arguments = {"model": str(MINILM_L3), **arguments}
    with pytest.raises(error, match=names):
        encode_dataset(ds, **arguments)


def test_bad_dataset_and_pair_columns(ray_cluster):
    with pytest.raises(TypeError, match="ray.data.Dataset"):
        encode_dataset(["a", "b"], str(MINILM_L3))
    ds = ray_cluster.data.from_items([{"query": "a", "answer": "b"}])
    with pytest.raises(ValueError, match="second_column 'document'"):
        predict_dataset(ds, str(CROSS_ENCODER))
    with pytest.raises(TypeError, match="apply_sigmoid"):
        predict_dataset(ds, str(CROSS_ENCODER), second_column="answer", apply_sigmoid=True)


def test_pool_size_follows_the_cluster():
    assert pool_size({"CPU": 16.0, "GPU": 4.0}, 1, 0) == 16
    assert pool_size({"CPU": 16.0, "GPU": 4.0}, 2, 1) == 4
    assert pool_size({"CPU": 16.0}, 1, 0.5) == 1  # no GPU at all: one worker, which Ray holds until a GPU joins
    assert pool_size({"CPU": 1.0}, 4, 0) == 1


def test_sentembed_imports_without_ray_and_says_how_to_install_it():
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "import sentembed, sentembed.distributed as d\n"
        "try:\n    d.encode_dataset(None, 'model')\n"
        "except ImportError as error:\n    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=REPO, check=True
    )
    assert 'pip install "sentembed[ray]"' in result.stdout


def test_resources_no_node_has_are_refused_before_anything_runs(ray_cluster):
    ds = ray_cluster.data.from_items([{"text": "a", "text2": "b"}])
    with pytest.raises(ValueError, match=r"gpus_per_worker=1, but no node of the Ray cluster has 1 GPU"):
        encode_dataset(ds, str(MINILM_L3), gpus_per_worker=1)
    with pytest.raises(ValueError, match=r"cpus_per_worker=64, but no node of the Ray cluster has 64 CPU"):
        predict_dataset(ds, str(CROSS_ENCODER), first_column="text", second_column="text2", cpus_per_worker=64)


def test_an_unknown_prompt_name_is_refused_before_any_model_loads(ray_cluster, tmp_path):
    ds = ray_cluster.data.from_items([{"text": "a"}])
    with pytest.raises(ValueError, match=r"Prompt name 'nope' not found .* keys \['query', 'document'\]"):
        encode_dataset(ds, str(MINILM_L3), prompt_name="nope")
    with pytest.raises(ValueError, match=r"Prompt name 'nope' not found .* keys \['query', 'document', 'short'\]"):
        encode_dataset(ds, str(MINILM_L3), prompt_name="nope", model_options={"prompts": {"short": "s: "}})
    assert encode_dataset(ds, str(MINILM_L3), prompt_name="short", model_options={"prompts": {"short": "s: "}})
    with pytest.raises(ValueError, match=r"Prompt name 'nope' not found"):
        build_store(tmp_path / "store", str(MINILM_L3), ["a", "b"], prompt_name="nope", show_progress_bar=False)
    with pytest.raises(ValueError, match=r"Prompt name 'nope' not found"):
        Embedder(str(MINILM_L3), prompt_name="nope")  # at actor start, for models given by hub name
