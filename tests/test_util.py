"""The sentence-transformers 6 additions to `util`: MaxSim, batch_to_device, fullname, availability checks and
the distance-metric enums, each against the reference."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import util as reference

from sentembed import util

MAXSIM_FUNCTIONS = ["maxsim", "mean_maxsim"]
PAIRWISE_FUNCTIONS = ["maxsim_pairwise", "mean_maxsim_pairwise"]


def ragged(lengths: list[int], dim: int = 16, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [F.normalize(torch.randn(length, dim, generator=generator), dim=-1) for length in lengths]


QUERIES = ragged([3, 7, 1])
DOCUMENTS = ragged([5, 2, 9, 4], seed=1)


def padded(items: list[torch.Tensor]) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence(items, batch_first=True)


@pytest.mark.parametrize("name", MAXSIM_FUNCTIONS)
@pytest.mark.parametrize("layout", ["lists", "padded", "numpy", "single query"])
def test_maxsim_matches_the_reference(name, layout):
    a, b = {
        "lists": (QUERIES, DOCUMENTS),
        "padded": (padded(QUERIES), padded(DOCUMENTS)),
        "numpy": (padded(QUERIES).numpy(), [d.numpy() for d in DOCUMENTS]),
        "single query": (QUERIES[1], DOCUMENTS),
    }[layout]
    ours, theirs = getattr(util, name)(a, b), getattr(reference, name)(a, b)
    assert ours.dtype == theirs.dtype == torch.float32 and ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MAXSIM_FUNCTIONS + PAIRWISE_FUNCTIONS)
def test_maxsim_masks_length_normalisation_and_chunking_match_the_reference(name):
    a = padded(QUERIES if "pairwise" not in name else QUERIES + ragged([4], seed=2))
    b = padded(DOCUMENTS)
    generator = torch.Generator().manual_seed(3)
    a_mask = torch.rand(a.shape[:2], generator=generator) > 0.3
    b_mask = torch.rand(b.shape[:2], generator=generator) > 0.3
    b_mask[0, 0] = True  # every document keeps a token
    for options in ({}, {"length_normalize": True}, {"length_normalize": False}, {"chunk_elements": 7}):
        ours = getattr(util, name)(a, b, a_mask, b_mask, **options)
        theirs = getattr(reference, name)(a, b, a_mask, b_mask, **options)
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    per_item_masks = [mask for mask in a_mask]
    ours, theirs = getattr(util, name)(a, b, per_item_masks), getattr(reference, name)(a, b, per_item_masks)
    torch.testing.assert_close(ours, theirs)


def test_half_precision_maxsim_is_scored_in_float32(caplog):
    a, b = padded(QUERIES).half(), padded(DOCUMENTS).bfloat16()
    ours = util.maxsim(a, b)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, reference.maxsim(padded(QUERIES), padded(DOCUMENTS)), atol=0.05, rtol=0.02)
    quantized = [(d * 100).to(torch.int8) for d in DOCUMENTS]
    torch.testing.assert_close(util.maxsim(QUERIES, quantized), reference.maxsim(QUERIES, quantized))


def test_a_document_without_tokens_ranks_last_as_in_the_reference(caplog):
    b = padded(DOCUMENTS)
    b_mask = torch.ones(b.shape[:2], dtype=torch.bool)
    b_mask[2] = False
    with caplog.at_level(logging.WARNING):
        ours = util.maxsim(QUERIES, b, b_mask=b_mask)
    torch.testing.assert_close(ours, reference.maxsim(QUERIES, b, b_mask=b_mask))
    assert (ours[:, 2] == -1e9).all() and "no token vector left" in caplog.text


def test_maxsim_compiles_to_one_graph_with_empty_documents():
    b = padded(DOCUMENTS)
    b_mask = torch.ones(b.shape[:2], dtype=torch.bool)
    b_mask[1] = False
    compiled = torch.compile(util.maxsim, fullgraph=True, backend="eager")
    scores = compiled(padded(QUERIES), b, b_mask=b_mask)
    torch.testing.assert_close(scores, util.maxsim(padded(QUERIES), b, b_mask=b_mask))
    assert (scores[:, 1] == -1e9).all()


def test_maxsim_on_empty_sides_gives_empty_scores():
    assert util.maxsim([], DOCUMENTS).shape == reference.maxsim([], DOCUMENTS).shape == (0, 4)
    assert util.maxsim(QUERIES, []).shape == (3, 0)
    assert util.maxsim_pairwise([], []).shape == reference.maxsim_pairwise([], []).shape == (0,)


def test_maxsim_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="a and b must hold the same number of items"):
        util.maxsim_pairwise(QUERIES, DOCUMENTS)
    with pytest.raises(ValueError, match="b_mask covers 3 tokens"):
        util.maxsim(QUERIES, padded(DOCUMENTS), b_mask=torch.ones(4, 3))
    with pytest.raises(ValueError, match="token embedding dimensions differ"):
        util.maxsim(QUERIES, ragged([2], dim=8))
    with pytest.raises(TypeError, match="a must be a tensor"):
        util.maxsim("text", DOCUMENTS)
    with pytest.raises(ValueError, match="chunk_elements must be a positive integer"):
        util.maxsim(QUERIES, DOCUMENTS, chunk_elements=0)


def test_batch_to_device_moves_tensors_and_keeps_other_values():
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "modality": "text", "prompt_length": 2}
    moved = util.batch_to_device(batch, torch.device("meta"))
    assert moved is batch and moved["input_ids"].device.type == "meta"
    assert moved["modality"] == "text" and moved["prompt_length"] == 2
    fresh = {"input_ids": torch.ones(2, 3, dtype=torch.long), "modality": "text", "prompt_length": 2}
    expected = reference.batch_to_device(fresh, "meta")
    assert set(expected) == set(moved) and expected["input_ids"].device == moved["input_ids"].device


@pytest.mark.parametrize(
    "obj", [torch.nn.Tanh(), torch.nn.Tanh, 3, "text", int, util.SimilarityFunction.COSINE], ids=repr
)
def test_fullname_matches_the_reference(obj):
    assert util.fullname(obj) == reference.fullname(obj)


def test_availability_checks_match_the_reference():
    assert util.is_datasets_available() == reference.is_datasets_available()
    assert util.is_training_available() == reference.is_training_available()


PAIR_A, PAIR_B = torch.randn(5, 16), torch.randn(5, 16)


@pytest.mark.parametrize("name", ["COSINE", "EUCLIDEAN", "MANHATTAN"])
def test_triplet_distance_metric_matches_the_reference(name):
    from sentence_transformers.sentence_transformer.losses import TripletDistanceMetric

    ours, theirs = getattr(util.TripletDistanceMetric, name), getattr(TripletDistanceMetric, name)
    torch.testing.assert_close(ours(PAIR_A, PAIR_B), theirs(PAIR_A, PAIR_B))


@pytest.mark.parametrize("name", ["EUCLIDEAN", "MANHATTAN", "COSINE_DISTANCE"])
def test_siamese_distance_metric_matches_the_reference(name):
    from sentence_transformers.sentence_transformer.losses import SiameseDistanceMetric

    ours, theirs = getattr(util.SiameseDistanceMetric, name), getattr(SiameseDistanceMetric, name)
    torch.testing.assert_close(ours(PAIR_A, PAIR_B), theirs(PAIR_A, PAIR_B))


def test_the_enums_are_the_losses_own():
    import sentembed.losses as losses

    assert util.TripletDistanceMetric is losses.TripletDistanceMetric
    assert util.SiameseDistanceMetric is losses.SiameseDistanceMetric
    assert losses.TripletLoss.__init__.__defaults__[0] is losses.TripletDistanceMetric.EUCLIDEAN


def test_loss_configs_name_the_metrics_as_the_reference_does(minilm_l3):
    import sentence_transformers.sentence_transformer.losses as reference_losses

    import sentembed.losses as losses

    cases = [
        ("TripletLoss", "TripletDistanceMetric", "MANHATTAN"),
        ("ContrastiveLoss", "SiameseDistanceMetric", "EUCLIDEAN"),
        ("OnlineContrastiveLoss", "SiameseDistanceMetric", "COSINE_DISTANCE"),
    ]
    for loss_name, enum_name, member in cases:
        ours = getattr(losses, loss_name)(minilm_l3, distance_metric=getattr(getattr(losses, enum_name), member))
        metric = getattr(getattr(reference_losses, enum_name), member)
        theirs = getattr(reference_losses, loss_name)(minilm_l3, distance_metric=metric)
        assert ours.get_config_dict()["distance_metric"] == theirs.get_config_dict()["distance_metric"]
    assert losses.TripletLoss(minilm_l3).get_config_dict()["distance_metric"] == "TripletDistanceMetric.EUCLIDEAN"


def test_similarity_function_names_match_the_reference():
    names = ["cosine", "dot", "euclidean", "manhattan", "maxsim", "meanmaxsim"]
    assert util.SimilarityFunction.possible_values() == reference.SimilarityFunction.possible_values() == names


def test_maxsim_names_score_token_embeddings_and_a_bi_encoder_refuses_them(minilm_l3):
    generator = torch.Generator().manual_seed(0)
    queries, documents = torch.randn(2, 5, 8, generator=generator), torch.randn(3, 7, 8, generator=generator)
    scores = util.SimilarityFunction.to_similarity_fn("maxsim")(queries, documents)
    torch.testing.assert_close(scores, util.maxsim(queries, documents))
    pairwise = util.SimilarityFunction.to_similarity_pairwise_fn("meanmaxsim")(queries, documents[:2])
    torch.testing.assert_close(pairwise, util.mean_maxsim_pairwise(queries, documents[:2]))
    with pytest.raises(ValueError, match="token embeddings.*MultiVectorEncoder.*util.maxsim"):
        minilm_l3.similarity_fn_name = "maxsim"


# ----- similarity dtypes and sparse tensors --------------------------------------------------------------

ALL_PAIRS = ["cos_sim", "dot_score", "euclidean_sim", "manhattan_sim"]
IN_ORDER = ["pairwise_cos_sim", "pairwise_dot_score", "pairwise_euclidean_sim", "pairwise_manhattan_sim"]


def sparse_rows(rows: int, dim: int = 64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    dense = torch.randn(rows, dim, generator=generator)
    dense[torch.rand(rows, dim, generator=generator) > 0.2] = 0  # about 80% zeros, as in sparse embeddings
    dense[-1] = 0  # and one all-zero row
    return dense


@pytest.mark.parametrize("name", ALL_PAIRS + IN_ORDER)
@pytest.mark.parametrize("layouts", ["sparse-sparse", "sparse-dense", "dense-sparse"])
def test_similarity_accepts_sparse_tensors_like_the_reference(name, layouts):
    a, b = sparse_rows(5), sparse_rows(5 if name in IN_ORDER else 7, seed=1)
    x = a.to_sparse() if layouts.startswith("sparse") else a
    y = b.to_sparse() if layouts.endswith("sparse") else b
    ours = getattr(util, name)(x, y)
    assert ours.layout == torch.strided and ours.dtype == torch.float32
    torch.testing.assert_close(ours, getattr(reference, name)(x, y), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours, getattr(util, name)(a, b), atol=1e-5, rtol=1e-5)


def test_normalize_embeddings_keeps_a_sparse_tensor_sparse():
    rows = sparse_rows(4)
    normalized = util.normalize_embeddings(rows.to_sparse())
    assert normalized.is_sparse
    torch.testing.assert_close(normalized.to_dense(), util.normalize_embeddings(rows))
    torch.testing.assert_close(normalized.to_dense(), reference.normalize_embeddings(rows.to_sparse()).to_dense())


@pytest.mark.parametrize("name", ALL_PAIRS + IN_ORDER)
@pytest.mark.parametrize("dtypes", [("float16", "float16"), ("bfloat16", "bfloat16"), ("float16", "bfloat16")])
def test_half_precision_similarity_is_computed_in_float32(name, dtypes):
    a, b = torch.randn(4, 32), torch.randn(4, 32)
    x, y = a.to(getattr(torch, dtypes[0])), b.to(getattr(torch, dtypes[1]))
    ours = getattr(util, name)(x, y)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, getattr(util, name)(x.float(), y.float()))
    if dtypes[0] == dtypes[1]:
        torch.testing.assert_close(ours, getattr(reference, name)(x, y))


@pytest.mark.parametrize("name", ALL_PAIRS)
def test_mixed_dtypes_are_promoted(name):
    a, b = torch.randn(3, 16, dtype=torch.float64), torch.randn(2, 16)
    assert getattr(util, name)(a, b).dtype == torch.float64
    assert getattr(util, name)(b.half(), a).dtype == torch.float64
    assert getattr(util, name)(b.numpy(), a[:1].half()).dtype == torch.float32


def test_half_precision_scores_do_not_collapse_into_ties():
    generator = torch.Generator().manual_seed(0)
    query = F.normalize(torch.randn(1, 384, generator=generator), dim=-1)
    documents = F.normalize(query + 0.01 * torch.randn(200, 384, generator=generator), dim=-1)
    scores = util.cos_sim(query.half(), documents.half())
    assert scores.unique().numel() > scores.numel() // 2


# ----- empty inputs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["float32", "int8", "uint8", "binary", "ubinary"])
def test_quantize_embeddings_of_nothing_is_empty_like_the_reference(precision):
    assert util.quantize_embeddings([], precision) == reference.quantize_embeddings([], precision) == []
    empty = torch.empty(0, 16).numpy()
    ours, theirs = util.quantize_embeddings(empty, precision), reference.quantize_embeddings(empty, precision)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype


@pytest.mark.parametrize("precision, width", [("int8", 16), ("uint8", 16), ("binary", 2), ("ubinary", 2)])
def test_quantize_multi_vector_matrices_share_ranges_and_keep_empty_ones(precision, width):
    matrices = [item.numpy() for item in DOCUMENTS] + [torch.empty(0, 16).numpy()]
    ours = util.quantize_embeddings(matrices, precision)
    assert [matrix.shape for matrix in ours] == [(len(item), width) for item in matrices]
    together = util.quantize_embeddings(torch.cat(DOCUMENTS).numpy(), precision)
    assert (np.concatenate(ours) == together).all(), "one set of buckets for every matrix"
    if precision == "int8":
        assert util.quantize_embeddings([torch.empty(0, 16).numpy()], precision)[0].shape == (0, 16)


@pytest.mark.parametrize(
    "precision, corpus",
    [
        ("float32", torch.empty(0, 16).numpy()),
        ("uint8", torch.empty(0, 16, dtype=torch.uint8).numpy()),
        ("ubinary", torch.empty(0, 2, dtype=torch.uint8).numpy()),
    ],
)
@pytest.mark.parametrize("output_index", [False, True])
def test_semantic_search_faiss_on_an_empty_corpus_finds_nothing(precision, corpus, output_index):
    pytest.importorskip("faiss")
    from sentence_transformers.util.quantization import semantic_search_faiss as reference_search

    from sentembed.quantization import semantic_search_faiss

    queries = torch.randn(3, 16).numpy()
    calibration = torch.randn(20, 16).numpy()
    options = dict(corpus_precision=precision, calibration_embeddings=calibration, output_index=output_index)
    ours = semantic_search_faiss(queries, corpus_embeddings=corpus, **options)
    theirs = reference_search(queries, corpus_embeddings=corpus, **options)
    assert ours[0] == theirs[0] == [[], [], []] and len(ours) == len(theirs)
    if output_index:
        assert ours[2].ntotal == 0
        again = semantic_search_faiss(queries, corpus_index=ours[2], corpus_precision=precision, rescore=False)
        assert again[0] == [[], [], []]
