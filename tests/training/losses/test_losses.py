"""Bi-encoder losses give the reference's values on the same model, texts and labels; and the losses and options
of sentence-transformers 6.2 give the same loss value and the same parameter gradients as the reference on the same
weights and batch (paraphrase-MiniLM-L3-v2, eval mode, STSb train rows)."""

from __future__ import annotations

import random
import warnings

import pytest
import torch

from tests.support.data import read_sts

BATCH = 12
GRADIENT_BATCH = 8  # the batch of the value-and-gradient parity tests
VALUE_TOLERANCE = 1e-5
GRADIENT_TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


@pytest.fixture(scope="module")
def models(minilm_l3, reference_minilm_l3):
    minilm_l3.eval()
    reference_minilm_l3.eval()
    yield minilm_l3, reference_minilm_l3
    minilm_l3.zero_grad()
    reference_minilm_l3.zero_grad()


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
    from sentembed.training.losses._denoising import delete_words

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
    from sentembed.training.losses._gist import same_tokenization

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
    from sentembed.training.losses._cached import CachedMultipleNegativesRankingLoss

    class FirstColumnOnly(CachedMultipleNegativesRankingLoss):
        def compute_loss_from_embeddings(self, embeddings, labels):
            return embeddings[0].pow(2).mean()

    loss = FirstColumnOnly(minilm_l3, mini_batch_size=2)
    features = [dict(minilm_l3.tokenize(["a", "b", "c"])), dict(minilm_l3.tokenize(["d", "e", "f"]))]
    with pytest.raises(ValueError, match=r"does not use the embeddings of input column\(s\) \[1\]"):
        loss(features, None)


@pytest.mark.parametrize("mini_batching", [{"mini_batch_size": 2}, {"mini_batch_num_tokens": 12}])
def test_gradient_caching_re_embeds_each_mini_batch_with_the_same_dropout(minilm_l3, mini_batching):
    from sentembed.training.losses._cached import CachedMultipleNegativesRankingLoss

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


@pytest.fixture(scope="module")
def gradient_batch(models):
    first, second, scores = read_sts("train")
    rows = list(range(0, 40 * GRADIENT_BATCH, 40))
    texts = {
        "anchor": [first[i] for i in rows],
        "positive": [second[i] for i in rows],
        "negative": [second[i + 7] for i in rows],
    }
    generator = torch.Generator().manual_seed(0)
    return {
        "features": {name: models[0].tokenize(values) for name, values in texts.items()},
        "binary": torch.tensor([1, 1, 0, 1, 0, 0, 1, 0]),
        "classes": torch.tensor([i % 3 for i in range(GRADIENT_BATCH)]),
        "teacher_scores": torch.randn(GRADIENT_BATCH, 2, generator=generator) * 5,
        "vectors": torch.randn(GRADIENT_BATCH, 384, generator=generator) / 20,
        "column_vectors": torch.randn(GRADIENT_BATCH, 3, 384, generator=generator) / 20,
    }


def scalar(value):
    """The reference returns some losses as a dict of named parts, which its trainer adds up."""
    return sum(value.values()) if isinstance(value, dict) else value


def loss_and_gradients(loss, model, gradient_batch, names, label, seed=0):
    """The loss on the named columns, and the gradient of every parameter of the model and of the loss."""
    parameters = list(dict.fromkeys([*model.parameters(), *loss.parameters()]))
    for parameter in parameters:
        parameter.grad = None
    random.seed(seed)
    torch.manual_seed(seed)
    features = [dict(gradient_batch["features"][name]) for name in names]
    value = scalar(loss(features, gradient_batch[label] if label else None))
    value.backward()
    gradients = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in parameters]
    for parameter in parameters:
        parameter.grad = None
    return value.item(), gradients


def assert_parity(ours, theirs, models, gradient_batch, names, label, seed=0):
    value, gradients = loss_and_gradients(ours, models[0], gradient_batch, names, label, seed)
    expected, expected_gradients = loss_and_gradients(theirs, models[1], gradient_batch, names, label, seed)
    assert value == pytest.approx(expected, abs=VALUE_TOLERANCE, rel=VALUE_TOLERANCE)
    assert len(gradients) == len(expected_gradients)
    assert any(gradient.abs().sum() > 0 for gradient in gradients), "the loss trained nothing"
    for gradient, expected_gradient in zip(gradients, expected_gradients, strict=True):
        torch.testing.assert_close(gradient, expected_gradient, **GRADIENT_TOLERANCE)


