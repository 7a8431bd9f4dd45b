"""The input-module seam: any InputModule can lead a SentenceTransformer, and StaticEmbedding is one.

The static models here have randomly initialised token vectors (seeded) on the all-MiniLM-L6-v2
tokenizer: they test the mechanics and the folder format, not embedding quality.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from sentembed import SentenceTransformer
from sentembed.cli.main import main
from sentembed.models import InputModule, Normalize, StaticEmbedding
from tests.support.paths import MINILM_L3, minilm_l6_folder


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    """all-MiniLM-L6-v2's tokenizer as a static model reads texts: without padding or truncation."""
    tokenizer = Tokenizer.from_file(str(minilm_l6_folder() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def expected_static(model: SentenceTransformer, tokenizer: Tokenizer, text: str) -> np.ndarray:
    """The mean of the text's token vectors (no special tokens), normalised: computed by hand."""
    table = model[0].embedding.weight.detach().numpy()
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    vector = table[ids].mean(axis=0)
    return vector / np.linalg.norm(vector)


def test_a_static_model_encodes_the_mean_of_its_token_vectors(random_static, tokenizer, sts_sentences):
    texts = sts_sentences[:50] + [sts_sentences[0]]  # a repeat, which encode deduplicates
    embeddings = random_static.encode(texts, batch_size=8)
    assert embeddings.shape == (51, 64)
    for text, embedding in zip(texts, embeddings, strict=True):
        np.testing.assert_allclose(embedding, expected_static(random_static, tokenizer, text), atol=1e-5)
    assert random_static.get_embedding_dimension() == 64
    assert random_static.max_seq_length == float("inf")


def test_a_static_model_has_no_length_limit(random_static, tokenizer):
    long_text = " ".join(["the quick brown fox jumps over the lazy dog"] * 200)  # about 1,800 tokens
    np.testing.assert_allclose(
        random_static.encode(long_text), expected_static(random_static, tokenizer, long_text), atol=1e-5
    )


def test_a_prompt_is_part_of_a_static_text(random_static, tokenizer):
    with_prompt = random_static.encode("a cat sat on the mat", prompt="query: ")
    np.testing.assert_allclose(
        with_prompt, expected_static(random_static, tokenizer, "query: a cat sat on the mat"), atol=1e-5
    )
    assert random_static.prompt_length("query: ") == len(tokenizer.encode("query: ", add_special_tokens=False).ids)


def test_static_folders_round_trip_with_the_reference(random_static, sts_sentences, tmp_path):
    from sentence_transformers import SentenceTransformer as Reference

    texts = sts_sentences[:40]
    random_static.save(str(tmp_path / "ours"))
    entries = json.loads((tmp_path / "ours" / "modules.json").read_text())
    assert [entry["path"] for entry in entries] == ["0_StaticEmbedding", "1_Normalize"]
    assert {p.name for p in (tmp_path / "ours" / "0_StaticEmbedding").iterdir()} == {
        "model.safetensors",
        "tokenizer.json",
    }
    reference = Reference(str(tmp_path / "ours"), device="cpu")
    np.testing.assert_allclose(reference.encode(texts), random_static.encode(texts), atol=1e-6)

    reference.save(str(tmp_path / "theirs"))
    reloaded = SentenceTransformer(str(tmp_path / "theirs"), device="cpu")
    assert isinstance(reloaded[0], StaticEmbedding)
    np.testing.assert_allclose(reloaded.encode(texts), reference.encode(texts), atol=1e-6)


def test_a_static_model_refuses_the_onnx_backend_clearly(random_static, tmp_path):
    random_static.save(str(tmp_path / "static"))
    with pytest.raises(ValueError, match="backend='onnx' needs a Transformer as the first module, got StaticEmbedding"):
        SentenceTransformer(str(tmp_path / "static"), backend="onnx", device="cpu")


def test_a_static_folder_without_its_tokenizer_names_what_is_missing(random_static, tmp_path):
    random_static.save(str(tmp_path / "static"))
    (tmp_path / "static" / "0_StaticEmbedding" / "tokenizer.json").unlink()
    with pytest.raises(OSError, match="tokenizer.json is missing"):
        SentenceTransformer(str(tmp_path / "static"), device="cpu")


class CharacterCodes(InputModule):
    """A toy input module written only against the seam: one row of character codes per text, and a
    sentence embedding of (length, mean code). Nothing outside this class knows it exists."""

    def tokenize_unpadded(self, texts):
        return [{"input_ids": [ord(char) for char in text] or [0]} for text in texts], 0

    def pad(self, rows):
        width = max(len(row["input_ids"]) for row in rows)
        ids = [row["input_ids"] + [0] * (width - len(row["input_ids"])) for row in rows]
        mask = [[1] * len(row["input_ids"]) + [0] * (width - len(row["input_ids"])) for row in rows]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}

    def forward(self, features):
        mask = features["attention_mask"].float()
        lengths = mask.sum(dim=1)
        means = (features["input_ids"].float() * mask).sum(dim=1) / lengths
        features["sentence_embedding"] = torch.stack([lengths, means], dim=1)
        return features

    def get_sentence_embedding_dimension(self):
        return 2


def test_any_input_module_leads_encode_with_every_option():
    model = SentenceTransformer(modules=[CharacterCodes()], device="cpu")
    texts = ["ab", "abcd", "ab", "z" * 300]
    embeddings = model.encode(texts, batch_size=1, convert_to_tensor=True)
    expected = torch.tensor([[2, 97.5], [4, 98.5], [2, 97.5], [300, 122.0]])
    torch.testing.assert_close(embeddings, expected)
    assert model.encode("ab", truncate_dim=1).tolist() == [2.0]
    assert model.encode(["ab"], prompt="x").tolist() == [[3.0, (120 + 97 + 98) / 3]]
    assert model.max_seq_length is None
    with pytest.raises(TypeError, match="CharacterCodes, not a Transformer"):
        _ = model.transformer


def test_a_module_that_is_not_an_input_module_cannot_lead():
    model = SentenceTransformer(modules=[Normalize()], device="cpu")
    with pytest.raises(TypeError, match="must be an InputModule"):
        model.encode("text")


def test_a_distilled_static_model_round_trips_with_the_reference(minilm_l3, sts_sentences, tmp_path):
    """Mechanics on paraphrase-MiniLM-L3-v2 with 32 PCA dimensions (quality is checked on all-MiniLM-L6-v2)."""
    from sentence_transformers import SentenceTransformer as Reference

    assert main(["distill", str(MINILM_L3), "-o", str(tmp_path / "static"), "--pca-dims", "32"]) == 0
    ours = SentenceTransformer(str(tmp_path / "static"), device="cpu")
    assert isinstance(ours[0], StaticEmbedding) and ours[0].embedding.weight.shape == (30522, 32)
    unused = ours[0].tokenizer.token_to_id("[unused5]")
    assert not ours[0].embedding.weight[unused].any()
    np.testing.assert_allclose(
        Reference(str(tmp_path / "static"), device="cpu").encode(sts_sentences[:20]),
        ours.encode(sts_sentences[:20]),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--pca-dims", "0", "pca_dims must be a positive integer or None, got 0"),
        ("--pca-dims", "-3", "pca_dims must be a positive integer or None, got -3"),
        ("--sif-coefficient", "0", "sif_coefficient must be a positive finite number or None, got 0.0"),
        ("--sif-coefficient", "nan", "sif_coefficient must be a positive finite number or None, got nan"),
        ("--sif-coefficient", "inf", "sif_coefficient must be a positive finite number or None, got inf"),
    ],
)
def test_distill_checks_its_arguments_before_any_work(option, value, message, tmp_path, capsys, monkeypatch):
    """A bad argument is reported before the teacher loads or a single token runs through it."""
    from sentembed.models import distillation

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(distillation, "token_vectors", no_work)
    monkeypatch.setattr(SentenceTransformer, "__init__", no_work)
    assert main(["distill", str(MINILM_L3), "-o", str(tmp_path / "static"), option, value]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "static").exists()


