"""Bitext mining on Tatoeba: real precision and recall, chunk-size independence, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sentembed.search import mine_translations
from sentembed.util import mine_translations as util_mine_translations
from tests.support.paths import DATA, MINILM_L3, minilm_l6_folder

TATOEBA = DATA / "tatoeba"
LANGUAGES = ("deu", "fra", "spa", "ita", "nld", "por")
KINDS = ("both", "forward", "backward", "mutual")
COMBINATIONS = [(margin, kind) for margin in ("ratio", "distance") for kind in KINDS]


def read_tatoeba(language: str, rows: int | None = None) -> tuple[list[str], list[str]]:
    """(sentences in `language`, their English translations), line by line."""

    def lines(suffix: str) -> list[str]:
        return (TATOEBA / f"tatoeba.{language}-eng.{suffix}").read_text(encoding="utf-8").splitlines()[:rows]

    return lines(language), lines("eng")


def precision_recall(pairs, source: list[str], english: list[str]) -> tuple[float, float]:
    """A mined pair is right when it is the gold pair or repeats its text (Tatoeba has duplicate sentences);
    recall is the share of source sentences that got a right pair."""
    right = [(i, j) for _, i, j in pairs if j == i or english[j] == english[i] or source[j] == source[i]]
    return len(right) / max(len(pairs), 1), len({i for i, _ in right}) / len(source)


def brute_force(source: np.ndarray, target: np.ndarray, k: int, margin: str, kind: str) -> list[tuple[float, int, int]]:
    """The same mining from the full float64 cosine matrix, written out directly (no one-to-one step)."""
    a, b = source.astype(np.float64), target.astype(np.float64)
    a, b = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    cosines = a @ b.T
    forward_mean = -np.sort(-cosines, axis=1)[:, :k].mean(axis=1)
    backward_mean = -np.sort(-cosines, axis=0)[:k].mean(axis=0)
    scale = (forward_mean[:, None] + backward_mean[None, :]) / 2
    scores = cosines / scale if margin == "ratio" else cosines - scale
    forward = set()
    for i in range(len(a)):
        neighbours = np.argsort(-cosines[i], kind="stable")[:k]
        forward.add((i, int(neighbours[np.argmax(scores[i, neighbours])])))
    backward = set()
    for j in range(len(b)):
        neighbours = np.argsort(-cosines[:, j], kind="stable")[:k]
        backward.add((int(neighbours[np.argmax(scores[neighbours, j])]), j))
    chosen = {"both": forward | backward, "forward": forward, "backward": backward, "mutual": forward & backward}[kind]
    return sorted(((float(scores[i, j]), i, j) for i, j in chosen), key=lambda p: (-p[0], p[1], p[2]))


@pytest.fixture(scope="module")
def french_300(minilm_l3) -> dict:
    source, english = read_tatoeba("fra", 300)
    return {
        "source": source,
        "english": english,
        "source_embeddings": minilm_l3.encode(source, batch_size=64, convert_to_numpy=True),
        "english_embeddings": minilm_l3.encode(english, batch_size=64, convert_to_numpy=True),
    }


def test_util_exports_the_same_function():
    assert util_mine_translations is mine_translations


def test_french_precision_and_recall_with_paraphrase_minilm_l3(french_300, minilm_l3):
    pairs = mine_translations(french_300["source"], french_300["english"], minilm_l3)
    precision, recall = precision_recall(pairs, french_300["source"], french_300["english"])
    assert recall >= 0.18 and precision >= 0.32, (precision, recall)  # measured: P 0.341, R 0.193 (170 pairs)
    confident = [pair for pair in pairs if pair[0] >= 1.2]
    precision_high, _ = precision_recall(confident, french_300["source"], french_300["english"])
    assert len(confident) >= 45 and precision_high >= 0.74, (len(confident), precision_high)  # 50 pairs, P 0.78


def test_sentences_and_their_embeddings_give_the_same_pairs(french_300, minilm_l3):
    from_text = mine_translations(french_300["source"], french_300["english"], minilm_l3, batch_size=64)
    from_embeddings = mine_translations(french_300["source_embeddings"], french_300["english_embeddings"])
    assert [pair[1:] for pair in from_text] == [pair[1:] for pair in from_embeddings]
    np.testing.assert_allclose([pair[0] for pair in from_text], [pair[0] for pair in from_embeddings], atol=1e-5)


@pytest.mark.parametrize(("margin", "kind"), COMBINATIONS)
def test_matches_a_full_matrix_computation(french_300, margin, kind):
    source, target = french_300["source_embeddings"], french_300["english_embeddings"]
    ours = mine_translations(source, target, k=4, margin=margin, candidates=kind, one_to_one=False)
    expected = brute_force(source, target, 4, margin, kind)
    assert [pair[1:] for pair in ours] == [pair[1:] for pair in expected]
    np.testing.assert_allclose([pair[0] for pair in ours], [pair[0] for pair in expected], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("margin", "kind"), COMBINATIONS)
def test_chunked_results_equal_unchunked_exactly(french_300, margin, kind):
    source, target = french_300["source_embeddings"], french_300["english_embeddings"]
    whole = mine_translations(source, target, margin=margin, candidates=kind, one_to_one=False, chunk_size=4096)
    for chunk_size in (37, 128):
        assert (
            mine_translations(source, target, margin=margin, candidates=kind, one_to_one=False, chunk_size=chunk_size)
            == whole
        )


def test_chunked_equals_unchunked_on_random_vectors_of_unequal_counts():
    generator = torch.Generator().manual_seed(0)
    source = torch.randn(700, 64, generator=generator)
    target = torch.randn(450, 64, generator=generator)
    whole = mine_translations(source, target, k=6)
    assert whole and mine_translations(source, target, k=6, chunk_size=100) == whole
    assert whole == mine_translations(source.numpy(), target.tolist(), k=6, chunk_size=333)


def test_duplicate_targets_break_ties_by_the_lower_index():
    generator = torch.Generator().manual_seed(1)
    source = torch.randn(50, 16, generator=generator)
    copies = torch.cat([source[:1]] * 15)  # more ties than the rough pass keeps: the row is rescanned exactly
    target = torch.cat([source[:10], source[:10], torch.randn(30, 16, generator=generator), copies])
    for chunk_size in (3, 7, 4096):
        pairs = mine_translations(source, target, chunk_size=chunk_size)
        assert {(i, j) for _, i, j in pairs if i < 10} == {(i, i) for i in range(10)}
        assert pairs == mine_translations(source, target, chunk_size=16)


def test_one_to_one_uses_each_sentence_once_and_threshold_filters(french_300):
    source, target = french_300["source_embeddings"], french_300["english_embeddings"]
    every = mine_translations(source, target, one_to_one=False)
    pairs = mine_translations(source, target)
    assert len({i for _, i, _ in pairs}) == len(pairs) == len({j for _, _, j in pairs}) < len(every)
    assert [score for score, _, _ in pairs] == sorted((score for score, _, _ in pairs), reverse=True)
    above = mine_translations(source, target, threshold=1.1)
    assert above == [pair for pair in pairs if pair[0] >= 1.1] and 0 < len(above) < len(pairs)


def test_distance_margin_ranks_like_ratio_on_true_pairs(french_300):
    source, target = french_300["source_embeddings"], french_300["english_embeddings"]
    ratio = mine_translations(source, target, margin="ratio", threshold=1.2)
    distance = mine_translations(source, target, margin="distance")
    assert all(score < 1 for score, _, _ in distance)
    top = {(i, j) for _, i, j in distance[: len(ratio)]}
    assert len(top & {(i, j) for _, i, j in ratio}) >= 0.8 * len(ratio)


def test_empty_lists_give_no_pairs(minilm_l3):
    assert mine_translations([], ["a sentence"], minilm_l3) == []
    assert mine_translations(np.zeros((0, 8), dtype=np.float32), np.ones((3, 8), dtype=np.float32)) == []


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"k": 0}, ValueError, "k must be a positive integer"),
        ({"margin": "absolute"}, ValueError, "unknown margin 'absolute'"),
        ({"candidates": "max"}, ValueError, "unknown candidates 'max'"),
        ({"threshold": "1.1"}, TypeError, "threshold must be a number"),
        ({"one_to_one": 1}, TypeError, "one_to_one must be a bool"),
        ({"chunk_size": -5}, ValueError, "chunk_size must be a positive integer"),
    ],
)
def test_bad_arguments_are_refused(arguments, error, message):
    with pytest.raises(error, match=message):
        mine_translations(np.ones((3, 4), dtype=np.float32), np.ones((3, 4), dtype=np.float32), **arguments)


def test_bad_inputs_are_refused(minilm_l3):
    vectors = np.ones((3, 4), dtype=np.float32)
    with pytest.raises(TypeError, match="source holds sentences, so mine_translations needs a model"):
        mine_translations(["Bonjour."], ["Hello."])
    with pytest.raises(TypeError, match="single str"):
        mine_translations("Bonjour.", ["Hello."], minilm_l3)
    with pytest.raises(TypeError, match=r"target\[1\] must be a str"):
        mine_translations(["Bonjour."], ["Hello.", 3], minilm_l3)
    with pytest.raises(ValueError, match=r"dimensions differ.*\(3, 4\).*\(3, 5\)"):
        mine_translations(vectors, np.ones((3, 5), dtype=np.float32))
    broken = vectors.copy()
    broken[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"target\[2\] contains NaN"):
        mine_translations(vectors, broken)
    with pytest.raises(ValueError, match="must be 1-D or 2-D"):
        mine_translations(np.ones((2, 3, 4)), vectors)


# Measured on the full sets (1,000 pairs each), default settings (k=4, ratio margin, both directions, one-to-one):
# recall without a threshold, and precision of the pairs scoring >= 1.2. Both models are English-only, so
# recall is low; the margin still makes high-scoring pairs precise.
MEASURED = {  # language: (recall, precision at score >= 1.2)
    "paraphrase-MiniLM-L3-v2": {
        "deu": (0.083, 0.881), "fra": (0.155, 0.891), "spa": (0.132, 0.849),
        "ita": (0.134, 0.838), "nld": (0.134, 0.864), "por": (0.098, 0.780),
    },
    "all-MiniLM-L6-v2": {
        "deu": (0.165, 0.929), "fra": (0.206, 1.000), "spa": (0.159, 0.959),
        "ita": (0.165, 0.960), "nld": (0.160, 0.952), "por": (0.141, 0.921),
    },
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("model_name", sorted(MEASURED))
def test_precision_and_recall_per_language_pair(model_name):
    from sentembed import SentenceTransformer

    path = MINILM_L3 if model_name == "paraphrase-MiniLM-L3-v2" else minilm_l6_folder()
    model = SentenceTransformer(str(path), device="cpu")
    for language in LANGUAGES:
        source, english = read_tatoeba(language)
        pairs = mine_translations(source, english, model, batch_size=64)
        _, recall = precision_recall(pairs, source, english)
        precision, _ = precision_recall([pair for pair in pairs if pair[0] >= 1.2], source, english)
        print(f"{model_name} {language}-eng: recall {recall:.3f}, precision at 1.2 {precision:.3f}")
        expected_recall, expected_precision = MEASURED[model_name][language]
        assert recall >= expected_recall - 0.01, (language, recall)
        assert precision >= expected_precision - 0.02, (language, precision)
