"""Cross-encoder evaluators agree with the reference's; the cross-encoder trainer learns WikiQA."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from tests.support.data import read_wikiqa, wikiqa_samples
from tests.support.paths import MINILM_L3


class CachedPredictor:
    """Wraps a cross-encoder so identical predict() calls run it once: both evaluators score the same numbers."""

    def __init__(self, model) -> None:
        self.model = model
        self.cache: dict = {}
        self.model_card_data = SimpleNamespace(set_evaluation_metrics=lambda *args, **kwargs: None)

    def predict(self, pairs, **options):
        key = tuple(tuple(pair) for pair in pairs)
        if key not in self.cache:
            self.cache[key] = self.model.predict([tuple(pair) for pair in pairs], batch_size=64, convert_to_numpy=True)
        return self.cache[key]


@pytest.fixture(scope="module")
def wikiqa_test():
    return wikiqa_samples("test")


def test_reranking_evaluator_matches_reference_on_wikiqa(cross_encoder, wikiqa_test):
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator as Reference

    from sentembed.training.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    cached = CachedPredictor(cross_encoder)
    # The reference raises on a question with a single candidate (sklearn's NDCG); ours scores it.
    several = [sample for sample in wikiqa_test if len(sample["positive"]) + len(sample["negative"]) > 1]
    evaluator = CrossEncoderRerankingEvaluator(several, name="wikiqa")
    ours = evaluator(cached)
    reference = Reference(several, name="wikiqa")(cached)
    assert set(ours) == set(reference)
    for key, value in ours.items():
        assert value == pytest.approx(reference[key], abs=1e-4), key
    assert evaluator.primary_metric == "wikiqa_ndcg@10"
    answered = [sample for sample in wikiqa_test if sample["positive"]]
    on_answered = CrossEncoderRerankingEvaluator(answered, name="wikiqa")(cached)
    assert 0.60 < on_answered["wikiqa_map"] < 0.70, "the model's card gives WikiQA test MAP 0.638"


def test_classification_and_correlation_evaluators(cross_encoder):
    from sentembed.training.cross_encoder.evaluation import (
        CrossEncoderClassificationEvaluator,
        CrossEncoderCorrelationEvaluator,
    )

    rows = read_wikiqa("test")[:300]
    pairs, labels = [(q, a) for q, a, _ in rows], [label for _, _, label in rows]
    cached = CachedPredictor(cross_encoder)
    classification = CrossEncoderClassificationEvaluator(pairs, labels, name="c")
    metrics = classification(cached)
    assert classification.primary_metric == "c_average_precision"
    scores = cached.predict(pairs)
    positives_first = scores[np.array(labels) == 1].mean() > scores[np.array(labels) == 0].mean()
    assert positives_first and metrics["c_average_precision"] > np.mean(labels)
    correlation = CrossEncoderCorrelationEvaluator(pairs, [float(label) for label in labels], name="r")(cached)
    assert 0 < correlation["r_spearman"] <= 1


def test_reranking_evaluator_refuses_malformed_samples():
    from sentembed.training.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    with pytest.raises(ValueError, match="exactly one of 'negative' or 'documents'"):
        CrossEncoderRerankingEvaluator([{"query": "q", "positive": ["a"]}])


def plain_checkpoint(folder, target):
    """The transformer checkpoint of a bi-encoder folder, without its sentence-transformers module files."""
    target.mkdir()
    skip = {"modules.json", "1_Pooling", "sentence_bert_config.json", "config_sentence_transformers.json", "README.md"}
    for item in folder.iterdir():
        if item.name not in skip:
            shutil.copy(item, target / item.name)
    return target


@pytest.mark.slow
def test_cross_encoder_trained_from_minilm_l3_on_wikiqa_reaches_map_060(tmp_path, wikiqa_test):
    from datasets import Dataset

    from sentembed import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentembed.training.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
    from sentembed.training.cross_encoder.losses import BinaryCrossEntropyLoss

    model = CrossEncoder(str(plain_checkpoint(MINILM_L3, tmp_path / "start")), num_labels=1, device="cpu")
    rows = read_wikiqa("train")
    answered_questions = {question for question, _, label in rows if label}
    rows = [row for row in rows if row[0] in answered_questions]
    train = Dataset.from_dict(
        {"question": [r[0] for r in rows], "answer": [r[1] for r in rows], "label": [r[2] for r in rows]}
    )
    args = CrossEncoderTrainingArguments(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=1,
        per_device_train_batch_size=32,
        learning_rate=5e-5,
        warmup_steps=0.1,
        seed=42,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )
    loss = BinaryCrossEntropyLoss(model, pos_weight=5.0)
    CrossEncoderTrainer(model=model, args=args, train_dataset=train, loss=loss).train()
    answered = [sample for sample in wikiqa_test if sample["positive"]]
    metrics = CrossEncoderRerankingEvaluator(answered, name="wikiqa")(model)
    print(f"Cross-encoder WikiQA test MAP after 1 epoch: {metrics['wikiqa_map']:.4f}")
    assert metrics["wikiqa_map"] >= 0.60
    model.save(str(tmp_path / "final"))
    reloaded = CrossEncoder(str(tmp_path / "final"), device="cpu")
    pair = [(answered[0]["query"], answered[0]["positive"][0])]
    np.testing.assert_allclose(reloaded.predict(pair), model.predict(pair), atol=1e-5)
