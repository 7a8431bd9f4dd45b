"""Cross-encoder losses against sentence-transformers 6.2: same signatures, same loss values and gradients on
the same weights and batch (lists of unequal length included), and bad input refused before training."""

from __future__ import annotations

import inspect

import pytest
import torch

from tests.support.paths import CROSS_ENCODER

REFERENCE_LOSSES = pytest.importorskip("sentence_transformers.cross_encoder.losses")
TOLERANCE = 1e-5

QUERIES = ["what is a cat", "how tall is mount everest", "who wrote hamlet"]
DOCUMENTS = [
    ["A cat is a small domesticated feline.", "Dogs bark at night.", "The cat sat on the mat."],
    ["Mount Everest is 8,849 metres tall.", "K2 is the second highest mountain."],
    ["Shakespeare wrote Hamlet around 1600.", "Hamlet is a tragedy.", "Denmark is in Europe.", "The Globe Theatre."],
]
LABELS = [[1.0, 0.0, 1.0], [1.0, 0.0], [1.0, 0.5, 0.0, 0.0]]


def reference_cross_encoder(path):
    from sentence_transformers.cross_encoder import CrossEncoder as Reference

    return Reference(str(path), device="cpu").eval()


def our_cross_encoder(path):
    from sentembed import CrossEncoder

    return CrossEncoder(str(path), device="cpu").eval()


@pytest.fixture(scope="module")
def models():
    """Both libraries' copies of the test cross-encoder, in eval mode (no dropout) so the runs are comparable."""
    return our_cross_encoder(CROSS_ENCODER), reference_cross_encoder(CROSS_ENCODER)


@pytest.fixture(scope="module")
def three_label_models(tmp_path_factory):
    """The test cross-encoder with a 3-label head (randomly initialised once, saved, loaded by both)."""
    from sentembed import CrossEncoder

    folder = tmp_path_factory.mktemp("three_labels")
    torch.manual_seed(0)
    CrossEncoder(str(CROSS_ENCODER), num_labels=3, model_kwargs={"ignore_mismatched_sizes": True}).save(str(folder))
    return our_cross_encoder(folder), reference_cross_encoder(folder)


def loss_and_gradients(model, loss, columns, labels, seed=0):
    model.zero_grad()
    torch.manual_seed(seed)
    value = loss(columns, labels)
    value.backward()
    return value.item(), [parameter.grad for parameter in model.parameters()]


def assert_same_loss_and_gradients(models, ours, reference, columns, labels):
    ours_model, reference_model = models
    our_value, our_grads = loss_and_gradients(ours_model, ours, columns, labels)
    reference_labels = [torch.tensor(label) for label in labels] if isinstance(labels, list) else labels
    reference_value, reference_grads = loss_and_gradients(reference_model, reference, columns, reference_labels)
    assert our_value == pytest.approx(reference_value, abs=TOLERANCE)
    assert len(our_grads) == len(reference_grads)
    compared = 0
    for ours_grad, reference_grad in zip(our_grads, reference_grads, strict=True):
        assert (ours_grad is None) == (reference_grad is None)
        if ours_grad is not None:
            torch.testing.assert_close(ours_grad, reference_grad, atol=TOLERANCE, rtol=0)
            compared += 1
    assert compared > 10, "the loss must reach the model's weights"


def same_config(ours, reference):
    """Configs equal up to the package of the classes they name (sentembed's vs sentence_transformers')."""

    def short(value):
        if value == "NoneType":  # the reference's name for no activation; ours records None
            return None
        return value.rsplit(".", 1)[-1] if isinstance(value, str) else value

    return {k: short(v) for k, v in ours.items()} == {k: short(v) for k, v in reference.items()}


def test_every_reference_loss_exists_with_the_same_signature():
    from sentembed.cross_encoder import losses

    for name in REFERENCE_LOSSES.__all__:
        ours = getattr(losses, name, None)
        assert ours is not None, f"sentembed.cross_encoder.losses lacks {name}"
        reference_parameters = inspect.signature(getattr(REFERENCE_LOSSES, name)).parameters
        our_parameters = inspect.signature(ours).parameters
        assert list(our_parameters) == list(reference_parameters), name
        for parameter, expected in reference_parameters.items():
            got = our_parameters[parameter]
            assert got.kind == expected.kind, f"{name}({parameter})"
            assert repr(got.default) == repr(expected.default), f"{name}({parameter}) default"


