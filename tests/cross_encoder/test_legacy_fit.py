"""The sentence-transformers 2/3 cross-encoder API old scripts use: `fit` on a DataLoader of InputExamples,
`evaluate`, `from_input_examples` on the evaluators, `preprocess` / `tokenize` and `smart_batching_collate`,
on the real WikiQA cross-encoder and WikiQA pairs."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from sentence_transformers import CrossEncoder as ReferenceCrossEncoder

from sentembed import CrossEncoder, InputExample
from sentembed.cross_encoder.evaluation import CEBinaryClassificationEvaluator, CECorrelationEvaluator
from sentembed.evaluation import TripletEvaluator
from tests.support.data import read_wikiqa
from tests.support.paths import CROSS_ENCODER

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def wikiqa_examples() -> list[InputExample]:
    """WikiQA training pairs, positives and negatives interleaved so every batch holds both."""
    rows = read_wikiqa("train")
    positives = [row for row in rows if row[2] == 1][:24]
    negatives = [row for row in rows if row[2] == 0][:24]
    mixed = [row for pair in zip(positives, negatives, strict=True) for row in pair]
    return [InputExample(texts=[question, answer], label=float(label)) for question, answer, label in mixed]


@pytest.fixture()
def fresh_cross_encoder() -> CrossEncoder:
    return CrossEncoder(str(CROSS_ENCODER), device="cpu")


def test_evaluators_from_input_examples_score_what_the_constructor_scores(fresh_cross_encoder, wikiqa_examples):
    pairs = [tuple(example.texts) for example in wikiqa_examples]
    labels = [int(example.label) for example in wikiqa_examples]
    with pytest.warns(DeprecationWarning):
        from_examples = CEBinaryClassificationEvaluator.from_input_examples(wikiqa_examples, name="dev")
    with pytest.warns(DeprecationWarning):
        direct = CEBinaryClassificationEvaluator(pairs, labels, name="dev")
    assert fresh_cross_encoder.evaluate(from_examples) == fresh_cross_encoder.evaluate(direct)
    with pytest.warns(DeprecationWarning):
        correlation = CECorrelationEvaluator.from_input_examples(wikiqa_examples)
    metrics = fresh_cross_encoder.evaluate(correlation)
    assert 0.2 < metrics["spearman"] <= 1  # a trained reranker ranks WikiQA answers above non-answers
    with pytest.raises(ValueError, match=r"examples\[0\] must be an InputExample with two texts"):
        CECorrelationEvaluator.from_input_examples([InputExample(texts=["a", "b", "c"], label=1.0)])


def test_triplet_evaluator_from_input_examples(minilm_l3):
    examples = [
        InputExample(texts=["A man eats.", "Someone is eating.", "A plane lands."]),
        InputExample(texts=["A cat sleeps.", "A kitten naps.", "The stock market fell."]),
    ]
    evaluator = TripletEvaluator.from_input_examples(examples, name="toy")
    assert (evaluator.anchors, evaluator.negatives) == (
        ["A man eats.", "A cat sleeps."],
        [e.texts[2] for e in examples],
    )
    assert evaluator(minilm_l3)["toy_cosine_accuracy"] == 1.0
    with pytest.raises(ValueError, match="three texts"):
        TripletEvaluator.from_input_examples([InputExample(texts=["a", "b"])])


def test_preprocess_and_smart_batching_collate_match_the_reference(fresh_cross_encoder, wikiqa_examples, caplog):
    reference = ReferenceCrossEncoder(str(CROSS_ENCODER), device="cpu")
    pairs = [tuple(example.texts) for example in wikiqa_examples[:4]]
    features = fresh_cross_encoder.preprocess(pairs)
    expected = reference.preprocess(pairs)
    for name in ("input_ids", "attention_mask"):
        torch.testing.assert_close(features[name], expected[name].cpu())
    with caplog.at_level(logging.WARNING, logger="sentembed"):
        torch.testing.assert_close(fresh_cross_encoder.tokenize(pairs)["input_ids"], features["input_ids"])
    assert "tokenize is deprecated" in caplog.text
    assert fresh_cross_encoder.preprocess([]) == {}
    batch, labels = fresh_cross_encoder.smart_batching_collate(wikiqa_examples[:4])
    torch.testing.assert_close(batch["input_ids"], features["input_ids"])
    assert labels.dtype == torch.float32 and labels.tolist() == [1.0, 0.0, 1.0, 0.0]
    logits = fresh_cross_encoder.model(**batch).logits.view(-1)
    np.testing.assert_allclose(torch.sigmoid(logits).detach().numpy(), fresh_cross_encoder.predict(pairs), atol=1e-5)


def test_fit_trains_with_an_evaluator_and_saves_the_best_model(fresh_cross_encoder, wikiqa_examples, tmp_path):
    from torch.utils.data import DataLoader

    train, dev = wikiqa_examples[:32], wikiqa_examples[32:]
    with pytest.warns(DeprecationWarning):
        evaluator = CEBinaryClassificationEvaluator.from_input_examples(dev, name="dev")
    before = fresh_cross_encoder.model.classifier.weight.detach().clone()
    calls = []
    fresh_cross_encoder.fit(
        train_dataloader=DataLoader(train, shuffle=True, batch_size=8),
        evaluator=evaluator,
        epochs=1,
        warmup_steps=1,
        output_path=str(tmp_path / "best"),
        callback=lambda score, epoch, steps: calls.append((score, epoch, steps)),
        show_progress_bar=False,
    )
    assert not torch.equal(before, fresh_cross_encoder.model.classifier.weight)
    assert len(calls) == 1 and calls[0][2] == 4
    saved = CrossEncoder(str(tmp_path / "best"), device="cpu")
    pairs = [tuple(example.texts) for example in dev]
    np.testing.assert_allclose(saved.predict(pairs), fresh_cross_encoder.predict(pairs), atol=1e-5)


def test_fit_takes_a_plain_torch_loss_on_the_logits(fresh_cross_encoder, wikiqa_examples, tmp_path):
    from torch.utils.data import DataLoader

    seen = []

    class CountingBCE(torch.nn.BCEWithLogitsLoss):
        def forward(self, logits, labels):
            seen.append((logits.shape, labels.dtype))
            return super().forward(logits, labels)

    before = fresh_cross_encoder.model.classifier.weight.detach().clone()
    fresh_cross_encoder.fit(
        DataLoader(wikiqa_examples[:16], batch_size=8),
        loss_fct=CountingBCE(),
        warmup_steps=0,
        output_path=str(tmp_path / "final"),
        show_progress_bar=False,
    )
    assert seen == [(torch.Size([8]), torch.float32)] * 2
    assert not torch.equal(before, fresh_cross_encoder.model.classifier.weight)
    assert (tmp_path / "final" / "config.json").exists()
    with pytest.raises(ValueError, match="example 0 must hold two texts"):
        fresh_cross_encoder.fit(DataLoader([InputExample(texts=["only one"], label=1.0)], batch_size=1))
