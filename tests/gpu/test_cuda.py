"""The CUDA paths: device choice, SDPA attention, fp16/bf16 weights, tensors left on the GPU, the cross-encoder,
a pool of GPU workers and training steps, against the CPU and the reference on the same GPU.

Skipped without a CUDA GPU. On a lent GPU machine (see docs/backends.md) run:
`SENTEMBED_SHARED=<folder with models/ and data/> python -m pytest tests/gpu -q`.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from tests.support.data import read_sts, sts_test_sentences
from tests.support.paths import MINILM_L3

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

PARITY = 1e-4


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return sts_test_sentences()[:512]


@pytest.fixture(scope="module")
def on_gpu():
    from sentembed import SentenceTransformer

    return SentenceTransformer(str(MINILM_L3), device="cuda")


@pytest.fixture(scope="module")
def on_cpu():
    from sentembed import SentenceTransformer

    return SentenceTransformer(str(MINILM_L3), device="cpu")


def test_cuda_is_the_default_device_and_attention_is_sdpa():
    from sentembed import SentenceTransformer

    model = SentenceTransformer(str(MINILM_L3))
    assert model.device.type == "cuda"
    assert model[0].auto_model.config._attn_implementation == "sdpa"


def test_gpu_matches_the_cpu_and_the_reference_on_the_gpu(on_gpu, on_cpu, sentences):
    from sentence_transformers import SentenceTransformer as Reference

    ours = on_gpu.encode(sentences)
    reference = Reference(str(MINILM_L3), device="cuda").encode(sentences)
    assert np.abs(ours - on_cpu.encode(sentences)).max() <= PARITY
    assert np.abs(ours - reference).max() <= PARITY


def test_tensor_output_stays_on_the_gpu_like_the_reference(on_gpu, sentences):
    from sentence_transformers import SentenceTransformer as Reference

    ours = on_gpu.encode(sentences[:8], convert_to_tensor=True, normalize_embeddings=True)
    reference = Reference(str(MINILM_L3), device="cuda").encode(
        sentences[:8], convert_to_tensor=True, normalize_embeddings=True
    )
    assert ours.device == reference.device and ours.dtype == reference.dtype
    assert (ours - reference).abs().max().item() <= PARITY


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_weights_match_the_reference(on_cpu, sentences, dtype):
    from sentence_transformers import SentenceTransformer as Reference

    from sentembed import SentenceTransformer

    ours = SentenceTransformer(str(MINILM_L3), device="cuda", model_kwargs={"torch_dtype": dtype})
    reference = Reference(str(MINILM_L3), device="cuda", model_kwargs={"torch_dtype": dtype})
    assert ours[0].auto_model.dtype == dtype
    mine, theirs = ours.encode(sentences), reference.encode(sentences)
    assert mine.dtype == theirs.dtype
    full = on_cpu.encode(sentences)
    cosine = (mine.astype(np.float32) * full).sum(1) / (
        np.linalg.norm(mine.astype(np.float32), axis=1) * np.linalg.norm(full, axis=1)
    )
    assert cosine.min() >= 0.995
    assert np.abs(mine.astype(np.float32) - theirs.astype(np.float32)).max() <= 5e-2
    assert ours.encode(sentences, precision="int8").dtype == np.int8


def test_cross_encoder_on_the_gpu_matches_the_cpu(tmp_path):
    """A cross-encoder made from the L3 encoder with a newly initialised (random) one-logit head, saved
    once so that both devices load the same weights: a check of the CUDA mechanics, not of ranking."""
    from sentembed import CrossEncoder

    plain = tmp_path / "plain-bert"
    shutil.copytree(MINILM_L3, plain, ignore=shutil.ignore_patterns("modules.json", "1_Pooling", "sentence_*"))
    torch.manual_seed(0)
    CrossEncoder(str(plain), num_labels=1, device="cpu").save(str(tmp_path / "random-head-cross-encoder"))
    first, second, _ = read_sts("test")
    pairs = list(zip(first[:200], second[:200], strict=True))
    on_cpu = CrossEncoder(str(tmp_path / "random-head-cross-encoder"), device="cpu").predict(pairs)
    on_gpu = CrossEncoder(str(tmp_path / "random-head-cross-encoder"), device="cuda").predict(pairs)
    assert np.abs(on_gpu - on_cpu).max() <= PARITY


def test_a_pool_of_gpu_workers_matches_one_process(on_gpu, sentences):
    with on_gpu.start_multi_process_pool(["cuda:0", "cuda:0"]) as pool:
        pooled = on_gpu.encode(sentences, pool=pool, normalize_embeddings=True)
    single = on_gpu.encode(sentences, normalize_embeddings=True)
    assert np.abs(pooled - single).max() <= PARITY


def test_training_steps_run_on_the_gpu(tmp_path):
    Dataset = pytest.importorskip("datasets").Dataset

    from sentembed import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentembed.losses import CoSENTLoss

    model = SentenceTransformer(str(MINILM_L3), device="cuda")
    before = [parameter.detach().clone() for parameter in model.parameters()]
    first, second, scores = read_sts("train")
    data = Dataset.from_dict(
        {"sentence1": first[:256], "sentence2": second[:256], "score": [score / 5 for score in scores[:256]]}
    )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=1, per_device_train_batch_size=32, report_to=[], save_strategy="no"
    )
    SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=CoSENTLoss(model)).train()
    assert model.device.type == "cuda"
    assert any(not torch.equal(old, new.detach()) for old, new in zip(before, model.parameters(), strict=True))
    assert np.isfinite(model.encode(["still encodes after training"])).all()