def test_from_distillation_checks_its_arguments_before_any_work(minilm_l3, monkeypatch):
    from sentembed.models import distillation

    monkeypatch.setattr(distillation, "token_vectors", lambda *args, **kwargs: pytest.fail("work started"))
    for arguments, message in [
        ({"pca_dims": 0}, "pca_dims must be a positive integer or None"),
        ({"sif_coefficient": -1.0}, "sif_coefficient must be a positive finite number or None"),
        ({"token_remove_pattern": "[unclosed"}, "token_remove_pattern '[unclosed' is not a regular expression"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            StaticEmbedding.from_distillation(minilm_l3, **arguments)


@pytest.mark.slow
def test_distilled_minilm_l6_keeps_stsb_quality(minilm_l6):
    """The model2vec recipe on all-MiniLM-L6-v2: PCA 256 and SIF weights by rank (1e-5 measured best)."""
    from scipy.stats import spearmanr

    from tests.support.data import read_sts

    static = SentenceTransformer(
        modules=[StaticEmbedding.from_distillation(minilm_l6, sif_coefficient=1e-5), Normalize()], device="cpu"
    )
    first, second, gold = read_sts("test")
    scores = (static.encode(first) * static.encode(second)).sum(axis=1)
    assert spearmanr(scores, gold).statistic >= 0.66


def write_model2vec_folder(folder, tokenizer_path, rows: int, quantized: bool) -> dict:
    """A model2vec-format folder with seeded random arrays (not a trained model): float16 embeddings and, when
    `quantized`, a token-to-row mapping and per-token weights."""
    from safetensors.numpy import save_file

    vocabulary = Tokenizer.from_file(str(tokenizer_path)).get_vocab_size()
    rng = np.random.default_rng(0)
    arrays = {"embeddings": rng.normal(size=(rows if quantized else vocabulary, 24)).astype(np.float16)}
    if quantized:
        arrays["mapping"] = rng.integers(0, rows, vocabulary).astype(np.int64)
        arrays["weights"] = rng.uniform(0.1, 2.0, vocabulary).astype(np.float32)
    folder.mkdir()
    save_file(arrays, str(folder / "model.safetensors"))
    (folder / "tokenizer.json").write_bytes(tokenizer_path.read_bytes())
    (folder / "config.json").write_text(json.dumps({"model_type": "model2vec", "normalize": True}))
    return arrays


@pytest.mark.parametrize("quantized", [False, True])
def test_model2vec_folders_load_with_their_mapping_and_weights(tokenizer, tmp_path, quantized):
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding as ReferenceStatic

    arrays = write_model2vec_folder(tmp_path / "m2v", minilm_l6_folder() / "tokenizer.json", 500, quantized)
    static = StaticEmbedding.from_model2vec(tmp_path / "m2v")
    text = "Vocabulary quantization maps many tokens to one row."
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    rows = arrays["embeddings"].astype(np.float32)[arrays["mapping"][ids] if quantized else ids]
    if quantized:
        rows = rows * arrays["weights"][ids][:, None]
    model = SentenceTransformer(modules=[static], device="cpu")
    np.testing.assert_allclose(model.encode(text), rows.mean(axis=0), atol=1e-5)
    reference = ReferenceStatic.load(str(tmp_path / "m2v"))
    np.testing.assert_allclose(static.embedding.weight.detach(), reference.embedding.weight.detach().float(), atol=1e-6)


def test_a_damaged_model2vec_folder_names_the_array(tmp_path):
    from safetensors.numpy import save_file

    write_model2vec_folder(tmp_path / "m2v", minilm_l6_folder() / "tokenizer.json", 500, True)
    save_file(
        {"embeddings": np.zeros((500, 24), np.float32), "mapping": np.zeros(7, np.int64)},
        str(tmp_path / "m2v" / "model.safetensors"),
    )
    with pytest.raises(OSError, match="'mapping' must hold one row index per token"):
        StaticEmbedding.from_model2vec(tmp_path / "m2v")
    save_file({"vectors": np.zeros((500, 24), np.float32)}, str(tmp_path / "m2v" / "model.safetensors"))
    with pytest.raises(OSError, match="holds no 'embeddings' array"):
        StaticEmbedding.from_model2vec(tmp_path / "m2v")
    (tmp_path / "m2v" / "tokenizer.json").unlink()
    with pytest.raises(OSError, match="tokenizer.json is missing"):
        StaticEmbedding.from_model2vec(tmp_path / "m2v")


def test_from_distillation_takes_a_model_name_as_the_reference_does(minilm_l6, monkeypatch):
    """A bare name resolves as SentenceTransformer resolves it (here: the installed all-MiniLM-L6-v2 package); the
    per-token pass is replaced by each token's input embedding to keep the test short."""
    from sentembed.models import distillation

    def input_embeddings(model, batch_size=1024, show_progress_bar=None):
        return model[0].auto_model.embeddings.word_embeddings.weight.detach().cpu().numpy()

    monkeypatch.setattr(distillation, "token_vectors", input_embeddings)
    by_name = StaticEmbedding.from_distillation("all-MiniLM-L6-v2", pca_dims=16, device="cpu")
    loaded = StaticEmbedding.from_distillation(minilm_l6, pca_dims=16)
    assert by_name.embedding.weight.shape == (30522, 16)
    torch.testing.assert_close(by_name.embedding.weight, loaded.embedding.weight)
    with pytest.raises(ValueError, match="pca_dims must be a positive integer"):
        StaticEmbedding.from_distillation("no-such-model-anywhere", pca_dims=0)
