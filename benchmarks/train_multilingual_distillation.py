"""Multilingual knowledge distillation on Tatoeba: a student learns the teacher's English embeddings for both sides.

Usage: OMP_NUM_THREADS=2 .venv/bin/python benchmarks/train_multilingual_distillation.py [--train-rows 600] [--epochs 1]

Teacher all-MiniLM-L6-v2 embeds the English sentences; the student paraphrase-MiniLM-L3-v2 is trained with MSELoss
so that its embedding of the English sentence and of its translation both match the teacher's. The first
`--train-rows` pairs of each of the six Tatoeba languages train it; the last 200 pairs of each are held out for
MSEEvaluator (student vs teacher) and TranslationEvaluator (finding the translation among the 200).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.paths import DATA, MINILM_L3, minilm_l6_folder  # noqa: E402

LANGUAGES = ("deu", "fra", "spa", "ita", "nld", "por")
HELD_OUT = 200


def read_pairs(language: str) -> tuple[list[str], list[str]]:
    folder = DATA / "tatoeba"
    english = (folder / f"tatoeba.{language}-eng.eng").read_text(encoding="utf-8").splitlines()
    other = (folder / f"tatoeba.{language}-eng.{language}").read_text(encoding="utf-8").splitlines()
    return english, other


def distillation_run(train_rows: int, epochs: int, batch_size: int = 32, learning_rate: float = 1e-4) -> dict:
    """Train the student, returning the held-out metrics before and after."""
    from datasets import Dataset

    from sentembed import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentembed.evaluation import MSEEvaluator, SequentialEvaluator, TranslationEvaluator
    from sentembed.losses import MSELoss

    teacher = SentenceTransformer(str(minilm_l6_folder()), device="cpu")
    student = SentenceTransformer(str(MINILM_L3), device="cpu")
    train_english, train_other, evaluators = [], [], []
    for language in LANGUAGES:
        english, other = read_pairs(language)
        train_english += english[:train_rows]
        train_other += other[:train_rows]
        held_english, held_other = english[-HELD_OUT:], other[-HELD_OUT:]
        evaluators.append(MSEEvaluator(held_english, held_other, teacher_model=teacher, name=f"mse-{language}"))
        evaluators.append(TranslationEvaluator(held_english, held_other, name=f"translation-{language}"))
    labels = teacher.encode(train_english, batch_size=64, convert_to_numpy=True)
    train = Dataset.from_dict({"english": train_english, "non_english": train_other, "label": labels.tolist()})
    evaluator = SequentialEvaluator(evaluators)
    before = evaluator(student)
    with tempfile.TemporaryDirectory() as output:
        args = SentenceTransformerTrainingArguments(
            output_dir=output, num_train_epochs=epochs, per_device_train_batch_size=batch_size,
            learning_rate=learning_rate, warmup_steps=0.1, report_to="none", save_strategy="no", seed=12,
            disable_tqdm=True,
        )  # fmt: skip
        trainer = SentenceTransformerTrainer(
            model=student, args=args, train_dataset=train, loss=MSELoss(student), evaluator=evaluator
        )
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    after = evaluator(student)
    return {"train_pairs": len(train), "steps": trainer.state.global_step, "seconds": seconds,
            "before": before, "after": after}  # fmt: skip


def summary(metrics: dict) -> dict:
    """Per language: the MSE (x100) to the teacher and the mean translation accuracy."""
    return {
        language: {
            "mse": -metrics[f"mse-{language}_negative_mse"],
            "accuracy": metrics[f"translation-{language}_mean_accuracy"],
        }
        for language in LANGUAGES
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=1)
    options = parser.parse_args()
    result = distillation_run(options.train_rows, options.epochs)
    before, after = summary(result["before"]), summary(result["after"])
    print(f"{result['train_pairs']} pairs, {result['steps']} steps, {result['seconds']:.0f} s")
    print("| pair | MSE x100 before | after | translation accuracy before | after |")
    print("|---|---|---|---|---|")
    for language in LANGUAGES:
        b, a = before[language], after[language]
        print(f"| {language}-eng | {b['mse']:.4f} | {a['mse']:.4f} | {b['accuracy']:.3f} | {a['accuracy']:.3f} |")
    print(json.dumps({"before": before, "after": after}))


if __name__ == "__main__":
    main()