SLOW = pytest.mark.slow  # the variants: the default tier runs each loss once
LISTWISE = [
    ("LambdaLoss", {}),
    pytest.param("LambdaLoss", {"weighting_scheme": "NoWeightingScheme"}, marks=SLOW),
    pytest.param("LambdaLoss", {"weighting_scheme": "NDCGLoss1Scheme"}, marks=SLOW),
    ("LambdaLoss", {"weighting_scheme": "NDCGLoss2Scheme", "k": 2}),
    pytest.param(
        "LambdaLoss", {"weighting_scheme": "LambdaRankScheme", "reduction_log": "natural", "sigma": 2.0}, marks=SLOW
    ),
    pytest.param("LambdaLoss", {"weighting_scheme": "NDCGLoss2PPScheme", "mini_batch_size": 2}, marks=SLOW),
    ("ListNetLoss", {}),
    pytest.param("ListNetLoss", {"activation_fn": "Sigmoid", "mini_batch_size": 4}, marks=SLOW),
    ("ListMLELoss", {"respect_input_order": False}),
    pytest.param("ListMLELoss", {}, marks=SLOW),
    ("PListMLELoss", {}),
    pytest.param("PListMLELoss", {"respect_input_order": False, "mini_batch_size": -1}, marks=SLOW),
    pytest.param("PListMLELoss", {"lambda_weight": None}, marks=SLOW),
    ("RankNetLoss", {}),
    pytest.param("RankNetLoss", {"k": 1}, marks=SLOW),
    ("ADRMSELoss", {}),
    pytest.param("ADRMSELoss", {"alpha": 3.0}, marks=SLOW),
]


def build(module, name, options, model):
    options = dict(options)
    if isinstance(options.get("weighting_scheme"), str):
        options["weighting_scheme"] = getattr(module, options["weighting_scheme"])()
    if isinstance(options.get("activation_fn"), str):
        options["activation_fn"] = getattr(torch.nn, options["activation_fn"])()
    return getattr(module, name)(model, **options)


@pytest.mark.parametrize(("name", "options"), LISTWISE)
def test_listwise_loss_matches_reference(models, name, options):
    from sentembed.cross_encoder import losses

    ours = build(losses, name, options, models[0])
    reference = build(REFERENCE_LOSSES, name, options, models[1])
    assert_same_loss_and_gradients(models, ours, reference, [QUERIES, DOCUMENTS], LABELS)
    assert same_config(ours.get_config_dict(), reference.get_config_dict())


def test_padding_does_not_change_a_query_s_loss(models):
    """One query alone, or beside a longer list, gives the same ListNet and LambdaLoss terms."""
    from sentembed.cross_encoder.losses import ADRMSELoss, ListNetLoss

    model = models[0]
    for loss in (ListNetLoss(model), ADRMSELoss(model)):
        with torch.no_grad():
            alone = [loss([[q], [d]], [label]).item() for q, d, label in zip(QUERIES, DOCUMENTS, LABELS, strict=True)]
            together = loss([QUERIES, DOCUMENTS], LABELS).item()
        if isinstance(loss, ListNetLoss):
            assert together == pytest.approx(sum(alone) / len(alone), abs=1e-6)
        else:  # ADRMSE averages over documents, not queries
            counts = [len(d) for d in DOCUMENTS]
            assert together == pytest.approx(
                sum(a * c for a, c in zip(alone, counts, strict=True)) / sum(counts), abs=1e-6
            )


PAIRS = [QUERIES, ["A cat is a small feline.", "Everest is 8,849 m tall.", "Hamlet is a play by Shakespeare."]]


@pytest.mark.parametrize(
    ("name", "options", "labels"),
    [
        pytest.param("BinaryCrossEntropyLoss", {}, torch.tensor([1.0, 0.0, 1.0]), marks=SLOW),
        ("BinaryCrossEntropyLoss", {"pos_weight": torch.tensor(5.0)}, torch.tensor([1, 0, 1])),
        pytest.param("MSELoss", {}, torch.tensor([0.9, 0.1, 0.7]), marks=SLOW),
        ("MSELoss", {"activation_fn": torch.nn.Sigmoid()}, torch.tensor([0.9, 0.1, 0.7])),
    ],
    ids=["bce", "bce-pos-weight", "mse", "mse-sigmoid"],
)
def test_pair_loss_matches_reference(models, name, options, labels):
    from sentembed.cross_encoder import losses

    ours = getattr(losses, name)(models[0], **options)
    reference = getattr(REFERENCE_LOSSES, name)(models[1], **options)
    assert_same_loss_and_gradients(models, ours, reference, PAIRS, labels)
    assert same_config(ours.get_config_dict(), reference.get_config_dict())


