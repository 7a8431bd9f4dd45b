"""The classic modules (WordEmbeddings, WordWeights, BoW, CNN, LSTM, LayerNorm, Dropout, WeightedLayerPooling)
against the reference: pipelines built and saved by sentence-transformers load here with equal embeddings, and what
we save loads there with equal embeddings.

Word vectors are seeded random numbers written as a GloVe-style text file over the words of STSb test sentences:
they test the mechanics and the folder format, not embedding quality.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from sentembed import SentenceTransformer
from sentembed.models import (
    CNN,
    LSTM,
    BoW,
    Dropout,
    LayerNorm,
    Pooling,
    WeightedLayerPooling,
    WhitespaceTokenizer,
    WordEmbeddings,
    WordWeights,
)
from tests.support.paths import MINILM_L3

DIMENSION = 12


@pytest.fixture(scope="module")
def sentences(sts_sentences) -> list[str]:
    return sts_sentences[:60]


@pytest.fixture(scope="module")
def vocabulary(sentences) -> list[str]:
    """The words of the sentences as written (punctuation stripped, case kept), in first-seen order."""
    words = [word.strip(".,!?;:\"'()") for sentence in sentences for word in sentence.split()]
    return list(dict.fromkeys(word for word in words if word))


@pytest.fixture(scope="module")
def glove_file(tmp_path_factory, vocabulary) -> Path:
    """A GloVe-style text file: one word and its seeded random vector per line."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("glove") / "vectors.txt"
    lines = [word + " " + " ".join(f"{value:.5f}" for value in rng.normal(size=DIMENSION)) for word in vocabulary]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def idf_weights(vocabulary) -> dict[str, float]:
    """Made-up IDF-style weights for half the words, lowercased as IDF tables usually are."""
    return {word.lower(): 1.0 + (index % 5) / 2 for index, word in enumerate(vocabulary[::2])}


def reference_pipelines(glove_file: Path, vocabulary: list[str], idf_weights: dict[str, float]) -> dict:
    """Pipelines built with the reference's classes, seeded."""
    import sentence_transformers.models as ref

    def words() -> ref.WordEmbeddings:
        return ref.WordEmbeddings.from_text_file(str(glove_file))

    def word_weights(embeddings: ref.WordEmbeddings) -> ref.WordWeights:
        return ref.WordWeights(embeddings.tokenizer.get_vocab(), idf_weights, unknown_word_weight=0.3)

    torch.manual_seed(0)
    lstm_words = words()
    cnn_words = words()
    weighted_words = words()
    return {
        "glove-lstm-mean": [lstm_words, ref.LSTM(DIMENSION, 5), ref.Pooling(10)],
        "glove-weights-cnn-max-layernorm-dropout": [
            cnn_words,
            word_weights(cnn_words),
            ref.CNN(DIMENSION, out_channels=4, kernel_sizes=[1, 3, 5]),
            ref.Pooling(12, pooling_mode="max"),
            ref.LayerNorm(12),
            ref.Dropout(0.25),
        ],
        "glove-weights-mean-sqrt": [
            weighted_words,
            word_weights(weighted_words),
            ref.Pooling(DIMENSION, pooling_mode=["mean", "mean_sqrt_len_tokens"]),
        ],
        "bow": [ref.BoW(vocabulary, idf_weights, unknown_word_weight=0.5)],
        "bow-binary": [ref.BoW(vocabulary, idf_weights, unknown_word_weight=0.5, cumulative_term_frequency=False)],
    }


PIPELINES = [
    "glove-lstm-mean",
    "glove-weights-cnn-max-layernorm-dropout",
    "glove-weights-mean-sqrt",
    "bow",
    "bow-binary",
]


def saved_files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file() and path.name != "README.md"}


@pytest.mark.parametrize("name", PIPELINES)
def test_reference_pipelines_round_trip(name, glove_file, vocabulary, idf_weights, sentences, tmp_path):
    from sentence_transformers import SentenceTransformer as Reference

    modules = reference_pipelines(glove_file, vocabulary, idf_weights)[name]
    reference = Reference(modules=modules, device="cpu")
    reference.save(str(tmp_path / "reference"))
    texts = list(sentences)
    if "max" not in name:  # max pooling of no token is -inf in both, and LayerNorm makes that nan
        texts += ["", "zyzzyva: no word of the vocabulary"]
    expected = reference.encode(texts, batch_size=7)
    assert np.isfinite(expected).all() and np.abs(expected).sum() > 0

    ours = SentenceTransformer(str(tmp_path / "reference"), device="cpu")
    np.testing.assert_allclose(ours.encode(texts, batch_size=5), expected, atol=1e-5)

    ours.save(str(tmp_path / "ours"))
    assert saved_files(tmp_path / "ours") == saved_files(tmp_path / "reference")
    np.testing.assert_allclose(Reference(str(tmp_path / "ours"), device="cpu").encode(texts), expected, atol=1e-5)


