"""`pack_linear_weights`: torch's linear layers on the CPU with a oneDNN-packed copy of their weights. Inference
gives the same results as the plain model; training, saving, copying and moving the model behave as nn.Linear."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from sentembed import CrossEncoder, SentenceTransformer
from sentembed.backend import PackedLinear, pack_linear_weights
from tests.support.data import read_sts
from tests.support.paths import CROSS_ENCODER, MINILM_L3

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch has no oneDNN")

# float32 results of the packed layers against torch's own matmul (sums of the same products in another order)
PARITY = 1e-6


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    first, second, _ = read_sts("test")
    return first[:48] + second[:16]


@pytest.fixture
def packed_l6(minilm_l6_path) -> SentenceTransformer:
    """A fresh all-MiniLM-L6-v2 with packed layers (the session's model stays plain)."""
    model = SentenceTransformer(str(minilm_l6_path), device="cpu")
    assert pack_linear_weights(model) == 37  # 6 layers x (query, key, value, output, intermediate, output) + pooler
    return model


def packed_layers(model: torch.nn.Module) -> list[PackedLinear]:
    return [layer for layer in model.modules() if isinstance(layer, PackedLinear)]


def test_a_packed_model_encodes_as_the_plain_one_through_the_packed_weights(packed_l6, minilm_l6, sentences):
    calls = []
    usable = PackedLinear.packed_usable

    def counting(layer, input):
        calls.append(usable(layer, input))
        return calls[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PackedLinear, "packed_usable", counting)
        got = packed_l6.encode(sentences, batch_size=8, convert_to_tensor=True)
    assert len(calls) >= 37 and len(calls) % 37 == 0 and all(calls)  # every layer of every batch, packed
    expected = minilm_l6.encode(sentences, batch_size=8, convert_to_tensor=True)
    torch.testing.assert_close(got, expected, rtol=0, atol=PARITY)
    assert packed_l6.similarity(got[:1], got[1:2]).item() == pytest.approx(
        minilm_l6.similarity(expected[:1], expected[1:2]).item(), abs=PARITY
    )


def test_a_packed_cross_encoder_scores_as_the_plain_one(sentences):
    plain = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    packed = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    assert pack_linear_weights(packed) > 0
    pairs = list(zip(sentences[:16], sentences[16:32], strict=True))
    torch.testing.assert_close(
        torch.as_tensor(packed.predict(pairs)), torch.as_tensor(plain.predict(pairs)), rtol=0, atol=PARITY
    )


def test_packing_keeps_the_parameters_and_the_saved_folder_loads_as_the_plain_model(
    packed_l6, minilm_l6, sentences, tmp_path
):
    plain_state = minilm_l6.state_dict()
    packed_state = packed_l6.state_dict()
    assert list(packed_state) == list(plain_state)
    assert all(torch.equal(packed_state[name], plain_state[name]) for name in plain_state)
    assert all(isinstance(layer, torch.nn.Linear) for layer in packed_layers(packed_l6))
    packed_l6.save(str(tmp_path / "saved"))
    reloaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    assert not packed_layers(reloaded)
    torch.testing.assert_close(
        reloaded.encode(sentences[:8], convert_to_tensor=True),
        minilm_l6.encode(sentences[:8], convert_to_tensor=True),
        rtol=0,
        atol=PARITY,
    )


def test_training_a_packed_model_takes_the_plain_path_and_inference_follows_the_new_weights(sentences):
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    pack_linear_weights(model)
    layer = packed_layers(model)[0]
    features = model.tokenize(sentences[:4])
    model.train()
    loss = model(features)["sentence_embedding"].pow(2).sum()
    loss.backward()  # a oneDNN call has no backward: this only works on nn.Linear's own path
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.step()
    model.eval()
    probe = torch.randn(2, layer.in_features)
    with torch.inference_mode():
        assert not layer.packed_usable(probe)  # the weight changed since it was packed
        torch.testing.assert_close(layer(probe), torch.nn.functional.linear(probe, layer.weight, layer.bias))


def test_copies_and_other_dtypes_compute_as_plain_linear_layers(packed_l6, sentences):
    expected = packed_l6.encode(sentences[:8], convert_to_tensor=True)
    for twin in (copy.deepcopy(packed_l6), pickle.loads(pickle.dumps(packed_l6))):
        assert all(layer.packed is None for layer in packed_layers(twin))
        torch.testing.assert_close(twin.encode(sentences[:8], convert_to_tensor=True), expected, rtol=0, atol=PARITY)
    layer = packed_layers(packed_l6)[0]
    with torch.inference_mode():
        assert layer.packed_usable(torch.randn(2, layer.in_features))
        assert not layer.packed_usable(torch.randn(2, layer.in_features, dtype=torch.float64))
    packed_l6.to(torch.float64)
    with torch.inference_mode():
        probe = torch.randn(2, layer.in_features, dtype=torch.float64)
        assert layer(probe).dtype == torch.float64


def test_layers_whose_packed_copy_disagrees_or_without_onednn_stay_plain(monkeypatch):
    linear = torch.nn.Linear(8, 4)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert pack_linear_weights(linear) == 0 and type(linear) is torch.nn.Linear
    monkeypatch.undo()
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", lambda x, w, b, *rest: torch.zeros(x.shape[0], 4))
    assert pack_linear_weights(linear) == 0 and type(linear) is torch.nn.Linear
    monkeypatch.undo()
    assert pack_linear_weights(torch.nn.Sequential(linear, torch.nn.Linear(4, 2).double())) == 1