def test_cross_entropy_loss_matches_reference(three_label_models):
    from sentembed.cross_encoder.losses import CrossEntropyLoss

    ours = CrossEntropyLoss(three_label_models[0])
    reference = REFERENCE_LOSSES.CrossEntropyLoss(three_label_models[1])
    assert_same_loss_and_gradients(three_label_models, ours, reference, PAIRS, torch.tensor([2, 0, 1]))


NEGATIVES = ["Cats are mammals.", "Mountains are tall.", "Hamlet is a prince."]


@pytest.mark.parametrize(
    ("negatives", "labels"),
    [
        ([NEGATIVES], torch.tensor([2.0, 2.0, 4.0])),  # one margin per row
        pytest.param([NEGATIVES, NEGATIVES[::-1]], [[3.0, 1.0, 2.0], [2.5, 0.5, 1.0], [4.0, 0.0, 1.5]], marks=SLOW),
    ],
    ids=["margins", "teacher-scores"],
)
def test_margin_mse_loss_matches_reference(models, negatives, labels):
    from sentembed.cross_encoder.losses import MarginMSELoss

    labels = torch.as_tensor(labels)
    ours, reference = MarginMSELoss(models[0]), REFERENCE_LOSSES.MarginMSELoss(models[1])
    assert_same_loss_and_gradients(models, ours, reference, [*PAIRS, *negatives], labels)


@pytest.mark.parametrize(
    ("name", "options", "with_hard_negatives"),
    [
        pytest.param("MultipleNegativesRankingLoss", {}, False, marks=SLOW),
        ("MultipleNegativesRankingLoss", {"num_negatives": 1}, True),
        pytest.param(
            "MultipleNegativesRankingLoss",
            {"num_negatives": None, "activation_fn": None, "scale": 1.0},
            True,
            marks=SLOW,
        ),
        pytest.param("CachedMultipleNegativesRankingLoss", {"mini_batch_size": 4}, True, marks=SLOW),
        ("CachedMultipleNegativesRankingLoss", {"num_negatives": 2, "mini_batch_size": 3}, False),
    ],
    ids=["mnrl", "mnrl-1-sampled", "mnrl-all-raw", "cached", "cached-2-sampled"],
)
def test_in_batch_negatives_losses_match_reference(models, name, options, with_hard_negatives):
    from sentembed.cross_encoder import losses

    columns = [*PAIRS, NEGATIVES] if with_hard_negatives else PAIRS
    ours = getattr(losses, name)(models[0], **options)
    reference = getattr(REFERENCE_LOSSES, name)(models[1], **options)
    assert_same_loss_and_gradients(models, ours, reference, columns, None)
    assert same_config(ours.get_config_dict(), reference.get_config_dict())


def test_cached_loss_equals_the_plain_one_in_training_mode():
    """With dropout on, gradient caching replays each mini-batch's dropout: same loss and gradients as uncached."""
    from sentembed.cross_encoder.losses import CachedMultipleNegativesRankingLoss, MultipleNegativesRankingLoss

    model = our_cross_encoder(CROSS_ENCODER).train()
    columns = [*PAIRS, NEGATIVES]
    cached_value, cached_grads = loss_and_gradients(
        model, CachedMultipleNegativesRankingLoss(model, 2, mini_batch_size=20), columns, None
    )
    plain_value, plain_grads = loss_and_gradients(model, MultipleNegativesRankingLoss(model, 2), columns, None)
    assert cached_value == pytest.approx(plain_value, abs=1e-5)
    for cached, plain in zip(cached_grads, plain_grads, strict=True):
        torch.testing.assert_close(cached, plain, atol=1e-5, rtol=0)