def test_our_glove_pipeline_loads_in_the_reference(glove_file, idf_weights, sentences, tmp_path):
    """Built with our classes from scratch (not loaded): the reference reads our folder and agrees."""
    from sentence_transformers import SentenceTransformer as Reference

    torch.manual_seed(1)
    words = WordEmbeddings.from_text_file(str(glove_file), update_embeddings=True)
    model = SentenceTransformer(
        modules=[
            words,
            WordWeights(words.tokenizer.get_vocab(), idf_weights),
            LSTM(DIMENSION, 4, num_layers=2, bidirectional=False),
            CNN(4, out_channels=3, kernel_sizes=[3]),
            Pooling(3),
            LayerNorm(3),
        ],
        device="cpu",
    )
    model.save(str(tmp_path / "ours"))
    config = json.loads((tmp_path / "ours" / "wordembedding_config.json").read_text())
    assert config["update_embeddings"] is True
    reference = Reference(str(tmp_path / "ours"), device="cpu")
    np.testing.assert_allclose(reference.encode(sentences), model.encode(sentences), atol=1e-5)


@pytest.fixture(scope="module")
def hidden_state_pipeline(tmp_path_factory) -> Path:
    """paraphrase-MiniLM-L3-v2 with every hidden layer out, WeightedLayerPooling (seeded weights), mean pooling,
    LayerNorm and Dropout: built and saved by the reference."""
    import sentence_transformers.models as ref
    from sentence_transformers import SentenceTransformer as Reference

    transformer = ref.Transformer(str(MINILM_L3), config_kwargs={"output_hidden_states": True})
    layers = ref.WeightedLayerPooling(384, num_hidden_layers=3, layer_start=1)
    with torch.no_grad():
        layers.layer_weights.copy_(torch.tensor([0.5, 2.0, 1.0]))
    modules = [transformer, layers, ref.Pooling(384), ref.LayerNorm(384), ref.Dropout(0.1)]
    folder = tmp_path_factory.mktemp("hidden") / "reference"
    Reference(modules=modules, device="cpu").save(str(folder))
    return folder


def test_weighted_layer_pooling_round_trips(hidden_state_pipeline, sentences, tmp_path):
    from sentence_transformers import SentenceTransformer as Reference

    reference = Reference(str(hidden_state_pipeline), device="cpu")
    expected = reference.encode(sentences[:30])
    ours = SentenceTransformer(str(hidden_state_pipeline), device="cpu")
    assert isinstance(ours[1], WeightedLayerPooling)
    np.testing.assert_allclose(ours[1].layer_weights.detach().numpy(), [0.5, 2.0, 1.0])
    np.testing.assert_allclose(ours.encode(sentences[:30]), expected, atol=1e-5)
    plain = SentenceTransformer(str(MINILM_L3), device="cpu").encode(sentences[:30])
    assert np.abs(plain - expected).max() > 1e-2  # the layer weighting changes the result

    ours.save(str(tmp_path / "ours"))
    back = Reference(str(tmp_path / "ours"), device="cpu")
    np.testing.assert_allclose(back.encode(sentences[:30]), expected, atol=1e-5)


def test_weighted_layer_pooling_without_hidden_states_names_the_fix(minilm_l3):
    model = SentenceTransformer(modules=[minilm_l3[0], WeightedLayerPooling(384, 3, 1), Pooling(384)], device="cpu")
    with pytest.raises(ValueError, match="output_hidden_states"):
        model.encode("a text")


def test_whitespace_tokenizer_matches_the_reference(vocabulary, sentences):
    from sentence_transformers.sentence_transformer.modules.tokenizer.whitespace import (
        WhitespaceTokenizer as ReferenceTokenizer,
    )

    texts = [*sentences, *(text.upper() for text in sentences), "(A) cat's, don't -- '' `` ...", " \t\n "]
    for options in ({}, {"do_lower_case": True}, {"stop_words": ["the", "A", "."]}):
        reference = ReferenceTokenizer(vocab=vocabulary, **options)
        ours = WhitespaceTokenizer(vocab=vocabulary, **options)
        assert [ours.tokenize(text) for text in texts] == [reference.tokenize(text) for text in texts]


