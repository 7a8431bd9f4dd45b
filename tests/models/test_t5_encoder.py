"""T5-family checkpoints (sentence-t5, gtr-t5, INSTRUCTOR) load their encoder only, as the reference loads them.

The model here is a tiny randomly initialised T5 built for the test (its numbers mean nothing), with the
paraphrase-MiniLM-L3-v2 WordPiece tokenizer standing in for T5's SentencePiece one: only the mechanics matter."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from transformers import T5Config, T5EncoderModel, T5Model

from sentembed import SentenceTransformer
from tests.support.paths import MINILM_L3

TEXTS = ["A man is eating food.", "A woman is playing violin.", "Two dogs run across a field of snow."]


@pytest.fixture(scope="module")
def tiny_random_t5(tmp_path_factory):
    """A folder holding a full T5Model (encoder and decoder weights) with random weights, and a tokenizer."""
    folder = tmp_path_factory.mktemp("tiny-random-t5")
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=30522, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, decoder_start_token_id=0
    )
    T5Model(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (MINILM_L3 / name).exists():
            shutil.copy(MINILM_L3 / name, folder / name)
    return folder


def test_a_t5_checkpoint_loads_its_encoder_and_encodes(tiny_random_t5):
    from sentence_transformers import SentenceTransformer as Reference

    model = SentenceTransformer(str(tiny_random_t5), device="cpu")
    assert type(model[0].auto_model) is T5EncoderModel
    embeddings = model.encode(TEXTS)
    assert embeddings.shape == (3, 32) and np.isfinite(embeddings).all()
    reference = Reference(str(tiny_random_t5), device="cpu")
    np.testing.assert_allclose(embeddings, reference.encode(TEXTS), atol=1e-5)


def test_a_saved_t5_encoder_model_round_trips(tiny_random_t5, tmp_path):
    model = SentenceTransformer(str(tiny_random_t5), device="cpu")
    model.save(str(tmp_path / "saved"))
    loaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    assert type(loaded[0].auto_model) is T5EncoderModel
    np.testing.assert_allclose(loaded.encode(TEXTS), model.encode(TEXTS), atol=1e-6)