def test_cached_loss_replays_each_mini_batch_and_takes_a_prompt():
    """predict_minibatch scores each mini-batch in both passes (the backward pass bit for bit, dropout on), and
    prompt= reaches the queries in both passes: the prompted loss equals the loss of prompted query texts."""
    from sentembed.cross_encoder.losses import CachedMultipleNegativesRankingLoss

    class Recording(CachedMultipleNegativesRankingLoss):
        def predict_minibatch(self, **kwargs):
            logits, state = super().predict_minibatch(**kwargs)
            self.passes.append((kwargs["with_grad"], kwargs["pairs"], logits.detach().clone()))
            return logits, state

    model = our_cross_encoder(CROSS_ENCODER).train()
    loss = Recording(model, None, mini_batch_size=3)
    loss.passes = []
    torch.manual_seed(0)
    loss([list(column) for column in PAIRS], None, prompt="Rank: ").backward()
    first = [(pairs, logits) for with_grad, pairs, logits in loss.passes if not with_grad]
    second = [(pairs, logits) for with_grad, pairs, logits in loss.passes if with_grad]
    assert len(first) == len(second) >= 2
    for (pairs, logits), (replayed_pairs, replayed) in zip(first, second, strict=True):
        assert pairs == replayed_pairs and all(pair[0].startswith("Rank: ") for pair in pairs)
        assert torch.equal(logits, replayed)
    model.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        prompted = loss([list(column) for column in PAIRS], None, prompt="Rank: ")
        torch.manual_seed(0)
        by_hand = loss([["Rank: " + query for query in PAIRS[0]], list(PAIRS[1])], None)
    assert prompted.item() == pytest.approx(by_hand.item())
    model.zero_grad()


# ----- bad input ------------------------------------------------------------------------------------------


def test_listwise_losses_refuse_malformed_batches(models):
    from sentembed.cross_encoder.losses import LambdaLoss, ListNetLoss

    loss = LambdaLoss(models[0])
    with pytest.raises(ValueError, match="a list of relevance labels per query"):
        loss([QUERIES, DOCUMENTS], torch.tensor([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match=r"documents per query \[3, 2, 4\] do not match labels per query"):
        loss([QUERIES, DOCUMENTS], [[1.0], [1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="expects 2 text columns"):
        ListNetLoss(models[0])([QUERIES, DOCUMENTS, DOCUMENTS], LABELS)
    with pytest.raises(ValueError, match="reduction_log"):
        LambdaLoss(models[0], reduction_log="ten")


def test_one_label_losses_refuse_a_model_with_several(three_label_models):
    from sentembed.cross_encoder.losses import LambdaLoss, MarginMSELoss, MultipleNegativesRankingLoss

    for loss_class in (LambdaLoss, MarginMSELoss, MultipleNegativesRankingLoss):
        with pytest.raises(ValueError, match="num_labels=1, got num_labels=3"):
            loss_class(three_label_models[0])


def trainer_for(model, dataset, loss, tmp_path):
    from sentembed import CrossEncoderTrainer, CrossEncoderTrainingArguments

    args = CrossEncoderTrainingArguments(output_dir=str(tmp_path), report_to="none", max_steps=1)
    return CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=loss)


def test_trainer_refuses_datasets_that_do_not_fit_a_listwise_loss_before_training(models, tmp_path):
    from datasets import Dataset

    from sentembed.cross_encoder.losses import LambdaLoss

    loss = LambdaLoss(models[0])
    flat_labels = Dataset.from_dict({"query": QUERIES, "docs": DOCUMENTS, "label": [1.0, 0.0, 1.0]})
    with pytest.raises(ValueError, match="holds float values; this loss needs float-list labels"):
        trainer_for(models[0], flat_labels, loss, tmp_path)
    one_document = Dataset.from_dict({"query": QUERIES, "docs": PAIRS[1], "label": LABELS})
    with pytest.raises(ValueError, match=r"rows of \(query text, list of documents\)"):
        trainer_for(models[0], one_document, loss, tmp_path)
    short_labels = Dataset.from_dict({"query": QUERIES, "docs": DOCUMENTS, "label": [[1.0], [1.0, 0.0], [1.0]]})
    with pytest.raises(ValueError, match="row 0 has 3 documents and 1 labels"):
        trainer_for(models[0], short_labels, loss, tmp_path)
    three_columns = Dataset.from_dict({"query": QUERIES, "docs": DOCUMENTS, "more": DOCUMENTS, "label": LABELS})
    with pytest.raises(ValueError, match="LambdaLoss expects 2 text columns"):
        trainer_for(models[0], three_columns, loss, tmp_path)


def test_trainer_runs_a_listwise_step(tmp_path):
    """A LambdaLoss step through the trainer's collator (lists of lists) changes the weights."""
    from datasets import Dataset

    from sentembed.cross_encoder.losses import LambdaLoss

    model = our_cross_encoder(CROSS_ENCODER)
    before = [parameter.detach().clone() for parameter in model.parameters()]
    dataset = Dataset.from_dict({"query": QUERIES, "docs": DOCUMENTS, "label": LABELS})
    trainer_for(model, dataset, LambdaLoss(model), tmp_path).train()
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True))
