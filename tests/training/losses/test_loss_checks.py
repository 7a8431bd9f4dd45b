"""Losses refuse settings and labels that would train nothing (or train toward garbage), and warn about the
ones that quietly lose gradient. Computed from fixed embeddings, so no model is needed."""

from __future__ import annotations

import functools
import logging
import warnings

import pytest
import torch

from sentembed.losses import (
    ContrastiveLoss,
    DistillKLDivLoss,
    MultipleNegativesRankingLoss,
    OnlineContrastiveLoss,
    RandContext,
)
from sentembed.similarity import cos_sim


def candidate_embeddings(columns: int, rows: int = 2, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(rows, 6, generator=generator) for _ in range(columns)]


@pytest.mark.parametrize("name", ["temperature", "student_temperature", "teacher_temperature"])
@pytest.mark.parametrize("value", [0, -0.5, float("nan"), float("inf"), True, "1.0"])
def test_distill_kl_div_refuses_temperatures_that_are_not_positive_and_finite(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive finite number"):
        DistillKLDivLoss(None, **{name: value})


def test_distill_kl_div_keeps_a_valid_temperature_as_float():
    loss = DistillKLDivLoss(None, temperature=2, teacher_temperature=0.25)
    assert loss.temperature == 2.0 and isinstance(loss.temperature, float)
    assert loss.student_temperature is None and loss.teacher_temperature == 0.25


def test_distill_kl_div_needs_two_candidates():
    with pytest.raises(ValueError, match="at least 3 columns"):
        DistillKLDivLoss(None).compute_loss_from_embeddings(candidate_embeddings(2), torch.ones(2, 1))


def test_distill_kl_div_refuses_a_label_that_would_broadcast():
    with pytest.raises(ValueError, match=r"\(batch_size, N\) with N = 3.*got shape \(2, 1\)"):
        DistillKLDivLoss(None).compute_loss_from_embeddings(candidate_embeddings(4), torch.ones(2, 1))


def test_distill_kl_div_refuses_nan_teacher_scores():
    labels = torch.tensor([[0.5, float("nan")], [1.0, 2.0]])
    with pytest.raises(ValueError, match="contain NaN"):
        DistillKLDivLoss(None).compute_loss_from_embeddings(candidate_embeddings(3), labels)


def test_distill_kl_div_warns_once_when_a_cold_teacher_underflows(caplog):
    labels = torch.tensor([[20.0, -20.0], [3.0, 2.0]])  # a spread of 40 at 0.05 underflows float32
    loss = DistillKLDivLoss(None, teacher_temperature=0.05)
    with caplog.at_level(logging.WARNING):
        first = loss.compute_loss_from_embeddings(candidate_embeddings(3), labels)
        assert "teacher_temperature=0.05" in caplog.text and "1 candidate score(s)" in caplog.text
        caplog.clear()
        loss.compute_loss_from_embeddings(candidate_embeddings(3), labels)
        assert caplog.text == ""
    assert torch.isfinite(first)


def test_distill_kl_div_does_not_warn_for_a_matched_temperature_or_excluded_candidates(caplog):
    with caplog.at_level(logging.WARNING):
        DistillKLDivLoss(None).compute_loss_from_embeddings(candidate_embeddings(3), torch.tensor([[20.0, -20.0]] * 2))
        excluded = torch.tensor([[4.0, -float("inf")], [1.0, 0.0]])
        value = DistillKLDivLoss(None).compute_loss_from_embeddings(candidate_embeddings(3), excluded)
    assert caplog.text == ""
    assert torch.isfinite(value)


@pytest.mark.parametrize("loss_class", [ContrastiveLoss, OnlineContrastiveLoss])
def test_contrastive_losses_warn_once_when_the_first_labels_are_scores(loss_class):
    loss = loss_class(None)
    embeddings = candidate_embeddings(2, rows=4)
    with pytest.warns(UserWarning, match=f"^{loss_class.__name__} expects binary labels"):
        loss.compute_loss_from_embeddings(embeddings, torch.tensor([0.9, 0.1, 1.0, 0.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss.compute_loss_from_embeddings(embeddings, torch.tensor([0.9, 0.1, 1.0, 0.0]))
    assert torch.isfinite(value)


@pytest.mark.parametrize("loss_class", [ContrastiveLoss, OnlineContrastiveLoss])
def test_contrastive_losses_read_only_the_first_batch_of_labels(loss_class):
    loss = loss_class(None)
    embeddings = candidate_embeddings(2, rows=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss.compute_loss_from_embeddings(embeddings, torch.tensor([1, 0, 1, 0]))
        loss.compute_loss_from_embeddings(embeddings, torch.tensor([0.5, 0.0, 1.0, 0.0]))


@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), float("inf"), True])
def test_ranking_loss_refuses_a_scale_that_is_not_positive(scale):
    with pytest.raises(ValueError, match="Scale must be a positive value"):
        MultipleNegativesRankingLoss(None, scale=scale)


def test_loss_config_names_similarities_without_a_name():
    assert MultipleNegativesRankingLoss(None).get_config_dict()["similarity_fct"] == "cos_sim"
    partial = MultipleNegativesRankingLoss(None, similarity_fct=functools.partial(cos_sim))
    assert partial.get_config_dict()["similarity_fct"] == "partial(cos_sim)"
    module = MultipleNegativesRankingLoss(None, similarity_fct=torch.nn.CosineSimilarity(dim=-1))
    assert module.get_config_dict()["similarity_fct"] == "CosineSimilarity"


def test_rand_context_replays_the_captured_state_and_restores_the_generator():
    torch.manual_seed(3)
    context = RandContext(torch.zeros(1))
    first = torch.rand(5)
    after_first = torch.rand(5)
    with context:
        assert torch.equal(torch.rand(5), first)
    with context:  # replayable: every block starts from the captured state
        assert torch.equal(torch.rand(5), first)
    torch.manual_seed(3)
    torch.rand(5)
    expected_next = torch.rand(5)
    assert torch.equal(after_first, expected_next)
    state = torch.get_rng_state()
    with context:
        torch.rand(100)
    assert torch.equal(torch.get_rng_state(), state), "leaving the block restores the generator"


def test_rand_context_replays_dropout():
    dropout = torch.nn.Dropout(0.5)
    inputs = torch.ones(64)
    context = RandContext(inputs)
    first = dropout(inputs)
    with context:
        replayed = dropout(inputs)
    assert torch.equal(first, replayed) and not torch.equal(first, dropout(inputs))


@pytest.mark.parametrize("sparse_side", [0, 1, 2])
def test_angle_similarity_scores_sparse_inputs_like_dense_ones(sparse_side):
    from sentembed.training.losses.pair_similarity import pairwise_angle_sim

    x, y = (embedding.relu() for embedding in candidate_embeddings(2, rows=3))  # zeros make sparsity
    expected = pairwise_angle_sim(x, y)
    x = x.to_sparse() if sparse_side in (0, 2) else x
    y = y.to_sparse() if sparse_side in (1, 2) else y
    torch.testing.assert_close(pairwise_angle_sim(x, y), expected)


def test_gist_cross_entropy_is_replaceable():
    from sentembed.losses import GISTEmbedLoss

    loss = GISTEmbedLoss.__new__(GISTEmbedLoss)  # scored from fixed embeddings: no model or guide needed
    torch.nn.Module.__init__(loss)
    loss.temperature, loss.margin_strategy, loss.margin = 0.05, "absolute", 0.0
    loss.contrast_anchors = loss.contrast_positives = loss.gather_across_devices = False
    loss.cross_entropy_loss = torch.nn.CrossEntropyLoss()
    embeddings = candidate_embeddings(2, rows=4)
    plain = loss.guided_loss(embeddings, embeddings)
    loss.cross_entropy_loss = torch.nn.CrossEntropyLoss(reduction="sum")
    summed = loss.guided_loss(embeddings, embeddings)
    assert torch.isfinite(plain) and summed.item() == pytest.approx(4 * plain.item())


@pytest.mark.parametrize(
    "loss_name",
    ["CoSENTLoss", "AnglELoss", "CosineSimilarityLoss", "ContrastiveLoss", "OnlineContrastiveLoss"],
)
def test_pair_losses_need_exactly_one_label_per_pair(loss_name):
    import sentembed.losses as losses

    loss = getattr(losses, loss_name)(None)
    embeddings = candidate_embeddings(2, rows=4)
    with pytest.raises(ValueError, match=rf"{loss_name} expects 4 labels \(one per example\), but got 8"):
        loss.compute_loss_from_embeddings(embeddings, torch.ones(4, 2))
    column = torch.tensor([[1.0], [0.0], [1.0], [0.0]])  # (rows, 1) is one label per row too
    assert torch.isfinite(loss.compute_loss_from_embeddings(embeddings, column))


def test_batch_triplet_losses_need_one_class_per_text():
    from sentembed.losses import BatchHardTripletLoss

    embeddings = candidate_embeddings(1, rows=4)
    with pytest.raises(ValueError, match=r"BatchHardTripletLoss expects 4 labels"):
        BatchHardTripletLoss(None).compute_loss_from_embeddings(embeddings, torch.tensor([0, 1]))
