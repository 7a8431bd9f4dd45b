"""Losses keep working when the trainer runs the model inside a training wrapper (DistributedDataParallel,
torch.compile): the trainer points the loss at the wrapper, and AdaptiveLayerLoss finds the model inside it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sentembed.base.trainer import BaseTrainer
from sentembed.losses import AdaptiveLayerLoss, MatryoshkaLoss, MultipleNegativesRankingLoss
from sentembed.training.trainer import SentenceTransformerTrainer


class CountingWrapper(nn.Module):
    """Holds the model the way DistributedDataParallel (`module`) or torch.compile (`_orig_mod`) do."""

    def __init__(self, model: nn.Module, attribute: str) -> None:
        super().__init__()
        setattr(self, attribute, model)
        self.attribute = attribute
        self.calls = 0

    def forward(self, *args, **kwargs):
        self.calls += 1
        return getattr(self, self.attribute)(*args, **kwargs)


@pytest.fixture
def model(minilm_l3):
    minilm_l3.eval()
    return minilm_l3


def batch(model):
    return [dict(model.tokenize(["A man plays a guitar.", "Stocks fell."])), dict(model.tokenize(["Music.", "Money."]))]


def test_base_trainer_is_the_trainer_both_model_kinds_share():
    assert BaseTrainer is SentenceTransformerTrainer


def test_override_points_every_wrapped_loss_at_the_wrapper_and_lends_it_the_model_methods(model):
    inner = MultipleNegativesRankingLoss(model)
    loss = MatryoshkaLoss(model, inner, [384, 128])
    wrapper = CountingWrapper(model, "module")
    BaseTrainer.override_model_in_loss(None, loss, wrapper)
    assert loss.model is wrapper and inner.model is wrapper and wrapper.module is model
    assert wrapper.tokenize(["x"])["input_ids"].shape[0] == 1
    assert wrapper.get_embedding_dimension() == 384
    with torch.no_grad():
        loss(batch(model), None)
    assert wrapper.calls == 2, "each column goes through the wrapper"


@pytest.mark.parametrize("attributes", [["module"], ["_orig_mod"], ["module", "_orig_mod"], ["_orig_mod", "module"]])
def test_adaptive_layer_loss_gives_the_same_loss_through_wrappers(model, attributes):
    def adaptive() -> AdaptiveLayerLoss:
        return AdaptiveLayerLoss(model, MultipleNegativesRankingLoss(model), n_layers_per_step=-1)

    with torch.no_grad():
        expected = adaptive()(batch(model), None)
        wrapped_loss = adaptive()
        wrapper = model
        for attribute in attributes:
            wrapper = CountingWrapper(wrapper, attribute)
        BaseTrainer.override_model_in_loss(None, wrapped_loss, wrapper)
        value = wrapped_loss(batch(model), None)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    assert wrapper.calls == 2 * (1 + 3), "the full model and each of the 3 shallower ones, per column"


def test_adaptive_layer_loss_names_what_it_could_not_unwrap(model):
    loss = AdaptiveLayerLoss(model, MultipleNegativesRankingLoss(model))
    loss.model = CountingWrapper(nn.Linear(2, 2), "module")
    with pytest.raises(TypeError, match="could not unwrap CountingWrapper .*stopped at Linear"):
        loss(batch(model), None)