def test_from_text_file_reads_what_the_reference_reads(tmp_path):
    import sentence_transformers.models as ref

    lines = ["4 3", "cat 0.1 0.2 0.3", "", "dog 0.4 0.5 0.6", "short 0.7", "cat 1 1 1", "emu 0.5 0.25 -1"]
    text_file = tmp_path / "vectors.txt"
    text_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    gzipped = tmp_path / "vectors.txt.gz"
    gzipped.write_bytes(gzip.compress(text_file.read_bytes()))
    for path, options in ((text_file, {}), (gzipped, {}), (text_file, {"max_vocab_size": 2})):
        reference = ref.WordEmbeddings.from_text_file(str(path), **options)
        ours = WordEmbeddings.from_text_file(str(path), **options)
        assert ours.tokenizer.get_vocab() == reference.tokenizer.get_vocab()
        np.testing.assert_allclose(ours.emb_layer.weight.numpy(), reference.emb_layer.weight.detach().numpy())
        assert ours.tokenizer.tokenize("cat dog emu") == reference.tokenizer.tokenize("cat dog emu")


def test_bad_inputs_are_refused_early(tmp_path):
    with pytest.raises(OSError, match="does not exist"):
        WordEmbeddings.from_text_file(str(tmp_path / "missing.txt"))
    (tmp_path / "bad.txt").write_text("cat 0.1 0.2\ndog 0.3 x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.txt: the vector of 'dog' holds a value that is not a number"):
        WordEmbeddings.from_text_file(str(tmp_path / "bad.txt"))
    with pytest.raises(ValueError, match="3 words but embedding_weights has 2 rows"):
        WordEmbeddings(WhitespaceTokenizer(["a", "b", "c"]), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="one stride per kernel"):
        CNN(4, kernel_sizes=[1, 3], stride_sizes=[1])
    with pytest.raises(ValueError, match="layer_weights must hold 3"):
        WeightedLayerPooling(8, num_hidden_layers=3, layer_start=1, layer_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="dropout"):
        Dropout(1.5)


def test_bow_counts_weighted_words():
    model = SentenceTransformer(modules=[BoW(["cat", "sat", "mat"], {"cat": 2.0}, unknown_word_weight=0.5)])
    np.testing.assert_allclose(model.encode(["cat cat sat", "the mat"]), [[4.0, 0.5, 0.0], [0.0, 0.0, 0.5]])
    assert model.get_embedding_dimension() == 3


def test_unknown_module_types_stay_refused_without_trust_remote_code(glove_file, tmp_path):
    model = SentenceTransformer(modules=[WordEmbeddings.from_text_file(str(glove_file)), Pooling(DIMENSION)])
    model.save(str(tmp_path / "model"))
    entries = json.loads((tmp_path / "model" / "modules.json").read_text())
    entries[1]["type"] = "my_package.pooling.MyPooling"
    (tmp_path / "model" / "modules.json").write_text(json.dumps(entries))
    with pytest.raises(ValueError, match=re.escape("'my_package.pooling.MyPooling'") + ".*trust_remote_code"):
        SentenceTransformer(str(tmp_path / "model"), device="cpu")


def test_a_glove_lstm_model_trains(glove_file, sentences, tmp_path):
    """The trainer's batches carry sentence_lengths, so the LSTM trains; the frozen word vectors stay put."""
    from datasets import Dataset

    from sentembed.losses import MultipleNegativesRankingLoss
    from sentembed.training.arguments import SentenceTransformerTrainingArguments
    from sentembed.training.trainer import SentenceTransformerTrainer

    torch.manual_seed(2)
    words = WordEmbeddings.from_text_file(str(glove_file))
    model = SentenceTransformer(modules=[words, LSTM(DIMENSION, 6), Pooling(12)], device="cpu")
    lstm_before = model[1].encoder.weight_ih_l0.detach().clone()
    vectors_before = words.emb_layer.weight.detach().clone()
    data = Dataset.from_dict({"anchor": sentences[:16], "positive": sentences[16:32]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=8, report_to=[], save_strategy="no"
    )
    SentenceTransformerTrainer(
        model=model, args=args, train_dataset=data, loss=MultipleNegativesRankingLoss(model)
    ).train()
    assert not torch.equal(model[1].encoder.weight_ih_l0.detach(), lstm_before)
    assert torch.equal(words.emb_layer.weight.detach(), vectors_before)


@pytest.mark.parametrize(
    "name", ["WordEmbeddings", "WordWeights", "BoW", "CNN", "LSTM", "LayerNorm", "Dropout", "WeightedLayerPooling"]
)
def test_constructors_take_the_reference_arguments(name):
    """The same parameter names in the same order, with equal defaults (a None default stands for an empty
    dict or list, and a tuple for a list)."""
    import inspect

    import sentence_transformers.models as ref

    import sentembed.models as ours

    def normalised(default):
        return list(default) if isinstance(default, tuple) else default

    theirs = inspect.signature(getattr(ref, name).__init__).parameters
    mine = inspect.signature(getattr(ours, name).__init__).parameters
    assert list(mine) == list(theirs)
    for parameter, expected in theirs.items():
        default = normalised(mine[parameter].default)
        if expected.default in ({}, []) and default is None:
            continue
        assert default == expected.default, parameter
