"""backend="onnx": export, caching, parity with the reference and the torch backend, and the export functions."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from sentembed import SentenceTransformer
from sentembed.backend import OnnxTransformer, export_dynamic_quantized_onnx_model, export_optimized_onnx_model
from sentembed.backend import _export as exporting
from sentembed.backend._optimize import FUSION_RECIPE
from tests.support.data import read_sts
from tests.support.models import copy_without_exports
from tests.support.paths import MINILM_L3

pytest.importorskip("onnxruntime")

PARITY = 1e-4


@pytest.fixture(scope="module")
def l6_folder(tmp_path_factory, minilm_l6_path) -> Path:
    """A private copy of all-MiniLM-L6-v2, so that exports never touch the installed package."""
    return copy_without_exports(minilm_l6_path, tmp_path_factory.mktemp("onnx") / "all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def onnx_l6(l6_folder) -> SentenceTransformer:
    return SentenceTransformer(str(l6_folder), device="cpu", backend="onnx")


@pytest.fixture()
def l3_folder(tmp_path) -> Path:
    return copy_without_exports(MINILM_L3, tmp_path / "paraphrase-MiniLM-L3-v2")


def test_export_is_cached_in_the_model_folder_and_reused(onnx_l6, l6_folder):
    plain, fused = l6_folder / "onnx" / "model.onnx", l6_folder / "onnx" / "model_O2.onnx"
    assert isinstance(onnx_l6[0], OnnxTransformer)
    assert onnx_l6[0].onnx_path == fused
    assert exporting.is_fresh_export(plain, l6_folder) and exporting.is_fresh_export(fused, l6_folder)
    stamps = (plain.stat().st_mtime_ns, fused.stat().st_mtime_ns)
    SentenceTransformer(str(l6_folder), device="cpu", backend="onnx")
    assert (plain.stat().st_mtime_ns, fused.stat().st_mtime_ns) == stamps


def test_fused_graph_has_the_transformer_fusions_that_are_fast_on_cpu(onnx_l6):
    import onnx

    op_types = {node.op_type for node in onnx.load(str(onnx_l6[0].onnx_path)).graph.node}
    assert {"Attention", "LayerNormalization", "Gelu"} <= op_types
    assert not op_types & {"SkipLayerNormalization", "BiasGelu"}


def test_a_cached_fused_graph_of_an_older_recipe_is_made_again(onnx_l6, l6_folder):
    import onnx

    fused = l6_folder / "onnx" / "model_O2.onnx"
    exporting.save_stamped(onnx.load(str(fused)), fused, l6_folder, recipe="1")
    assert not exporting.is_fresh_export(fused, l6_folder, FUSION_RECIPE)
    SentenceTransformer(str(l6_folder), device="cpu", backend="onnx")
    assert exporting.read_metadata(fused)[exporting.RECIPE_KEY] == FUSION_RECIPE


def test_matches_the_reference_on_stsb(onnx_l6, reference_minilm_l6, sts_sentences):
    sentences = sts_sentences[:400]
    ours = onnx_l6.encode(sentences, batch_size=32)
    reference = reference_minilm_l6.encode(sentences, batch_size=32)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= PARITY


@pytest.mark.parametrize(
    "options",
    [
        {"normalize_embeddings": True},
        {"truncate_dim": 128},
        {"truncate_dim": 64, "normalize_embeddings": True},
        {"prompt": "query: "},
        {"convert_to_tensor": True},
        {"convert_to_numpy": False},
    ],
    ids=lambda options: ",".join(options),
)
def test_encode_options_match_the_torch_backend(onnx_l6, minilm_l6, sts_sentences, options):
    sentences = sts_sentences[:32]
    ours = onnx_l6.encode(sentences, **options)
    torch_side = minilm_l6.encode(sentences, **options)
    assert type(ours) is type(torch_side)
    ours, torch_side = torch.as_tensor(np.asarray([*ours])), torch.as_tensor(np.asarray([*torch_side]))
    assert ours.shape == torch_side.shape
    assert (ours - torch_side).abs().max() <= PARITY


def test_single_string_gives_one_vector(onnx_l6, minilm_l6):
    ours = onnx_l6.encode("A man is playing a guitar.")
    assert ours.shape == (384,)
    assert np.abs(ours - minilm_l6.encode("A man is playing a guitar.")).max() <= PARITY


def test_include_prompt_false_matches_torch(onnx_l6, minilm_l6, sts_sentences):
    for model in (onnx_l6, minilm_l6):
        model.set_pooling_include_prompt(False)
    try:
        ours = onnx_l6.encode(sts_sentences[:32], prompt="Represent this sentence: ")
        torch_side = minilm_l6.encode(sts_sentences[:32], prompt="Represent this sentence: ")
    finally:
        for model in (onnx_l6, minilm_l6):
            model.set_pooling_include_prompt(True)
    assert np.abs(ours - torch_side).max() <= PARITY


@pytest.mark.parametrize("precision", ["int8", "ubinary"])
def test_precisions_match_the_torch_backend(onnx_l6, minilm_l6, sts_sentences, precision):
    ours = onnx_l6.encode(sts_sentences[:100], precision=precision).astype(np.int32)
    torch_side = minilm_l6.encode(sts_sentences[:100], precision=precision).astype(np.int32)
    assert ours.shape == torch_side.shape
    if precision in ("int8", "uint8"):  # a value on a bucket edge may move by one step
        assert np.abs(ours - torch_side).max() <= 1
        assert (ours == torch_side).mean() > 0.99
    else:
        assert (ours == torch_side).mean() > 0.999


def test_token_embeddings_match_the_torch_backend(onnx_l6, minilm_l6, sts_sentences):
    ours = onnx_l6.encode(sts_sentences[:20], output_value="token_embeddings")
    torch_side = minilm_l6.encode(sts_sentences[:20], output_value="token_embeddings")
    assert [tokens.shape for tokens in ours] == [tokens.shape for tokens in torch_side]
    assert max((a - b).abs().max().item() for a, b in zip(ours, torch_side, strict=True)) <= PARITY


def test_num_threads_and_provider_are_honoured(l6_folder, onnx_l6):
    options = {"num_threads": 1, "provider": "CPUExecutionProvider"}
    model = SentenceTransformer(str(l6_folder), device="cpu", backend="onnx", model_kwargs=options)
    session = model[0].session
    assert session.get_session_options().intra_op_num_threads == 1
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert np.abs(model.encode(["threads"]) - onnx_l6.encode(["threads"])).max() <= PARITY


def test_a_batch_computed_while_another_is_runs_on_the_lane_session(l6_folder, onnx_l6, sts_sentences):
    """As on the server's lanes: a batch alone gets the session with every thread; one computed while another
    is gets the lane session, with its own thread count; both answer as the plain model does."""
    model = SentenceTransformer(str(l6_folder), device="cpu", backend="onnx", model_kwargs={"num_threads": 2})
    module = model[0]
    module.open_lane_session(1)
    assert module.lane_session.get_session_options().intra_op_num_threads == 1
    used, first_started, second_done = [], threading.Event(), threading.Event()

    class Recorded:
        def __init__(self, name, session, hold):
            self.name, self.session, self.hold = name, session, hold

        def run(self, names, inputs):
            used.append(self.name)
            if self.hold and len(used) == 1:  # the first batch waits until the second has been computed
                first_started.set()
                assert second_done.wait(60)
            return self.session.run(names, inputs)

    module.session = Recorded("all threads", module.session, hold=True)
    module.lane_session = Recorded("lane", module.lane_session, hold=False)
    texts = sts_sentences[:2]
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", model.encode(texts[:1])))
    first.start()
    assert first_started.wait(60)
    results["second"] = model.encode(texts[1:])
    second_done.set()
    first.join(60)
    results["alone"] = model.encode(texts[:1])
    assert used == ["all threads", "lane", "all threads"]
    expected = onnx_l6.encode(texts)
    for name, row in (("first", 0), ("second", 1), ("alone", 0)):
        assert np.abs(results[name][0] - expected[row]).max() <= PARITY


def test_a_changed_checkpoint_is_exported_again(l3_folder):
    first = SentenceTransformer(str(l3_folder), device="cpu", backend="onnx")
    plain = l3_folder / "onnx" / "model.onnx"
    fingerprint = exporting.read_fingerprint(plain)
    later = (l3_folder / "config.json").stat().st_mtime_ns + 10**9
    os.utime(l3_folder / "config.json", ns=(later, later))
    assert exporting.is_stale(plain, l3_folder)
    second = SentenceTransformer(str(l3_folder), device="cpu", backend="onnx")
    assert exporting.read_fingerprint(plain) != fingerprint
    assert exporting.is_fresh_export(plain, l3_folder)
    assert np.abs(first.encode(["same weights"]) - second.encode(["same weights"])).max() <= PARITY


def test_read_only_model_folder_exports_to_the_cache_folder(l3_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(exporting, "folder_is_writable", lambda folder: False)
    cache = tmp_path / "cache"
    model = SentenceTransformer(str(l3_folder), device="cpu", backend="onnx", cache_folder=str(cache))
    assert not (l3_folder / "onnx" / "model.onnx").exists()
    assert model[0].onnx_path.is_relative_to(cache)
    reference = SentenceTransformer(str(l3_folder), device="cpu")
    assert np.abs(model.encode(["read-only"]) - reference.encode(["read-only"])).max() <= PARITY


def test_saved_onnx_model_loads_on_every_backend(onnx_l6, minilm_l6, tmp_path):
    onnx_l6.save(str(tmp_path / "saved"))
    saved_fused = tmp_path / "saved" / "onnx" / "model_O2.onnx"
    assert exporting.is_fresh_export(saved_fused, tmp_path / "saved", FUSION_RECIPE)  # reused, not fused again
    for backend in ("torch", "onnx"):
        reloaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu", backend=backend)
        assert np.abs(reloaded.encode(["saved"]) - minilm_l6.encode(["saved"])).max() <= PARITY


def test_quantized_export_is_close_and_loads_by_file_name(onnx_l6, l6_folder, sts_sentences):
    path = export_dynamic_quantized_onnx_model(onnx_l6, "avx2", str(l6_folder))
    assert path == l6_folder / "onnx" / "model_qint8_avx2.onnx"
    quantized = SentenceTransformer(
        str(l6_folder), device="cpu", backend="onnx", model_kwargs={"file_name": "onnx/model_qint8_avx2.onnx"}
    )
    assert quantized[0].onnx_path == path
    ours = quantized.encode(sts_sentences[:200], normalize_embeddings=True)
    full = onnx_l6.encode(sts_sentences[:200], normalize_embeddings=True)
    cosines = (ours * full).sum(axis=1)
    assert cosines.min() > 0.97 and cosines.mean() > 0.99
    import onnx

    op_types = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"QAttention", "DynamicQuantizeMatMul"} & op_types, op_types
    assert "Attention" not in op_types


@pytest.mark.parametrize(("level", "tolerance"), [("O1", PARITY), ("O2", PARITY), ("O3", 2e-3)])
def test_optimized_exports_load_and_match(onnx_l6, l6_folder, tmp_path, level, tolerance):
    path = export_optimized_onnx_model(onnx_l6, level, str(tmp_path))
    assert path == tmp_path / "onnx" / f"model_{level}.onnx"
    optimized = SentenceTransformer(str(l6_folder), device="cpu", backend="onnx", model_kwargs={"file_name": str(path)})
    assert np.abs(optimized.encode(["optimised graph"]) - onnx_l6.encode(["optimised graph"])).max() <= tolerance


@pytest.mark.slow
def test_int8_keeps_stsb_spearman(onnx_l6, l6_folder):
    from scipy.stats import spearmanr

    path = export_dynamic_quantized_onnx_model(onnx_l6, "avx2", str(l6_folder))
    quantized = SentenceTransformer(str(l6_folder), device="cpu", backend="onnx", model_kwargs={"file_name": str(path)})
    first, second, gold = read_sts("test")
    a = quantized.encode(first, normalize_embeddings=True)
    b = quantized.encode(second, normalize_embeddings=True)
    assert spearmanr((a * b).sum(axis=1), gold).statistic >= 0.815


@pytest.mark.slow
def test_o4_float16_export_runs_close(onnx_l6, tmp_path):
    path = export_optimized_onnx_model(onnx_l6, "O4", str(tmp_path))
    model = SentenceTransformer(
        str(onnx_l6[0].onnx_path.parents[1]), device="cpu", backend="onnx", model_kwargs={"file_name": str(path)}
    )
    a = model.encode(["half precision weights"], normalize_embeddings=True)
    b = onnx_l6.encode(["half precision weights"], normalize_embeddings=True)
    assert float((a * b).sum()) > 0.999


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"backend": "tensorflow"}, ValueError, "unknown backend 'tensorflow'"),
        ({"backend": "onnx", "model_kwargs": {"file_name": "onnx/absent.onnx"}}, OSError, "absent.onnx"),
        ({"backend": "onnx", "model_kwargs": {"num_threads": 0}}, ValueError, "num_threads"),
        ({"backend": "onnx", "model_kwargs": {"provider": "NoSuchProvider"}}, ValueError, "NoSuchProvider"),
        ({"backend": "onnx", "model_kwargs": {"file_name": 3}}, TypeError, "file_name"),
    ],
)
def test_bad_backend_options_are_refused(l6_folder, onnx_l6, kwargs, error, match):
    with pytest.raises(error, match=match):
        SentenceTransformer(str(l6_folder), device="cpu", **kwargs)


def test_bad_export_configs_are_refused(onnx_l6, tmp_path):
    with pytest.raises(ValueError, match="avx3"):
        export_dynamic_quantized_onnx_model(onnx_l6, "avx3", str(tmp_path))
    with pytest.raises(ValueError, match="O5"):
        export_optimized_onnx_model(onnx_l6, "O5", str(tmp_path))
    with pytest.raises(TypeError, match="Transformer"):
        export_optimized_onnx_model(torch.nn.Linear(2, 2), "O2", str(tmp_path))