THREE = ("anchor", "positive", "negative")
TWO = ("anchor", "positive")
GTE = ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")


def case_id(case):
    return case[0] + "".join(f"-{key}={value}" for key, value in case[1].items())


def fast(*case):
    return pytest.param(*case, id=case_id(case))


def slow(*case):
    """Variants of a case that runs in the default tier (each parity case costs two backward passes)."""
    return pytest.param(*case, id=case_id(case), marks=pytest.mark.slow)


# (loss name, options, columns, label). Options that the reference and we take alike.
GRADIENT_CASES = [
    fast("MultipleNegativesRankingLoss", {"directions": GTE}, THREE, None),
    slow("MultipleNegativesRankingLoss", {"directions": ("query_to_doc", "doc_to_query")}, THREE, None),
    slow("MultipleNegativesRankingLoss", {"directions": GTE}, TWO, None),
    slow(
        "MultipleNegativesRankingLoss",
        {"directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"},
        THREE,
        None,
    ),
    fast(
        "MultipleNegativesRankingLoss", {"hardness_mode": "in_batch_negatives", "hardness_strength": 9.0}, THREE, None
    ),
    slow("MultipleNegativesRankingLoss", {"hardness_mode": "hard_negatives", "hardness_strength": 5.0}, THREE, None),
    slow("MultipleNegativesRankingLoss", {"hardness_mode": "all_negatives", "hardness_strength": 5.0}, THREE, None),
    slow("MultipleNegativesRankingLoss", {"gather_across_devices": True}, THREE, None),
    fast("MultipleNegativesSymmetricRankingLoss", {}, TWO, None),
    slow("CachedMultipleNegativesRankingLoss", {"mini_batch_size": 3, "directions": GTE}, THREE, None),
    fast(
        "CachedMultipleNegativesRankingLoss",
        {"mini_batch_num_tokens": 60, "hardness_mode": "all_negatives", "hardness_strength": 5.0},
        THREE,
        None,
    ),
    slow("CachedMultipleNegativesSymmetricRankingLoss", {"mini_batch_size": 3}, TWO, None),
    fast("BatchHardSoftMarginTripletLoss", {}, ("anchor",), "classes"),
    slow("DistillKLDivLoss", {}, THREE, "teacher_scores"),
    fast("DistillKLDivLoss", {"student_temperature": 0.5, "teacher_temperature": 2.0}, THREE, "teacher_scores"),
    slow("EmbedDistillLoss", {}, TWO, "vectors"),
    fast("EmbedDistillLoss", {"distance_metric": "l2"}, THREE, "column_vectors"),
    slow("EmbedDistillLoss", {"distance_metric": "mse"}, THREE, "vectors"),
    slow("MSELoss", {}, TWO, "vectors"),
    fast("GlobalOrthogonalRegularizationLoss", {}, THREE, None),
    slow("GlobalOrthogonalRegularizationLoss", {"mean_weight": 0.0, "aggregation": "sum"}, TWO, None),
    slow("MegaBatchMarginLoss", {"use_mini_batched_version": False}, TWO, None),
    fast("MegaBatchMarginLoss", {"mini_batch_size": 3}, TWO, None),
    slow("MegaBatchMarginLoss", {"mini_batch_num_tokens": 50}, TWO, None),
    fast("ContrastiveTensionLoss", {}, TWO, "binary"),
    fast("ContrastiveTensionLossInBatchNegatives", {}, ("anchor",), None),
    slow("ContrastiveTensionLossInBatchNegatives", {"scale": 10.0}, ("anchor",), None),
    slow("CosineSimilarityLoss", {}, TWO, "binary"),
]


@pytest.mark.parametrize(("name", "options", "names", "label"), GRADIENT_CASES)
def test_loss_and_gradients_match_reference(models, gradient_batch, name, options, names, label):
    import sentembed.losses as ours

    model, reference = models
    assert_parity(
        getattr(ours, name)(model, **options),
        getattr(reference_losses(), name)(reference, **options),
        models,
        gradient_batch,
        names,
        label,
    )


