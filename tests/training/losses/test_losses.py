"""Bi-encoder losses give the reference's values on the same model, texts and labels."""

from __future__ import annotations

import pytest
import torch

from tests.support.data import read_sts

BATCH = 12


@pytest.fixture(scope="module")
def models(minilm_l3, reference_minilm_l3):
    minilm_l3.eval()
    reference_minilm_l3.eval()
    return minilm_l3, reference_minilm_l3


@pytest.fixture(scope="module")
def batch(models):
    first, second, scores = read_sts("train")
    rows = list(range(0, 40 * BATCH, 40))
    texts = {
        "anchor": [first[i] for i in rows],
        "positive": [second[i] for i in rows],
        "negative": [second[i + 7] for i in rows],
    }
    features = {name: models[0].tokenize(values) for name, values in texts.items()}
    return {
        "features": features,
        "scores": torch.tensor([scores[i] / 5 for i in rows]),
        "binary": torch.tensor([int(scores[i] > 2.5) for i in rows]),
        "classes": torch.tensor([i % 4 for i in range(BATCH)]),
        "margins": torch.linspace(-1, 1, BATCH),
        "vectors": torch.randn(BATCH, 384, generator=torch.Generator().manual_seed(0)) / 20,
    }


def columns(batch, *names):
    return [dict(batch["features"][name]) for name in names]


def reference_losses():
    from sentence_transformers.sentence_transformer import losses

    return losses


CASES = [
    ("CoSENTLoss", {}, ("anchor", "positive"), "scores"),
    ("AnglELoss", {}, ("anchor", "positive"), "scores"),
    ("CosineSimilarityLoss", {}, ("anchor", "positive"), "scores"),
    ("MultipleNegativesRankingLoss", {}, ("anchor", "positive", "negative"), None),
    ("MultipleNegativesSymmetricRankingLoss", {}, ("anchor", "positive"), None),
    ("ContrastiveLoss", {}, ("anchor", "positive"), "binary"),
    ("OnlineContrastiveLoss", {}, ("anchor", "positive"), "binary"),
    ("TripletLoss", {}, ("anchor", "positive", "negative"), None),
    ("BatchHardTripletLoss", {}, ("anchor",), "classes"),
    ("BatchAllTripletLoss", {}, ("anchor",), "classes"),
    ("BatchSemiHardTripletLoss", {}, ("anchor",), "classes"),
    ("MarginMSELoss", {}, ("anchor", "positive", "negative"), "margins"),
    ("MSELoss", {}, ("anchor", "positive"), "vectors"),
]


@pytest.mark.parametrize(("name", "options", "names", "label"), CASES, ids=[case[0] for case in CASES])
def test_loss_matches_reference(models, batch, name, options, names, label):
    import sentembed.losses as ours

    model, reference = models
    labels = batch[label] if label else None
    with torch.no_grad():
        value = getattr(ours, name)(model, **options)(columns(batch, *names), labels)
        expected = getattr(reference_losses(), name)(reference, **options)(columns(batch, *names), labels)
    assert value.item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-5)


def test_matryoshka_matches_reference(models, batch):
    import sentembed.losses as ours

    model, reference = models
    dims = [384, 128, 64]
    with torch.no_grad():
        value = ours.MatryoshkaLoss(model, ours.CoSENTLoss(model), dims, [1, 2, 3])(
            columns(batch, "anchor", "positive"), batch["scores"]
        )
        expected_loss = reference_losses().MatryoshkaLoss(
            reference, reference_losses().CoSENTLoss(reference), dims, [1, 2, 3]
        )
        expected = expected_loss(columns(batch, "anchor", "positive"), batch["scores"])
    assert value.item() == pytest.approx(expected.item(), rel=1e-4)


def test_softmax_loss_matches_reference_with_the_same_classifier(models, batch):
    import sentembed.losses as ours

    model, reference = models
    loss = ours.SoftmaxLoss(model, 384, num_labels=4)
    expected_loss = reference_losses().SoftmaxLoss(reference, 384, num_labels=4)
    expected_loss.classifier.load_state_dict(loss.classifier.state_dict())
    with torch.no_grad():
        value = loss(columns(batch, "anchor", "positive"), batch["classes"])
        expected = expected_loss(columns(batch, "anchor", "positive"), batch["classes"])
    assert value.item() == pytest.approx(expected.item(), rel=1e-4)


def test_cached_mnrl_gives_the_loss_and_gradients_of_plain_mnrl(models, batch):
    import sentembed.losses as ours

    model = models[0]
    parameter = model[0].auto_model.encoder.layer[0].attention.self.query.weight

    def loss_and_gradient(loss):
        model.zero_grad()
        value = loss(columns(batch, "anchor", "positive", "negative"), None)
        value.backward()
        return value.item(), parameter.grad.clone()

    plain_value, plain_gradient = loss_and_gradient(ours.MultipleNegativesRankingLoss(model))
    cached_value, cached_gradient = loss_and_gradient(ours.CachedMultipleNegativesRankingLoss(model, mini_batch_size=5))
    model.zero_grad()
    assert cached_value == pytest.approx(plain_value, rel=1e-5)
    torch.testing.assert_close(cached_gradient, plain_gradient, rtol=1e-3, atol=1e-6)


