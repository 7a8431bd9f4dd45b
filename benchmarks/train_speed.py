"""Training speed on CPU: sentembed's SentenceTransformerTrainer next to the reference's, in one process.

Same model (paraphrase-MiniLM-L3-v2), same data (the first rows of STSb train), same loss (CoSENTLoss),
same settings (batch 16, lr 2e-5, warmup 10%, seed 42, no evaluation or saving). Reports optimizer steps
per second of each (train_runtime from the trainer, so model loading is not counted) and their ratio.

Run: .venv/bin/python benchmarks/train_speed.py [--steps 40] [--repeats 2] [--threads N]
Runs alternate between the reference and ours; the best of the repeats is reported.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MODEL = REPO.parent / "shared" / "models" / "paraphrase-MiniLM-L3-v2"
BATCH = 16


def sts_train(rows: int) -> dict[str, list]:
    first, second, scores = [], [], []
    with open(DATA / "stsbenchmark" / "sts-train.csv", encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            first.append(row[5])
            second.append(row[6])
            scores.append(float(row[4]) / 5)
    return {"sentence1": first[:rows], "sentence2": second[:rows], "score": scores[:rows]}


def settings(output_dir: str) -> dict:
    return dict(
        output_dir=output_dir,
        num_train_epochs=1,
        per_device_train_batch_size=BATCH,
        learning_rate=2e-5,
        warmup_steps=0.1,
        seed=42,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        logging_strategy="no",
    )


def run_ours(dataset, output_dir: str) -> float:
    from sentembed import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentembed.losses import CoSENTLoss

    model = SentenceTransformer(str(MODEL), device="cpu")
    args = SentenceTransformerTrainingArguments(**settings(output_dir))
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=CoSENTLoss(model))
    return trainer.train().metrics["train_steps_per_second"]


def run_reference(dataset, output_dir: str) -> float:
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import CoSENTLoss

    model = SentenceTransformer(str(MODEL), device="cpu")
    args = SentenceTransformerTrainingArguments(**settings(output_dir))
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=CoSENTLoss(model))
    return trainer.train().metrics["train_steps_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per run (batch 16)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    options = parser.parse_args()
    if options.threads:
        torch.set_num_threads(options.threads)
    from datasets import Dataset

    dataset = Dataset.from_dict(sts_train(options.steps * BATCH))
    best = {"reference": 0.0, "sentembed": 0.0}
    with tempfile.TemporaryDirectory() as output_dir:
        for _ in range(options.repeats):
            best["reference"] = max(best["reference"], run_reference(dataset, output_dir))
            best["sentembed"] = max(best["sentembed"], run_ours(dataset, output_dir))
    print(f"steps per run: {options.steps}, batch {BATCH}, torch threads {torch.get_num_threads()}")
    print(f"reference  {best['reference']:.3f} steps/s")
    print(f"sentembed  {best['sentembed']:.3f} steps/s   ratio {best['sentembed'] / best['reference']:.2f}x")


if __name__ == "__main__":
    main()
