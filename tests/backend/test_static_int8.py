"""Static int8 on OpenVINO (NNCF) and the bf16 option: files, loading, quality, and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from sentembed import CrossEncoder, SentenceTransformer
from sentembed.backend import OVQuantizationConfig, export_static_quantized_openvino_model
from tests.support.data import read_sts
from tests.support.models import copy_without_exports
from tests.support.paths import CROSS_ENCODER, MINILM_L3, minilm_l6_folder

pytest.importorskip("openvino")
pytest.importorskip("nncf")

INT8_FILE = "openvino/openvino_model_qint8_quantized.xml"


def calibration(count: int) -> list[str]:
    first, second, _ = read_sts("train")
    return list(dict.fromkeys(first + second))[:count]


def int8_layers(xml: Path) -> int:
    """How many quantize-dequantize points NNCF put into the IR."""
    return xml.read_text().count('type="FakeQuantize"') + xml.read_text().count('type="FakeConvert"')


@pytest.fixture(scope="module")
def l3_int8(tmp_path_factory) -> Path:
    folder = copy_without_exports(MINILM_L3, tmp_path_factory.mktemp("int8") / "l3")
    model = SentenceTransformer(str(folder), device="cpu", backend="openvino")
    path = export_static_quantized_openvino_model(
        model, OVQuantizationConfig(num_samples=64), str(folder), calibration_texts=calibration(64)
    )
    assert path == folder / INT8_FILE and path.with_suffix(".bin").is_file()
    return folder


def test_the_static_int8_file_loads_by_name_and_stays_close(l3_int8, minilm_l3, sts_sentences):
    model = SentenceTransformer(str(l3_int8), device="cpu", backend="openvino", model_kwargs={"file_name": INT8_FILE})
    assert model[0].onnx_path == l3_int8 / INT8_FILE and int8_layers(l3_int8 / INT8_FILE) >= 12
    ours, full = model.encode(sts_sentences[:100]), minilm_l3.encode(sts_sentences[:100])
    cosines = (ours * full).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(full, axis=1)
    assert cosines.mean() > 0.98 and np.abs(ours - full).max() > 1e-4  # close, and really quantized


def test_a_cross_encoder_quantizes_and_ranks_as_before(tmp_path):
    folder = copy_without_exports(CROSS_ENCODER, tmp_path / "ce")
    model = CrossEncoder(str(folder), device="cpu", backend="openvino")
    first, second, _ = read_sts("train")
    calibration_pairs = list(zip(first[:32], second[:32], strict=True))
    export_static_quantized_openvino_model(model, {"num_samples": 32}, str(folder), calibration_texts=calibration_pairs)
    quantized = CrossEncoder(str(folder), device="cpu", backend="openvino", model_kwargs={"file_name": INT8_FILE})
    first, second, _ = read_sts("test")
    pairs = list(zip(first[:60], second[:60], strict=True))
    assert pearsonr(quantized.predict(pairs), model.predict(pairs)).statistic > 0.97


@pytest.mark.slow
def test_minilm_l6_static_int8_keeps_stsb_quality(tmp_path):
    folder = copy_without_exports(minilm_l6_folder(), tmp_path / "l6")
    model = SentenceTransformer(str(folder), device="cpu", backend="openvino")
    export_static_quantized_openvino_model(model, None, str(folder), calibration_texts=calibration(300))
    quantized = SentenceTransformer(
        str(folder), device="cpu", backend="openvino", model_kwargs={"file_name": INT8_FILE}
    )
    first, second, gold = read_sts("test")
    a, b = quantized.encode(first, normalize_embeddings=True), quantized.encode(second, normalize_embeddings=True)
    assert spearmanr((a * b).sum(1), gold).statistic >= 0.817  # 99.6% of fp32's 0.8203


def test_offline_without_texts_is_a_clear_oserror(l3_int8, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    model = SentenceTransformer(str(l3_int8), device="cpu", backend="openvino")
    with pytest.raises(OSError, match="calibration_texts"):
        export_static_quantized_openvino_model(model, None, str(l3_int8))


@pytest.mark.parametrize(
    ("config", "texts", "error", "match"),
    [
        ({"num_samples": 0}, ["a"], ValueError, "num_samples"),
        ({"ignored_scope": {"layers": ["x"]}}, ["a"], ValueError, "ignored_scope"),
        ({"model_type": "cnn"}, ["a"], ValueError, "model_type"),
        ("fast", ["a"], TypeError, "quantization_config"),
        (None, [], ValueError, "calibration_texts"),
        (None, ["a", 3], TypeError, "calibration_texts"),
        (None, [("a", "b"), ("c",)], TypeError, "calibration_texts\\[1\\]"),
    ],
)
def test_bad_settings_are_refused(l3_int8, config, texts, error, match):
    model = SentenceTransformer(str(l3_int8), device="cpu", backend="openvino")
    with pytest.raises(error, match=match):
        export_static_quantized_openvino_model(model, config, str(l3_int8), calibration_texts=texts)


@pytest.fixture(scope="module")
def l3_copy(tmp_path_factory) -> Path:
    """A private copy, so the exports these tests trigger never land in ../shared."""
    return copy_without_exports(MINILM_L3, tmp_path_factory.mktemp("bf16") / "l3")


@pytest.fixture(scope="module")
def cross_encoder_copy(tmp_path_factory) -> Path:
    return copy_without_exports(CROSS_ENCODER, tmp_path_factory.mktemp("bf16") / "ce")


def precision_hint(module) -> str:
    return str(module.session.compiled.get_property("INFERENCE_PRECISION_HINT"))


def test_bf16_is_a_plain_option_on_both_model_classes(l3_copy, cross_encoder_copy):
    options = {"inference_precision": "bf16"}
    try:
        model = SentenceTransformer(str(l3_copy), device="cpu", backend="openvino", model_kwargs=options)
    except ValueError as error:  # a CPU without native bf16 refuses, saying why
        assert "AVX512_BF16" in str(error)
        pytest.skip("this CPU has no native bf16")
    assert "bfloat16" in precision_hint(model[0])
    ranker = CrossEncoder(str(cross_encoder_copy), device="cpu", backend="openvino", model_kwargs=options)
    assert "bfloat16" in precision_hint(ranker.classifier)
    default = SentenceTransformer(str(l3_copy), device="cpu", backend="openvino")
    assert "float32" in precision_hint(default[0])


@pytest.mark.parametrize(
    ("backend", "options", "match"),
    [
        ("onnx", {"inference_precision": "bf16"}, "OpenVINO option"),
        ("openvino", {"inference_precision": "fp8"}, "inference_precision"),
        ("openvino", {"inference_precision": "bf16", "ov_config": {"INFERENCE_PRECISION_HINT": "f32"}}, "contradicts"),
    ],
)
def test_bf16_misuse_is_refused(l3_copy, backend, options, match):
    with pytest.raises(ValueError, match=match):
        SentenceTransformer(str(l3_copy), device="cpu", backend=backend, model_kwargs=options)


def test_bf16_is_refused_where_the_cpu_lacks_it(l3_copy, monkeypatch):
    import sentembed.backend._onnx_transformer as onnx_transformer

    monkeypatch.setattr(onnx_transformer, "cpu_has_bf16", lambda: False)
    with pytest.raises(ValueError, match="AVX512_BF16 or AMX"):
        SentenceTransformer(str(l3_copy), backend="openvino", model_kwargs={"inference_precision": "bf16"})