@pytest.fixture(scope="module")
def guides(minilm_l6, reference_minilm_l6):
    """all-MiniLM-L6-v2 guides the L3 model (the same guide weights on both sides)."""
    minilm_l6.eval()
    reference_minilm_l6.eval()
    return minilm_l6, reference_minilm_l6


GIST_CASES = [
    fast("GISTEmbedLoss", {"margin_strategy": "relative", "margin": 0.05}, THREE),
    slow("GISTEmbedLoss", {}, THREE),
    slow("GISTEmbedLoss", {"contrast_anchors": False, "margin": 0.1}, THREE),
    slow("GISTEmbedLoss", {"contrast_positives": False}, TWO),
    fast("CachedGISTEmbedLoss", {"mini_batch_size": 3}, THREE),
    slow("CachedGISTEmbedLoss", {"mini_batch_num_tokens": 60, "contrast_anchors": False}, TWO),
]


@pytest.mark.parametrize(("name", "options", "names"), GIST_CASES)
def test_gist_losses_match_reference_with_the_same_guide(
    models, gradient_batch, minilm_l6, reference_minilm_l6, name, options, names
):
    import sentembed.losses as ours

    model, reference = models
    minilm_l6.eval()
    reference_minilm_l6.eval()
    assert_parity(
        getattr(ours, name)(model, minilm_l6, **options),
        getattr(reference_losses(), name)(reference, reference_minilm_l6, **options),
        models,
        gradient_batch,
        names,
        None,
    )


def test_softmax_loss_takes_the_v6_argument_names(models, gradient_batch):
    import sentembed.losses as ours

    model, reference = models
    loss = ours.SoftmaxLoss(model, embedding_dimension=384, num_labels=3, loss_fct=torch.nn.CrossEntropyLoss())
    expected = reference_losses().SoftmaxLoss(reference, embedding_dimension=384, num_labels=3)
    expected.classifier.load_state_dict(loss.classifier.state_dict())
    assert_parity(loss, expected, models, gradient_batch, TWO, "classes")


def test_embed_distill_projection_maps_into_the_teacher_width(models, gradient_batch, tmp_path):
    import sentembed.losses as ours

    model, reference = models
    loss = ours.EmbedDistillLoss(model, projection_dim=384)
    expected = reference_losses().EmbedDistillLoss(reference, projection_dim=384)
    expected.projection.load_state_dict(loss.projection.state_dict())
    assert_parity(loss, expected, models, gradient_batch, TWO, "vectors")
    loss.save_projection(str(tmp_path / "projection.safetensors"))
    reloaded = ours.EmbedDistillLoss(model, projection_dim=384)
    reloaded.load_projection(str(tmp_path / "projection.safetensors"))
    torch.testing.assert_close(reloaded.projection.weight, loss.projection.weight)


