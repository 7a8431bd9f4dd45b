"""hyperparameter_search through optuna: model_init, losses rebuilt per trial, evaluator metrics as objective."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from tests.support.data import read_sts
from tests.support.paths import MINILM_L3

datasets = pytest.importorskip("datasets")


def sts_dataset(split: str, count: int):
    first, second, scores = read_sts(split)
    return datasets.Dataset.from_dict(
        {"sentence1": first[:count], "sentence2": second[:count], "score": [s / 5 for s in scores[:count]]}
    )


def load_l3(trial=None):
    from sentembed import SentenceTransformer

    return SentenceTransformer(str(MINILM_L3), device="cpu")


def search_args(tmp_path, **overrides):
    from sentembed import SentenceTransformerTrainingArguments

    settings = dict(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=8, report_to="none",
        save_strategy="no", disable_tqdm=True, seed=3,
    )  # fmt: skip
    return SentenceTransformerTrainingArguments(**{**settings, **overrides})


def sts_evaluator():
    from sentembed.evaluation import EmbeddingSimilarityEvaluator

    first, second, scores = read_sts("dev")
    return EmbeddingSimilarityEvaluator(first[:60], second[:60], [s / 5 for s in scores[:60]], name="sts-dev")


def hp_space(trial):
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-3, log=True),
        "per_device_train_batch_size": trial.suggest_categorical("per_device_train_batch_size", [4, 8]),
        "warmup_ratio": trial.suggest_float("warmup_ratio", 0.0, 0.3),
    }


@pytest.mark.slow
def test_a_small_search_returns_the_best_run_from_the_space(tmp_path):
    pytest.importorskip("optuna")
    from sentembed import SentenceTransformerTrainer
    from sentembed.losses import CoSENTLoss

    seen_models, seen_warmups = [], []

    def model_init(trial):
        model = load_l3()
        seen_models.append(model)
        return model

    def objective(metrics):
        seen_warmups.append(trainer.args.warmup_steps)
        return metrics["eval_sts-dev_spearman_cosine"]

    trainer = SentenceTransformerTrainer(
        model_init=model_init,
        args=search_args(tmp_path),
        train_dataset=sts_dataset("train", 64),
        loss=lambda model: CoSENTLoss(model),
        evaluator=sts_evaluator(),
    )
    best = trainer.hyperparameter_search(
        hp_space=hp_space, compute_objective=objective, n_trials=3, direction="maximize", backend="optuna"
    )
    assert set(best.hyperparameters) == {"learning_rate", "per_device_train_batch_size", "warmup_ratio"}
    assert 1e-5 <= best.hyperparameters["learning_rate"] <= 1e-3
    assert best.hyperparameters["per_device_train_batch_size"] in (4, 8)
    # One model for the constructor, one per trial; each trial's evaluation scored its own trained model.
    assert len(seen_models) == 4 and len({id(model) for model in seen_models}) == 4
    assert 0.5 < best.objective < 0.95
    assert max(trainer.evaluation_history, key=lambda row: row["sts-dev_spearman_cosine"])[
        "sts-dev_spearman_cosine"
    ] == pytest.approx(best.objective)
    assert [float(warmup) for warmup in seen_warmups] == [pytest.approx(w, abs=1e-12) for w in seen_warmups]
    assert all(0 <= warmup < 0.3 + 1e-9 for warmup in seen_warmups)


def test_each_train_call_trains_a_fresh_model_through_its_own_loss(tmp_path):
    from sentembed import SentenceTransformerTrainer
    from sentembed.losses import CoSENTLoss

    untrained = load_l3()
    loss = CoSENTLoss(untrained)
    trainer = SentenceTransformerTrainer(
        model_init=load_l3, args=search_args(tmp_path, learning_rate=1e-3), train_dataset=sts_dataset("train", 32),
        loss=loss,
    )  # fmt: skip
    first_model = trainer.model
    trainer.train()
    second_model = trainer.model
    assert second_model is not first_model and loss.model is second_model
    weights = [parameter for parameter in second_model.parameters()][5]
    untrained_weights = [parameter for parameter in untrained.parameters()][5]
    assert not torch.equal(weights, untrained_weights)  # the loss moved the trainer's new model


def test_cross_encoder_trainer_takes_model_init(tmp_path):
    from sentembed import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from tests.support.paths import CROSS_ENCODER

    pairs = {"query": ["a cat", "a dog"], "answer": ["a cat sits", "it rains"], "label": [1, 0]}
    rows = datasets.Dataset.from_dict(pairs)
    args = CrossEncoderTrainingArguments(
        output_dir=str(tmp_path), max_steps=1, report_to="none", save_strategy="no", disable_tqdm=True
    )
    trainer = CrossEncoderTrainer(model_init=lambda: CrossEncoder(str(CROSS_ENCODER), device="cpu"), args=args,
                                  train_dataset=rows)  # fmt: skip
    before = trainer.model
    trainer.train()
    assert trainer.model is not before and next(iter(trainer.losses.values())).model is trainer.model


def test_search_without_optuna_names_the_extra(tmp_path, monkeypatch):
    from sentembed import SentenceTransformerTrainer

    train = sts_dataset("train", 8)
    trainer = SentenceTransformerTrainer(model_init=load_l3, args=search_args(tmp_path), train_dataset=train)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "optuna" else real_find_spec(name))
    with pytest.raises(ImportError, match=r"pip install 'sentembed\[optuna\]'"):
        trainer.hyperparameter_search(hp_space=hp_space, n_trials=1, backend="optuna")


def test_bad_model_init_use_is_refused(tmp_path):
    from sentembed import SentenceTransformerTrainer

    train = sts_dataset("train", 8)
    with pytest.raises(ValueError, match="needs a model or a model_init, not both"):
        SentenceTransformerTrainer(model=load_l3(), model_init=load_l3, args=search_args(tmp_path), train_dataset=train)
    with pytest.raises(ValueError, match="needs a model or a model_init"):
        SentenceTransformerTrainer(args=search_args(tmp_path), train_dataset=train)
    with pytest.raises(TypeError, match="model_init must return a model, got str"):
        SentenceTransformerTrainer(model_init=lambda: "a name", args=search_args(tmp_path), train_dataset=train)
    trainer = SentenceTransformerTrainer(model=load_l3(), args=search_args(tmp_path), train_dataset=train)
    with pytest.raises(ValueError, match="needs the trainer built with model_init"):
        trainer.hyperparameter_search(hp_space=hp_space, n_trials=1)
