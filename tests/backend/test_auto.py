"""backend="auto": per-CPU rules, emulated CPU classes, the quality bars, the cache, CrossEncoder and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sentembed import CrossEncoder, SentenceTransformer
from sentembed.backend import _auto as auto
from sentembed.backend._cpu import ISA_VARIABLE, CpuFeatures, detect_cpu, emulation_environment
from sentembed.cli.main import main
from tests.support.data import read_sts
from tests.support.models import copy_without_exports
from tests.support.paths import CROSS_ENCODER, minilm_l6_folder

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

DEV_PAIRS = 300


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("auto")
    return {
        "l6": copy_without_exports(minilm_l6_folder(), root / "all-MiniLM-L6-v2"),
        "cross": copy_without_exports(CROSS_ENCODER, root / "cross-encoder"),
        "cache": root / "cache",
    }


@pytest.fixture(scope="module")
def torch_l6(folders) -> SentenceTransformer:
    return SentenceTransformer(str(folders["l6"]), device="cpu")


@pytest.fixture(scope="module")
def sts_dev() -> tuple[list[str], list[str], np.ndarray]:
    """Every fifth STSb dev pair (so the sample spans the whole score range), DEV_PAIRS of them."""
    first, second, gold = read_sts("dev")
    return first[::5][:DEV_PAIRS], second[::5][:DEV_PAIRS], np.array(gold[::5][:DEV_PAIRS])


def dev_spearman(model, sts_dev) -> float:
    first, second, gold = sts_dev
    a, b = model.encode(first, normalize_embeddings=True), model.encode(second, normalize_embeddings=True)
    return auto.spearman((a * b).sum(axis=1), gold)


def load_auto(folders, monkeypatch, isa: str | None = None, **options) -> SentenceTransformer:
    if isa is not None:
        monkeypatch.setenv(ISA_VARIABLE, isa)
    cache = str(folders["cache"])
    folder = str(folders["l6"])
    return SentenceTransformer(folder, device="cpu", backend="auto", cache_folder=cache, model_kwargs=options)


# ----- the CPU classes and the rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("isa", "first", "static_int8"),
    [
        ("avx2", "onnx-int8", False),
        ("avx512", "onnx-int8", False),
        ("avx512_vnni", "openvino-int8", True),
        ("avx512_bf16", "openvino-int8", True),
    ],
)
def test_emulated_cpu_class_sets_the_int8_candidates(monkeypatch, isa, first, static_int8):
    real = detect_cpu()
    if not real.at_least(isa):
        pytest.skip(f"this CPU ({real.isa}) cannot emulate {isa}")
    monkeypatch.setenv(ISA_VARIABLE, isa)
    cpu = detect_cpu()
    assert cpu.isa == isa and cpu.emulated == (isa != real.isa)
    candidates, _ = auto.shortlist(cpu, "int8")
    names = [candidate.name for candidate in candidates]
    assert names[0] == first
    assert ("openvino-int8" in names) is static_int8
    assert ("openvino-int8-bf16" in names) is (isa == "avx512_bf16")
    assert auto.shortlist(cpu, "exact")[0] == [auto.ONNX, auto.OPENVINO, auto.TORCH]


def test_rules_for_classes_this_machine_may_lack():
    amx = CpuFeatures("a CPU with AMX", "amx")
    names = [candidate.name for candidate in auto.shortlist(amx, "int8")[0]]
    assert names[:2] == ["openvino-int8", "openvino-int8-bf16"] and "openvino-bf16" in names
    alder_lake = CpuFeatures("AVX2 with AVX-VNNI", "avx2", avx_vnni=True)
    assert auto.shortlist(alder_lake, "int8")[0][0] is auto.OPENVINO_INT8
    assert auto.shortlist(CpuFeatures("arm", "arm64"), "int8")[0][0] is auto.ONNX_INT8
    without_nncf = [c.name for c in auto.shortlist(amx, "int8", nncf_available=False)[0]]
    assert "openvino-int8" not in without_nncf and without_nncf[0] == "onnx-int8"


def test_cpu_override_is_checked_and_caps_only_downwards(monkeypatch):
    monkeypatch.setenv(ISA_VARIABLE, "avx1024")
    with pytest.raises(ValueError, match="SENTEMBED_CPU_ISA='avx1024' is not a CPU class"):
        detect_cpu()
    monkeypatch.delenv(ISA_VARIABLE)
    real = detect_cpu()
    if real.isa not in ("avx2", "avx512", "avx512_vnni", "avx512_bf16", "amx"):
        pytest.skip(f"the classes are x86 ones; this CPU is {real.isa}")
    capped_above = detect_cpu("amx")  # nothing is emulated upwards
    assert capped_above.isa == real.isa and not capped_above.emulated
    assert emulation_environment("avx2")["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    with pytest.raises(ValueError, match="cannot emulate"):
        emulation_environment("sse2")


# ----- real models -----------------------------------------------------------------------------------------------


def test_emulated_avx2_int8_bar_picks_dynamic_int8_within_the_rank_bar(folders, monkeypatch, torch_l6, sts_dev):
    model = load_auto(folders, monkeypatch, isa="avx2", auto_quality="int8")
    choice = model.backend_choice
    assert (choice.candidate, choice.backend, choice.precision) == ("onnx-int8", "onnx", "int8")
    assert model.backend == "onnx" and Path(model[0].onnx_path).name == "model_qint8_avx2.onnx"
    assert "avx2 without VNNI" in choice.reason and "|avx2|emulated" in choice.cpu
    assert choice.measurements["onnx-int8"]["passed"] is True
    assert dev_spearman(model, sts_dev) >= dev_spearman(torch_l6, sts_dev) - auto.RANK_TOLERANCE


def test_labelled_pairs_set_the_int8_bar(folders, monkeypatch, sts_dev):
    first, second, gold = sts_dev
    pairs = list(zip(first, second, gold.tolist(), strict=True))
    model = load_auto(folders, monkeypatch, isa="avx2", auto_quality="int8", auto_pairs=pairs)
    measured = model.backend_choice.measurements["onnx-int8"]
    assert measured["measure"] == "Spearman with the labels"
    assert measured["value"] >= measured["floor"] > 0.7


def refuse_to_measure(*args):
    raise RuntimeError("measured instead of read from the cache")


def test_choice_is_cached_per_cpu_class_and_reused(folders, monkeypatch):
    first = load_auto(folders, monkeypatch, isa="avx2", auto_quality="int8")  # measured by the test above, or now
    monkeypatch.setattr(auto, "measure_candidates", refuse_to_measure)
    again = load_auto(folders, monkeypatch, isa="avx2", auto_quality="int8")
    assert again.backend_choice.cached is True
    assert again.backend_choice.candidate == first.backend_choice.candidate == "onnx-int8"
    assert again.backend_choice.options == first.backend_choice.options
    files = list(folders["cache"].glob("auto-backend/*/choice-*.json"))
    assert files and all(json.loads(path.read_text())["format"] == auto.CHOICE_FORMAT for path in files)
    with pytest.raises(RuntimeError, match="measured"):  # another CPU class is another decision
        load_auto(folders, monkeypatch, isa="avx512", auto_quality="int8")


def test_on_a_gpu_auto_keeps_torch(folders, monkeypatch):
    import sentembed.backend

    monkeypatch.setattr(sentembed.backend, "default_device", lambda: "cuda")  # as on a machine with a GPU
    model = SentenceTransformer(str(folders["l6"]), backend="auto", model_kwargs={"auto_quality": "int8"})
    assert model.backend == "torch" and model.backend_choice.candidate == "torch"
    assert "runs on cuda" in model.backend_choice.reason and not model.backend_choice.measurements


def test_processes_take_turns_on_a_model_folder(tmp_path):
    import threading

    pytest.importorskip("fcntl")

    release, order = threading.Event(), []

    def hold() -> None:
        with auto.exclusive(tmp_path):
            order.append("first in")
            release.wait(10)
            order.append("first out")

    def wait_for_it() -> None:
        with auto.exclusive(tmp_path):
            order.append("second in")

    first = threading.Thread(target=hold)
    first.start()
    while not order:
        threading.Event().wait(0.01)
    second = threading.Thread(target=wait_for_it)
    second.start()
    second.join(0.3)
    assert second.is_alive() and order == ["first in"]  # flock: each open of the lock file is its own holder
    release.set()
    first.join(10)
    second.join(10)
    assert order == ["first in", "first out", "second in"]


def test_exact_bar_is_fp32_within_1e5_of_torch(folders, monkeypatch, torch_l6, sts_sentences):
    model = load_auto(folders, monkeypatch, auto_quality="exact")
    choice = model.backend_choice
    assert choice.precision == "fp32" and choice.backend in ("torch", "onnx", "openvino")
    assert all(result["passed"] for result in choice.measurements.values())
    texts = sts_sentences[:300]
    assert np.abs(model.encode(texts) - torch_l6.encode(texts)).max() <= auto.EXACT_TOLERANCE
    assert "seconds" in choice.measurements[choice.candidate]  # three fp32 paths passed: a timed run decided


def test_cross_encoder_auto_matches_torch(folders, monkeypatch):
    pairs = [("what is onnx?", "ONNX is an open format for models."), ("capital of France", "Paris is in France.")]
    options = {"auto_quality": "exact", "auto_calibrate": False}
    cache = str(folders["cache"])
    ranker = CrossEncoder(str(folders["cross"]), device="cpu", backend="auto", cache_folder=cache, model_kwargs=options)
    assert ranker.backend_choice.candidate == "onnx" and ranker.backend == "onnx"
    assert "not timed" in ranker.backend_choice.reason
    expected = CrossEncoder(str(folders["cross"]), device="cpu").predict(pairs)
    assert np.abs(ranker.predict(pairs) - expected).max() <= auto.EXACT_TOLERANCE


def test_cli_encode_with_backend_auto(folders, monkeypatch, capsys, torch_l6):
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(folders["cache"]))
    monkeypatch.setenv(ISA_VARIABLE, "avx2")
    argv = ["encode", "first text", "second text", "--model", str(folders["l6"]), "--backend", "auto"]
    assert main([*argv, "--auto-quality", "int8"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    got = np.array([row["embedding"] for row in rows])
    expected = torch_l6.encode(["first text", "second text"])
    cosine = (got * expected).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    assert cosine.min() > 0.98 and np.abs(got - expected).max() > 1e-5  # int8: close, not identical
    assert main(["encode", "text", "--model", str(folders["l6"]), "--auto-quality", "int8"]) == 2
    assert "--auto-quality needs --backend auto" in capsys.readouterr().err


def test_cli_index_with_backend_auto(folders, monkeypatch, tmp_path, sts_sentences, torch_l6):
    from sentembed.store import EmbeddingStore

    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(folders["cache"]))
    monkeypatch.setenv(ISA_VARIABLE, "avx2")
    corpus, store = tmp_path / "corpus.txt", tmp_path / "store"
    corpus.write_text("\n".join(sts_sentences[:40]))
    argv = ["index", str(corpus), "--store", str(store), "-m", str(folders["l6"]), "--no-progress"]
    assert main([*argv, "--backend", "auto", "--auto-quality", "int8"]) == 0
    opened = EmbeddingStore.open(str(store))
    assert opened.count == 40
    hits = opened.search(torch_l6.encode(sts_sentences[:1], normalize_embeddings=True), top_k=1)
    assert hits[0][0]["corpus_id"] == 0  # int8 embeddings still find the sentence itself


@pytest.mark.parametrize(
    ("backend", "options", "error", "message"),
    [
        ("auto", {"auto_quality": "fast"}, ValueError, "auto_quality"),
        ("onnx", {"auto_quality": "int8"}, ValueError, "configure backend='auto'"),
        ("torch", {"auto_quality": "exact"}, ValueError, "configure backend='auto'"),
        ("auto", {"file_name": "onnx/model.onnx"}, ValueError, "file_name cannot be given"),
        ("auto", {"auto_calibrate": "yes"}, TypeError, "auto_calibrate must be True or False"),
        ("auto", {"auto_pairs": [("a", "b", 1.0)]}, ValueError, "at least 10"),
        ("auto", {"auto_pairs": [("a", "b", "high")] * 10}, TypeError, "not a number"),
        ("auto", {"num_threads": 0}, ValueError, "num_threads"),
    ],
)
def test_bad_auto_options_are_refused(folders, backend, options, error, message):
    with pytest.raises(error, match=message):
        SentenceTransformer(str(folders["l6"]), device="cpu", backend=backend, model_kwargs=options)
