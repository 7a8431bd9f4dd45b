"""The sentence-transformers 6.2 losses and options: same loss value and same parameter gradients as the
reference on the same weights and batch (paraphrase-MiniLM-L3-v2, eval mode, STSb train rows)."""

from __future__ import annotations

import random
import warnings

import pytest
import torch

from tests.support.data import read_sts

BATCH = 8
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
    generator = torch.Generator().manual_seed(0)
    return {
        "features": {name: models[0].tokenize(values) for name, values in texts.items()},
        "binary": torch.tensor([1, 1, 0, 1, 0, 0, 1, 0]),
        "classes": torch.tensor([i % 3 for i in range(BATCH)]),
        "teacher_scores": torch.randn(BATCH, 2, generator=generator) * 5,
        "vectors": torch.randn(BATCH, 384, generator=generator) / 20,
        "column_vectors": torch.randn(BATCH, 3, 384, generator=generator) / 20,
    }


def reference_losses():
    from sentence_transformers.sentence_transformer import losses

    return losses


def scalar(value):
    """The reference returns some losses as a dict of named parts, which its trainer adds up."""
    return sum(value.values()) if isinstance(value, dict) else value


def loss_and_gradients(loss, model, batch, names, label, seed=0):
    """The loss on the named columns, and the gradient of every parameter of the model and of the loss."""
    parameters = list(dict.fromkeys([*model.parameters(), *loss.parameters()]))
    for parameter in parameters:
        parameter.grad = None
    random.seed(seed)
    torch.manual_seed(seed)
    features = [dict(batch["features"][name]) for name in names]
    value = scalar(loss(features, batch[label] if label else None))
    value.backward()
    gradients = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in parameters]
    for parameter in parameters:
        parameter.grad = None
    return value.item(), gradients


def assert_parity(ours, theirs, models, batch, names, label, seed=0):
    value, gradients = loss_and_gradients(ours, models[0], batch, names, label, seed)
    expected, expected_gradients = loss_and_gradients(theirs, models[1], batch, names, label, seed)
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
CASES = [
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


@pytest.mark.parametrize(("name", "options", "names", "label"), CASES)
def test_loss_and_gradients_match_reference(models, batch, name, options, names, label):
    import sentembed.losses as ours

    model, reference = models
    assert_parity(
        getattr(ours, name)(model, **options),
        getattr(reference_losses(), name)(reference, **options),
        models,
        batch,
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
    models, batch, minilm_l6, reference_minilm_l6, name, options, names
):
    import sentembed.losses as ours

    model, reference = models
    minilm_l6.eval()
    reference_minilm_l6.eval()
    assert_parity(
        getattr(ours, name)(model, minilm_l6, **options),
        getattr(reference_losses(), name)(reference, reference_minilm_l6, **options),
        models,
        batch,
        names,
        None,
    )


def test_softmax_loss_takes_the_v6_argument_names(models, batch):
    import sentembed.losses as ours

    model, reference = models
    loss = ours.SoftmaxLoss(model, embedding_dimension=384, num_labels=3, loss_fct=torch.nn.CrossEntropyLoss())
    expected = reference_losses().SoftmaxLoss(reference, embedding_dimension=384, num_labels=3)
    expected.classifier.load_state_dict(loss.classifier.state_dict())
    assert_parity(loss, expected, models, batch, TWO, "classes")


def test_embed_distill_projection_maps_into_the_teacher_width(models, batch, tmp_path):
    import sentembed.losses as ours

    model, reference = models
    loss = ours.EmbedDistillLoss(model, projection_dim=384)
    expected = reference_losses().EmbedDistillLoss(reference, projection_dim=384)
    expected.projection.load_state_dict(loss.projection.state_dict())
    assert_parity(loss, expected, models, batch, TWO, "vectors")
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
def test_adaptive_layer_loss_matches_reference(models, batch, options):
    """Layers are sampled with `random`; with the same seed both libraries pick the same ones."""
    import sentembed.losses as ours

    model, reference = models
    for seed in (0, 1):
        assert_parity(
            ours.AdaptiveLayerLoss(model, ours.CoSENTLoss(model), **options),
            reference_losses().AdaptiveLayerLoss(reference, reference_losses().CoSENTLoss(reference), **options),
            models,
            {**batch, "scores": torch.linspace(0, 1, BATCH)},
            TWO,
            "scores",
            seed=seed,
        )


@pytest.mark.slow
def test_adaptive_layer_loss_takes_a_weighting_function(models, batch):
    import sentembed.losses as ours

    model, reference = models
    weighting = lambda index: 0.5 + index  # noqa: E731
    assert_parity(
        ours.AdaptiveLayerLoss(model, ours.MultipleNegativesRankingLoss(model), -1, layer_weighting=weighting),
        reference_losses().AdaptiveLayerLoss(
            reference, reference_losses().MultipleNegativesRankingLoss(reference), -1, layer_weighting=weighting
        ),
        models,
        batch,
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
def test_matryoshka_2d_loss_matches_reference(models, batch, options):
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
            batch,
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


def test_layer_losses_run_a_gradient_cached_loss_in_its_plain_form_with_a_warning(models, batch):
    import sentembed.losses as ours

    model = models[0]
    cached_inner = ours.CachedMultipleNegativesRankingLoss(model, mini_batch_size=2)
    with pytest.warns(UserWarning, match="AdaptiveLayerLoss is not compatible with CachedMultipleNegativesRankingLoss"):
        cached = ours.AdaptiveLayerLoss(model, cached_inner, n_layers_per_step=-1)
    plain = ours.AdaptiveLayerLoss(model, ours.MultipleNegativesRankingLoss(model), n_layers_per_step=-1)
    value, gradients = loss_and_gradients(cached, model, batch, THREE, None)
    expected, expected_gradients = loss_and_gradients(plain, model, batch, THREE, None)
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


def test_distillation_losses_name_the_label_shape_they_need(models, batch):
    import sentembed.losses as ours

    model = models[0]
    features = [dict(batch["features"][name]) for name in THREE]
    with pytest.raises(ValueError, match=r"shape \(batch_size, N\) with N = 2"):
        ours.DistillKLDivLoss(model)(features, torch.zeros(BATCH, 3))
    with pytest.raises(ValueError, match="set projection_dim"):
        ours.EmbedDistillLoss(model)(features, torch.zeros(BATCH, 768))


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
