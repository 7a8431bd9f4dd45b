"""CrossEncoder(backend="onnx"): the same scores as the reference on WikiQA pairs, saving, int8 export."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from sentembed import CrossEncoder
from sentembed.backend import export_dynamic_quantized_onnx_model
from sentembed.backend._onnx_classifier import OnnxSequenceClassifier
from tests.support.paths import CROSS_ENCODER, DATA

pytest.importorskip("onnxruntime")

PARITY = 1e-4


def wikiqa_pairs(limit: int) -> list[tuple[str, str]]:
    with open(DATA / "wikiqa" / "WikiQA-test.txt", encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    return [(question, sentence) for question, sentence, _ in rows][:limit]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    target = tmp_path_factory.mktemp("cross-onnx") / "wikiqa-MiniLM-L3-v2"
    shutil.copytree(CROSS_ENCODER, target)
    return target


@pytest.fixture(scope="module")
def onnx_cross_encoder(folder) -> CrossEncoder:
    return CrossEncoder(str(folder), device="cpu", backend="onnx")


def test_scores_match_the_reference(onnx_cross_encoder, folder):
    from sentence_transformers import CrossEncoder as Reference

    pairs = wikiqa_pairs(400)
    assert isinstance(onnx_cross_encoder.classifier, OnnxSequenceClassifier)
    assert (folder / "onnx" / "model_O2.onnx").exists()
    ours = onnx_cross_encoder.predict(pairs)
    reference = Reference(str(folder), device="cpu").predict(pairs)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= PARITY


def test_rank_and_single_pair_work_the_same(onnx_cross_encoder):
    torch_side = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    pairs = wikiqa_pairs(12)
    query, documents = pairs[0][0], [document for _, document in pairs]
    ours = onnx_cross_encoder.rank(query, documents, return_documents=True)
    expected = torch_side.rank(query, documents, return_documents=True)
    assert [hit["corpus_id"] for hit in ours] == [hit["corpus_id"] for hit in expected]
    assert abs(onnx_cross_encoder.predict(pairs[0]) - torch_side.predict(pairs[0])) <= PARITY


def test_saved_model_keeps_its_onnx_file(onnx_cross_encoder, tmp_path):
    onnx_cross_encoder.save(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "onnx" / "model_O2.onnx").exists()
    pairs = wikiqa_pairs(20)
    for backend in ("torch", "onnx"):
        reloaded = CrossEncoder(str(tmp_path / "saved"), device="cpu", backend=backend)
        assert np.abs(reloaded.predict(pairs) - onnx_cross_encoder.predict(pairs)).max() <= PARITY


def test_int8_cross_encoder_keeps_the_ranking(onnx_cross_encoder, folder):
    path = export_dynamic_quantized_onnx_model(onnx_cross_encoder, "avx2", str(folder))
    quantized = CrossEncoder(str(folder), device="cpu", backend="onnx", model_kwargs={"file_name": str(path)})
    pairs = wikiqa_pairs(300)
    full, int8 = onnx_cross_encoder.predict(pairs), quantized.predict(pairs)
    assert np.corrcoef(full, int8)[0, 1] > 0.99