MATRYOSHKA_CACHED_CASES = {
    "cmnrl": (
        lambda ours, model: ours.CachedMultipleNegativesRankingLoss(model, mini_batch_size=5),
        lambda ours, model: ours.MultipleNegativesRankingLoss(model),
        ("anchor", "positive", "negative"),
    ),
    "cached_gist": (
        lambda ours, model: ours.CachedGISTEmbedLoss(model, model, mini_batch_size=5),
        lambda ours, model: ours.GISTEmbedLoss(model, model),
        ("anchor", "positive"),
    ),
    "mega_batch": (
        lambda ours, model: ours.MegaBatchMarginLoss(model, mini_batch_size=5),
        lambda ours, model: ours.MegaBatchMarginLoss(model, use_mini_batched_version=False),
        ("anchor", "positive"),
    ),
}


@pytest.mark.parametrize("case", sorted(MATRYOSHKA_CACHED_CASES))
def test_matryoshka_over_a_gradient_cached_loss_matches_the_plain_one(models, batch, case):
    import sentembed.losses as ours

    cached, plain, column_names = MATRYOSHKA_CACHED_CASES[case]
    model = models[0]
    parameter = model[0].auto_model.encoder.layer[0].attention.self.query.weight

    def loss_and_gradient(make_inner):
        model.zero_grad()
        loss = ours.MatryoshkaLoss(model, make_inner(ours, model), [384, 128, 32], [1.0, 0.5, 0.25])
        value = loss(columns(batch, *column_names), None)
        value.backward()
        return value.item(), parameter.grad.clone()

    cached_value, cached_gradient = loss_and_gradient(cached)
    plain_value, plain_gradient = loss_and_gradient(plain)
    model.zero_grad()
    assert cached_value == pytest.approx(plain_value, rel=1e-5)
    torch.testing.assert_close(cached_gradient, plain_gradient, rtol=1e-3, atol=1e-6)
    full_only = ours.MatryoshkaLoss(model, plain(ours, model), [384])
    with torch.no_grad():
        assert full_only(columns(batch, *column_names), None).item() != pytest.approx(plain_value, rel=1e-3)


def test_matryoshka_over_a_plain_module_loss_truncates_what_the_model_returns(models, batch):
    import sentembed.losses as ours

    model = models[0]
    widths = []

    class OwnLoss(torch.nn.Module):
        """A loss of a user's own: calls the model, and scores anchor against positive."""

        def forward(self, sentence_features, labels):
            first, second = (model(dict(features))["sentence_embedding"] for features in sentence_features)
            widths.append(first.shape[1])
            return (1 - torch.nn.functional.cosine_similarity(first, second)).mean()

    loss = ours.MatryoshkaLoss(model, OwnLoss(), [384, 64])
    with torch.no_grad():
        value = loss(columns(batch, "anchor", "positive"), None)
    assert widths == [384, 64] and value.item() > 0
    assert model(dict(batch["features"]["anchor"]))["sentence_embedding"].shape[1] == 384  # the hook is gone


def test_matryoshka_checks_its_dimensions_and_weights(models, caplog):
    import sentembed.losses as ours

    model = models[0]
    for dims, message in [
        ([], "at least one dimension"),
        ([64, 0], "must be > 0"),
        ([64, -2], "must be > 0"),
        ([512, 64], "cannot exceed the model's embedding dimension of 384"),
    ]:
        with pytest.raises(ValueError, match=message):
            ours.MatryoshkaLoss(model, ours.CoSENTLoss(model), dims)
    with pytest.raises(ValueError, match="matryoshka_weights must be the same length as matryoshka_dims"):
        ours.MatryoshkaLoss(model, ours.CoSENTLoss(model), [64, 32], [1.0])
    ours.MatryoshkaLoss(model, ours.CoSENTLoss(model), [256, 64])
    assert "embedding dimension 384 is not among matryoshka_dims" in caplog.text


def test_denoising_auto_encoder_loss_trains_the_encoder_through_a_tied_decoder(minilm_l3):
    import random

    import sentembed.losses as ours
    from sentembed.training.losses.denoising import delete_words

    sentences = read_sts("train")[0][:4]
    damaged = [delete_words(text, 0.6, random.Random(index)) for index, text in enumerate(sentences)]
    assert all(len(d.split()) < len(s.split()) for d, s in zip(damaged, sentences, strict=True))
    loss = ours.DenoisingAutoEncoderLoss(minilm_l3)
    shared = minilm_l3[0].auto_model.embeddings.word_embeddings.weight
    assert loss.decoder.bert.embeddings.word_embeddings.weight is shared
    features = [dict(minilm_l3.tokenize(damaged)), dict(minilm_l3.tokenize(sentences))]
    minilm_l3.zero_grad()
    value = loss(features, None)
    value.backward()
    assert torch.isfinite(value) and value.item() > 1.0
    assert minilm_l3[0].auto_model.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    minilm_l3.zero_grad()


