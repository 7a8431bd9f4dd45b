"""Model cards as data: set by the caller, filled in by loading, training and evaluation, written and read back."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard

from sentembed import CrossEncoder, SentenceTransformer, SentenceTransformerModelCardData
from sentembed.cross_encoder import CrossEncoderModelCardData
from tests.support.data import read_sts
from tests.support.models import fake_hub_cache
from tests.support.paths import CROSS_ENCODER, MINILM_L3


def card_of(folder) -> dict:
    return ModelCard.load(folder / "README.md").data.to_dict()


def test_the_callers_card_data_is_written_and_read_back(tmp_path):
    data = SentenceTransformerModelCardData(
        language=["en", "de"], license="apache-2.0", model_name="L3 for tests", tags=["tiny"]
    )
    model = SentenceTransformer(str(MINILM_L3), device="cpu", model_card_data=data)
    model.save(str(tmp_path))
    meta = card_of(tmp_path)
    assert meta["language"] == ["en", "de"] and meta["license"] == "apache-2.0"
    assert meta["library_name"] == "sentence-transformers" and meta["pipeline_tag"] == "sentence-similarity"
    assert {"sentence-transformers", "tiny"} <= set(meta["tags"])
    assert (tmp_path / "README.md").read_text().count("# L3 for tests") == 1
    again = SentenceTransformer(str(tmp_path), device="cpu").model_card_data
    assert (again.language, again.license, again.model_name, again.tags) == (
        ["en", "de"],
        "apache-2.0",
        data.model_name,
        ["tiny"],
    )


def test_a_model_loaded_by_hub_id_is_the_base_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_hub_cache(tmp_path / "cache", "someone/tiny-model", MINILM_L3)
    model = SentenceTransformer("someone/tiny-model", cache_folder=str(tmp_path / "cache"), device="cpu")
    assert model.model_card_data.base_model == "someone/tiny-model"
    model.save(str(tmp_path / "saved"))
    assert card_of(tmp_path / "saved")["base_model"] == "someone/tiny-model"


def test_training_and_evaluation_fill_in_the_card(tmp_path):
    datasets = pytest.importorskip("datasets")
    from sentembed import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentembed.evaluation import EmbeddingSimilarityEvaluator
    from sentembed.losses import CoSENTLoss

    first, second, scores = read_sts("train")
    train = datasets.Dataset.from_dict(
        {"sentence1": first[:32], "sentence2": second[:32], "score": [s / 5 for s in scores[:32]]}
    )
    dev_first, dev_second, dev_scores = read_sts("dev")
    evaluator = EmbeddingSimilarityEvaluator(
        dev_first[:50], dev_second[:50], [s / 5 for s in dev_scores[:50]], name="sts-dev"
    )
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "run"), per_device_train_batch_size=16, max_steps=2, report_to=[], save_strategy="no"
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train, loss=CoSENTLoss(model), evaluator=evaluator
    )
    trainer.train()
    metrics = evaluator(model)
    trainer.save_model(str(tmp_path / "out"))
    meta = card_of(tmp_path / "out")
    assert "datasets" not in meta, "an unnamed dataset has no Hub id to list"
    assert {"generated_from_trainer", "dataset_size:32", "loss:CoSENTLoss"} <= set(meta["tags"])
    reloaded = SentenceTransformer(str(tmp_path / "out"), device="cpu").model_card_data
    assert reloaded.tags == ["generated_from_trainer"], "tags a run implies are not carried into the next one"
    shortest = min(range(32), key=lambda index: len(first[index]) + len(second[index]))
    assert {"source_sentence": first[shortest], "sentences": [second[shortest]]} in meta["widget"]
    results = meta["model-index"][0]["results"]
    assert results[0]["task"]["type"] == "semantic-similarity" and results[0]["dataset"]["name"] == "sts-dev"
    spearman = [m["value"] for r in results for m in r["metrics"] if m["type"] == "spearman_cosine"]
    assert spearman == [pytest.approx(metrics["sts-dev_spearman_cosine"])]
    data = model.model_card_data
    assert data.losses == ["CoSENTLoss"]
    assert data.non_default_hyperparameters["per_device_train_batch_size"] == 16
    assert data.all_hyperparameters["learning_rate"] == args.learning_rate
    assert "CoSENTLoss" in (tmp_path / "out" / "README.md").read_text()


def test_cross_encoder_card_data(tmp_path):
    data = CrossEncoderModelCardData(language="en", license="mit")
    model = CrossEncoder(str(CROSS_ENCODER), device="cpu", model_card_data=data)
    model.save(str(tmp_path))
    meta = card_of(tmp_path)
    assert meta["language"] == ["en"] and meta["license"] == "mit" and meta["pipeline_tag"] == "text-ranking"
    assert CrossEncoder(str(tmp_path), device="cpu").model_card_data.license == "mit"


def test_bad_card_data_is_refused():
    with pytest.raises(TypeError, match="language"):
        SentenceTransformerModelCardData(language=3)
    with pytest.raises(TypeError, match="train_datasets"):
        SentenceTransformerModelCardData(train_datasets=[42])
    with pytest.raises(TypeError, match="SentenceTransformerModelCardData"):
        SentenceTransformer(str(MINILM_L3), model_card_data=CrossEncoderModelCardData())
