"""The sentence-transformers 2 helpers old scripts still call: `util.http_get`, `util.pytorch_cos_sim`, and
the cross-encoder trainer's import path."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
import torch

from sentembed import util


@pytest.fixture()
def file_server(tmp_path):
    """A local HTTP server over a folder holding one file; yields (base url, file bytes)."""
    served = tmp_path / "served"
    served.mkdir()
    payload = ("sentence one\tsentence two\t4.2\n" * 5000).encode()
    (served / "data.tsv").write_bytes(payload)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", payload
    finally:
        server.shutdown()
        server.server_close()


def test_http_get_downloads_into_a_new_folder(file_server, tmp_path):
    base, payload = file_server
    target = tmp_path / "downloads" / "nested" / "data.tsv"
    util.http_get(f"{base}/data.tsv", str(target))
    assert target.read_bytes() == payload
    assert [path.name for path in target.parent.iterdir()] == ["data.tsv"]  # no temporary file left


def test_http_get_failures_name_the_address(file_server, tmp_path):
    base, _ = file_server
    target = tmp_path / "missing.tsv"
    with pytest.raises(OSError, match=r"downloading .*/missing.tsv failed: HTTP 404"):
        util.http_get(f"{base}/missing.tsv", str(target))
    assert not target.exists()
    with pytest.raises(ValueError, match="http:// or https://"):
        util.http_get("file:///etc/passwd", str(target))


def test_pytorch_cos_sim_is_cos_sim():
    a, b = torch.randn(3, 8), torch.randn(4, 8)
    torch.testing.assert_close(util.pytorch_cos_sim(a, b), util.cos_sim(a, b))
    torch.testing.assert_close(util.pytorch_cos_sim(a[0], a[0]), torch.ones(1, 1))


def test_cross_encoder_trainer_imports_from_the_cross_encoder_package():
    from sentembed.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentembed.training.cross_encoder.trainer import CrossEncoderTrainer as Trainer

    assert CrossEncoderTrainer is Trainer
    assert CrossEncoderTrainingArguments.__name__ == "CrossEncoderTrainingArguments"


def test_tokenize_reads_text_pairs_as_one_sequence_each(minilm_l3):
    from sentence_transformers import SentenceTransformer as Reference

    from tests.support.paths import MINILM_L3

    pairs = [("How many people live in Berlin?", "Berlin has 3.5 million inhabitants."), ("Hi", "Hello there")]
    features = minilm_l3.tokenize(pairs)
    expected = Reference(str(MINILM_L3), device="cpu").tokenize(pairs)
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        torch.testing.assert_close(features[name], expected[name])
    assert set(features["token_type_ids"][0].tolist()) == {0, 1}
    with pytest.raises(TypeError, match=r"texts\[1\] must be a \(text, text\) pair"):
        minilm_l3.tokenize([("a", "b"), ("only one",)])


def test_smart_batching_collate_tokenizes_each_text_position(minilm_l3):
    import numpy as np

    from sentembed import InputExample

    batch = [InputExample(texts=["A man eats.", "Someone eats."], label=0.9), InputExample(texts=["A", "B"], label=0.1)]
    features, labels = minilm_l3.smart_batching_collate(batch)
    assert len(features) == 2
    torch.testing.assert_close(features[1]["input_ids"], minilm_l3.tokenize(["Someone eats.", "B"])["input_ids"])
    torch.testing.assert_close(labels, torch.tensor([0.9, 0.1]))
    vectors = [InputExample(texts=["x"], label=np.ones(3, dtype=np.float32))]
    assert minilm_l3.smart_batching_collate(vectors)[1].shape == (1, 3)


def test_encode_reads_text_pairs_as_one_sequence_each(minilm_l3):
    import numpy as np
    from sentence_transformers import SentenceTransformer as Reference

    from tests.support.paths import MINILM_L3

    pairs = [["what is AI?", "AI is artificial intelligence."], ["what is ML?", "ML is machine learning."]]
    embeddings = minilm_l3.encode(pairs)
    np.testing.assert_allclose(embeddings, minilm_l3.encode(np.array(pairs)), atol=1e-6)
    np.testing.assert_allclose(embeddings, Reference(str(MINILM_L3), device="cpu").encode(pairs), atol=1e-5)
    assert not np.allclose(embeddings[0], minilm_l3.encode(pairs[0][0]), atol=1e-3)
    prompted = minilm_l3.encode(pairs, prompt="query: ")
    np.testing.assert_allclose(prompted[1], minilm_l3.encode([("query: " + pairs[1][0], pairs[1][1])])[0], atol=1e-6)