def test_denoising_auto_encoder_loss_keeps_the_decoder_head_on_the_shared_embeddings(minilm_l3):
    import sentembed.losses as ours

    loss = ours.DenoisingAutoEncoderLoss(minilm_l3)
    assert loss.encoder is minilm_l3
    shared = minilm_l3[0].auto_model.embeddings.word_embeddings.weight
    assert loss.decoder.get_output_embeddings().weight is shared  # the LM head was tied to the input embeddings
    decoder_parameters = dict(loss.decoder.bert.named_parameters())
    encoder_parameters = dict(minilm_l3[0].auto_model.named_parameters())
    cross_attention = [name for name in decoder_parameters if "crossattention" in name]
    assert cross_attention and not any(name in encoder_parameters for name in cross_attention)
    untied = ours.DenoisingAutoEncoderLoss(minilm_l3, tie_encoder_decoder=False)
    assert untied.decoder.bert.embeddings.word_embeddings.weight is not shared


def test_gist_guide_reads_the_model_features_when_it_tokenizes_alike(minilm_l3, minilm_l6):
    from sentembed.losses import GISTEmbedLoss
    from sentembed.training.losses.gist import same_tokenization

    model = minilm_l3.eval()

    assert same_tokenization(model, model) and same_tokenization(minilm_l3, minilm_l6)
    assert not same_tokenization(minilm_l6, model), "a guide with room for fewer tokens must re-tokenize"
    loss = GISTEmbedLoss(model, model)
    assert not loss.must_retokenize and GISTEmbedLoss(minilm_l6, model).must_retokenize
    features = [
        dict(model.tokenize(["A man plays a guitar.", "Stocks fell."])),
        dict(model.tokenize(["Music.", "Money."])),
    ]
    calls = []
    handle = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        guides = loss.guide_embeddings(features)
    finally:
        handle.remove()
    assert len(calls) == 2, "one forward per column, no decode and encode round trip"
    with torch.no_grad():
        expected = model(dict(features[0]))["sentence_embedding"]
    torch.testing.assert_close(guides[0], expected)
    assert not guides[0].requires_grad


def test_a_gradient_cached_loss_that_ignores_a_column_names_it(minilm_l3):
    from sentembed.training.losses.cached import CachedMultipleNegativesRankingLoss

    class FirstColumnOnly(CachedMultipleNegativesRankingLoss):
        def compute_loss_from_embeddings(self, embeddings, labels):
            return embeddings[0].pow(2).mean()

    loss = FirstColumnOnly(minilm_l3, mini_batch_size=2)
    features = [dict(minilm_l3.tokenize(["a", "b", "c"])), dict(minilm_l3.tokenize(["d", "e", "f"]))]
    with pytest.raises(ValueError, match=r"does not use the embeddings of input column\(s\) \[1\]"):
        loss(features, None)


@pytest.mark.parametrize("mini_batching", [{"mini_batch_size": 2}, {"mini_batch_num_tokens": 12}])
def test_gradient_caching_re_embeds_each_mini_batch_with_the_same_dropout(minilm_l3, mini_batching):
    from sentembed.training.losses.cached import CachedMultipleNegativesRankingLoss

    class Recording(CachedMultipleNegativesRankingLoss):
        passes: list = []

        def embed_minibatch(self, **kwargs):
            embeddings, state = super().embed_minibatch(**kwargs)
            self.passes.append((kwargs["with_grad"], embeddings.detach().clone()))
            return embeddings, state

    texts = read_sts("train")[0][:5], read_sts("train")[1][:5]
    features = [dict(minilm_l3.tokenize(list(column))) for column in texts]
    minilm_l3.train()
    try:
        loss = Recording(minilm_l3, **mini_batching)
        loss(features, None).backward()
    finally:
        minilm_l3.eval()
        minilm_l3.zero_grad()
    first = [embedding for with_grad, embedding in loss.passes if not with_grad]
    second = [embedding for with_grad, embedding in loss.passes if with_grad]
    assert len(first) == len(second) >= 4
    for forward, replayed in zip(first, second, strict=True):
        assert torch.equal(forward, replayed), "dropout replayed bit for bit"
    assert not torch.equal(first[0], minilm_l3(dict(take_first(features[0], len(first[0]))))["sentence_embedding"])


def take_first(features, rows):
    return {name: value[:rows] for name, value in features.items()}
