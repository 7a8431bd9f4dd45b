"""Candidate columns embedded in one forward pass: the same embeddings, losses and gradients as one pass per
column, and a pass per column whenever the columns would not be treated alike."""

from __future__ import annotations

import pytest
import torch

from sentembed.base.losses.merged_forward import column_merging_disabled, embed_columns, merge_feature_batches
from sentembed.losses import CoSENTLoss, MultipleNegativesRankingLoss, TripletLoss

TEXTS = (
    ["A man is playing a guitar on the stage tonight.", "Stocks fell."],
    ["Someone plays music.", "The market dropped sharply after the announcement of new tariffs."],
    ["A cat sleeps.", "It rained."],
)


def tokens(width: int, rows: int = 2, **extra):
    generator = torch.Generator().manual_seed(width)
    return {
        "input_ids": torch.randint(1, 50, (rows, width), generator=generator),
        "attention_mask": torch.ones(rows, width, dtype=torch.long),
        **extra,
    }


@pytest.fixture
def model(minilm_l3):
    return minilm_l3.eval()


@pytest.fixture
def forward_sizes(model, monkeypatch):
    sizes = []
    original = model.forward

    def counting(features, **kwargs):
        sizes.append(len(features["input_ids"]))
        return original(features, **kwargs)

    monkeypatch.setattr(model, "forward", counting)
    return sizes


def columns(model, prompt=None):
    return [dict(model.preprocess(texts, prompt=prompt)) for texts in TEXTS]


def test_merge_pads_to_the_widest_column_and_keeps_rows_in_column_order():
    first, second = tokens(3, prompt_length=2, task="query"), tokens(5, rows=3, prompt_length=2, task="query")
    merged = merge_feature_batches([first, second])
    assert merged["input_ids"].shape == (5, 5) and merged["prompt_length"] == 2 and merged["task"] == "query"
    assert torch.equal(merged["input_ids"][:2, :3], first["input_ids"])
    assert merged["attention_mask"][:2, 3:].sum() == 0, "padding is masked"
    left = merge_feature_batches([first, second], padding_side="left")
    assert torch.equal(left["input_ids"][:2, 2:], first["input_ids"]) and left["attention_mask"][:2, :2].sum() == 0


@pytest.mark.parametrize(
    "pair",
    [
        [tokens(3, prompt_length=2), tokens(4, prompt_length=3)],
        [tokens(3, prompt_length=2), tokens(4)],
        [tokens(3, task="query"), tokens(3, task="document")],
        [tokens(3, modality="text"), tokens(3, modality="image")],
        [tokens(3, prompt_length=torch.tensor([2, 2])), tokens(3, prompt_length=torch.tensor([4, 4]))],
        [tokens(3, pixel_values=torch.zeros(2, 3)), tokens(3, pixel_values=torch.zeros(2, 3))],
        [
            {"input_ids": torch.arange(3), "offsets": torch.arange(3)},
            {"input_ids": torch.arange(3), "offsets": torch.arange(3)},
        ],
        [{"input_ids": torch.ones(2, 3, dtype=torch.long)}, {"input_ids": torch.ones(2, 4, dtype=torch.long)}],
    ],
    ids=["prompts", "one-prompt", "tasks", "modalities", "tensor-prompts", "images", "flattened", "no-mask"],
)
def test_columns_that_differ_are_not_merged(pair):
    assert merge_feature_batches(pair) is None


def test_equal_tensor_prompt_lengths_are_carried_over():
    merged = merge_feature_batches(
        [tokens(3, prompt_length=torch.tensor([2])), tokens(4, prompt_length=torch.tensor([2]))]
    )
    assert int(merged["prompt_length"][0]) == 2


def test_candidates_share_one_forward_with_the_embeddings_of_separate_ones(model, forward_sizes):
    with torch.no_grad():
        merged = embed_columns(model, columns(model))
        assert forward_sizes == [2, 4], "the anchors alone, then both candidate columns together"
        everything = embed_columns(model, columns(model), separate_first=False)
        assert forward_sizes[2:] == [6]
        with column_merging_disabled():
            separate = embed_columns(model, columns(model))
        assert forward_sizes[3:] == [2, 2, 2]
    for one, other, alone in zip(merged, everything, separate, strict=True):
        torch.testing.assert_close(one, alone, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(other, alone, atol=1e-5, rtol=1e-4)


def test_a_pair_loss_embeds_each_column_on_its_own(model, forward_sizes):
    with torch.no_grad():
        CoSENTLoss(model)(columns(model)[:2], torch.tensor([0.2, 0.9]))
    assert forward_sizes == [2, 2]


@pytest.mark.parametrize("loss_class", [MultipleNegativesRankingLoss, TripletLoss])
def test_losses_and_gradients_match_one_pass_per_column(model, loss_class):
    loss = loss_class(model)
    weight = model[0].auto_model.embeddings.word_embeddings.weight
    model.zero_grad(set_to_none=True)
    merged = loss(columns(model, prompt="query: "), None)
    merged.backward()
    merged_gradient = weight.grad.clone()
    model.zero_grad(set_to_none=True)
    with column_merging_disabled():
        separate = loss(columns(model, prompt="query: "), None)
        separate.backward()
    assert merged.item() == pytest.approx(separate.item(), rel=1e-5, abs=1e-6)
    assert weight.grad.abs().sum() > 0
    torch.testing.assert_close(merged_gradient, weight.grad, atol=1e-6, rtol=1e-4)
    model.zero_grad(set_to_none=True)
