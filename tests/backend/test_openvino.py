"""backend="openvino": parity with the reference and the torch backend, saving, and option checks."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from sentembed import CrossEncoder, SentenceTransformer
from tests.support.models import copy_without_exports
from tests.support.paths import CROSS_ENCODER, MINILM_L3

pytest.importorskip("openvino")
pytest.importorskip("onnx")

PARITY = 1e-4


@pytest.fixture(scope="module")
def l3_folder(tmp_path_factory) -> Path:
    return copy_without_exports(MINILM_L3, tmp_path_factory.mktemp("openvino") / "paraphrase-MiniLM-L3-v2")


@pytest.fixture(scope="module")
def openvino_l3(l3_folder) -> SentenceTransformer:
    return SentenceTransformer(str(l3_folder), device="cpu", backend="openvino")


def test_runs_the_plain_export_and_matches_the_reference(openvino_l3, reference_minilm_l3, sts_sentences):
    assert openvino_l3.backend == "openvino"
    assert openvino_l3[0].onnx_path.name == "model.onnx"
    ours = openvino_l3.encode(sts_sentences[:200])
    theirs = reference_minilm_l3.encode(sts_sentences[:200])
    assert np.abs(ours - theirs).max() <= PARITY


@pytest.mark.parametrize(
    "options",
    [
        {"normalize_embeddings": True, "precision": "int8"},
        {"truncate_dim": 64, "convert_to_tensor": True},
        {"output_value": "token_embeddings"},
    ],
)
def test_encode_options_match_the_torch_backend(openvino_l3, minilm_l3, sts_sentences, options):
    ours = openvino_l3.encode(sts_sentences[:32], **options)
    torch_side = minilm_l3.encode(sts_sentences[:32], **options)
    if options.get("output_value") == "token_embeddings":
        assert max((a - b).abs().max().item() for a, b in zip(ours, torch_side, strict=True)) <= PARITY
    elif options.get("precision") == "int8":
        assert np.abs(ours.astype(int) - torch_side.astype(int)).max() <= 1
    else:
        assert (ours - torch_side).abs().max().item() <= PARITY


def test_two_threads_may_encode_with_one_openvino_model_at_once(openvino_l3, sts_sentences):
    """As the server's lanes do. Each thread infers with a request of its own (OpenVINO documents an infer
    request as not for sharing between threads); answers equal those of one thread."""
    batches = [sts_sentences[start : start + 16] for start in range(0, 256, 16)]
    alone = [openvino_l3.encode(batch) for batch in batches]
    session, both_threads = openvino_l3[0].session, threading.Barrier(2)

    def encode_and_name_the_request(index: int) -> tuple[np.ndarray, int]:
        if index < 2:  # the first two batches run on the two threads at once
            both_threads.wait(60)
        return openvino_l3.encode(batches[index]), id(session._requests.request)

    with ThreadPoolExecutor(2) as pool:
        together, requests = zip(*pool.map(encode_and_name_the_request, range(len(batches))), strict=True)
        assert len(set(requests)) == 2 and id(session._requests.request) not in requests  # one per thread
    for got, want in zip(together, alone, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_threads_and_ov_config_reach_openvino(l3_folder, openvino_l3):
    options = {"num_threads": 1, "ov_config": {"PERFORMANCE_HINT": "THROUGHPUT"}}
    model = SentenceTransformer(str(l3_folder), device="cpu", backend="openvino", model_kwargs=options)
    assert model[0].session.compiled.get_property("INFERENCE_NUM_THREADS") == 1
    assert str(model[0].session.compiled.get_property("PERFORMANCE_HINT")) == "THROUGHPUT"
    assert str(openvino_l3[0].session.compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"
    assert np.abs(model.encode(["threads"]) - openvino_l3.encode(["threads"])).max() <= PARITY


def test_saved_model_loads_on_openvino_and_torch(openvino_l3, minilm_l3, tmp_path):
    openvino_l3.save(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "onnx" / "model.onnx").is_file()
    reloaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu", backend="openvino")
    torch_side = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    texts = ["saved and loaded again", "on both backends"]
    assert np.abs(reloaded.encode(texts) - minilm_l3.encode(texts)).max() <= PARITY
    assert np.abs(torch_side.encode(texts) - minilm_l3.encode(texts)).max() <= 1e-6


def test_an_ir_file_loads_by_file_name_and_saves_with_its_weights(openvino_l3, l3_folder, tmp_path):
    import openvino

    ir_path = tmp_path / "ir" / "openvino_model.xml"
    openvino.save_model(openvino.Core().read_model(str(openvino_l3[0].onnx_path)), str(ir_path), compress_to_fp16=False)
    model = SentenceTransformer(
        str(l3_folder), device="cpu", backend="openvino", model_kwargs={"file_name": str(ir_path)}
    )
    texts = ["an OpenVINO IR file"]
    assert np.abs(model.encode(texts) - openvino_l3.encode(texts)).max() <= PARITY
    model.save(str(tmp_path / "saved"))
    assert {path.name for path in (tmp_path / "saved" / "openvino").iterdir()} == {
        "openvino_model.xml",
        "openvino_model.bin",
    }


def test_cross_encoder_runs_on_openvino(tmp_path):
    source = copy_without_exports(CROSS_ENCODER, tmp_path / "cross-encoder")
    pairs = [("what is openvino?", "OpenVINO is a toolkit for running models."), ("a", "an unrelated passage")]
    torch_side = CrossEncoder(str(source), device="cpu").predict(pairs)
    ours = CrossEncoder(str(source), device="cpu", backend="openvino").predict(pairs)
    assert np.abs(ours - torch_side).max() <= PARITY


@pytest.mark.parametrize(
    ("model_kwargs", "error", "match"),
    [
        ({"provider": "CUDAExecutionProvider"}, ValueError, "onnxruntime option"),
        ({"ov_config": "fast"}, TypeError, "ov_config"),
        ({"file_name": "openvino/absent.xml"}, OSError, "absent.xml"),
    ],
)
def test_bad_openvino_options_are_refused(l3_folder, openvino_l3, model_kwargs, error, match):
    with pytest.raises(error, match=match):
        SentenceTransformer(str(l3_folder), device="cpu", backend="openvino", model_kwargs=model_kwargs)


def test_ov_config_is_refused_on_onnx(l3_folder):
    with pytest.raises(ValueError, match="OpenVINO option"):
        SentenceTransformer(str(l3_folder), device="cpu", backend="onnx", model_kwargs={"ov_config": {}})


def test_missing_openvino_names_the_extra(l3_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(ImportError, match=r"sentembed\[openvino\]"):
        SentenceTransformer(str(l3_folder), device="cpu", backend="openvino")