ADAPTIVE_CASES = [
    pytest.param({"n_layers_per_step": -1, "layer_weighting": "log", "kl_div_weight": 2.0}, id="all-log-kl"),
    pytest.param({"n_layers_per_step": -1}, id="all", marks=pytest.mark.slow),
    pytest.param(
        {"n_layers_per_step": -1, "kl_temperature": 0.0, "layer_weighting": "linear"},
        id="all-linear",
        marks=pytest.mark.slow,
    ),
    pytest.param({"n_layers_per_step": 2, "last_layer_weight": 2.0, "prior_layers_weight": 0.5}, id="two-sampled"),
    pytest.param({}, id="defaults", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("options", ADAPTIVE_CASES)
def test_adaptive_layer_loss_matches_reference(models, gradient_batch, options):
    """Layers are sampled with `random`; with the same seed both libraries pick the same ones."""
    import sentembed.losses as ours

    model, reference = models
    for seed in (0, 1):
        assert_parity(
            ours.AdaptiveLayerLoss(model, ours.CoSENTLoss(model), **options),
            reference_losses().AdaptiveLayerLoss(reference, reference_losses().CoSENTLoss(reference), **options),
            models,
            {**gradient_batch, "scores": torch.linspace(0, 1, GRADIENT_BATCH)},
            TWO,
            "scores",
            seed=seed,
        )


@pytest.mark.slow
def test_adaptive_layer_loss_takes_a_weighting_function(models, gradient_batch):
    import sentembed.losses as ours

    model, reference = models
    weighting = lambda index: 0.5 + index  # noqa: E731
    assert_parity(
        ours.AdaptiveLayerLoss(model, ours.MultipleNegativesRankingLoss(model), -1, layer_weighting=weighting),
        reference_losses().AdaptiveLayerLoss(
            reference, reference_losses().MultipleNegativesRankingLoss(reference), -1, layer_weighting=weighting
        ),
        models,
        gradient_batch,
        THREE,
        None,
    )


MATRYOSHKA_2D_CASES = [
    pytest.param({"kl_temperature": 0.5, "layer_weighting": "linear"}, id="sampled"),
    pytest.param(
        {"n_layers_per_step": -1, "n_dims_per_step": -1, "matryoshka_weights": [1, 2, 3]},
        id="all",
        marks=pytest.mark.slow,
    ),
]


@pytest.mark.parametrize("options", MATRYOSHKA_2D_CASES)
def test_matryoshka_2d_loss_matches_reference(models, gradient_batch, options):
    import sentembed.losses as ours

    model, reference = models
    dims = [384, 128, 32]
    for seed in (0, 3):
        assert_parity(
            ours.Matryoshka2dLoss(model, ours.MultipleNegativesRankingLoss(model), dims, **options),
            reference_losses().Matryoshka2dLoss(
                reference, reference_losses().MultipleNegativesRankingLoss(reference), dims, **options
            ),
            models,
            gradient_batch,
            THREE,
            None,
            seed=seed,
        )


# --- bad input, refused before training starts ---------------------------------------------------------------


@pytest.fixture(scope="module")
def static_model():
    from tokenizers import Tokenizer

    from sentembed import SentenceTransformer
    from sentembed.models import StaticEmbedding
    from tests.support.paths import MINILM_L3

    static = StaticEmbedding(Tokenizer.from_file(str(MINILM_L3 / "tokenizer.json")), embedding_dim=16)
    return SentenceTransformer(modules=[static], device="cpu")


def test_layer_losses_refuse_a_model_without_transformer_layers(static_model):
    import sentembed.losses as ours

    with pytest.raises(ValueError, match="first module is StaticEmbedding"):
        ours.AdaptiveLayerLoss(static_model, ours.CoSENTLoss(static_model))
    with pytest.raises(ValueError, match="first module is StaticEmbedding"):
        ours.Matryoshka2dLoss(static_model, ours.CoSENTLoss(static_model), [16, 8])
    with pytest.raises(ValueError, match="StaticEmbedding"):
        ours.MegaBatchMarginLoss(static_model)
    assert ours.MegaBatchMarginLoss(static_model, use_mini_batched_version=False).columns.min_texts == 2


def test_layer_losses_run_a_gradient_cached_loss_in_its_plain_form_with_a_warning(models, gradient_batch):
    import sentembed.losses as ours

    model = models[0]
    cached_inner = ours.CachedMultipleNegativesRankingLoss(model, mini_batch_size=2)
    with pytest.warns(UserWarning, match="AdaptiveLayerLoss is not compatible with CachedMultipleNegativesRankingLoss"):
        cached = ours.AdaptiveLayerLoss(model, cached_inner, n_layers_per_step=-1)
    plain = ours.AdaptiveLayerLoss(model, ours.MultipleNegativesRankingLoss(model), n_layers_per_step=-1)
    value, gradients = loss_and_gradients(cached, model, gradient_batch, THREE, None)
    expected, expected_gradients = loss_and_gradients(plain, model, gradient_batch, THREE, None)
    assert value == pytest.approx(expected, rel=1e-6)  # as the non-cached loss: each layer count's own gradients
    for gradient, expected_gradient in zip(gradients, expected_gradients, strict=True):
        torch.testing.assert_close(gradient, expected_gradient, **GRADIENT_TOLERANCE)
    with pytest.warns(UserWarning, match="AdaptiveLayerLoss is not compatible with MegaBatchMarginLoss"):
        ours.AdaptiveLayerLoss(model, ours.MegaBatchMarginLoss(model))
    with pytest.warns(UserWarning, match="Matryoshka2dLoss is not compatible with CachedMultipleNegativesRankingLoss"):
        ours.Matryoshka2dLoss(model, ours.CachedMultipleNegativesRankingLoss(model), [384, 128])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain_mega = ours.MegaBatchMarginLoss(model, use_mini_batched_version=False)
        assert ours.AdaptiveLayerLoss(model, plain_mega).loss is plain_mega
    with pytest.raises(ValueError, match="layer_weighting"):
        ours.AdaptiveLayerLoss(model, ours.CoSENTLoss(model), layer_weighting="cubic")
    with pytest.raises(ValueError, match="n_layers_per_step"):
        ours.AdaptiveLayerLoss(model, ours.CoSENTLoss(model), n_layers_per_step=0)


def test_ranking_options_are_checked(models):
    import sentembed.losses as ours

    model = models[0]
    with pytest.raises(ValueError, match="unknown direction 'doc_to_everything'"):
        ours.MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_everything"))
    with pytest.raises(ValueError, match="must include 'query_to_doc'"):
        ours.MultipleNegativesRankingLoss(model, directions=("doc_to_query",))
    with pytest.raises(ValueError, match="per_direction"):
        ours.CachedMultipleNegativesRankingLoss(model, directions=GTE, partition_mode="per_direction")
    with pytest.raises(ValueError, match="hardness_mode"):
        ours.MultipleNegativesRankingLoss(model, hardness_mode="hardest")
    with pytest.raises(ValueError, match="hardness_strength"):
        ours.MultipleNegativesRankingLoss(model, hardness_mode="hard_negatives", hardness_strength=-1.0)
    with pytest.raises(ValueError, match="margin_strategy"):
        ours.GISTEmbedLoss(model, model, margin_strategy="proportional")
    with pytest.raises(ValueError, match="mini_batch_num_tokens"):
        ours.CachedGISTEmbedLoss(model, model, mini_batch_num_tokens=0)
    with pytest.raises(ValueError, match="distance_metric"):
        ours.EmbedDistillLoss(model, distance_metric="l1")


def test_distillation_losses_name_the_label_shape_they_need(models, gradient_batch):
    import sentembed.losses as ours

    model = models[0]
    features = [dict(gradient_batch["features"][name]) for name in THREE]
    with pytest.raises(ValueError, match=r"shape \(batch_size, N\) with N = 2"):
        ours.DistillKLDivLoss(model)(features, torch.zeros(GRADIENT_BATCH, 3))
    with pytest.raises(ValueError, match="set projection_dim"):
        ours.EmbedDistillLoss(model)(features, torch.zeros(GRADIENT_BATCH, 768))


@pytest.mark.parametrize(
    ("loss_name", "columns", "message"),
    [
        ("ContrastiveTensionLossInBatchNegatives", {"a": ["x"], "b": ["y"]}, "expects 1 text column, no label"),
        ("ContrastiveTensionLoss", {"a": ["x"], "b": ["y"], "label": [0.5]}, "must hold 0 or 1"),
        ("MegaBatchMarginLoss", {"a": ["x"], "b": ["y"], "c": ["z"]}, "expects 2 text columns, no label"),
        (
            "DistillKLDivLoss",
            {"q": ["x"], "p": ["y"], "n": ["z"], "label": ["high"]},
            "holds string values; this loss needs float labels",
        ),
        ("GlobalOrthogonalRegularizationLoss", {"a": ["x"], "label": [1.0]}, "at least 1 text columns"),
    ],
)
def test_the_trainer_check_refuses_datasets_that_do_not_fit(models, loss_name, columns, message):
    from datasets import Dataset

    import sentembed.losses as ours
    from sentembed.training.columns import check_dataset_fits_loss

    loss = getattr(ours, loss_name)(models[0])
    with pytest.raises(ValueError, match=message):
        check_dataset_fits_loss(Dataset.from_dict(columns), loss.columns, loss_name)


def test_contrastive_tension_data_loader_makes_one_positive_pair_in_pos_neg_ratio(models):
    import sentembed.losses as ours

    sentences = read_sts("train")[0][:64]
    loader = ours.ContrastiveTensionDataLoader(sentences, batch_size=8, pos_neg_ratio=4)
    batches = list(loader)
    assert len(batches) == len(loader) == 4
    pairs = [example for batch in batches for example in batch]
    positives = [example for example in pairs if example.label == 1]
    assert len(positives) == len(pairs) // 4
    assert all(example.texts[0] == example.texts[1] for example in positives)
    assert all(example.texts[0] != example.texts[1] for example in pairs if example.label == 0)
